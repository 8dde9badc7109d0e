"""Runs recipes in this process, one after the other, and writes a digest of each trained model's
weights and its final step to $WEIGHTS_OUT (one line per recipe): the multi-worker test runs it on
every worker and compares the lines.

usage: run_recipes.py RECIPE [FLAGS ...] [-- RECIPE [FLAGS ...]] ...
"""
import hashlib
import importlib
import os
import sys

import numpy as np

from suite.training.driver import model_variables

lines = []
argv = sys.argv[1:]
while argv:
    cut = argv.index("--") if "--" in argv else len(argv)
    name, flags, argv = argv[0], argv[1:cut], argv[cut + 1:]
    result, model = importlib.import_module(f"recipes.{name}").main(flags)
    weights = [v.numpy() for v in model_variables(model)]
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()
    lines.append(f"{name} {digest} {result['step']} {len(weights)}")
with open(os.environ["WEIGHTS_OUT"], "w") as fh:
    fh.write("\n".join(lines) + "\n")
