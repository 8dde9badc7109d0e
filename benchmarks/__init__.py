"""`python -m benchmarks NAME`: throughput figures, as ratios taken in one run."""
import os


def report(text, output=None):
    """Prints a benchmark's table and, with ``output``, writes it there atomically."""
    print(text)
    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, output)
