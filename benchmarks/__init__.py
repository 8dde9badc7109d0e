"""`python -m benchmarks NAME`: throughput figures, as ratios taken in one run."""
