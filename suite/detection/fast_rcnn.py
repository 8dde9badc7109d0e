"""Fast R-CNN (Girshick 2015): a detection network on region proposals given from outside.

* Input: an image and its proposals (selective search in the paper, ~2,000 an
  image; ``suite.detection.proposals``), normalised (ymin, xmin, ymax, xmax);
  rows without area are padding.
* Backbone: a convolutional feature map of the whole image, computed once.
* Training minibatch: the proposals and the ground-truth boxes, ``roi_batch``
  RoIs sampled per image, a quarter foreground (IoU >= 0.5), the rest
  background (IoU in [0.1, 0.5): the lower bound acts as hard example mining,
  section 2.3).
* RoI max pooling to 7x7 (``suite.layers.RoIPooling``), two fully connected
  layers, then two sibling outputs: per-class scores (softmax over the classes
  and background) and per-class box regression (targets divided by 0.1, 0.1,
  0.2, 0.2, the code's normalisation).
* The multi-task loss: log loss + [u >= 1] smooth L1 (beta 1), lambda 1.
* Inference: per-class boxes decoded from each proposal, class-wise NMS at
  0.3 (the paper's), the top ``max_detections``.

Faster R-CNN (``suite.detection.faster_rcnn``) is this network with the
proposals made by its own RPN on the same features.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.detection import boxes as B
from suite.detection.backbones import build_backbone
from suite.layers.detection import RoIPooling
from suite.training import randomness
from suite.training.task import SupervisedTask

HEAD_STDS = (0.1, 0.1, 0.2, 0.2)
ROI_SALT = 2  # the step's RoI draw per image (``suite.training.randomness``)


@dataclasses.dataclass(frozen=True)
class FastRCNNConfig:
    num_classes: int = 5
    image_size: int = 96  # the square the images are fed in (a multiple of 16)
    # min_side 0: images stretched to the square; else their aspect kept (Ren et al., Girshick: the shorter side
    # to min_side, the longer at most max_side) at the square's top left, the rest padding
    min_side: int = 0
    max_side: int = 0
    backbone: str = "vgg"
    blocks: tuple = ((16, 1), (32, 1), (64, 2))  # the 'vgg' backbone's blocks (filters, convolutions)
    batch_norm: bool = True
    sync_batch_norm: bool = False  # batch statistics over the global batch, not each replica's share
    max_proposals: int = 128  # proposal slots per image in training and evaluation (the first ones kept)
    roi_batch: int = 64
    roi_positive_fraction: float = 0.25
    roi_positive_iou: float = 0.5
    roi_negative_iou: float = 0.1  # background RoIs have IoU in [this, roi_positive_iou)
    pool_size: int = 7
    pool_mode: str = "max"  # max: RoI pooling; align: RoIAlign
    head_units: tuple = (256, 256)
    dropout: float = 0.0
    max_boxes: int = 8  # ground-truth slots per image
    max_detections: int = 100
    score_threshold: float = 0.05
    nms_iou: float = 0.3
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4

    def __post_init__(self):
        if self.pool_mode not in ("max", "align"):
            raise ValueError(f"pool_mode must be 'max' or 'align', got {self.pool_mode!r}")
        if self.image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {self.image_size}")
        if self.max_proposals < 1:
            raise ValueError(f"max_proposals must be positive, got {self.max_proposals}")
        if self.min_side and not 0 < self.min_side <= self.max_side <= self.image_size:
            raise ValueError(f"the kept aspect needs 0 < min_side <= max_side <= image_size, got {self.min_side}, "
                             f"{self.max_side}, {self.image_size}")

    @property
    def fit(self):
        """(min_side, max_side) when images keep their aspect, else None (``suite.data.detection``)."""
        return (self.min_side, self.max_side) if self.min_side else None


PRESETS = {
    "tiny": {},
    "small": dict(image_size=128, blocks=((32, 1), (64, 2), (128, 2), (256, 2)), max_proposals=512,
                  head_units=(512, 512), roi_batch=128, dropout=0.2, max_boxes=20),
    # Girshick 2015: images' shorter side 600, longer at most 1000, VGG16 (conv5_3, stride 16), selective search's
    # ~2,000 proposals, 64 RoIs an image
    # (128 over a minibatch of 2), fc6/fc7 4096 with dropout, SGD momentum 0.9 at 1e-3, weight decay 5e-4,
    # NMS 0.3
    "paper": dict(image_size=1008, min_side=600, max_side=1000, backbone="vgg16", blocks=(), batch_norm=False,
                  max_proposals=2000, roi_batch=64,
                  head_units=(4096, 4096), dropout=0.5, max_boxes=50, optimizer="sgd", learning_rate=1e-3,
                  weight_decay=5e-4),
}


def get_config(preset="small", **overrides):
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return FastRCNNConfig(**{**PRESETS[preset], **overrides})


def build_head(config, feature_channels):
    """The Fast R-CNN head: pooled RoIs [R, p, p, C] -> (class logits [R, classes + 1] (0 is the
    background), per-class deltas [R, classes, 4])."""
    c = config
    reg = keras.regularizers.L2(c.weight_decay) if c.weight_decay else None
    pooled = keras.Input((c.pool_size, c.pool_size, feature_channels), name="pooled")
    x = keras.layers.Flatten(name="flatten")(pooled)
    for i, units in enumerate(c.head_units):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"fc{i + 6}")(x)
        if c.dropout:
            x = keras.layers.Dropout(c.dropout, name=f"drop{i + 6}")(x)
    logits = keras.layers.Dense(c.num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                kernel_regularizer=reg, name="cls_score", dtype="float32")(x)
    deltas = keras.layers.Dense(4 * c.num_classes, kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
                                kernel_regularizer=reg, name="bbox_pred", dtype="float32")(x)
    deltas = keras.layers.Reshape((c.num_classes, 4), name="class_deltas", dtype="float32")(deltas)
    return keras.Model(pooled, [logits, deltas], name="head")


def proposal_mask(proposals):
    """Rows of ``proposals`` [..., 4] with an area: the padding (zeros) has none."""
    return (proposals[..., 2] > proposals[..., 0]) & (proposals[..., 3] > proposals[..., 1])


def clip_to_extents(boxes, extents=None):
    """Boxes [N, K, ...,  4] clipped to each image's extent [N, 2] (the share of the square it fills
    from its top left; None: the whole square)."""
    if extents is None:
        return B.clip_boxes(boxes)
    e = tf.cast(extents, tf.float32)
    limit = tf.reshape(tf.concat([e, e], -1), tf.concat([tf.shape(e)[:1], tf.ones([tf.rank(boxes) - 2], tf.int32),
                                                         [4]], 0))
    return tf.clip_by_value(boxes, 0.0, limit)


class FastRCNN(SupervisedTask):
    """Holds the functional backbone and head; its loss terms for the task base
    (``suite.training.task``) on batches with ``proposals``, and ``detect(images, proposals)``.
    The RoIs a step samples are drawn from each image's seed (``suite.training.randomness``)."""

    def __init__(self, config, backbone_weights=None, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        c = config
        self.backbone, self.stride = build_backbone(c.backbone, c.image_size, blocks=c.blocks,
                                                    batch_norm=c.batch_norm, weights=backbone_weights,
                                                    sync_batch_norm=c.sync_batch_norm)
        self.feature_channels = self.backbone.output.shape[-1]
        self.head = build_head(c, self.feature_channels)
        self.pool = RoIPooling(c.pool_size, c.pool_mode)

    def networks(self):
        return {"backbone": self.backbone, "head": self.head}

    def loss_terms(self, batch, training, seeds):
        features = self.features(batch["images"], training)
        proposals = clip_to_extents(tf.cast(batch["proposals"], tf.float32), batch.get("extents"))
        return self.head_losses(features, proposals, proposal_mask(proposals), batch["boxes"], batch["classes"],
                                training, seeds)

    # ------------------------------------------------------------ targets
    def sample_rois(self, proposals, valid, gt_boxes, gt_classes, seeds=None):
        """The RoI minibatch: (rois [N, R, 4], labels [N, R] (0: background), targets [N, R, 4],
        weights [N, R] (0 for padding when too few candidates))."""
        c = self.config
        gt_valid = gt_classes >= 0
        candidates = tf.concat([proposals, gt_boxes], 1)
        candidate_valid = tf.concat([valid, gt_valid], 1)
        best, index, _ = B.match(candidates, gt_boxes, gt_valid)
        fg = candidate_valid & (best >= c.roi_positive_iou)
        bg = candidate_valid & (best < c.roi_positive_iou) & (best >= c.roi_negative_iou)
        bg = bg | (candidate_valid & (best < 0))  # an image without objects: all background
        if seeds is None:
            noise = tf.random.uniform(tf.shape(candidates)[:2])
        else:
            noise = randomness.uniform(seeds, [candidates.shape[1]], ROI_SALT)
        fg, bg = B.balanced_sample(fg, bg, c.roi_batch, c.roi_positive_fraction, noise)
        key = tf.cast(fg, tf.float32) * 2.0 + tf.cast(bg, tf.float32)
        key += 0.5 * noise
        _, picked = tf.math.top_k(key, c.roi_batch)
        rois = tf.gather(candidates, picked, batch_dims=1)
        fg = tf.gather(fg, picked, batch_dims=1)
        weights = tf.cast(fg | tf.gather(bg, picked, batch_dims=1), tf.float32)
        matched = tf.gather(index, picked, batch_dims=1)
        labels = tf.where(fg, tf.gather(gt_classes, matched, batch_dims=1) + 1, 0)
        targets = B.encode(tf.gather(gt_boxes, matched, batch_dims=1), rois, HEAD_STDS)
        return rois, labels, targets, weights

    # ------------------------------------------------------------ forward
    def features(self, images, training):
        return self.backbone(tf.cast(images, tf.float32), training=training)

    def _head(self, features, rois, training):
        pooled = self.pool([features, rois])
        n, r = tf.shape(rois)[0], tf.shape(rois)[1]
        flat = tf.reshape(pooled, tf.concat([[n * r], tf.shape(pooled)[2:]], 0))
        logits, deltas = self.head(flat, training=training)
        return (tf.reshape(logits, [n, r, self.config.num_classes + 1]),
                tf.reshape(deltas, [n, r, self.config.num_classes, 4]))

    def head_losses(self, features, proposals, valid, gt_boxes, gt_classes, training=True, seeds=None):
        """The multi-task loss of the RoIs sampled from ``proposals`` [N, P, 4] (``valid`` [N, P]):
        ({loss/head_class, loss/head_box}, stats)."""
        rois, labels, head_targets, weights = self.sample_rois(proposals, valid, gt_boxes, gt_classes, seeds)
        cls_logits, class_deltas = self._head(features, rois, training)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, cls_logits)
        roi_count = tf.maximum(tf.reduce_sum(weights, -1), 1.0)
        head_cls = tf.reduce_sum(ce * weights, -1) / roi_count
        own = tf.gather(class_deltas, tf.maximum(labels - 1, 0), batch_dims=2)  # the RoI's class's deltas
        fg = tf.cast(labels > 0, tf.float32) * weights
        head_reg = tf.reduce_sum(tf.reduce_sum(B.smooth_l1(own - head_targets), -1) * fg, -1) / roi_count
        hits = tf.cast(tf.equal(tf.argmax(cls_logits, -1, output_type=tf.int32), labels), tf.float32)
        stats = {"head/foreground": tf.reduce_sum(fg, -1),
                 "head/accuracy": tf.reduce_sum(hits * weights, -1) / roi_count}
        return {"loss/head_class": head_cls, "loss/head_box": head_reg}, stats

    def classify(self, features, rois, valid, extents=None):
        """Detections of the RoIs [N, R, 4] (``valid`` [N, R]) on ``features``: the Object Detection
        API's dict, classes 0-based, boxes within each image's extent."""
        c = self.config
        cls_logits, class_deltas = self._head(features, rois, False)
        probs = tf.nn.softmax(cls_logits)[..., 1:] * tf.cast(valid, tf.float32)[..., None]
        boxes = clip_to_extents(B.decode(class_deltas, rois[:, :, None, :], HEAD_STDS), extents)  # [N, R, C, 4]
        return nms_outputs(boxes, probs, c.max_detections, c.nms_iou, c.score_threshold)

    def detect(self, images, proposals, extents=None):
        """Float or uint8 images [N, S, S, 3] (0..255), their proposals [N, P, 4] (normalised
        ymin, xmin, ymax, xmax; rows without area ignored) and, for images kept in their aspect, their
        extents [N, 2] -> the Object Detection API's outputs, classes 0-based."""
        proposals = clip_to_extents(tf.cast(proposals, tf.float32), extents)
        proposals = tf.pad(proposals, [[0, 0], [0, 1], [0, 0]])  # one padding row: an image may have none
        return self.classify(self.features(images, False), proposals, proposal_mask(proposals), extents)


# keras_cv.layers.MultiClassNonMaxSuppression is this op with one box shared by every class; Fast R-CNN regresses a box
# per class, so both detectors call the op (YOLO's shared boxes agree with the layer: tests/test_detection.py)
def nms_outputs(boxes, scores, max_detections, iou, score_threshold):
    """Class-wise NMS of per-class boxes [N, K, C or 1, 4] and scores [N, K, C] into the Object
    Detection API's dict (classes 0-based here; the export adds 1)."""
    boxes, scores, classes, count = tf.image.combined_non_max_suppression(
        boxes, scores, max_detections, max_detections, iou_threshold=iou, score_threshold=score_threshold,
        pad_per_class=False, clip_boxes=True)
    return {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": classes,
            "num_detections": tf.cast(count, tf.float32)}
