"""Recipe runs under glibc's malloc against jemalloc and tcmalloc (LD_PRELOAD): CPU-seconds and
training steps per second, as ratios to glibc's taken in one run.

    python -m benchmarks allocator [--runs ctpn,mtdnn,ds2] [--repeats 2] [--output allocator.md]

Each run is a tiny recipe run in a fresh process with one intra-op and one inter-op thread and one
input-pipeline thread (how the test suite runs them, two side by side on two cores), once per
allocator, alternately, ``--repeats`` times; the lowest CPU-seconds and the best step rate of each
count. The allocator changes no arithmetic: the table also says whether every allocator's run
ended with the same evaluation figures as glibc's. Allocators whose library is not installed
(Debian: libjemalloc2, libtcmalloc-minimal4) are left out.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

from benchmarks import ROOT, report

LIBRARIES = {"jemalloc": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
             "tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"}
RUNS = {
    "ctpn": ["-m", "recipes.text_detection", "--model", "ctpn", "--data", "scenes-horizontal", "--epochs", "1",
             "--steps-per-epoch", "60", "--batch-size", "8"],
    "mtdnn": ["-m", "recipes.mtdnn", "--epochs", "1", "--steps-per-epoch", "600"],
    "ds2": ["-m", "recipes.deepspeech", "--model", "ds2", "--epochs", "1", "--steps-per-epoch", "20",
            "--batch-size", "8", "--num-utterances", "160", "--eval-utterances", "16"],
    "cbow": ["-m", "recipes.word2vec", "--model", "cbow", "--epochs", "1", "--steps-per-epoch", "100"],
}


def timed_run(args, preload, workdir):
    """(CPU-seconds of the child, its result line) of ``python ARGS`` with ``LD_PRELOAD=preload``."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               OMP_NUM_THREADS="1", **({"LD_PRELOAD": preload} if preload else {}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, *args, "--preset", "tiny", "--no-progress", "--data-threads", "1",
                           "--logdir", os.path.join(workdir, "logs"), "--export-dir", os.path.join(workdir, "export")],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    result = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, result


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks allocator", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", default="ctpn,mtdnn,ds2", help=f"comma-separated runs of {sorted(RUNS)}")
    p.add_argument("--repeats", type=int, default=2, help="runs of each allocator, alternately; the best counts")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in runs if r not in RUNS]
    if unknown or not runs:
        p.error(f"--runs {args.runs}: choose from {', '.join(sorted(RUNS))}")
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    allocators = {"glibc": None, **{k: v for k, v in LIBRARIES.items() if os.path.isfile(v)}}
    lines = ["| run | allocator | CPU-seconds | steps/s | CPU vs glibc | steps/s vs glibc | same figures |",
             "|---|---|---|---|---|---|---|"]
    for run in runs:
        best = {}
        for _ in range(args.repeats):
            for name, preload in allocators.items():
                with tempfile.TemporaryDirectory(prefix=f"allocator-{run}-") as workdir:
                    cpu, result = timed_run(RUNS[run], preload, workdir)
                cpu0, rate0, eval0 = best.get(name, (float("inf"), 0.0, None))
                rate = float(result["logs"].get("steps_per_second", 0.0))
                best[name] = (min(cpu, cpu0), max(rate, rate0), result.get("eval"))
                print(f"{run} {name}: {cpu:.1f} CPU-s, {rate:.2f} steps/s", file=sys.stderr, flush=True)
        cpu_g, rate_g, eval_g = best["glibc"]
        for name, (cpu, rate, figures) in best.items():
            lines.append(f"| {run} | {name} | {cpu:.1f} | {rate:.2f} | {cpu / cpu_g:.2f} | {rate / max(rate_g, 1e-9):.2f} "
                         f"| {'yes' if figures == eval_g else 'no'} |")
    report("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
