"""YOLO v1 (Redmon et al. 2016): one network from the image to an S x S grid where each cell
predicts B boxes (x, y relative to the cell, square roots of width and height relative to the
image, a confidence) and C class probabilities.

The paper's network: 24 convolutional layers (leaky ReLU 0.1) and 2 fully
connected layers (4096, then S x S x (5B + C), linear), 448x448 input, S=7,
B=2. Loss (eq. 3), summed over cells and averaged over images:

    lambda_coord sum_ij 1obj_ij [(x - x^)^2 + (y - y^)^2
                                + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
  + sum_ij 1obj_ij (C - C^)^2 + lambda_noobj sum_ij 1noobj_ij (C - C^)^2
  + sum_i 1obj_i sum_c (p(c) - p^(c))^2

with lambda_coord 5, lambda_noobj 0.5. The responsible predictor of a cell
holding an object's centre is its box of highest IoU with that object; its
confidence target is that IoU. A cell holds at most one object (the paper's
limitation: with two centres in one cell the larger object is kept).
Inference: class-specific confidence p(c) * C per box, class-wise NMS.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.detection import boxes as B
from suite.detection.faster_rcnn import nms_outputs
from suite.layers.detection import ImagePreprocessing
from suite.training.task import SupervisedTask

# Figure 3 of the paper: (filters, kernel, stride) convolutions and "M" 2x2 max pooling
PAPER_LAYERS = (
    (64, 7, 2), "M", (192, 3, 1), "M",
    (128, 1, 1), (256, 3, 1), (256, 1, 1), (512, 3, 1), "M",
    *((256, 1, 1), (512, 3, 1)) * 4, (512, 1, 1), (1024, 3, 1), "M",
    *((512, 1, 1), (1024, 3, 1)) * 2, (1024, 3, 1), (1024, 3, 2),
    (1024, 3, 1), (1024, 3, 1),
)


@dataclasses.dataclass(frozen=True)
class YoloConfig:
    num_classes: int = 5
    image_size: int = 96
    grid: int = 6
    boxes_per_cell: int = 2
    layers: tuple = ((16, 3, 1), "M", (32, 3, 1), "M", (64, 3, 1), "M", (64, 1, 1), (128, 3, 1), "M",
                     (128, 3, 1))
    batch_norm: bool = True  # YOLO v2's addition; off in the paper preset
    sync_batch_norm: bool = False  # batch statistics over the global batch, not each replica's share
    fc_units: int = 256
    dropout: float = 0.0
    leaky: float = 0.1
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    max_boxes: int = 8
    max_detections: int = 100
    score_threshold: float = 0.05
    nms_iou: float = 0.5
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 5e-4
    # the paper's augmentation (random scaling and translation up to 20%, exposure and saturation up to 1.5x:
    # suite.data.detection.yolo_jitter); recipes.yolo leaves it off on the embedded scenes (see there)
    augment: bool = True

    def __post_init__(self):
        stride = 1
        for layer in self.layers:
            stride *= 2 if layer == "M" else layer[2]
        if self.image_size // stride != self.grid or self.image_size % stride:
            raise ValueError(f"the layers reduce a {self.image_size}-pixel image by {stride} to a "
                             f"{self.image_size / stride:g} grid, not grid={self.grid}")

    @property
    def outputs_per_cell(self):
        return 5 * self.boxes_per_cell + self.num_classes


PRESETS = {
    # tiny: 64-pixel images on a 4x4 grid (measured on the embedded scenes: mAP@0.5 0.21 after 1,000 steps of
    # 32 in half the time of 96 pixels on 6x6, which reach 0.25)
    "tiny": dict(image_size=64, grid=4),
    "small": dict(image_size=128, grid=4,
                  layers=((32, 3, 1), "M", (64, 3, 1), "M", (128, 3, 1), "M", (64, 1, 1), (128, 3, 1), "M",
                          (128, 1, 1), (256, 3, 1), "M", (256, 3, 1)),
                  fc_units=1024, dropout=0.2, max_boxes=20),
    "paper": dict(image_size=448, grid=7, layers=PAPER_LAYERS, batch_norm=False, fc_units=4096, dropout=0.5,
                  max_boxes=50, optimizer="sgd", learning_rate=1e-3),
}


def get_config(preset="small", **overrides):
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return YoloConfig(**{**PRESETS[preset], **overrides})


def build_yolo(config):
    """The network: float images [N, S, S, 3] in 0..255 -> raw predictions [N, grid, grid, 5B + C]
    (per box x, y, sqrt w, sqrt h, confidence; then the class probabilities), linear as in the paper."""
    c = config
    reg = keras.regularizers.L2(c.weight_decay) if c.weight_decay else None
    images = keras.Input((c.image_size, c.image_size, 3), name="images")
    x = ImagePreprocessing("tf", name="preprocess")(images)
    for i, layer in enumerate(c.layers):
        if layer == "M":
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
            continue
        filters, kernel, stride = layer
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=not c.batch_norm,
                                kernel_regularizer=reg, name=f"conv{i}")(x)
        if c.batch_norm:
            x = keras.layers.BatchNormalization(synchronized=c.sync_batch_norm, name=f"bn{i}")(x)
        x = keras.layers.LeakyReLU(c.leaky, name=f"leaky{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(c.fc_units, kernel_regularizer=reg, name="fc1")(x)
    x = keras.layers.LeakyReLU(c.leaky, name="fc1_leaky")(x)
    if c.dropout:
        x = keras.layers.Dropout(c.dropout, name="dropout")(x)
    x = keras.layers.Dense(c.grid * c.grid * c.outputs_per_cell, kernel_regularizer=reg, name="fc2",
                           dtype="float32")(x)
    out = keras.layers.Reshape((c.grid, c.grid, c.outputs_per_cell), name="predictions", dtype="float32")(x)
    return keras.Model(images, out, name="yolo")


def split_predictions(raw, config):
    """(xy [N, S, S, B, 2] in the cell, sqrt wh [N, S, S, B, 2], confidence [N, S, S, B],
    class probabilities [N, S, S, C])."""
    b = config.boxes_per_cell
    per_box = tf.reshape(raw[..., :5 * b], tf.concat([tf.shape(raw)[:3], [b, 5]], 0))
    return per_box[..., 0:2], per_box[..., 2:4], per_box[..., 4], raw[..., 5 * b:]


def cell_boxes(xy, sqrt_wh, grid):
    """Normalised (ymin, xmin, ymax, xmax) of predictions [N, S, S, B] (x along columns)."""
    cols = tf.range(grid, dtype=tf.float32)[None, None, :, None]
    rows = tf.range(grid, dtype=tf.float32)[None, :, None, None]
    cx = (cols + xy[..., 0]) / grid
    cy = (rows + xy[..., 1]) / grid
    w = tf.square(sqrt_wh[..., 0])
    h = tf.square(sqrt_wh[..., 1])
    return tf.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1)


def targets(gt_boxes, gt_classes, grid):
    """Per cell: (has object [N, S, S], its box [N, S, S, 4], class [N, S, S]); the cell of an
    object is the one holding its centre; of several, the largest object."""
    valid = gt_classes >= 0
    cy = (gt_boxes[..., 0] + gt_boxes[..., 2]) / 2
    cx = (gt_boxes[..., 1] + gt_boxes[..., 3]) / 2
    row = tf.clip_by_value(tf.cast(tf.floor(cy * grid), tf.int32), 0, grid - 1)
    col = tf.clip_by_value(tf.cast(tf.floor(cx * grid), tf.int32), 0, grid - 1)
    cell = tf.one_hot(row * grid + col, grid * grid) * tf.cast(valid, tf.float32)[..., None]  # [N, M, S*S]
    area = (gt_boxes[..., 2] - gt_boxes[..., 0]) * (gt_boxes[..., 3] - gt_boxes[..., 1])
    priority = cell * (1.0 + area)[..., None]  # > 0 only where the object sits
    owner = tf.argmax(priority, axis=1, output_type=tf.int32)  # [N, S*S]
    has = tf.reduce_max(priority, axis=1) > 0
    shape = tf.concat([tf.shape(gt_boxes)[:1], [grid, grid]], 0)
    box = tf.reshape(tf.gather(gt_boxes, owner, batch_dims=1), tf.concat([shape, [4]], 0))
    cls = tf.reshape(tf.gather(gt_classes, owner, batch_dims=1), shape)
    return tf.reshape(has, shape), box, cls


def yolo_loss(raw, gt_boxes, gt_classes, config):
    """The paper's loss terms, each [N] (summed over the image's cells): coordinates (x, y and
    sqrt w, sqrt h, with lambda_coord), object confidence, no-object confidence (with
    lambda_noobj), class probabilities."""
    c = config
    s = c.grid
    xy, sqrt_wh, conf, probs = split_predictions(tf.cast(raw, tf.float32), c)
    has, box, cls = targets(gt_boxes, gt_classes, s)
    predicted = cell_boxes(xy, sqrt_wh, s)  # [N, S, S, B, 4]
    overlaps = B.iou(predicted, box[..., None, :])[..., 0]  # [N, S, S, B]
    responsible = tf.one_hot(tf.argmax(overlaps, -1), c.boxes_per_cell) * tf.cast(has, tf.float32)[..., None]
    rows = tf.range(s, dtype=tf.float32)[None, :, None]
    cols = tf.range(s, dtype=tf.float32)[None, None, :]
    t_xy = tf.stack([(box[..., 1] + box[..., 3]) / 2 * s - cols, (box[..., 0] + box[..., 2]) / 2 * s - rows], -1)
    t_wh = tf.sqrt(tf.maximum(tf.stack([box[..., 3] - box[..., 1], box[..., 2] - box[..., 0]], -1), 0.0))

    def sum_cells(t):  # over the grid (and the boxes of each cell): one value per image
        return tf.reduce_sum(t, axis=list(range(1, t.shape.rank)))

    coord = c.lambda_coord * sum_cells(responsible * (tf.reduce_sum(tf.square(xy - t_xy[..., None, :]), -1)
                                                      + tf.reduce_sum(tf.square(sqrt_wh - t_wh[..., None, :]), -1)))
    obj = sum_cells(responsible * tf.square(conf - tf.stop_gradient(overlaps)))
    noobj = c.lambda_noobj * sum_cells((1.0 - responsible) * tf.square(conf))
    onehot = tf.one_hot(tf.maximum(cls, 0), c.num_classes)
    classes = sum_cells(tf.cast(has, tf.float32) * tf.reduce_sum(tf.square(probs - onehot), -1))
    return {"loss/coordinates": coord, "loss/object": obj, "loss/no_object": noobj, "loss/class": classes}


class YOLO(SupervisedTask):
    """The network and the paper's loss terms for the task base (``suite.training.task``);
    ``detect`` for evaluation and export."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_yolo(config)

    def loss_terms(self, batch, training, seeds):
        raw = self.net(tf.cast(batch["images"], tf.float32), training=training)
        return yolo_loss(raw, batch["boxes"], batch["classes"], self.config), {}

    def detect(self, images):
        c = self.config
        raw = tf.cast(self.net(tf.cast(images, tf.float32), training=False), tf.float32)
        xy, sqrt_wh, conf, probs = split_predictions(raw, c)
        boxes = cell_boxes(xy, sqrt_wh, c.grid)  # [N, S, S, B, 4]
        scores = tf.nn.relu(probs[..., None, :] * conf[..., None])  # [N, S, S, B, C]
        n = tf.shape(raw)[0]
        k = c.grid * c.grid * c.boxes_per_cell
        return nms_outputs(tf.reshape(boxes, [n, k, 1, 4]), tf.reshape(scores, [n, k, c.num_classes]),
                           c.max_detections, c.nms_iou, c.score_threshold)
