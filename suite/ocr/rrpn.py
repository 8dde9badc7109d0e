"""RRPN, the Rotation Region Proposal Network (Ma, Shao, Ye, Wang, Wang, Zheng and Xue 2018):
arbitrary-oriented text found by rotated proposals and a Fast R-CNN head on rotated RoIs; its
anchors, skew IoU, targets, loss, rotated NMS and rotated RoI pooling, all in TensorFlow ops.

* Boxes are (x, y, w, h, theta): the centre, the long side w (the reading direction), the short
  side h, and theta the long side's angle counter-clockwise on the image (y down: a positive
  angle lifts the word's right end), in [-pi/4, 3pi/4) as the paper's; corners as
  ``suite.ocr.geometry.rotated_corners``.
* The network: VGG16's conv5_3 (stride 16); a 3x3 convolution of 512 maps; two sibling 1x1
  convolutions, per position and anchor 2 text/non-text logits and the regression (tx, ty, tw,
  th, ttheta); RRoI max pooling of each proposal to 7x7 bins laid along its own axes; two fully
  connected layers of 4096; text/background logits and the rotated box regression.
* Anchors: sizes 128, 256, 512 pixels (16 x the paper's scales 8, 16, 32: the side of a square of
  the same area), ratios h:w 1:2, 1:5, 1:8, angles -pi/6, 0, pi/6, pi/3, pi/2, 2pi/3: 54 a position.
* RPN targets: an anchor is positive when its skew IoU with a word is above 0.7 and their angles
  differ by less than pi/12; negative when its IoU with every word is below 0.3, or above 0.7 at
  an angle pi/12 or more apart; as in Faster R-CNN each word's best anchor within pi/12 is
  positive too (a small word may reach 0.7 with none). tx = (x - xa) / wa, ty = (y - ya) / ha,
  tw = log(w / wa), th = log(h / ha), ttheta = theta - theta_a + k pi (the k putting it in
  [-pi/2, pi/2): a rectangle turned by pi is the same one, so no target is near +-pi).
* The loss: 256 anchors an image (at most half positive), their softmax cross-entropy and the
  smooth L1 of the positives' regression (beta 1/9); the head's RoIs (the proposals and the words,
  ``roi_batch`` an image, a quarter with IoU >= 0.5) by cross-entropy and smooth L1 of the text
  RoIs' regression (targets divided by 0.1, 0.1, 0.2, 0.2, 0.1).
* Proposals and detections: the top ``pre_nms`` anchors decoded, rotated NMS at 0.7, the
  ``post_nms`` best; the head's text boxes above ``score_threshold``, rotated NMS at ``nms_iou``.

Skew IoU is computed only for pairs whose circumscribed circles meet (gathered, then scattered
back), so its memory follows the overlapping pairs, not anchors x words.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from suite.detection import boxes as B
from suite.ocr.detection import best_words
from suite.segmentation import backbones as bb
from suite.training import randomness
from suite.training.task import SupervisedTask

STRIDE = 16  # conv5_3's
HEAD_STDS = (0.1, 0.1, 0.2, 0.2, 0.1)
ANCHOR_SALT, ROI_SALT = 1, 2


@dataclasses.dataclass(frozen=True)
class RRPNConfig:
    image_size: int = 608  # the nearest multiple of 16 to the shorter side's 600 of the R-CNN family
    vgg_blocks: tuple = bb.VGG16_BLOCKS
    batch_norm: bool = False
    sync_batch_norm: bool = False
    rpn_channels: int = 512
    anchor_sizes: tuple = (128, 256, 512)
    anchor_ratios: tuple = (1 / 2, 1 / 5, 1 / 8)  # h / w
    anchor_angles: tuple = (-30, 0, 30, 60, 90, 120)  # degrees
    positive_iou: float = 0.7
    negative_iou: float = 0.3
    max_angle: float = 15.0  # degrees: pi / 12
    rpn_batch: int = 256
    pre_nms_train: int = 1000  # skew IoU of every overlapping pair of them: bounded here, not 12,000
    post_nms_train: int = 300
    pre_nms_test: int = 1000
    post_nms_test: int = 300
    rpn_nms_iou: float = 0.7
    pool_size: int = 7
    pool_samples: int = 2  # bilinear samples along each axis of a bin, their maximum its value
    fc_units: int = 4096
    roi_batch: int = 128
    roi_positive_fraction: float = 0.25
    roi_positive_iou: float = 0.5
    score_threshold: float = 0.5
    nms_iou: float = 0.3
    max_words: int = 100
    optimizer: str = "sgd"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    # training's skew IoUs (anchor targets, proposals' NMS, RoI sampling) compiled by XLA; off under
    # --jit-compile, where the whole step is
    compiled_overlaps: bool = True

    def __post_init__(self):
        if self.image_size < 32 or self.image_size % 16:
            raise ValueError(f"the input size must be a multiple of 16 and at least 32 pixels, got {self.image_size}")
        if not 0 < self.score_threshold < 1:
            raise ValueError(f"score_threshold must be between 0 and 1, got {self.score_threshold}")

    @property
    def map_size(self):
        return self.image_size // STRIDE

    @property
    def num_anchors(self):
        return len(self.anchor_sizes) * len(self.anchor_ratios) * len(self.anchor_angles)


PRESETS = {
    # 128-pixel scenes (words 12-26 pixels high, 30-110 long): anchors of 16-64 pixels; VGG16's depth at an eighth
    # of its width; fewer proposals and RoIs for the 1-4 words an image holds
    "tiny": dict(image_size=128, vgg_blocks=((16, 2), (32, 2), (48, 3), (64, 3), (64, 3)), batch_norm=True,
                 rpn_channels=64, anchor_sizes=(16, 32, 64), rpn_batch=128, pre_nms_train=120, post_nms_train=48,
                 pre_nms_test=100, post_nms_test=24, fc_units=128, roi_batch=32, max_words=16, optimizer="adam",
                 learning_rate=1e-3, weight_decay=1e-5),
    "small": dict(image_size=256, vgg_blocks=((32, 2), (64, 2), (128, 3), (256, 3), (256, 3)), batch_norm=True,
                  rpn_channels=256, anchor_sizes=(32, 64, 128), rpn_batch=256, pre_nms_train=600, post_nms_train=128,
                  pre_nms_test=400, post_nms_test=64, fc_units=512, roi_batch=64, max_words=32, optimizer="adam",
                  learning_rate=1e-3, weight_decay=1e-5),
    "paper": {},
}


def get_config(preset="tiny", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return RRPNConfig(**{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


# ------------------------------------------------------------------ rotated boxes
def canonical(boxes):
    """(x, y, w, h, theta) [..., 5] with w the long side and theta in [-pi/4, 3pi/4)."""
    x, y, w, h, t = tf.unstack(boxes, axis=-1)
    swap = h > w
    t = tf.where(swap, t + math.pi / 2, t)
    w, h = tf.where(swap, h, w), tf.where(swap, w, h)
    t = tf.math.floormod(t + math.pi / 4, math.pi) - math.pi / 4
    return tf.stack([x, y, w, h, t], -1)


def angle_difference(a, b):
    """|a - b| folded to [0, pi/2]: how far apart two rectangles' orientations are (mod pi)."""
    d = tf.math.floormod(a - b + math.pi / 2, math.pi) - math.pi / 2
    return tf.abs(d)


def corners(boxes):
    """(x, y, w, h, theta) [..., 5] -> corners [..., 4, 2] clockwise on the image from the top left."""
    x, y, w, h, t = tf.unstack(boxes, axis=-1)
    c, s = tf.cos(t)[..., None], tf.sin(t)[..., None]
    lx = tf.stack([-w, w, w, -w], -1) / 2
    ly = tf.stack([-h, -h, h, h], -1) / 2
    return tf.stack([x[..., None] + lx * c + ly * s, y[..., None] - lx * s + ly * c], -1)


def from_quads(quads):
    """Word quadrilaterals [..., 4, 2] (clockwise from the top left) -> canonical rotated boxes
    [..., 5]: the centre, the mean lengths of opposite sides, the mean angle of the top and bottom."""
    p0, p1, p2, p3 = tf.unstack(quads, axis=-2)
    along = (p1 - p0) + (p2 - p3)
    w = (tf.norm(p1 - p0, axis=-1) + tf.norm(p2 - p3, axis=-1)) / 2
    h = (tf.norm(p3 - p0, axis=-1) + tf.norm(p2 - p1, axis=-1)) / 2
    centre = tf.reduce_mean(quads, -2)
    theta = tf.atan2(-along[..., 1], along[..., 0])
    return canonical(tf.concat([centre, tf.stack([w, h, theta], -1)], -1))


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _inside_part(p, e, q, f, tolerance, drop_shared):
    """Twice the signed area that the edges p + t e (t in [0, 1]) of one rectangle [..., 4, 2] add to
    the intersection's boundary integral: each edge clipped to the other rectangle's half-planes
    (vertices ``q``, edges ``f``, the same winding), the shoelace term of the part left. An edge along
    one of the other's edges (within ``tolerance`` pixels) is inside that half-plane; with
    ``drop_shared`` it is dropped when the two run the same way (the other rectangle counts it)."""
    length = tf.maximum(tf.norm(f, axis=-1), 1e-9)[..., None, :]
    g0 = _cross(f[..., None, :, :], p[..., :, None, :] - q[..., None, :, :]) / length  # [..., edge, plane]
    g1 = _cross(f[..., None, :, :], e[..., :, None, :]) / length  # the distance's change along the edge
    along = (tf.abs(g0) <= tolerance) & (tf.abs(g0 + g1) <= tolerance)
    flat = tf.abs(g1) <= 1e-9  # parallel to the plane's edge
    free = along | flat
    ratio = -g0 / tf.where(flat, 1.0, g1)  # where the edge crosses the plane's line
    low = tf.maximum(tf.reduce_max(tf.where(~free & (g1 > 0), ratio, 0.0), -1), 0.0)
    high = tf.minimum(tf.reduce_min(tf.where(~free & (g1 < 0), ratio, 1.0), -1), 1.0)
    out = tf.reduce_any(flat & ~along & (g0 < 0), -1)
    if drop_shared:
        out |= tf.reduce_any(along & (tf.reduce_sum(e[..., :, None, :] * f[..., None, :, :], -1) > 0), -1)
    start, end = p + low[..., None] * e, p + high[..., None] * e
    return tf.reduce_sum(tf.where(~out & (high > low), _cross(start, end), 0.0), -1)


def skew_iou(a, b, tolerance=1e-3):
    """The IoU of rotated boxes ``a`` and ``b`` [..., 5] (same shape; w, h > 0): the paper's skew IoU,
    the intersection's area by Green's theorem, the sum over both rectangles' edges of the shoelace
    terms of each edge's part inside the other (no polygon to build or sort: elementwise ops only,
    which XLA fuses). Coordinates are taken about ``a``'s centre, for float32's sake."""
    centre = a[..., None, :2]
    pa, pb = corners(a) - centre, corners(b) - centre
    ea, eb = tf.roll(pa, -1, -2) - pa, tf.roll(pb, -1, -2) - pb
    twice = _inside_part(pa, ea, pb, eb, tolerance, False) + _inside_part(pb, eb, pa, ea, tolerance, True)
    area = tf.maximum(0.5 * twice, 0.0)
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - area
    return tf.math.divide_no_nan(area, union)


# hand-written: TensorFlow has no rotated IoU; XLA fuses its ~60 elementwise ops into one loop (5x faster
# on a CPU), and the pairs are padded to a power of two so that it compiles once a size, not once a step
_COMPILED_SKEW_IOU = tf.function(skew_iou, jit_compile=True, input_signature=[tf.TensorSpec([None, 5], tf.float32)] * 2)
_SMALLEST_BUCKET = 1024


def _compiled_skew_iou(a, b):
    """``skew_iou`` of pairs [P, 5] compiled by XLA, the pairs padded to the next power-of-two bucket."""
    n = tf.shape(a)[0]
    size = 2 ** tf.cast(tf.math.ceil(tf.math.log(tf.cast(tf.maximum(n, _SMALLEST_BUCKET), tf.float32)) / math.log(2.0)),
                        tf.int32)
    size = tf.where(size < n, 2 * size, size)  # log2's rounding
    pad = [[0, size - n], [0, 0]]
    out = _COMPILED_SKEW_IOU(tf.pad(tf.cast(a, tf.float32), pad), tf.pad(tf.cast(b, tf.float32), pad))
    return tf.cast(out[:n], a.dtype)


def pairwise_iou(a, b, valid_b=None, above=0.0, needed=None, only=None, compiled=False):
    """Skew IoU of every box of ``a`` [N, A, 5] with every box of ``b`` [N, M, 5] -> [N, A, M]: computed
    for the pairs whose circumscribed circles meet (and ``valid_b`` [N, M], and ``only`` [N or 1, A, M])
    and whose areas' ratio (an IoU's upper bound) exceeds ``above`` or that ``needed`` [N, A, M] marks,
    zero for the others. ``compiled``: by XLA (training's targets and proposals; serving graphs keep
    plain ops)."""
    a, b = tf.stop_gradient(a), tf.stop_gradient(b)
    ra = tf.norm(a[..., 2:4], axis=-1) / 2
    rb = tf.norm(b[..., 2:4], axis=-1) / 2
    distance = tf.norm(a[:, :, None, :2] - b[:, None, :, :2], axis=-1)
    near = distance < ra[:, :, None] + rb[:, None, :]
    if above > 0:
        area_a, area_b = (x[..., 2] * x[..., 3] for x in (a, b))
        possible = tf.minimum(area_a[:, :, None], area_b[:, None, :]) > above * tf.maximum(area_a[:, :, None],
                                                                                             area_b[:, None, :])
        near &= possible if needed is None else possible | needed
    if valid_b is not None:
        near &= valid_b[:, None, :]
    if only is not None:
        near &= only
    pairs = tf.where(near)  # [P, 3]: image, a, b
    first, second = tf.gather_nd(a, pairs[:, :2]), tf.gather_nd(b, tf.stack([pairs[:, 0], pairs[:, 2]], -1))
    ious = _compiled_skew_iou(first, second) if compiled else skew_iou(first, second)
    return tf.scatter_nd(pairs, ious, tf.shape(near, out_type=tf.int64))


def rotated_nms(boxes, valid, iou_threshold, max_output, compiled=False):
    """Greedy NMS of each image's boxes [N, K, 5], sorted the best first: bool [N, K], the boxes kept
    among ``valid``, at most ``max_output``. Each round keeps every image's best box still standing
    and removes the boxes it overlaps above ``iou_threshold``: as many rounds as boxes kept."""
    k = tf.shape(boxes)[1]
    later = tf.range(k)[:, None] < tf.range(k)[None, :]  # j < i: a box removes only those after it (the ones
    # before it are gone or kept already)
    removes = pairwise_iou(boxes, boxes, above=iou_threshold, only=later[None],
                           compiled=compiled) > iou_threshold  # [N, j, i]: keeping j removes i

    def step(alive, keep):
        first = tf.argmax(tf.cast(alive, tf.int32), 1, output_type=tf.int32)
        picked = tf.one_hot(first, k, on_value=True, off_value=False) & tf.reduce_any(alive, 1, keepdims=True)
        alive = alive & ~picked & ~tf.gather(removes, first, batch_dims=1)
        return alive, keep | picked

    _, keep = tf.while_loop(lambda alive, _: tf.reduce_any(alive), step, (valid, tf.zeros_like(valid)),
                            maximum_iterations=max_output)
    return keep


def encode(boxes, anchors, stds=(1.0,) * 5):
    """Regression targets of ``boxes`` against ``anchors`` [..., 5] (both canonical)."""
    x, y, w, h, t = tf.unstack(boxes, axis=-1)
    xa, ya, wa, ha, ta = tf.unstack(anchors, axis=-1)
    dt = tf.math.floormod(t - ta + math.pi / 2, math.pi) - math.pi / 2
    # a padding word's zeros, a proposal shrunk to nothing: finite targets, so that no unused one puts an
    # infinity into the smooth L1 whose gradient tf.where then turns into NaN (0 x inf)
    w, h, wa, ha = (tf.maximum(v, 1e-3) for v in (w, h, wa, ha))
    out = tf.stack([(x - xa) / wa, (y - ya) / ha, tf.math.log(w / wa), tf.math.log(h / ha), dt], -1)
    return out / tf.constant(stds, out.dtype)


def decode(deltas, anchors, stds=(1.0,) * 5):
    d = deltas * tf.constant(stds, deltas.dtype)
    xa, ya, wa, ha, ta = tf.unstack(anchors, axis=-1)
    limit = math.log(1000.0 / 16)  # the R-CNN family's clip of tw, th
    boxes = tf.stack([xa + d[..., 0] * wa, ya + d[..., 1] * ha, wa * tf.exp(tf.minimum(d[..., 2], limit)),
                      ha * tf.exp(tf.minimum(d[..., 3], limit)), ta + d[..., 4]], -1)
    return canonical(boxes)


def anchors(config):
    """Every anchor (x, y, w, h, theta) [map^2 * A, 5], position-major then size, ratio, angle."""
    c = config
    shapes = [(s / math.sqrt(r), s * math.sqrt(r), math.radians(t))
              for s in c.anchor_sizes for r in c.anchor_ratios for t in c.anchor_angles]
    shapes = tf.constant(shapes, tf.float32)  # [A, 3]
    centres = (tf.range(c.map_size, dtype=tf.float32) + 0.5) * STRIDE
    cy, cx = tf.meshgrid(centres, centres, indexing="ij")
    xy = tf.reshape(tf.stack([cx, cy], -1), [-1, 1, 2])
    out = tf.concat([tf.broadcast_to(xy, [c.map_size ** 2, c.num_anchors, 2]),
                     tf.broadcast_to(shapes[None], [c.map_size ** 2, c.num_anchors, 3])], -1)
    return canonical(tf.reshape(out, [-1, 5]))


# ------------------------------------------------------------------ rotated RoI pooling
def rotated_roi_pool(features, rois, stride, size, samples):
    """RRoI max pooling: features [N, H, W, C], rois [N, R, 5] in input pixels -> [N, R, size, size,
    C]. Each RoI is divided into size x size bins along its own axes (the first row along its top,
    from its left end); a bin's value is the maximum of ``samples`` x ``samples`` bilinear samples in
    it (zero beyond the map). TensorFlow's ``crop_and_resize`` takes no angle: hand-written."""
    n, r = tf.shape(rois)[0], tf.shape(rois)[1]
    hgt, wid, ch = tf.shape(features)[1], tf.shape(features)[2], features.shape[-1]
    steps = (tf.range(size * samples, dtype=tf.float32) + 0.5) / (size * samples) - 0.5  # -0.5 .. 0.5
    x, y, w, h, t = (v[..., None, None] for v in tf.unstack(tf.stop_gradient(rois), axis=-1))
    u = steps[None, :] * w  # along the long side [N, R, 1, S]
    v = steps[:, None] * h  # across it [N, R, S, 1]
    c, s = tf.cos(t), tf.sin(t)
    px = (x + u * c + v * s) / stride - 0.5  # feature-map coordinates of the samples [N, R, S, S]
    py = (y - u * s + v * c) / stride - 0.5
    px = tf.clip_by_value(tf.where(tf.math.is_finite(px), px, -2.0), -2.0, tf.cast(wid, tf.float32) + 1)
    py = tf.clip_by_value(tf.where(tf.math.is_finite(py), py, -2.0), -2.0, tf.cast(hgt, tf.float32) + 1)
    x0, y0 = tf.floor(px), tf.floor(py)
    flat = tf.reshape(features, [n, -1, ch])
    out = 0.0
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - tf.abs(px - xi)) * (1 - tf.abs(py - yi))
            inside = (xi >= 0) & (yi >= 0) & (xi < tf.cast(wid, tf.float32)) & (yi < tf.cast(hgt, tf.float32))
            index = tf.cast(tf.clip_by_value(yi, 0, tf.cast(hgt - 1, tf.float32)), tf.int32) * wid + tf.cast(
                tf.clip_by_value(xi, 0, tf.cast(wid - 1, tf.float32)), tf.int32)
            picked = tf.gather(flat, tf.reshape(index, [n, -1]), batch_dims=1)  # [N, R*S*S, C]
            weight = tf.reshape(tf.where(inside, weight, 0.0), [n, -1, 1])
            out += picked * tf.cast(weight, picked.dtype)
    out = tf.reshape(out, [n, r, size, samples, size, samples, ch])
    return tf.reduce_max(out, [3, 5])


# ------------------------------------------------------------------ networks
def build_backbone_rpn(config):
    """images float 0..255 [B, S, S, 3] -> {"features": conv5_3 [B, S/16, S/16, C], "logits": [B,
    map^2 * A, 2], "deltas": [B, map^2 * A, 5]}."""
    c = config
    backbone = bb.vgg(c.image_size, blocks=c.vgg_blocks, batch_norm=c.batch_norm, sync=c.sync_batch_norm,
                      conv_endpoints=True, name="vgg16")
    images = keras.Input((c.image_size, c.image_size, 3), name="images")
    features = backbone(images)["conv5"]
    x = keras.layers.Conv2D(c.rpn_channels, 3, padding="same", activation="relu", name="rpn_conv")(features)
    logits = keras.layers.Conv2D(2 * c.num_anchors, 1, name="rpn_cls")(x)
    deltas = keras.layers.Conv2D(5 * c.num_anchors, 1, name="rpn_reg",
                                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))(x)
    logits = keras.layers.Reshape((-1, 2), name="rpn_logits", dtype="float32")(logits)
    deltas = keras.layers.Reshape((-1, 5), name="rpn_deltas", dtype="float32")(deltas)
    features = keras.layers.Activation("linear", dtype="float32", name="features")(features)
    return keras.Model(images, {"features": features, "logits": logits, "deltas": deltas}, name="rrpn")


def build_head(config, channels):
    """Pooled RoIs [R, 7, 7, C] -> (text/background logits [R, 2], regression [R, 5])."""
    c = config
    pooled = keras.Input((c.pool_size, c.pool_size, channels), name="pooled")
    x = keras.layers.Flatten(name="flatten")(pooled)
    for k in (6, 7):
        x = keras.layers.Dense(c.fc_units, activation="relu", name=f"fc{k}")(x)
    logits = keras.layers.Dense(2, name="cls_score", dtype="float32")(x)
    deltas = keras.layers.Dense(5, name="bbox_pred", dtype="float32",
                                kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))(x)
    return keras.Model(pooled, [logits, deltas], name="head")


class RRPN(SupervisedTask):
    """The RRPN network, its rotated Fast R-CNN head and their loss; batches as PixelLink's
    (``suite.data.text_scenes.scene_dataset``)."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_backbone_rpn(config)
        self.head = build_head(config, self.net.output["features"].shape[-1])
        self.anchors = anchors(config)

    def networks(self):
        return {"net": self.net, "head": self.head}

    # ------------------------------------------------------------ targets
    def rpn_targets(self, words, care, dont_care, seeds):
        """Sampled anchors: (positive, negative [N, A] bool, regression targets [N, A, 5])."""
        c = self.config
        n = tf.shape(words)[0]
        tiled = tf.broadcast_to(self.anchors[None], tf.concat([[n], tf.shape(self.anchors)], 0))
        aligned = angle_difference(tiled[:, :, None, 4], words[:, None, :, 4]) < math.radians(c.max_angle)
        # [N, A, M]; a pair whose areas differ more than negative_iou allows is neither positive nor in the way of
        # a negative, but an aligned one may still be a word's best anchor
        overlaps = pairwise_iou(tiled, words, care | dont_care, above=c.negative_iou, needed=aligned,
                                compiled=c.compiled_overlaps)
        good = tf.where(aligned & care[:, None, :], overlaps, 0.0)
        best_good, index = tf.reduce_max(good, -1), tf.argmax(good, -1, output_type=tf.int32)
        per_word = tf.reduce_max(good, 1, keepdims=True)  # each word's best aligned anchor
        is_best = tf.reduce_any((good >= per_word - 1e-6) & (good > 0), -1)
        positive = (best_good > c.positive_iou) | is_best
        misaligned = tf.reduce_any((overlaps > c.positive_iou) & ~aligned, -1)
        negative = ((tf.reduce_max(overlaps, -1) < c.negative_iou) | misaligned) & ~positive
        noise = randomness.uniform(seeds, [self.anchors.shape[0]], ANCHOR_SALT)
        positive, negative = B.balanced_sample(positive, negative, c.rpn_batch, 0.5, noise)
        targets = encode(tf.gather(words, index, batch_dims=1), tiled)
        return positive, negative, targets

    def sample_rois(self, proposals, valid, words, care, seeds):
        """The head's RoIs: (rois [N, R, 5], text [N, R] bool, targets [N, R, 5], weights [N, R])."""
        c = self.config
        candidates = tf.concat([proposals, words], 1)
        candidate_valid = tf.concat([valid, care], 1)
        overlaps = pairwise_iou(candidates, words, care, compiled=c.compiled_overlaps)
        best, index = tf.reduce_max(overlaps, -1), tf.argmax(overlaps, -1, output_type=tf.int32)
        noise = randomness.uniform(seeds, [candidates.shape[1]], ROI_SALT)
        fg, bg = B.balanced_sample(candidate_valid & (best >= c.roi_positive_iou),
                                   candidate_valid & (best < c.roi_positive_iou), c.roi_batch,
                                   c.roi_positive_fraction, noise)
        key = tf.cast(fg, tf.float32) * 2.0 + tf.cast(bg, tf.float32) + 0.5 * noise
        _, picked = tf.math.top_k(key, c.roi_batch)
        rois = tf.gather(candidates, picked, batch_dims=1)
        fg = tf.gather(fg, picked, batch_dims=1)
        weights = tf.cast(fg | tf.gather(bg, picked, batch_dims=1), tf.float32)
        matched = tf.gather(tf.gather(words, index, batch_dims=1), picked, batch_dims=1)
        return rois, fg, encode(matched, rois, HEAD_STDS), weights

    # ------------------------------------------------------------ forward
    def proposals(self, logits, deltas, training):
        """The top proposals after rotated NMS: (boxes [N, post, 5], valid [N, post])."""
        c = self.config
        pre = min(c.pre_nms_train if training else c.pre_nms_test, int(self.anchors.shape[0]))
        post = min(c.post_nms_train if training else c.post_nms_test, pre)
        scores, top = tf.math.top_k(logits[..., 1] - logits[..., 0], pre)
        boxes = decode(tf.gather(deltas, top, batch_dims=1), tf.gather(self.anchors, top))
        boxes = tf.stop_gradient(boxes)
        keep = rotated_nms(boxes, tf.ones_like(scores, tf.bool), c.rpn_nms_iou, post,
                           compiled=training and c.compiled_overlaps)
        _, order = tf.math.top_k(tf.cast(keep, tf.float32) * 2.0 - tf.range(pre, dtype=tf.float32) / pre, post)
        return tf.gather(boxes, order, batch_dims=1), tf.gather(keep, order, batch_dims=1)

    def head_outputs(self, features, rois, training):
        c = self.config
        pooled = rotated_roi_pool(features, rois, STRIDE, c.pool_size, c.pool_samples)
        n, r = tf.shape(rois)[0], tf.shape(rois)[1]
        logits, deltas = self.head(tf.reshape(pooled, [n * r, c.pool_size, c.pool_size, pooled.shape[-1]]),
                                   training=training)
        return tf.reshape(logits, [n, r, 2]), tf.reshape(deltas, [n, r, 5])

    def loss_terms(self, batch, training, seeds):
        c = self.config
        words = from_quads(batch["quads"])
        care, dont_care = batch["kinds"] == 1, batch["kinds"] == -1
        out = self.net(tf.cast(batch["images"], tf.float32), training=training)
        positive, negative, targets = self.rpn_targets(words, care, dont_care, seeds)
        sampled = tf.cast(positive | negative, tf.float32)
        count = tf.reduce_sum(sampled, -1)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(positive, tf.int32), out["logits"])
        rpn_cls = tf.math.divide_no_nan(tf.reduce_sum(ce * sampled, -1), count)
        rpn_reg = tf.math.divide_no_nan(tf.reduce_sum(tf.where(
            positive, tf.reduce_sum(B.smooth_l1(out["deltas"] - targets, 1.0 / 9), -1), 0.0), -1), count)
        proposals, valid = self.proposals(out["logits"], out["deltas"], training=True)
        rois, text, head_targets, weights = self.sample_rois(proposals, valid, words, care, seeds)
        logits, deltas = self.head_outputs(out["features"], rois, training)
        roi_count = tf.reduce_sum(weights, -1)
        head_ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(text, tf.int32), logits)
        fg = tf.cast(text, tf.float32) * weights
        head_reg = tf.reduce_sum(tf.where(fg > 0, tf.reduce_sum(B.smooth_l1(deltas - head_targets), -1), 0.0), -1)
        right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), tf.cast(text, tf.int32)), tf.float32)
        return ({"loss/rpn_objectness": (rpn_cls, count), "loss/rpn_box": (rpn_reg, count),
                 "loss/head_class": (tf.math.divide_no_nan(tf.reduce_sum(head_ce * weights, -1), roi_count), roi_count),
                 "loss/head_box": (tf.math.divide_no_nan(head_reg, roi_count), roi_count)},
                {"rpn/positives": tf.reduce_sum(tf.cast(positive, tf.float32), -1),
                 "head/text_rois": tf.reduce_sum(fg, -1),
                 "head/accuracy": (tf.math.divide_no_nan(tf.reduce_sum(right * weights, -1), roi_count), roi_count)})

    def regularization_loss(self):
        return super().regularization_loss() + self.kernel_decay(self.config.weight_decay)

    def detect(self, images):
        """float 0..255 [N, S, S, 3] -> (polygons [N, K, 4, 2] in input pixels, scores [N, K], counts [N])."""
        c = self.config
        out = self.net(images, training=False)
        rois, valid = self.proposals(out["logits"], out["deltas"], training=False)
        logits, deltas = self.head_outputs(out["features"], rois, False)
        scores = tf.nn.softmax(logits)[..., 1]
        boxes = decode(deltas, rois, HEAD_STDS)
        scores = tf.where(valid & (scores > c.score_threshold), scores, 0.0)
        order = tf.argsort(scores, -1, direction="DESCENDING")
        boxes, scores = tf.gather(boxes, order, batch_dims=1), tf.gather(scores, order, batch_dims=1)
        keep = rotated_nms(boxes, scores > 0, c.nms_iou, c.max_words)
        k = c.max_words
        return tf.map_fn(lambda a: best_words(corners(a[0]), a[1], a[2], k), (boxes, scores, keep),
                         fn_output_signature=(tf.TensorSpec([k, 4, 2], tf.float32), tf.TensorSpec([k], tf.float32),
                                              tf.TensorSpec([], tf.int32)))
