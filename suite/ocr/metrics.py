"""The ICDAR 2015 (Robust Reading, incidental scene text) evaluation of word detections, and its
end-to-end variant.

Per image: ground-truth words whose transcription is ``###`` are "do not care"; a detection that
lies mostly inside one (intersection over the detection's own area > 0.5) is left out of the
count. The rest are matched one to one, a pair matching when its polygon IoU is above 0.5,
ground truth and detections taken in their order (the official script's greedy rule). Recall is
the matches over the cared-for ground truth, precision the matches over the counted detections,
both summed over the images; F their harmonic mean. End to end, a match also needs the word read
to equal the transcription (case-insensitive, as the challenge's generic-vocabulary task).
"""
import dataclasses

import numpy as np

from suite.ocr import geometry

DONT_CARE = "###"
IOU = 0.5
DONT_CARE_OVERLAP = 0.5


@dataclasses.dataclass
class Word:
    polygon: np.ndarray  # [4, 2] or [K, 2] (x, y) in pixels
    text: str = ""

    @property
    def dont_care(self):
        return self.text == DONT_CARE


def match_image(truth, detections, end_to_end=False):
    """(matches, cared-for ground truth, counted detections) of one image; ``truth`` and
    ``detections`` are lists of ``Word`` (a detection's text: the word read)."""
    cared = [g for g in truth if not g.dont_care]
    ignored = [g for g in truth if g.dont_care]
    counted = []
    for d in detections:
        own = abs(geometry.area(d.polygon))
        inside = max((geometry.intersection_area(d.polygon, g.polygon) / own if own > 0 else 0.0 for g in ignored),
                     default=0.0)
        if inside <= DONT_CARE_OVERLAP:
            counted.append(d)
    used_truth, used_detection, matches = set(), set(), 0
    for i, g in enumerate(cared):
        for j, d in enumerate(counted):
            if i in used_truth or j in used_detection:
                continue
            if geometry.iou(g.polygon, d.polygon) > IOU:
                used_truth.add(i)
                used_detection.add(j)  # matched, right word or not (a wrong word still takes the box)
                if not end_to_end or d.text.lower() == g.text.lower():
                    matches += 1
    return matches, len(cared), len(counted)


def evaluate(truths, detections, end_to_end=False):
    """{'precision', 'recall', 'f'} over images: ``truths`` and ``detections`` are per-image lists of
    ``Word``."""
    if len(truths) != len(detections):
        raise ValueError(f"{len(truths)} images of ground truth, {len(detections)} of detections")
    counts = np.array([match_image(t, d, end_to_end) for t, d in zip(truths, detections)]).reshape(-1, 3).sum(0)
    matches, cared, counted = (int(c) for c in counts)
    recall = matches / cared if cared else 0.0  # the official script's rule for empty sums
    precision = matches / counted if counted else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f": f}
