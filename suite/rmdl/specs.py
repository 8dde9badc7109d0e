"""Random deep learners: a member's architecture and optimizer drawn from ranges, reproducible from a seed.

Kowsari et al. (2018) draw each deep learner's depth and width at random
(DNN: 1-8 hidden layers of 128-1024 nodes; CNN: 3-10 convolution layers of
128-512 filters; RNN: 1-5 recurrent layers of 32-128 LSTM or GRU units) and
its optimizer among Adam, RMSprop, SGD with momentum and Adagrad. ``Ranges``
holds a preset's ranges; ``draw_specs`` draws the members of a run: member
``i`` (or its ``draw``-th replacement) comes from ``(seed, i, draw)`` alone,
so a run, its resumption and a replacement are reproducible.
"""
import dataclasses

import numpy as np

KINDS = ("dnn", "cnn", "rnn")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")
# log-uniform learning-rate ranges per optimizer (the adaptive ones small, plain SGD larger)
LEARNING_RATES = {"adam": (3e-4, 3e-3), "rmsprop": (3e-4, 3e-3), "sgd": (1e-2, 1e-1), "adagrad": (1e-2, 1e-1)}


@dataclasses.dataclass(frozen=True)
class Ranges:
    """Inclusive (low, high) ranges of a preset."""

    dnn_layers: tuple = (1, 8)
    dnn_units: tuple = (128, 1024)
    cnn_layers: tuple = (3, 10)
    cnn_filters: tuple = (128, 512)
    rnn_layers: tuple = (1, 5)
    rnn_units: tuple = (32, 128)
    dropout: tuple = (0.1, 0.5)
    optimizers: tuple = OPTIMIZERS
    learning_rate_scale: float = 1.0  # multiplies LEARNING_RATES (a short run wants larger steps)

    def layers(self, kind):
        return getattr(self, f"{kind}_layers")

    def widths(self, kind):
        return getattr(self, {"dnn": "dnn_units", "cnn": "cnn_filters", "rnn": "rnn_units"}[kind])


@dataclasses.dataclass(frozen=True)
class MemberSpec:
    """One deep learner: its ``kind``, the ``widths`` of its layers (nodes, filters or units),
    ``cell`` (rnn: lstm or gru), ``dropout``, ``optimizer`` and ``learning_rate``; ``draw``: which
    draw of its slot it is (0, then 1, 2... for replacements)."""

    kind: str
    widths: tuple
    dropout: float
    optimizer: str
    learning_rate: float
    cell: str = ""
    draw: int = 0

    def describe(self):
        cell = f" {self.cell.upper()}" if self.cell else ""
        unit = {"dnn": "nodes", "cnn": "filters", "rnn": "units"}[self.kind]
        return (f"{self.kind.upper()}{cell}: {len(self.widths)} layer(s) of {'-'.join(map(str, self.widths))} {unit}, "
                f"dropout {self.dropout:.2f}, {self.optimizer} lr {self.learning_rate:.2g}")

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, value):
        return cls(**{**value, "widths": tuple(value["widths"])})


def draw_spec(kind, ranges, seed, slot, draw=0):
    """The spec of member ``slot`` (its ``draw``-th draw) of ``kind``, from ``(seed, slot, draw)``."""
    if kind not in KINDS:
        raise ValueError(f"unknown member kind {kind!r}: choose one of {', '.join(KINDS)}")
    rng = np.random.default_rng([seed, 29, slot, draw])
    lo, hi = ranges.layers(kind)
    depth = int(rng.integers(lo, hi + 1))
    lo, hi = ranges.widths(kind)
    widths = tuple(int(w) for w in rng.integers(lo, hi + 1, depth))
    optimizer = str(ranges.optimizers[int(rng.integers(len(ranges.optimizers)))])
    low, high = LEARNING_RATES[optimizer]
    rate = float(np.exp(rng.uniform(np.log(low), np.log(high)))) * ranges.learning_rate_scale
    dropout = float(rng.uniform(*ranges.dropout))
    cell = str(rng.choice(["lstm", "gru"])) if kind == "rnn" else ""
    return MemberSpec(kind, widths, round(dropout, 3), optimizer, float(f"{rate:.3g}"), cell, draw)


def draw_specs(counts, ranges, seed):
    """The members of a run: ``counts`` {kind: how many}, slots numbered DNNs first, then CNNs,
    then RNNs."""
    kinds = [k for k in KINDS for _ in range(int(counts.get(k, 0)))]
    if not kinds:
        raise ValueError("an ensemble needs at least one member: --dnn, --cnn and --rnn are all 0")
    return [draw_spec(kind, ranges, seed, slot) for slot, kind in enumerate(kinds)]
