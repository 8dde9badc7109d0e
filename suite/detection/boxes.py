"""Boxes, anchors and their training targets, shared by Faster R-CNN and YOLO.

Every box in the suite is ``[ymin, xmin, ymax, xmax]`` normalised by the
image's height and width (TensorFlow's convention, that of
``tf.image.draw_bounding_boxes`` and of the Object Detection API's outputs),
so a box means the same thing whatever size the image is resized to. Padded
ground-truth slots carry the class ``-1``.

Anchors and the (tx, ty, tw, th) encoding follow Faster R-CNN (Ren et al.
2015, eq. 2): tx = (x - xa) / wa, ty = (y - ya) / ha, tw = log(w / wa),
th = log(h / ha), divided by ``stds`` (0.1, 0.1, 0.2, 0.2 for the detection
head, as in the reference implementation; 1 for the RPN).
"""
import math

import numpy as np
import tensorflow as tf

BOX_CLIP = math.log(1000.0 / 16)  # largest tw/th decoded (the reference implementation's bound)


# ------------------------------------------------------------------ geometry
# Hand-written: keras.utils.bounding_boxes.compute_iou takes [N, 4] or [B, N, 4] only (YOLO's are [N, S, S, B, 4]);
# the two agree where both apply (tests/test_detection.py)
def iou(a, b):
    """IoU of every box of ``a`` [..., N, 4] with every box of ``b`` [..., M, 4]: [..., N, M].
    Boxes of zero area have IoU 0 with everything."""
    a = tf.convert_to_tensor(a, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    a_ = a[..., :, None, :]
    b_ = b[..., None, :, :]
    top = tf.maximum(a_[..., 0], b_[..., 0])
    left = tf.maximum(a_[..., 1], b_[..., 1])
    bottom = tf.minimum(a_[..., 2], b_[..., 2])
    right = tf.minimum(a_[..., 3], b_[..., 3])
    inter = tf.maximum(bottom - top, 0.0) * tf.maximum(right - left, 0.0)
    area_a = tf.maximum(a_[..., 2] - a_[..., 0], 0.0) * tf.maximum(a_[..., 3] - a_[..., 1], 0.0)
    area_b = tf.maximum(b_[..., 2] - b_[..., 0], 0.0) * tf.maximum(b_[..., 3] - b_[..., 1], 0.0)
    union = area_a + area_b - inter
    return tf.math.divide_no_nan(inter, union)


def iou_numpy(a, b):
    """``iou`` for NumPy arrays [N, 4] x [M, 4] (evaluation code)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    inter = (np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
             * np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None))
    area = lambda x: np.clip(x[..., 2] - x[..., 0], 0, None) * np.clip(x[..., 3] - x[..., 1], 0, None)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _centre_size(boxes):
    h = boxes[..., 2] - boxes[..., 0]
    w = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * h, boxes[..., 1] + 0.5 * w, h, w


# Hand-written: keras.utils.bounding_boxes.encode_box_to_deltas takes the log of a padded slot's zero size (a NaN
# that masking by multiplication keeps) and decode_deltas_to_boxes has no bound on decoded sizes (the reference
# implementation's BOX_CLIP); on real boxes the two pairs agree (tests/test_detection.py)
def encode(boxes, anchors, stds=(1.0, 1.0, 1.0, 1.0)):
    """(ty, tx, th, tw) of ``boxes`` relative to ``anchors`` (same shape [..., 4]), divided by ``stds``.
    The order follows the boxes' (y, x) order."""
    y, x, h, w = _centre_size(tf.convert_to_tensor(boxes, tf.float32))
    ya, xa, ha, wa = _centre_size(tf.convert_to_tensor(anchors, tf.float32))
    h, w = tf.maximum(h, 1e-6), tf.maximum(w, 1e-6)
    ha, wa = tf.maximum(ha, 1e-6), tf.maximum(wa, 1e-6)
    t = tf.stack([(y - ya) / ha, (x - xa) / wa, tf.math.log(h / ha), tf.math.log(w / wa)], -1)
    return t / tf.constant(stds, tf.float32)


def decode(deltas, anchors, stds=(1.0, 1.0, 1.0, 1.0)):
    """Inverse of ``encode``: boxes [..., 4] from deltas and anchors (sizes bounded by BOX_CLIP)."""
    t = tf.convert_to_tensor(deltas, tf.float32) * tf.constant(stds, tf.float32)
    ya, xa, ha, wa = _centre_size(tf.convert_to_tensor(anchors, tf.float32))
    y = t[..., 0] * ha + ya
    x = t[..., 1] * wa + xa
    h = tf.exp(tf.minimum(t[..., 2], BOX_CLIP)) * ha
    w = tf.exp(tf.minimum(t[..., 3], BOX_CLIP)) * wa
    return tf.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], -1)


def clip_boxes(boxes):
    return tf.clip_by_value(boxes, 0.0, 1.0)


# ------------------------------------------------------------------ anchors
# Hand-written: keras_cv.layers.AnchorGenerator gives the same anchors (tests/test_detection.py) but laid out by
# size, not by feature cell as the RPN's outputs are
def anchors(feature_size, image_size, stride, scales, ratios=(0.5, 1.0, 2.0)):
    """Faster R-CNN anchors, normalised: [fh * fw * len(scales) * len(ratios), 4], ordered by
    feature cell (row-major) then scale then ratio, as the RPN's outputs are laid out.

    ``feature_size`` (fh, fw) cells of ``stride`` pixels over an ``image_size`` (h, w) image;
    an anchor of scale s and ratio r (height / width) is centred on its cell and has area s^2
    pixels: height s * sqrt(r), width s / sqrt(r).
    """
    fh, fw = feature_size
    ih, iw = image_size
    shapes = np.array([[s * math.sqrt(r), s / math.sqrt(r)] for s in scales for r in ratios], np.float64)
    cy = (np.arange(fh) + 0.5) * stride
    cx = (np.arange(fw) + 0.5) * stride
    cy, cx = np.meshgrid(cy, cx, indexing="ij")
    centres = np.stack([cy, cx], -1).reshape(-1, 1, 2)
    half = shapes[None] / 2
    out = np.concatenate([centres - half, centres + half], -1).reshape(-1, 4)
    return (out / np.array([ih, iw, ih, iw], np.float64)).astype(np.float32)


# ------------------------------------------------------------------ sampling
# Hand-written: keras_cv's balanced_sample is internal (keras_cv.src...sampling, not its API), draws unkeyed noise
# (the replicas need each example's own: suite.training.randomness) and builds a one-hot [k, N] per image
def random_subset(mask, limit, noise=None):
    """A random subset of ``mask`` [B, N] (bool) with at most ``limit`` [B] (or scalar) elements per
    row: the standard minibatch sampling of anchors and RoIs, done in the graph. ``noise`` [B, N]
    uniform values order the members (drawn here when not given)."""
    mask = tf.convert_to_tensor(mask)
    if noise is None:
        noise = tf.random.uniform(tf.shape(mask))
    key = tf.where(mask, noise, 2.0)  # members first, in random order
    order = tf.argsort(key, axis=-1)
    rank = tf.argsort(order, axis=-1)  # the position of each element in that order
    limit = tf.cast(limit, rank.dtype)
    if limit.shape.rank:
        limit = limit[:, None]
    return mask & (rank < limit)


def balanced_sample(positive, negative, total, positive_fraction, noise=None):
    """Positive and negative subsets, at most ``total * positive_fraction`` positives, filled up
    to ``total`` with negatives (Faster R-CNN's 256 anchors half positive, Fast R-CNN's 128 RoIs
    a quarter positive). ``noise``: uniform values [B, N] ordering the candidates (a positive and
    a negative set never share an element, so one draw serves both). Returns (positive, negative)
    bool masks."""
    pos = random_subset(positive, int(total * positive_fraction), noise)
    count = tf.reduce_sum(tf.cast(pos, tf.int32), -1)
    neg = random_subset(negative & ~positive, total - count, noise)
    return pos, neg


def match(candidates, gt_boxes, gt_valid):
    """For each candidate box [B, N, 4], its best ground truth among [B, M, 4] (``gt_valid`` [B, M]):
    (max IoU [B, N] (-1 where the image has no object), index [B, N], IoU matrix [B, N, M])."""
    overlaps = iou(candidates, gt_boxes)
    overlaps = tf.where(gt_valid[:, None, :], overlaps, -1.0)
    return tf.reduce_max(overlaps, -1), tf.argmax(overlaps, -1, output_type=tf.int32), overlaps


def smooth_l1(x, beta=1.0):
    """Huber-style smooth L1 of Fast R-CNN: 0.5 x^2 / beta if |x| < beta else |x| - 0.5 beta."""
    a = tf.abs(x)
    return tf.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta)
