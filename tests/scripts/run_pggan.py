"""Runs recipes.pggan in this process and writes a digest of the final weights to $WEIGHTS_OUT
(used by the distribution tests to compare workers)."""
import hashlib
import os
import sys

import numpy as np

from recipes import pggan

result, gan = pggan.main(sys.argv[1:])
weights = [v.numpy() for v in gan.generator_variables() + gan.discriminator_variables()]
digest = hashlib.sha256(b"".join(np.ascontiguousarray(w).tobytes() for w in weights)).hexdigest()
if os.environ.get("WEIGHTS_OUT"):
    with open(os.environ["WEIGHTS_OUT"], "w") as fh:
        fh.write(f"{digest} {result['step']}\n")
