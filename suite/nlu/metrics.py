"""GLUE's scores (accuracy, F1, Matthews correlation, Pearson and Spearman correlation) and the
ranking scores of MT-DNN's QNLI (accuracy of the top candidate, mean reciprocal rank), in NumPy.

Every function takes the gold values first and the predictions second.
"""
import numpy as np


def accuracy(labels, predictions):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float(np.mean(labels == predictions)) if len(labels) else 0.0


def f1(labels, predictions, positive=1):
    labels, predictions = np.asarray(labels) == positive, np.asarray(predictions) == positive
    tp = float(np.sum(labels & predictions))
    denominator = 2 * tp + float(np.sum(labels & ~predictions)) + float(np.sum(~labels & predictions))
    return 2 * tp / denominator if denominator else 0.0


def matthews_correlation(labels, predictions):
    """MCC of binary labels (CoLA's score): 0 for a constant predictor."""
    y, p = np.asarray(labels) == 1, np.asarray(predictions) == 1
    tp, tn = float(np.sum(y & p)), float(np.sum(~y & ~p))
    fp, fn = float(np.sum(~y & p)), float(np.sum(y & ~p))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def pearson(labels, predictions):
    x, y = np.asarray(labels, np.float64), np.asarray(predictions, np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denominator) if denominator else 0.0


def ranks(values):
    """1-based ranks, ties sharing their average rank (as scipy.stats.rankdata)."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    average = (first + last) / 2.0 + 1.0
    out = np.empty(len(values))
    out[order] = average[group]
    return out


def spearman(labels, predictions):
    return pearson(ranks(labels), ranks(predictions))


def ranking_scores(scores, answers, mask=None):
    """Scores [G, C] of each group's candidates, ``answers`` [G] the index of the right one, ``mask``
    [G, C] the real candidates -> accuracy of the top candidate and mean reciprocal rank."""
    scores = np.asarray(scores, np.float64)
    if mask is not None:
        scores = np.where(np.asarray(mask, bool), scores, -np.inf)
    answers = np.asarray(answers)
    right = scores[np.arange(len(scores)), answers]
    rank = 1 + np.sum(scores > right[:, None], axis=1)  # ties count in the answer's favour
    return {"accuracy": float(np.mean(rank == 1)), "mrr": float(np.mean(1.0 / rank))}


SCORERS = {"accuracy": accuracy, "f1": f1, "mcc": matthews_correlation, "pearson": pearson, "spearman": spearman}
