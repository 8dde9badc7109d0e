"""Faster R-CNN (Ren et al. 2015): a backbone, a region proposal network and the Fast R-CNN head
(Girshick 2015) on RoI-pooled proposals, trained end to end.

* RPN: a 3x3 convolution, then two sibling 1x1 convolutions: an objectness
  score per anchor (a logistic unit; the paper's two-way softmax is the same
  model) and the anchor's (ty, tx, th, tw). Anchors: 3 scales x 3 ratios
  (1:2, 1:1, 2:1) at every feature cell. Training samples 256 anchors per
  image, up to half positive (IoU >= 0.7 with an object, or an object's best
  anchor), negatives below 0.3; anchors crossing the image's boundary are
  ignored in training (Ren et al. 3.3: they would add large, hard-to-correct
  error terms and training would not converge), clipped at test time.
* Proposals: the top ``pre_nms`` anchors by score, decoded and clipped,
  non-maximum suppression at IoU 0.7, the ``post_nms`` best kept (proposals
  are constants for the head, the paper's approximate joint training).
* Head: the proposals and the ground-truth boxes, 128 sampled per image, a
  quarter foreground (IoU >= 0.5), the rest background (IoU < 0.5); RoI
  pooling to 7x7 (or RoIAlign), two fully connected layers, then per-class
  scores (softmax over the classes and background) and per-class box
  regression (targets divided by 0.1, 0.1, 0.2, 0.2).
* Loss: RPN log loss + RPN smooth L1 (beta 1/9) + head cross-entropy + head
  smooth L1 (beta 1), all together; weight decay on the kernels.
* Inference: per-class boxes decoded from each proposal, class-wise
  non-maximum suppression, the top ``max_detections``.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.detection import boxes as B
from suite.detection.fast_rcnn import (HEAD_STDS, FastRCNN, FastRCNNConfig, build_head, clip_to_extents,  # noqa: F401
                                       nms_outputs)
from suite.training import randomness

ANCHOR_SALT = 1  # the step's anchor draw per image (``suite.training.randomness``; the RoIs' is fast_rcnn's)


@dataclasses.dataclass(frozen=True)
class FasterRCNNConfig(FastRCNNConfig):
    """Fast R-CNN's config (the backbone, the RoI minibatch, the head, inference) and the RPN's."""

    anchor_scales: tuple = (16, 32, 64)  # pixels (side of a square anchor of the same area)
    anchor_ratios: tuple = (0.5, 1.0, 2.0)  # height / width
    ignore_cross_boundary: bool = True  # anchors reaching outside the image take no part in the RPN loss
    rpn_channels: int = 64
    rpn_batch: int = 256
    rpn_positive_fraction: float = 0.5
    rpn_positive_iou: float = 0.7
    rpn_negative_iou: float = 0.3
    rpn_nms_iou: float = 0.7
    # proposal NMS: 'combined' (tf.image.combined_non_max_suppression, ~20x faster on a CPU) or 'padded'
    # (tf.image.non_max_suppression_padded, the same boxes, and the one XLA compiles: --jit-compile)
    proposal_nms: str = "combined"
    pre_nms_train: int = 600
    post_nms_train: int = 100
    pre_nms_test: int = 300
    post_nms_test: int = 50
    roi_negative_iou: float = 0.0  # background RoIs have IoU in [this, roi_positive_iou)
    nms_iou: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.proposal_nms not in ("combined", "padded"):
            raise ValueError(f"proposal_nms must be 'combined' or 'padded', got {self.proposal_nms!r}")


PRESETS = {
    "tiny": {},
    "small": dict(image_size=128, blocks=((32, 1), (64, 2), (128, 2), (256, 2)), anchor_scales=(24, 48, 96),
                  rpn_channels=256, head_units=(512, 512), roi_batch=128, post_nms_train=300, pre_nms_train=2000,
                  pre_nms_test=1000, post_nms_test=100, dropout=0.2, max_boxes=20),
    # Ren et al.: images' shorter side 600, longer at most 1000, VGG16 (conv5_3, stride 16), anchors 128/256/512,
    # 512-d RPN, 12000/2000 proposals before/after NMS in training, 6000/300 at test, fc6/fc7 4096 with dropout,
    # SGD momentum 0.9 at 1e-3, weight decay 5e-4
    "paper": dict(image_size=1008, min_side=600, max_side=1000, backbone="vgg16", blocks=(), batch_norm=False, anchor_scales=(128, 256, 512),
                  rpn_channels=512, pre_nms_train=12000, post_nms_train=2000, pre_nms_test=6000, post_nms_test=300,
                  roi_batch=128, head_units=(4096, 4096), dropout=0.5, max_boxes=50, nms_iou=0.3,
                  optimizer="sgd", learning_rate=1e-3, weight_decay=5e-4),
}


def get_config(preset="small", **overrides):
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return FasterRCNNConfig(**{**PRESETS[preset], **overrides})


def build_rpn(channels, num_anchors, feature_channels, weight_decay=0.0):
    """The RPN as a functional model: feature map -> (objectness logits [N, cells * anchors],
    deltas [N, cells * anchors, 4]) in the anchors' order (cell, then scale, then ratio)."""
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    init = keras.initializers.RandomNormal(stddev=0.01)
    features = keras.Input((None, None, feature_channels), name="features")
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init,
                            kernel_regularizer=reg, name="rpn_conv")(features)
    logits = keras.layers.Conv2D(num_anchors, 1, kernel_initializer=init, kernel_regularizer=reg,
                                 name="rpn_objectness")(x)
    deltas = keras.layers.Conv2D(4 * num_anchors, 1, kernel_initializer=init, kernel_regularizer=reg,
                                 name="rpn_deltas")(x)
    logits = keras.layers.Reshape((-1,), name="objectness", dtype="float32")(logits)
    deltas = keras.layers.Reshape((-1, 4), name="deltas", dtype="float32")(deltas)
    return keras.Model(features, [logits, deltas], name="rpn")


class FasterRCNN(FastRCNN):
    """Fast R-CNN (the backbone and head, ``suite.detection.fast_rcnn``) with its proposals from
    an RPN on the same features; its loss terms for the task base (``suite.training.task``) and
    ``detect(images)`` for evaluation and export. The anchors and RoIs a step samples are drawn
    from each image's seed (``suite.training.randomness``)."""

    def __init__(self, config, backbone_weights=None, seed=0, **kwargs):
        super().__init__(config, backbone_weights=backbone_weights, seed=seed, **kwargs)
        c = config
        self.feature_size = c.image_size // self.stride
        self.num_anchors = len(c.anchor_scales) * len(c.anchor_ratios)
        self.anchors = tf.constant(B.anchors((self.feature_size,) * 2, (c.image_size,) * 2, self.stride,
                                             c.anchor_scales, c.anchor_ratios))
        # the anchors the RPN's training samples from: inside the image (a 1e-6 slack for rounding), or all
        inside = tf.reduce_all((self.anchors >= -1e-6) & (self.anchors <= 1 + 1e-6), -1)
        self.trainable_anchors = inside if c.ignore_cross_boundary else tf.ones_like(inside)
        self.rpn = build_rpn(c.rpn_channels, self.num_anchors, self.feature_channels, c.weight_decay)

    def networks(self):
        return {"backbone": self.backbone, "rpn": self.rpn, "head": self.head}

    def loss_terms(self, batch, training, seeds):
        return self.losses_of(batch["images"], batch["boxes"], batch["classes"], training=training, seeds=seeds,
                              extents=batch.get("extents"))

    # ------------------------------------------------------------ proposals
    def proposals(self, logits, deltas, training, extents=None):
        """Top-scoring decoded anchors after NMS, clipped to each image (its ``extents`` [N, 2] when
        its aspect is kept): (boxes [N, post, 4], valid [N, post])."""
        c = self.config
        pre = min(c.pre_nms_train if training else c.pre_nms_test, int(self.anchors.shape[0]))
        post = min(c.post_nms_train if training else c.post_nms_test, pre)
        if extents is not None:  # anchors in an image's padding are never proposed
            logits = tf.where(self.in_extents(extents), logits, -1e9)
        scores, top = tf.math.top_k(logits, pre)
        boxes = clip_to_extents(B.decode(tf.gather(deltas, top, batch_dims=1), tf.gather(self.anchors, top)), extents)
        if c.proposal_nms == "padded":  # already sorted by score (top_k)
            keep, count = tf.image.non_max_suppression_padded(
                boxes, scores, post, iou_threshold=c.rpn_nms_iou, pad_to_max_output_size=True, sorted_input=True,
                canonicalized_coordinates=True)
            boxes = tf.gather(boxes, keep, batch_dims=1)
        else:
            boxes, _, _, count = tf.image.combined_non_max_suppression(
                boxes[:, :, None, :], tf.sigmoid(scores)[..., None], post, post, iou_threshold=c.rpn_nms_iou,
                score_threshold=0.0, pad_per_class=False, clip_boxes=False)
        valid = tf.range(post)[None, :] < count[:, None]
        if extents is not None:  # a box clipped to nothing (an anchor in the padding, last by score) is none
            valid &= (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
        return tf.stop_gradient(boxes), valid

    # ------------------------------------------------------------ targets
    # Hand-written: keras_cv.layers.BoxMatcher(force_match_for_each_col=True) gives each object one best anchor, the
    # paper's code every anchor tied at its best, knows no boundary, and (0.9) force-matches the first anchor to a
    # column past the last; they agree otherwise (tests/test_detection.py)
    def in_extents(self, extents):
        """[N, A]: the anchors whose centre lies in each image's extent [N, 2] (not in its padding)."""
        centre = (self.anchors[None, :, :2] + self.anchors[None, :, 2:]) / 2
        return tf.reduce_all(centre < tf.cast(extents, tf.float32)[:, None, :], -1)

    def rpn_labels(self, gt_boxes, gt_valid, extents=None):
        """Every anchor's label before sampling: (positive, negative masks [N, A], the matched object
        [N, A]). Anchors crossing the image's boundary (with ``extents`` [N, 2], the boundary of the
        image within the padded square) are neither (``ignore_cross_boundary``; without it those whose
        centre is in the padding still are neither), and an object's best anchors (all tied at its best
        IoU) are positive whatever their IoU, its best inside the image, as in the paper's code."""
        c = self.config
        anchors = tf.broadcast_to(self.anchors[None], tf.concat([tf.shape(gt_boxes)[:1], tf.shape(self.anchors)], 0))
        best, index, overlaps = B.match(anchors, gt_boxes, gt_valid)
        inside = self.trainable_anchors[None, :]
        if extents is not None:
            e = tf.cast(extents, tf.float32)[:, None, :]
            within = tf.reduce_all(self.anchors[None, :, 2:] <= e + 1e-6, -1)
            inside = (inside & within) if c.ignore_cross_boundary else (inside & self.in_extents(extents))
        overlaps = tf.where(inside[..., None], overlaps, -1.0)
        per_object = tf.reduce_max(overlaps, axis=1, keepdims=True)  # [N, 1, M]
        is_best = tf.reduce_any((overlaps >= per_object - 1e-6) & (overlaps > 0) & gt_valid[:, None, :], -1)
        positive = ((best >= c.rpn_positive_iou) | is_best) & inside
        negative = (best < c.rpn_negative_iou) & ~positive & inside
        return positive, negative, index

    def rpn_targets(self, gt_boxes, gt_valid, seeds=None, extents=None):
        """Sampled anchors (``rpn_labels``, then up to ``rpn_batch`` of them, at most half positive):
        (positive, negative masks [N, A], regression targets [N, A, 4])."""
        c = self.config
        positive, negative, index = self.rpn_labels(gt_boxes, gt_valid, extents)
        noise = None if seeds is None else randomness.uniform(seeds, [self.anchors.shape[0]], ANCHOR_SALT)
        positive, negative = B.balanced_sample(positive, negative, c.rpn_batch, c.rpn_positive_fraction, noise)
        targets = B.encode(tf.gather(gt_boxes, index, batch_dims=1), self.anchors[None])
        return positive, negative, targets

    # ------------------------------------------------------------ forward
    def _features(self, images, training):
        features = self.features(images, training)
        logits, deltas = self.rpn(features, training=training)
        return features, logits, deltas

    def losses_of(self, images, gt_boxes, gt_classes, training=True, seeds=None, extents=None):
        gt_valid = gt_classes >= 0
        features, logits, deltas = self._features(images, training)
        positive, negative, targets = self.rpn_targets(gt_boxes, gt_valid, seeds, extents)
        sampled = tf.cast(positive | negative, tf.float32)
        count = tf.maximum(tf.reduce_sum(sampled, -1), 1.0)
        bce = tf.nn.sigmoid_cross_entropy_with_logits(tf.cast(positive, tf.float32), logits)
        rpn_cls = tf.reduce_sum(bce * sampled, -1) / count
        rpn_reg = tf.reduce_sum(tf.reduce_sum(B.smooth_l1(deltas - targets, 1.0 / 9), -1)
                                * tf.cast(positive, tf.float32), -1) / count
        proposals, valid = self.proposals(logits, deltas, training=True, extents=extents)
        terms, stats = self.head_losses(features, proposals, valid, gt_boxes, gt_classes, training, seeds)
        return ({"loss/rpn_objectness": rpn_cls, "loss/rpn_box": rpn_reg, **terms},
                {"rpn/positives": tf.reduce_sum(tf.cast(positive, tf.float32), -1), **stats})

    def detect(self, images, extents=None):
        """Float or uint8 images [N, S, S, 3] (0..255) (and, kept in their aspect, their extents
        [N, 2]) -> the Object Detection API's outputs, classes 0-based: detection_boxes [N, D, 4],
        detection_scores [N, D], detection_classes [N, D], num_detections [N]."""
        features, logits, deltas = self._features(images, False)
        rois, valid = self.proposals(logits, deltas, training=False, extents=extents)
        return self.classify(features, rois, valid, extents)
