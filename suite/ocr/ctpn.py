"""CTPN, the Connectionist Text Proposal Network (Tian, Huang, He, He and Qiao 2016): fine-scale text
proposals 16 pixels wide, read along each row by a bidirectional LSTM, joined into text lines; its
anchors, targets, loss and text-line construction, all in TensorFlow ops.

* The network: VGG16's conv5_3 (stride 16); a 3x3 convolution of 512 maps (the sliding window); a
  bidirectional LSTM (128 units each way) along each row of windows; a fully connected layer of 512;
  per position and anchor, 2 text/non-text scores, 2 vertical coordinates (v_c, v_h) and a side
  refinement offset o.
* Anchors: at every position, ``len(anchor_heights)`` anchors 16 pixels wide centred on it, heights
  11 to 283 pixels, each the one before / 0.7.
* Targets: each word's box (the bounding box of its quadrilateral: CTPN detects horizontal text) is
  split into the 16-pixel columns whose centre it covers; in each column an anchor is positive when
  its vertical IoU with a word's slice is above 0.7 or it is the slice's best anchor, negative below
  0.5; v_c = (c_y - c_y^a) / h^a, v_h = log(h / h^a); side anchors (positive, their column's centre
  within 32 pixels of the word's left or right side) get o = (x_side - c_x^a) / w^a.
* The loss: the softmax cross-entropy of ``samples`` anchors per image (at most half positive,
  drawn at random), smooth L1 of the vertical coordinates over the positive anchors and (x 2) of the
  side offsets over the side anchors.
* Text lines (the paper's construction, in the graph): proposals above ``proposal_score``, NMS at
  ``proposal_nms``; each proposal's successor is the best-scored proposal in the nearest column to
  its right within ``max_gap`` pixels that overlaps it vertically by ``min_v_overlap`` and has a
  height within ``min_size_sim`` of its own, and the two are joined when the proposal is also the
  successor's best such predecessor; joined proposals form a line spanning them, its left and right
  ends refined by the side offsets of its end proposals, its top and bottom the mean of its
  proposals', its score their mean.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.ocr.detection import best_words
from suite.segmentation import backbones as bb
from suite.training import randomness
from suite.training.task import SupervisedTask

ANCHOR_HEIGHTS = (11, 16, 23, 33, 48, 68, 97, 139, 198, 283)  # 11 / 0.7^k, as the paper's code rounds them
WIDTH = 16  # the anchors' width: conv5's stride


@dataclasses.dataclass(frozen=True)
class CTPNConfig:
    image_size: int = 608  # the paper rescales the shorter side to 600: the nearest multiple of 16
    vgg_blocks: tuple = bb.VGG16_BLOCKS
    window_filters: int = 512
    lstm_units: int = 128
    fc_units: int = 512
    anchor_heights: tuple = ANCHOR_HEIGHTS
    batch_norm: bool = False
    sync_batch_norm: bool = False
    cudnn: bool = True
    positive_iou: float = 0.7
    negative_iou: float = 0.5
    samples: int = 128
    side_distance: float = 32.0
    vertical_weight: float = 1.0
    side_weight: float = 2.0
    proposal_score: float = 0.7
    proposal_nms: float = 0.3
    max_proposals: int = 512
    max_gap: float = 50.0
    min_v_overlap: float = 0.7
    min_size_sim: float = 0.7
    line_score: float = 0.7
    min_proposals: int = 2
    min_ratio: float = 1.2
    max_words: int = 100
    optimizer: str = "sgd"
    learning_rate: float = 1e-3  # the paper's, for its first 16K iterations
    momentum: float = 0.9
    weight_decay: float = 5e-4

    def __post_init__(self):
        if self.image_size < 32 or self.image_size % 16:
            raise ValueError(f"the input size must be a multiple of 16 and at least 32 pixels, got {self.image_size}")

    @property
    def map_size(self):
        return self.image_size // WIDTH


PRESETS = {
    # 128-pixel scenes (words 11-26 pixels high: the four smallest anchors matter); VGG16's depth at an eighth
    # of its width; a word of one column or a short one kept (the paper's filters are for whole lines), and
    # proposals joined across one column only (50 pixels of a 600-pixel image would join the scenes' words)
    "tiny": dict(image_size=128, vgg_blocks=((16, 2), (32, 2), (48, 3), (64, 3), (64, 3)), window_filters=64,
                 lstm_units=32, fc_units=64, batch_norm=True, max_proposals=128, max_gap=16.0, min_proposals=1,
                 min_ratio=0.5, max_words=16, optimizer="adam", learning_rate=1e-3, weight_decay=1e-5),
    "small": dict(image_size=256, vgg_blocks=((32, 2), (64, 2), (128, 3), (256, 3), (256, 3)), window_filters=256,
                  lstm_units=64, fc_units=256, batch_norm=True, max_proposals=256, max_gap=32.0, min_proposals=1,
                  min_ratio=0.5, max_words=32, optimizer="adam", learning_rate=1e-3, weight_decay=1e-5),
    "paper": {},
}


def get_config(preset="tiny", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return CTPNConfig(**{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


def build_ctpn(config):
    """images float 0..255 [B, S, S, 3] -> {"scores": [B, h, w, k, 2], "vertical": [B, h, w, k, 2],
    "side": [B, h, w, k]} (h = w = S / 16)."""
    c = config
    k, m = len(c.anchor_heights), c.map_size
    backbone = bb.vgg(c.image_size, blocks=c.vgg_blocks, batch_norm=c.batch_norm, sync=c.sync_batch_norm,
                      conv_endpoints=True, name="vgg16")
    images = keras.Input((c.image_size, c.image_size, 3), name="images")
    x = keras.layers.Conv2D(c.window_filters, 3, padding="same", activation="relu", name="window")(
        backbone(images)["conv5"])
    lstm = keras.layers.LSTM(c.lstm_units, return_sequences=True, use_cudnn="auto" if c.cudnn else False)
    x = keras.layers.TimeDistributed(keras.layers.Bidirectional(lstm), name="blstm")(x)  # along each row
    x = keras.layers.Dense(c.fc_units, activation="relu", name="fc")(x)
    outputs = {
        "scores": keras.layers.Reshape((m, m, k, 2), name="score")(keras.layers.Dense(2 * k, name="cls")(x)),
        "vertical": keras.layers.Reshape((m, m, k, 2), name="vert")(keras.layers.Dense(2 * k, name="vertical_coords")(x)),
        "side": keras.layers.Dense(k, name="side_refinement")(x)}
    outputs = {n: keras.layers.Activation("linear", dtype="float32", name=n + "_out")(v) for n, v in outputs.items()}
    return keras.Model(images, outputs, name="ctpn")


# ------------------------------------------------------------------ anchors and targets
def anchors(config):
    """(centre x [w], centre y [h], heights [k]) of the anchors, in input pixels."""
    centres = (tf.range(config.map_size, dtype=tf.float32) + 0.5) * WIDTH
    return centres, centres, tf.constant(config.anchor_heights, tf.float32)


def targets(quads, kinds, config):
    """Per anchor [B, h, w, k]: ``label`` (1 positive, 0 negative, -1 neither), ``vertical`` [.., 2]
    (v_c, v_h of its word slice), ``side`` (o) and ``is_side`` (a side anchor)."""
    cx, cy, heights = anchors(config)
    x1, y1 = tf.reduce_min(quads[..., 0], -1), tf.reduce_min(quads[..., 1], -1)  # [B, M]
    x2, y2 = tf.reduce_max(quads[..., 0], -1), tf.reduce_max(quads[..., 1], -1)
    word = kinds != 0
    covers = (cx[None, :, None] >= x1[:, None]) & (cx[None, :, None] <= x2[:, None]) & word[:, None]  # [B, w, M]
    a1 = cy[:, None] - heights[None] / 2  # [h, k]
    a2 = cy[:, None] + heights[None] / 2
    g1, g2 = y1[:, None, None, None, :], y2[:, None, None, None, :]  # [B, 1, 1, 1, M]
    overlap = tf.maximum(0.0, tf.minimum(a2[None, :, None, :, None], g2) - tf.maximum(a1[None, :, None, :, None], g1))
    union = (a2 - a1)[None, :, None, :, None] + (g2 - g1) - overlap
    iou = tf.where(covers[:, None, :, None, :], overlap / tf.maximum(union, 1e-6), 0.0)  # [B, h, w, k, M]
    best = tf.reduce_max(iou, -1)
    match = tf.argmax(iou, -1, output_type=tf.int32)
    # each word slice's best anchor (over the column's heights and rows) is positive too
    column_best = tf.reduce_max(iou, axis=[1, 3], keepdims=True)  # [B, 1, w, 1, M]
    is_best = tf.reduce_any((iou >= column_best) & (column_best > 0) & (iou > 0), -1)
    care = tf.gather(kinds, match, batch_dims=1) == 1
    positive = ((best > config.positive_iou) | is_best) & care
    negative = (best < config.negative_iou) & ~positive
    label = tf.where(positive, 1, tf.where(negative, 0, -1))
    gy1, gy2 = tf.gather(y1, match, batch_dims=1), tf.gather(y2, match, batch_dims=1)  # [B, h, w, k]
    ha = heights[None, None, None]
    vertical = tf.stack([((gy1 + gy2) / 2 - cy[None, :, None, None]) / ha, tf.math.log(tf.maximum(gy2 - gy1, 1.0) / ha)],
                        -1)
    gx1, gx2 = tf.gather(x1, match, batch_dims=1), tf.gather(x2, match, batch_dims=1)
    centre = cx[None, None, :, None]
    left = tf.abs(centre - gx1) <= tf.abs(centre - gx2)
    side_x = tf.where(left, gx1, gx2)
    is_side = positive & (tf.abs(centre - side_x) <= config.side_distance)
    return {"label": label, "vertical": vertical, "side": (side_x - centre) / WIDTH, "is_side": is_side}


def sample(label, seeds, count):
    """The anchors a step learns from: up to ``count`` / 2 positives and the rest negatives, drawn at
    random per image (bool [B, h, w, k])."""
    shape = tf.shape(label)
    flat = tf.reshape(label, [shape[0], -1])
    keys = randomness.uniform(seeds, [flat.shape[1]], salt=0)

    def pick(mask, limit):
        rank = tf.argsort(tf.argsort(tf.where(mask, keys, 2.0), axis=1, stable=True), axis=1)
        return mask & (rank < limit[:, None])

    positives = pick(flat == 1, tf.fill([shape[0]], count // 2))
    negatives = pick(flat == 0, count - tf.reduce_sum(tf.cast(positives, tf.int32), 1))
    return tf.reshape(positives | negatives, shape)


def smooth_l1(x):
    x = tf.abs(x)
    return tf.where(x < 1.0, 0.5 * x * x, x - 0.5)


class CTPN(SupervisedTask):
    """The CTPN network and its loss; batches as PixelLink's (``suite.data.text_scenes.scene_dataset``)."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_ctpn(config)

    def loss_terms(self, batch, training, seeds):
        c = self.config
        out = self.net(tf.cast(batch["images"], tf.float32), training=training)
        t = targets(batch["quads"], batch["kinds"], c)
        chosen = sample(t["label"], seeds, c.samples)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.maximum(t["label"], 0), out["scores"])
        positive = tf.cast(t["label"] == 1, tf.float32)
        side = tf.cast(t["is_side"], tf.float32)

        def mean(values, weights):  # per image: (weighted mean, weight)
            total = tf.reduce_sum(weights, [1, 2, 3])
            return tf.math.divide_no_nan(tf.reduce_sum(values * weights, [1, 2, 3]), total), total

        picked = tf.cast(chosen, tf.float32)
        vertical = tf.reduce_sum(smooth_l1(out["vertical"] - t["vertical"]), -1)
        cls, n = mean(ce, picked)
        v, v_n = mean(vertical, positive)
        o, o_n = mean(smooth_l1(out["side"] - t["side"]), side)
        right = tf.cast(tf.equal(tf.argmax(out["scores"], -1, output_type=tf.int32), tf.maximum(t["label"], 0)),
                        tf.float32)
        return ({"loss/score": (cls, n), "loss/vertical": (c.vertical_weight * v, v_n),
                 "loss/side": (c.side_weight * o, o_n)},
                {"anchor_accuracy": mean(right, picked)})

    def regularization_loss(self):
        return super().regularization_loss() + self.kernel_decay(self.config.weight_decay)

    def detect(self, images):
        """float 0..255 [N, S, S, 3] -> (polygons [N, K, 4, 2] in input pixels, scores [N, K], counts [N])."""
        out = self.net(images, training=False)
        k = self.config.max_words
        return tf.map_fn(lambda a: text_lines(*proposals(a[0], a[1], a[2], self.config), self.config),
                         (tf.nn.softmax(out["scores"])[..., 1], out["vertical"], out["side"]),
                         fn_output_signature=(tf.TensorSpec([k, 4, 2], tf.float32), tf.TensorSpec([k], tf.float32),
                                              tf.TensorSpec([], tf.int32)))


# ------------------------------------------------------------------ text lines
def proposals(scores, vertical, side, config):
    """One image's fine-scale proposals: (boxes [P, 4] x1 y1 x2 y2, scores [P], side x [P] (the
    refined side each would give a line's end), valid [P]), P = ``max_proposals``: above
    ``proposal_score``, NMS at ``proposal_nms``, the highest scored first, zero-padded."""
    c = config
    cx, cy, heights = anchors(c)
    h = tf.exp(vertical[..., 1]) * heights
    yc = vertical[..., 0] * heights + cy[:, None, None]
    x = tf.broadcast_to(cx[None, :, None], tf.shape(scores))
    boxes = tf.reshape(tf.stack([x - WIDTH / 2, yc - h / 2, x + WIDTH / 2, yc + h / 2], -1), [-1, 4])
    flat, sides = tf.reshape(scores, [-1]), tf.reshape(side * WIDTH + x, [-1])
    keep = tf.image.non_max_suppression(tf.gather(boxes, [1, 0, 3, 2], axis=1), flat, c.max_proposals,
                                        iou_threshold=c.proposal_nms, score_threshold=c.proposal_score)
    n = tf.shape(keep)[0]
    pad = c.max_proposals - n
    return (tf.pad(tf.gather(boxes, keep), [[0, pad], [0, 0]]), tf.pad(tf.gather(flat, keep), [[0, pad]]),
            tf.pad(tf.gather(sides, keep), [[0, pad]]), tf.range(c.max_proposals) < n)


def _joins(boxes, scores, valid, config):
    """[P, P] bool: proposal i joined to its successor j (the paper's graph)."""
    x1, y1, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 3]
    h = y2 - y1
    gap = x1[None, :] - x1[:, None]  # [i, j]: how far right of i is j
    overlap = tf.maximum(0.0, tf.minimum(y2[:, None], y2[None]) - tf.maximum(y1[:, None], y1[None]))
    low, high = tf.minimum(h[:, None], h[None]), tf.maximum(h[:, None], h[None])
    fits = (overlap / tf.maximum(low, 1e-6) >= config.min_v_overlap) & (low / tf.maximum(high, 1e-6) >= config.min_size_sim)
    fits &= valid[:, None] & valid[None]
    big = 1e9

    def best(near, candidates):
        """Per row: the best-scored candidate of the nearest column (one-hot [P, P]), and whether any."""
        nearest = tf.reduce_min(tf.where(candidates, near, big), 1, keepdims=True)
        column = candidates & (near <= nearest)
        choice = tf.argmax(tf.where(column, scores[None], -1.0), 1, output_type=tf.int32)
        return tf.one_hot(choice, tf.shape(scores)[0], on_value=True, off_value=False) & tf.reduce_any(column, 1)[:, None]

    successor = best(gap, fits & (gap > 0) & (gap <= config.max_gap))  # [i, j]
    precursor = best(tf.transpose(gap), tf.transpose(fits & (gap > 0) & (gap <= config.max_gap)))  # [j, i]
    return successor & tf.transpose(precursor)


def text_lines(boxes, scores, sides, valid, config):
    """One image's text lines from its proposals: (polygons [K, 4, 2] (axis-aligned, clockwise from
    the top left), scores [K], count), K = ``max_words``, the best scored first."""
    c = config
    p = c.max_proposals
    joins = _joins(boxes, scores, valid, c)
    linked = joins | tf.transpose(joins)
    start = tf.where(valid, tf.range(p), p)

    def step(labels, _):
        neighbour = tf.reduce_min(tf.where(linked, labels[None], p), 1)
        new = tf.minimum(labels, neighbour)
        new = tf.minimum(new, tf.gather(tf.concat([new, [p]], 0), new))  # pointer jumping
        return new, tf.reduce_any(new != labels)

    labels, _ = tf.while_loop(lambda _, changed: changed, step, (start, tf.constant(True)), maximum_iterations=p)
    where = tf.where(valid)[:, 0]
    ids, segments = tf.unique(tf.gather(labels, where))
    n = tf.size(ids)
    b, s, side = tf.gather(boxes, where), tf.gather(scores, where), tf.gather(sides, where)
    left_end = tf.math.unsorted_segment_min(b[:, 0], segments, n)
    right_end = tf.math.unsorted_segment_max(b[:, 2], segments, n)
    # the end proposals' side refinements set the line's ends
    at_left = tf.equal(b[:, 0], tf.gather(left_end, segments))
    at_right = tf.equal(b[:, 2], tf.gather(right_end, segments))
    x1 = tf.math.divide_no_nan(tf.math.unsorted_segment_sum(tf.where(at_left, side, 0.0), segments, n),
                               tf.math.unsorted_segment_sum(tf.cast(at_left, tf.float32), segments, n))
    x2 = tf.math.divide_no_nan(tf.math.unsorted_segment_sum(tf.where(at_right, side, 0.0), segments, n),
                               tf.math.unsorted_segment_sum(tf.cast(at_right, tf.float32), segments, n))
    y1 = tf.math.unsorted_segment_mean(b[:, 1], segments, n)
    y2 = tf.math.unsorted_segment_mean(b[:, 3], segments, n)
    score = tf.math.unsorted_segment_mean(s, segments, n)
    count = tf.math.unsorted_segment_sum(tf.ones_like(s), segments, n)
    x1, x2 = tf.minimum(x1, x2), tf.maximum(x1, x2)
    keep = (score >= c.line_score) & (count >= c.min_proposals) & ((x2 - x1) >= c.min_ratio * (y2 - y1))
    corners = tf.stack([tf.stack([x1, y1], -1), tf.stack([x2, y1], -1), tf.stack([x2, y2], -1),
                        tf.stack([x1, y2], -1)], 1)
    return best_words(corners, score, keep, c.max_words)
