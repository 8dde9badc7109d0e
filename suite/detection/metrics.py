"""Detection metrics: PASCAL VOC mAP@0.5 (11-point and all-point interpolation) and COCO
mAP@[.5:.95].

Detections and ground truth are lists with one entry per image:
``{"boxes": [K, 4], "scores": [K], "classes": [K]}`` and
``{"boxes": [M, 4], "classes": [M], "difficult": [M] (optional)}``, classes
0-based, boxes in any one coordinate system (normalised yxyx in the suite).

VOC (Everingham et al. 2010, and the devkit's ``VOCevaldet``): per class,
detections sorted by score are matched greedily to the not yet matched
ground truth of highest IoU >= the threshold; "difficult" objects neither
count as misses nor make a detection false. AP is the mean of the maximum
precision at recall >= 0, 0.1, ..., 1 (VOC2007, 11-point) or the area under
the precision envelope (VOC2010+, all-point).

COCO (``pycocotools`` COCOeval): matching at each IoU threshold 0.50, 0.55,
..., 0.95, at most 100 detections per image, precision interpolated at 101
recall points; the mean over thresholds and classes with ground truth.
COCO's crowd regions and area ranges are not modelled (the embedded data has
none; VOC/COCO readers drop crowd boxes).
"""
import numpy as np

from suite.detection.boxes import iou_numpy


def _match_class(detections, truths, cls, threshold, max_detections=None):
    """(scores, true-positive flags, number of non-difficult ground truths) of class ``cls``."""
    scores, hits = [], []
    positives = 0
    coco = max_detections is not None
    for det, gt in zip(detections, truths):
        gt_classes = np.asarray(gt["classes"]).reshape(-1)
        keep = gt_classes == cls
        gt_boxes = np.asarray(gt["boxes"], np.float64).reshape(-1, 4)[keep]
        difficult = np.asarray(gt.get("difficult", np.zeros(len(gt_classes), bool)), bool).reshape(-1)[keep]
        positives += int((~difficult).sum())
        d_scores = np.asarray(det["scores"], np.float64).reshape(-1)
        d_classes = np.asarray(det["classes"]).reshape(-1)
        d_boxes = np.asarray(det["boxes"], np.float64).reshape(-1, 4)
        if max_detections is not None:  # COCO: the image's top detections over all classes
            top = np.argsort(-d_scores, kind="stable")[:max_detections]
            d_scores, d_classes, d_boxes = d_scores[top], d_classes[top], d_boxes[top]
        mine = d_classes == cls
        d_scores, d_boxes = d_scores[mine], d_boxes[mine]
        order = np.argsort(-d_scores, kind="stable")
        d_scores, d_boxes = d_scores[order], d_boxes[order]
        taken = np.zeros(len(gt_boxes), bool)
        overlaps = iou_numpy(d_boxes, gt_boxes) if len(gt_boxes) else np.zeros((len(d_boxes), 0))
        for k in range(len(d_boxes)):
            best, j = -1.0, -1
            for m in range(len(gt_boxes)):
                # VOC: the best overlapping ground truth (taken or not: a duplicate is false);
                # COCO: the best one not yet taken
                if coco and taken[m]:
                    continue
                if overlaps[k, m] > best:
                    best, j = overlaps[k, m], m
            if j >= 0 and best >= threshold:
                if difficult[j]:
                    continue  # neither a hit nor a false detection
                scores.append(d_scores[k])
                hits.append(not taken[j])
                taken[j] = True
            else:
                scores.append(d_scores[k])
                hits.append(False)
    return np.array(scores), np.array(hits, bool), positives


def _precision_recall(scores, hits, positives):
    order = np.argsort(-scores, kind="stable")
    hits = hits[order]
    tp = np.cumsum(hits)
    fp = np.cumsum(~hits)
    recall = tp / max(positives, 1)
    precision = tp / np.maximum(tp + fp, 1e-12)
    return precision, recall


def average_precision(precision, recall, method="all"):
    """AP from a precision/recall curve: ``"11"`` (VOC2007's 11 recall points) or ``"all"``
    (area under the monotone precision envelope) or ``"101"`` (COCO)."""
    precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
    if method in ("11", "101"):
        points = np.linspace(0, 1, 11 if method == "11" else 101)
        return float(np.mean([precision[recall >= t].max() if np.any(recall >= t) else 0.0 for t in points]))
    if method != "all":
        raise ValueError(f"AP method must be '11', 'all' or '101', got {method!r}")
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    changes = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[changes + 1] - r[changes]) * p[changes + 1]))


def class_average_precision(detections, truths, num_classes, threshold=0.5, method="all", max_detections=None):
    """{class: AP} for the classes with at least one (non-difficult) ground-truth object."""
    out = {}
    for c in range(num_classes):
        scores, hits, positives = _match_class(detections, truths, c, threshold, max_detections)
        if positives == 0:
            continue
        if not len(scores):
            out[c] = 0.0
            continue
        precision, recall = _precision_recall(scores, hits, positives)
        out[c] = average_precision(precision, recall, method)
    return out


def precision_recall_curves(detections, truths, num_classes, threshold=0.5, num_thresholds=101):
    """Each class's precision and recall at ``num_thresholds`` score thresholds evenly spaced over
    [0, 1], VOC matching at IoU ``threshold``, laid out for TensorBoard's PR-curve plugin: {class:
    {"tp", "fp", "tn", "fn", "precision", "recall"} arrays [num_thresholds]} (``tn`` is 0: a detector
    has no true negatives to count), for the classes with ground truth."""
    out = {}
    cuts = np.linspace(0.0, 1.0, num_thresholds)
    for c in range(num_classes):
        scores, hits, positives = _match_class(detections, truths, c, threshold)
        if positives == 0:
            continue
        above = scores[None, :] >= cuts[:, None] if len(scores) else np.zeros((num_thresholds, 0), bool)
        tp = (above & hits[None, :]).sum(1).astype(np.float64)
        fp = (above & ~hits[None, :]).sum(1).astype(np.float64)
        out[c] = {"tp": tp, "fp": fp, "tn": np.zeros(num_thresholds), "fn": positives - tp,
                  "precision": np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0), "recall": tp / positives}
    return out


def voc_map(detections, truths, num_classes, threshold=0.5, method="all"):
    """PASCAL VOC mAP at IoU ``threshold`` (``method`` "11" for VOC2007, "all" for VOC2010+)."""
    aps = class_average_precision(detections, truths, num_classes, threshold, method)
    return float(np.mean(list(aps.values()))) if aps else 0.0


def coco_map(detections, truths, num_classes, thresholds=None, max_detections=100):
    """COCO mAP@[.5:.95]: 101-point AP averaged over IoU thresholds 0.5..0.95 and classes."""
    thresholds = np.linspace(0.5, 0.95, 10) if thresholds is None else thresholds
    values = [voc_map_at(detections, truths, num_classes, t, max_detections) for t in thresholds]
    return float(np.mean(values))


def voc_map_at(detections, truths, num_classes, threshold, max_detections):
    aps = class_average_precision(detections, truths, num_classes, threshold, "101", max_detections)
    return float(np.mean(list(aps.values()))) if aps else 0.0


def detection_scores(detections, truths, num_classes):
    """The figures every detection recipe logs: VOC mAP@0.5 (11-point and all-point), COCO mAP."""
    return {"mAP50_voc07": voc_map(detections, truths, num_classes, 0.5, "11"),
            "mAP50": voc_map(detections, truths, num_classes, 0.5, "all"),
            "mAP_coco": coco_map(detections, truths, num_classes)}
