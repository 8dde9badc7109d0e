"""`python -m benchmarks NAME`: throughput figures, as ratios taken in one run."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_recipe(args, what=None):
    """Runs ``python ARGS`` (a recipe and its flags) from the repository root in a fresh process and
    returns the JSON result line it prints last; a failure raises with the end of its stderr."""
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what or ' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])


def report(text, output=None):
    """Prints a benchmark's table and, with ``output``, writes it there atomically."""
    print(text)
    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, output)
