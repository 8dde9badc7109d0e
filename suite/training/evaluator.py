"""The evaluator base: what every model's evaluation does at the end of a stage (an epoch, a phase).

A subclass gives ``evaluate() -> (scores, media)``: a dict of floats (nested
dicts allowed: ``{task: {metric: value}}``) and whatever ``log_media`` draws
(images, audio, text). The base, on the chief only, times the evaluation
(``seconds``: what a throughput must leave out), logs every score as a
TensorBoard scalar (``PREFIX/name``, nested names joined by ``/``), calls
``log_media`` inside the writer, keeps ``history`` [(step, scores)], prints
one line, and measures the untrained model with ``baseline()``.
"""
import sys
import time

import numpy as np
import tensorflow as tf

from suite.training.driver import Callback


def flatten(scores, prefix=""):
    """{a: {b: 1.0}} -> {"prefix/a/b": 1.0}."""
    out = {}
    for k, v in scores.items():
        name = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = float(v)
    return out


def heatmap_image(values, cell=12):
    """A matrix of values in [0, 1] as an RGB uint8 image (white 0 to dark blue 1, one ``cell``-pixel
    square each, grid lines), for TensorBoard: confusion and agreement matrices."""
    values = np.clip(np.asarray(values, np.float64), 0, 1)
    colour = np.stack([1 - values, 1 - 0.7 * values, np.ones_like(values) - 0.3 * values], -1)
    image = np.repeat(np.repeat(colour, cell, 0), cell, 1)
    image[::cell, :] = image[:, ::cell] = 0.8  # grid lines
    return (255 * image).astype(np.uint8)


class Evaluator(Callback):
    prefix = "eval"

    def __init__(self):
        self.history = []  # (step, scores) at the end of every stage
        self.initial = None  # the untrained model's scores (``baseline``)
        self.seconds = 0.0  # spent evaluating and drawing

    # ------------------------------------------------------------ what a subclass gives
    def evaluate(self):
        raise TypeError(f"{type(self).__name__} must define evaluate() -> (scores, media)")

    def log_media(self, media, step):
        """Draws ``media`` (images, audio, text) with ``tf.summary``; the default draws nothing."""

    def scalars(self, scores):
        """{TensorBoard tag: value} of ``scores``."""
        return flatten(scores, self.prefix)

    def describe(self, scores):
        """The printed line."""
        return "  ".join(f"{k} {v:.3f}" for k, v in flatten(scores).items())

    # ------------------------------------------------------------ what the base does
    @property
    def last(self):
        return self.history[-1][1] if self.history else None

    def timed_evaluate(self):
        started = time.perf_counter()
        try:
            return self.evaluate()
        finally:
            self.seconds += time.perf_counter() - started

    def baseline(self):
        """The untrained model's scores (call before training): what training must beat."""
        self.initial, _ = self.timed_evaluate()
        print(f"[untrained] {self.describe(self.initial)}", file=sys.stderr, flush=True)
        return self.initial

    def log_baseline(self, writer):
        """The untrained scores as the first point (step 0) of every curve."""
        with writer.as_default(step=0):
            for tag, value in self.scalars(self.initial or {}).items():
                tf.summary.scalar(tag, value)
        writer.flush()

    def on_stage_end(self, driver, stage):
        if not driver.chief:
            return
        scores, media = self.timed_evaluate()
        self.history.append((driver.step, scores))
        started = time.perf_counter()
        with driver.writer.as_default(step=driver.step):
            for tag, value in self.scalars(scores).items():
                tf.summary.scalar(tag, value)
            self.log_media(media, driver.step)
        driver.writer.flush()
        self.seconds += time.perf_counter() - started
        print(f"[{stage.name}] step {driver.step}: {self.describe(scores)}", file=sys.stderr, flush=True)
