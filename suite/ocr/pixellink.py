"""PixelLink (Deng, Liu, Li and Cai 2018): scene-text detection by instance segmentation, its
targets, its loss, and its decoding into word rectangles, all in TensorFlow ops.

* The network: VGG16 with pool5 at 3x3 stride 1 and fc6/fc7 as convolutions (3x3 at rate 6 and
  1x1, 1024 maps each); two heads each fuse 1x1 scores of conv3_3, conv4_3, conv5_3 and fc7 (and
  conv2_2 at ``stride`` 2) from the deepest up, each upsampled bilinearly and added to the next
  (FCN's cascade), giving at 1/``stride`` of the input 2 text/non-text logits per pixel and 2
  link/no-link logits for each of its 8 neighbours.
* Targets (from the word quadrilaterals, in the graph): a pixel whose centre lies in exactly one
  word is text; in two, or in none, it is not; in a "do not care" region it counts nowhere. A
  link is positive when both pixels are in the same word. Instance-balanced weights: each word's
  pixels share the same total weight (the image's text area over its word count), so small
  words count as much as large ones.
* The loss: 2 x the pixel cross-entropy over the text pixels (weighted) and the 3 x as many
  hardest non-text pixels (online hard negative mining), plus the link cross-entropy over the
  text pixels' links, positive and negative links each normalised by their own weight.
* Decoding (in the graph, so the export runs it): pixels above ``pixel_threshold``, joined to
  a neighbour when either of their links is above ``link_threshold``; connected components by
  label propagation with pointer jumping; each component's minimum-area rectangle (cv2's
  ``minAreaRect``, which no TensorFlow op has: here searched over 90 angles in 1-degree steps on
  the component's pixel centres, hand-written for the serving graph); rectangles with a short
  side under ``min_height`` or an area under ``min_area`` (in input pixels) dropped.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from suite.layers.segmentation import ResizeLike
from suite.ocr.detection import best_words
from suite.segmentation import backbones as bb
from suite.training.task import SupervisedTask

# the 8 neighbours (dy, dx); the opposite of neighbour d is 7 - d
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
ANGLES = 90  # the minimum-area rectangle's search: 0, 1, ..., 89 degrees


@dataclasses.dataclass(frozen=True)
class PixelLinkConfig:
    image_size: int = 512  # the paper's training crops
    vgg_blocks: tuple = bb.VGG16_BLOCKS
    fc_filters: int = 1024
    fc6_rate: int = 6
    stride: int = 4  # PixelLink+VGG16 4s (2: 2s, conv2_2 fused too)
    batch_norm: bool = False  # after every VGG convolution (the paper's VGG has none)
    sync_batch_norm: bool = False
    pixel_threshold: float = 0.8  # the paper's on ICDAR 2015
    link_threshold: float = 0.8
    min_height: float = 10.0  # rectangles' short side, input pixels (the paper's on ICDAR 2015)
    min_area: float = 300.0
    max_words: int = 100  # rectangles a decoded image keeps (the highest scored)
    neg_pos_ratio: int = 3
    pixel_loss_weight: float = 2.0
    optimizer: str = "sgd"
    learning_rate: float = 1e-2  # the paper's, after 100 iterations at 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self):
        if self.stride not in (2, 4):
            raise ValueError(f"PixelLink predicts at stride 2 or 4, not {self.stride}")
        if self.image_size < 32 or self.image_size % 16:
            raise ValueError(f"the input size must be a multiple of 16 and at least 32 pixels, got {self.image_size}")
        for name in ("pixel_threshold", "link_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")

    @property
    def map_size(self):
        return self.image_size // self.stride


PRESETS = {
    # 128-pixel scenes; VGG16's depth at an eighth of its width, batch norm for training from scratch
    "tiny": dict(image_size=128, vgg_blocks=((16, 2), (32, 2), (48, 3), (64, 3), (64, 3)), fc_filters=128,
                 fc6_rate=2, batch_norm=True, pixel_threshold=0.7, link_threshold=0.7, min_height=4.0,
                 min_area=24.0, max_words=16, optimizer="adam", learning_rate=1e-3, weight_decay=1e-5),
    "small": dict(image_size=256, vgg_blocks=((32, 2), (64, 2), (128, 3), (256, 3), (256, 3)), fc_filters=512,
                  fc6_rate=3, batch_norm=True, min_height=6.0, min_area=60.0, max_words=32, optimizer="adam",
                  learning_rate=1e-3, weight_decay=1e-5),
    "paper": {},
}


def get_config(preset="tiny", **overrides):
    """The ``preset``'s config (``paper``: VGG16 4s, the paper's solver); ``overrides`` (None values
    ignored) win."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return PixelLinkConfig(**{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


# ------------------------------------------------------------------ network
def build_pixellink(config):
    """images float 0..255 [B, S, S, 3] -> {"pixel_logits": [B, S/s, S/s, 2], "link_logits":
    [B, S/s, S/s, 8, 2]}."""
    c = config
    backbone = bb.vgg(c.image_size, output_stride=16, blocks=c.vgg_blocks, batch_norm=c.batch_norm,
                      sync=c.sync_batch_norm, conv_endpoints=True, name="vgg16")
    images = keras.Input((c.image_size, c.image_size, 3), name="images")
    ends = backbone(images)
    x = keras.layers.Conv2D(c.fc_filters, 3, padding="same", dilation_rate=c.fc6_rate, activation="relu",
                            name="fc6")(ends["out"])
    fc7 = keras.layers.Conv2D(c.fc_filters, 1, activation="relu", name="fc7")(x)
    features = ([("conv2_2", ends["conv2"])] if c.stride == 2 else []) + [
        ("conv3_3", ends["conv3"]), ("conv4_3", ends["conv4"]), ("conv5_3", ends["conv5"]), ("fc7", fc7)]
    outputs = {}
    for head, channels in (("pixel", 2), ("link", 2 * len(NEIGHBOURS))):
        fused = None
        for name, feature in reversed(features):  # from the deepest up
            score = keras.layers.Conv2D(channels, 1, name=f"{head}_score_{name}")(feature)
            fused = score if fused is None else keras.layers.Add(name=f"{head}_fuse_{name}")(
                [score, ResizeLike(name=f"{head}_up_{name}")(fused, score)])
        outputs[f"{head}_logits"] = fused
    m = c.map_size
    outputs["link_logits"] = keras.layers.Reshape((m, m, len(NEIGHBOURS), 2), name="links")(outputs["link_logits"])
    outputs = {k: keras.layers.Activation("linear", dtype="float32", name=k)(v) for k, v in outputs.items()}
    return keras.Model(images, outputs, name="pixellink")


# ------------------------------------------------------------------ targets
def shift(x, dy, dx, fill):
    """x [..., H, W] moved so that out[y, x] = x[y + dy, x + dx] (``fill`` beyond the border)."""
    h, w = x.shape[-2], x.shape[-1]
    pad = [[0, 0]] * (len(x.shape) - 2) + [[1, 1], [1, 1]]
    padded = tf.pad(x, pad, constant_values=fill)
    return padded[..., 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def inside_quads(quads, size, stride):
    """bool [..., M, S/s, S/s]: whether each map pixel's centre lies in each convex quadrilateral
    ``quads`` [..., M, 4, 2] (input pixels, either winding)."""
    m = size // stride
    centres = (tf.range(m, dtype=tf.float32) + 0.5) * stride
    py, px = centres[:, None], centres[None, :]
    crosses = []
    for k in range(4):
        a, b = quads[..., k, :], quads[..., (k + 1) % 4, :]
        ax, ay = a[..., 0, None, None], a[..., 1, None, None]
        ex, ey = (b[..., 0] - a[..., 0])[..., None, None], (b[..., 1] - a[..., 1])[..., None, None]
        crosses.append(ex * (py - ay) - ey * (px - ax))
    crosses = tf.stack(crosses, -1)
    return tf.logical_or(tf.reduce_all(crosses >= 0, -1), tf.reduce_all(crosses <= 0, -1))


def targets(quads, kinds, size, stride):
    """The training targets of a batch: quads float32 [B, M, 4, 2] (input pixels), kinds int32 [B, M]
    (1 word, -1 do not care, 0 padding) -> dict of [B, h, w] maps: ``text`` (bool), ``ignore``
    (bool: in a do-not-care region and not text), ``instance`` (int32, the word's index + 1, 0 for
    non-text), ``weight`` (float32, instance-balanced on text pixels, 0 elsewhere), and ``links``
    bool [B, h, w, 8]."""
    inside = inside_quads(quads, size, stride)
    word = tf.logical_and(inside, (kinds == 1)[..., None, None])
    care = tf.logical_and(inside, (kinds == -1)[..., None, None])
    text = tf.equal(tf.reduce_sum(tf.cast(word, tf.int32), 1), 1)  # overlapping words' pixels are not text
    instance = tf.where(text, tf.argmax(tf.cast(word, tf.int32), 1, output_type=tf.int32) + 1, 0)
    ignore = tf.logical_and(tf.reduce_any(care, 1), tf.logical_not(text))
    m = quads.shape[1]
    areas = tf.reduce_sum(tf.one_hot(instance, m + 1)[..., 1:], [1, 2])  # [B, M]
    words = tf.reduce_sum(tf.cast(areas > 0, tf.float32), 1, keepdims=True)
    share = tf.math.divide_no_nan(tf.reduce_sum(areas, 1, keepdims=True), words)  # each word's total weight
    per_word = tf.concat([tf.zeros_like(share), tf.math.divide_no_nan(share, areas)], 1)
    weight = tf.gather(per_word, instance, batch_dims=1)
    links = tf.stack([tf.logical_and(text, tf.equal(shift(instance, dy, dx, 0), instance))
                      for dy, dx in NEIGHBOURS], -1)
    return {"text": text, "ignore": ignore, "instance": instance, "weight": weight, "links": links}


# ------------------------------------------------------------------ loss
def pixel_loss(logits, t, neg_pos_ratio):
    """(per-image weighted cross-entropy sums / counts [B], counts [B]): the text pixels at their
    instance-balanced weights and the ``neg_pos_ratio`` x as many hardest non-text pixels (all of them,
    up to 10,000, in an image without text: the paper's rule)."""
    b = tf.shape(logits)[0]
    ce = tf.reshape(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(t["text"], tf.int32), logits), [b, -1])
    text = tf.reshape(t["text"], [b, -1])
    negative = tf.reshape(tf.logical_not(tf.logical_or(t["text"], t["ignore"])), [b, -1])
    positives = tf.reduce_sum(tf.cast(text, tf.int32), 1)
    k = tf.minimum(tf.where(positives > 0, neg_pos_ratio * positives, 10000),
                   tf.reduce_sum(tf.cast(negative, tf.int32), 1))
    # each pixel's rank among the image's negatives, hardest first (exactly k chosen, ties or not)
    rank = tf.argsort(tf.argsort(tf.where(negative, ce, -1.0), axis=1, direction="DESCENDING", stable=True), axis=1)
    chosen = tf.logical_and(negative, rank < k[:, None])
    weights = tf.reshape(t["weight"], [b, -1]) + tf.cast(chosen, tf.float32)
    counts = tf.cast(positives + tf.reduce_sum(tf.cast(chosen, tf.int32), 1), tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(ce * weights, 1), counts), counts


def link_losses(logits, t):
    """{"positive": (per-image means [B], weights [B]), "negative": ...}: the link cross-entropy of the
    text pixels' links, each pixel's links at its instance-balanced weight."""
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(t["links"], tf.int32), logits)  # [B, h, w, 8]
    out = {}
    for name, label in (("positive", True), ("negative", False)):
        w = t["weight"][..., None] * tf.cast(tf.equal(t["links"], label), tf.float32)
        total = tf.reduce_sum(w, [1, 2, 3])
        out[name] = (tf.math.divide_no_nan(tf.reduce_sum(ce * w, [1, 2, 3]), total), total)
    return out


class PixelLink(SupervisedTask):
    """The PixelLink network and its loss; batches {"images": uint8 [B, S, S, 3], "quads": float32
    [B, M, 4, 2], "kinds": int32 [B, M]} (``suite.data.text_scenes.scene_dataset``)."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_pixellink(config)

    def loss_terms(self, batch, training, seeds):
        c = self.config
        out = self.net(tf.cast(batch["images"], tf.float32), training=training)
        t = targets(batch["quads"], batch["kinds"], c.image_size, c.stride)
        pixel, counts = pixel_loss(out["pixel_logits"], t, c.neg_pos_ratio)
        links = link_losses(out["link_logits"], t)
        predicted = tf.argmax(out["pixel_logits"], -1, output_type=tf.int32) > 0
        cared = tf.cast(tf.logical_not(t["ignore"]), tf.float32)
        right = tf.reduce_sum(tf.cast(tf.equal(predicted, t["text"]), tf.float32) * cared, [1, 2])
        cared_count = tf.reduce_sum(cared, [1, 2])
        return ({"loss/pixel": (c.pixel_loss_weight * pixel, counts), "loss/link_positive": links["positive"],
                 "loss/link_negative": links["negative"]},
                {"pixel_accuracy": (tf.math.divide_no_nan(right, cared_count), cared_count)})

    def regularization_loss(self):
        """Weight decay on the convolution kernels (the paper's 5e-4), beside the base's."""
        return super().regularization_loss() + self.kernel_decay(self.config.weight_decay)

    def detect(self, images):
        """float 0..255 [N, S, S, 3] -> ``decode`` of the network's scores."""
        out = self.net(images, training=False)
        return decode(tf.nn.softmax(out["pixel_logits"])[..., 1], tf.nn.softmax(out["link_logits"])[..., 1],
                      self.config)


# ------------------------------------------------------------------ decoding
def components(pixel_scores, link_scores, pixel_threshold, link_threshold):
    """Connected text pixels of one map: (labels int32 [h, w]: a component's smallest flat pixel index,
    h * w for non-text pixels). Two neighbouring text pixels are joined when either's link to the
    other is above ``link_threshold``."""
    h, w = pixel_scores.shape
    big = h * w
    text = pixel_scores > pixel_threshold
    linked = tf.logical_and(link_scores > link_threshold, text[..., None])
    joins = []
    for d, (dy, dx) in enumerate(NEIGHBOURS):
        either = tf.logical_or(linked[..., d], shift(linked[..., 7 - d], dy, dx, False))
        joins.append(tf.logical_and(either, shift(text, dy, dx, False)))
    start = tf.where(text, tf.reshape(tf.range(big), [h, w]), big)

    def step(labels, _):
        new = labels
        for (dy, dx), join in zip(NEIGHBOURS, joins):
            new = tf.minimum(new, tf.where(join, shift(labels, dy, dx, big), big))
        flat = tf.concat([tf.reshape(new, [-1]), [big]], 0)  # pointer jumping: a label's own label
        return tf.minimum(new, tf.reshape(tf.gather(flat, tf.reshape(new, [-1])), [h, w])), tf.reduce_any(new != labels)

    labels, _ = tf.while_loop(lambda _, changed: changed, step, (start, tf.constant(True)), maximum_iterations=big)
    return labels


def rectangles(labels, pixel_scores, stride):
    """Each component's minimum-area rectangle (over ``ANGLES`` orientations; each pixel a unit square)
    in input pixels: (corners float32 [C, 4, 2], clockwise from the top left of the reading
    direction, the long side; mean pixel scores [C]; short sides [C]; areas [C])."""
    h, w = labels.shape
    where = tf.where(labels < h * w)
    ids, segments = tf.unique(tf.gather_nd(labels, where))
    n = tf.size(ids)
    points = tf.cast(where[:, ::-1], tf.float32) + 0.5  # (x, y) pixel centres
    theta = tf.range(ANGLES, dtype=tf.float32) * (math.pi / 180)
    cos, sin = tf.cos(theta), tf.sin(theta)
    u = points[:, :1] * cos + points[:, 1:] * sin  # [P, A]
    v = -points[:, :1] * sin + points[:, 1:] * cos
    u0, u1 = tf.math.unsorted_segment_min(u, segments, n), tf.math.unsorted_segment_max(u, segments, n)
    v0, v1 = tf.math.unsorted_segment_min(v, segments, n), tf.math.unsorted_segment_max(v, segments, n)
    area = (u1 - u0 + 1) * (v1 - v0 + 1)
    best = tf.argmin(area, 1, output_type=tf.int32)

    def pick(x):
        return tf.gather(x, best, batch_dims=1)

    c, s = tf.gather(cos, best), tf.gather(sin, best)
    lu, lv = pick(u1 - u0) + 1, pick(v1 - v0) + 1
    uc, vc = (pick(u0) + pick(u1)) / 2, (pick(v0) + pick(v1)) / 2
    centre = tf.stack([uc * c - vc * s, uc * s + vc * c], -1)
    along = lu >= lv  # the reading direction: the long side, pointing right
    e1 = tf.where(along[:, None], tf.stack([c, s], -1), tf.stack([s, -c], -1))
    e2 = tf.stack([-e1[:, 1], e1[:, 0]], -1)  # its normal, pointing down
    length, height = tf.maximum(lu, lv), tf.minimum(lu, lv)
    half1, half2 = e1 * (length / 2)[:, None], e2 * (height / 2)[:, None]
    corners = tf.stack([centre - half1 - half2, centre + half1 - half2, centre + half1 + half2,
                        centre - half1 + half2], 1) * stride
    score = tf.math.unsorted_segment_mean(tf.gather_nd(pixel_scores, where), segments, n)
    return corners, score, height * stride, length * height * stride * stride


def decode_one(pixel_scores, link_scores, config):
    """One image's words: (polygons float32 [K, 4, 2] in input pixels, scores [K], count), K =
    ``max_words``, the highest scored first, zeros beyond ``count``."""
    c = config
    labels = components(pixel_scores, link_scores, c.pixel_threshold, c.link_threshold)
    corners, score, height, area = rectangles(labels, pixel_scores, c.stride)
    return best_words(corners, score, (height >= c.min_height) & (area >= c.min_area), c.max_words)


def decode(pixel_scores, link_scores, config):
    """A batch's words: pixel scores [N, h, w], link scores [N, h, w, 8] -> (polygons [N, K, 4, 2] in
    input pixels, scores [N, K], counts int32 [N])."""
    k = config.max_words
    return tf.map_fn(lambda a: decode_one(a[0], a[1], config), (pixel_scores, link_scores), fn_output_signature=(
        tf.TensorSpec([k, 4, 2], tf.float32), tf.TensorSpec([k], tf.float32), tf.TensorSpec([], tf.int32)))
