"""Segmentation scores from a confusion matrix: per-class IoU, their mean (mIoU, the VOC metric),
pixel accuracy; pixels labelled 255 count nowhere.

The course's notes call the VOC segmentation score "mAP"; it is the mean over classes of the
intersection over union of the predicted and true pixels of that class, TP / (TP + FP + FN), not
detection's mean average precision (there is no ranking, no precision-recall curve).
"""
import numpy as np

IGNORE = 255


def confusion_matrix(labels, predictions, num_classes, ignore=IGNORE):
    """[C, C] int64 counts, rows the true class, columns the predicted one, over the pixels whose
    label is not ``ignore``."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    predictions = np.asarray(predictions).reshape(-1).astype(np.int64)
    keep = labels != ignore
    return np.bincount(labels[keep] * num_classes + predictions[keep],
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(confusion, class_names=None):
    """{"mIoU", "pixel_accuracy", "IoU": {class: IoU}} of a confusion matrix. A class that is neither
    in the truth nor predicted has no IoU and is left out of the mean (the VOC devkit's nanmean)."""
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    names = class_names or [str(k) for k in range(len(tp))]
    return {"mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0,
            "pixel_accuracy": float(tp.sum() / max(confusion.sum(), 1)),
            "IoU": {str(n): float(v) for n, v in zip(names, iou) if np.isfinite(v)}}
