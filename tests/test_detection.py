"""Object detection (issue 5): boxes, anchors, RoI pooling, the YOLO loss, mAP, data readers."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from suite.data import detection as data
from suite.data.errors import DataError
from suite.detection import boxes as B
from suite.detection import faster_rcnn, metrics, yolo
from suite.detection import training as detection_training
from suite.layers.detection import ImagePreprocessing, RoIPooling


# ------------------------------------------------------------------ boxes and anchors
def test_encode_decode_round_trip():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 0.5, (50, 2))
    anchors = np.concatenate([a, a + rng.uniform(0.05, 0.5, (50, 2))], -1).astype("float32")
    b = rng.uniform(0, 0.5, (50, 2))
    boxes = np.concatenate([b, b + rng.uniform(0.05, 0.5, (50, 2))], -1).astype("float32")
    for stds in ((1, 1, 1, 1), faster_rcnn.HEAD_STDS):
        deltas = B.encode(boxes, anchors, stds)
        np.testing.assert_allclose(B.decode(deltas, anchors, stds).numpy(), boxes, atol=1e-5)
    # the encoding itself: a box twice the anchor's width, shifted by half its height
    t = B.encode([[0.3, 0.0, 0.5, 0.4]], [[0.2, 0.1, 0.4, 0.3]]).numpy()[0]
    np.testing.assert_allclose(t, [0.5, 0.0, 0.0, math.log(2.0)], atol=1e-6)


def test_iou_on_hand_made_boxes():
    a = [[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]]
    b = [[0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75], [0.6, 0.6, 0.9, 0.9], [0.1, 0.1, 0.1, 0.4]]
    expected = [[1.0, 0.0625 / (0.25 + 0.25 - 0.0625), 0.0, 0.0],
                [0.25, 0.25, 0.09, 0.0]]
    np.testing.assert_allclose(B.iou(a, b).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(B.iou_numpy(a, b), expected, atol=1e-6)


def test_box_maths_agree_with_keras_and_keras_cv_where_both_exist():
    """The hand-written IoU, encoding and anchors (suite/detection/boxes.py says why each stays) against
    keras.utils.bounding_boxes and keras_cv.layers.AnchorGenerator on real boxes."""
    import keras
    import keras_cv

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 0.5, (2, 30, 2))
    a = np.concatenate([corner, corner + rng.uniform(0.01, 0.5, (2, 30, 2))], -1).astype("float32")
    b = a[:, ::-1][:, :7].copy()
    library = keras.utils.bounding_boxes
    np.testing.assert_allclose(B.iou(a, b).numpy(), library.compute_iou(a, b, "yxyx"), atol=1e-5)
    for stds in ((1.0, 1.0, 1.0, 1.0), faster_rcnn.HEAD_STDS):
        deltas = B.encode(a[1], a[0], stds)
        np.testing.assert_allclose(deltas, library.encode_box_to_deltas(a[0], a[1], "yxyx", "yxyx", variance=stds),
                                   atol=1e-5)
        np.testing.assert_allclose(B.decode(deltas, a[0], stds),
                                   library.decode_deltas_to_boxes(a[0], deltas, "yxyx", "yxyx", variance=stds),
                                   atol=1e-5)
    ours = B.anchors((12, 12), (96, 96), 8, (16, 32, 64)) * 96
    theirs = np.concatenate([keras_cv.layers.AnchorGenerator("yxyx", sizes=[s], scales=[1.0], aspect_ratios=[0.5, 1, 2],
                                                             strides=[8], clip_boxes=False)(image_shape=(96, 96, 3))[0]
                             for s in (16, 32, 64)])
    np.testing.assert_allclose(np.array(sorted(map(tuple, ours))), np.array(sorted(map(tuple, np.asarray(theirs)))),
                               atol=1e-3)


def test_rpn_labels_and_nms_agree_with_keras_cv_where_both_apply():
    """Faster R-CNN's anchor labels against keras_cv's BoxMatcher (thresholds 0.3 and 0.7, each object
    force-matched): the same negatives, the same positives but for the anchors tied at an object's best IoU
    (the paper's code takes them all, BoxMatcher one), inside the image; the NMS of shared boxes against
    keras_cv's MultiClassNonMaxSuppression."""
    import keras_cv

    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    batch = _scene_batch(4)
    valid = batch["classes"] >= 0
    positive, negative, _ = (t.numpy() for t in model.rpn_labels(batch["boxes"], valid))
    inside = model.trainable_anchors.numpy()
    matcher = keras_cv.layers.BoxMatcher([0.3, 0.7], [-1, -2, 1], force_match_for_each_col=True)
    for i in range(4):
        m = int(valid[i].numpy().sum())
        overlaps = B.iou(model.anchors.numpy()[inside], batch["boxes"][i, :m]).numpy()
        _, values = matcher(tf.constant(overlaps))
        # (from the second anchor: keras_cv 0.9's force-matching marks the first row matched to a column past the last)
        values, overlaps = np.asarray(values)[1:], overlaps[1:]
        pos, neg = positive[i][inside][1:], negative[i][inside][1:]
        np.testing.assert_array_equal(neg, values == -1)
        tied = (overlaps >= overlaps.max(0, keepdims=True) - 1e-6).any(1)
        assert np.all(pos >= (values == 1)) and np.all(pos <= (values == 1) | tied)
        assert not positive[i][~inside].any() and not negative[i][~inside].any()
    rng = np.random.default_rng(3)
    corner = rng.uniform(0, 0.6, (2, 50, 2))
    shared = np.concatenate([corner, corner + rng.uniform(0.1, 0.4, (2, 50, 2))], -1).astype(np.float32)
    scores = rng.uniform(0, 1, (2, 50, 5)).astype(np.float32)
    ours = faster_rcnn.nms_outputs(shared[:, :, None], scores, 20, 0.5, 0.3)
    theirs = keras_cv.layers.MultiClassNonMaxSuppression("rel_yxyx", from_logits=False, iou_threshold=0.5,
                                                         confidence_threshold=0.3, max_detections=20,
                                                         max_detections_per_class=20)(shared, scores)
    np.testing.assert_array_equal(ours["num_detections"], theirs["num_detections"])
    np.testing.assert_allclose(ours["detection_scores"], theirs["confidence"], atol=1e-6)
    np.testing.assert_array_equal(ours["detection_classes"], theirs["classes"])


def test_anchors_have_the_ratios_scales_and_strides():
    scales, ratios = (16, 32, 64), (0.5, 1.0, 2.0)
    a = B.anchors((6, 8), (96, 128), 16, scales, ratios)
    assert a.shape == (6 * 8 * 9, 4)
    px = a * np.array([96, 128, 96, 128])
    h, w = px[:, 2] - px[:, 0], px[:, 3] - px[:, 1]
    cell0 = slice(0, 9)
    np.testing.assert_allclose(h[cell0] / w[cell0], [r for _ in scales for r in ratios], rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(h[cell0] * w[cell0]), [s for s in scales for _ in ratios], rtol=1e-5)
    centres = (px[:, :2] + px[:, 2:]) / 2
    np.testing.assert_allclose(centres[0], [8, 8])  # the first cell's centre
    np.testing.assert_allclose(centres[9] - centres[0], [0, 16])  # next cell along x: one stride
    np.testing.assert_allclose(centres[8 * 9] - centres[0], [16, 0])  # next row: one stride down


def test_balanced_sample_respects_the_counts():
    tf.random.set_seed(0)
    positive = tf.constant([[True] * 300 + [False] * 700, [True] * 10 + [False] * 990])
    negative = ~positive
    pos, neg = B.balanced_sample(positive, negative, 256, 0.5)
    pos_n = tf.reduce_sum(tf.cast(pos, tf.int32), -1).numpy()
    neg_n = tf.reduce_sum(tf.cast(neg, tf.int32), -1).numpy()
    np.testing.assert_array_equal(pos_n, [128, 10])  # at most half positive
    np.testing.assert_array_equal(pos_n + neg_n, [256, 256])  # filled up with negatives
    assert not np.any(pos.numpy() & ~positive.numpy()) and not np.any(neg.numpy() & positive.numpy())


# ------------------------------------------------------------------ RoI pooling
def _ramp(h, w):
    return (10 * np.arange(h)[:, None] + np.arange(w)[None, :]).astype("float32")[None, :, :, None]


def test_roi_max_pooling_on_a_hand_made_feature_map():
    features = _ramp(4, 4)  # cell (r, c) holds 10 r + c: a region's maximum is its bottom-right cell
    rois = np.array([[[0.0, 0.0, 1.0, 1.0],  # the whole map: 2x2 bins of 2x2 cells
                      [0.0, 0.25, 0.5, 1.0],  # rows 0-1, columns 1-3: three columns in two bins
                      [0.30, 0.30, 0.35, 0.35]]], "float32")  # inside cell (1, 1): smaller than a bin
    out = RoIPooling(2)([features, rois]).numpy()[0, ..., 0]
    np.testing.assert_array_equal(out[0], [[11, 13], [31, 33]])
    np.testing.assert_array_equal(out[1], [[2, 3], [12, 13]])  # bins overlap on column 2 (floor/ceil)
    np.testing.assert_array_equal(out[2], [[11, 11], [11, 11]])  # not lost: the cell it lies in


def _reference_roi_pool(f, rois, p):
    """RoI max pooling by its definition, with exact fractions and no floor/ceil bin formula: the RoI
    covers every feature cell its box touches (at least one); bin i is the i-th of p equal parts of
    that span; a bin takes the maximum of the cells its part overlaps by more than a point."""
    from fractions import Fraction

    n, h, w, c = f.shape

    def cells(start, end, size):
        lo, hi = Fraction(float(start)) * size, Fraction(float(end)) * size
        touched = [k for k in range(size) if k + 1 > lo and (k < hi or k == int(lo))]  # cell k spans [k, k + 1)
        first, last = touched[0], touched[-1] + 1
        span = last - first
        return [[k for k in range(first, last)
                 if k < first + Fraction(span * (i + 1), p) and k + 1 > first + Fraction(span * i, p)]
                for i in range(p)]

    out = np.zeros((n, rois.shape[1], p, p, c), np.float32)
    for b in range(n):
        for r, (y0, x0, y1, x1) in enumerate(rois[b]):
            rows, cols = cells(y0, y1, h), cells(x0, x1, w)
            for i in range(p):
                for j in range(p):
                    out[b, r, i, j] = f[b][np.ix_(rows[i], cols[j])].max((0, 1))
    return out


def test_roi_max_pooling_matches_a_loop_at_7x7_eager_and_traced():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 13, 17, 3)).astype("float32")
    r = rng.uniform(size=(2, 20, 4)).astype("float32")
    rois = np.concatenate([np.minimum(r[..., :2], r[..., 2:]), np.maximum(r[..., :2], r[..., 2:])], -1)
    layer = RoIPooling(7)
    expected = _reference_roi_pool(f, rois, 7)
    np.testing.assert_array_equal(layer([f, rois]).numpy(), expected)
    np.testing.assert_array_equal(tf.function(lambda a, b: layer([a, b]))(f, rois).numpy(), expected)
    with tf.GradientTape() as tape:  # the gradient reaches exactly the cells that were maxima
        ft = tf.constant(f)
        tape.watch(ft)
        y = tf.reduce_sum(layer([ft, rois[:, :1]]))
    assert 0 < np.count_nonzero(tape.gradient(y, ft).numpy()) <= 2 * 49 * 3


def test_roi_align_averages_bilinear_samples():
    ramp = np.tile(np.arange(8, dtype="float32")[None, :, None, None], (1, 1, 8, 1))  # row r holds r
    out = RoIPooling(2, "align")([ramp, np.array([[[0.0, 0.0, 1.0, 1.0]]], "float32")]).numpy()[0, 0, ..., 0]
    # cell r's value sits at its centre r + 0.5: the mean over rows [0, 4) is 1.5, over [4, 8) 5.5
    np.testing.assert_allclose(out, [[1.5, 1.5], [5.5, 5.5]], atol=1e-5)


def test_detection_layers_round_trip_their_config():
    for layer in (RoIPooling(5, "align"), ImagePreprocessing("caffe")):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="mode"):
        RoIPooling(7, "average")


# ------------------------------------------------------------------ YOLO
def test_yolo_loss_on_one_object_equals_the_formula():
    c = yolo.get_config("tiny", num_classes=3, grid=2, boxes_per_cell=2, image_size=32,
                        layers=((4, 3, 2), (4, 3, 2), (4, 3, 2), (4, 3, 2)))
    raw = np.zeros((1, 2, 2, c.outputs_per_cell), "float32")
    # the object: centre (x 0.75, y 0.25) -> cell row 0, column 1; width 0.36, height 0.16
    gt = np.array([[[0.17, 0.57, 0.33, 0.93]]], "float32")
    cls = np.array([[2]], "int32")
    # cell (0, 1): box 0 predicts the object exactly but half as confident; box 1 is elsewhere
    raw[0, 0, 1, 0:5] = [0.5, 0.5, 0.6, 0.4, 0.5]  # x, y in the cell, sqrt w, sqrt h, confidence
    raw[0, 0, 1, 5:10] = [0.1, 0.1, 0.2, 0.2, 0.3]
    raw[0, 0, 1, 10:13] = [0.2, 0.1, 0.6]
    raw[0, 1, 0, 4] = 0.4  # a confident empty cell
    raw[0, 1, 0, 10:13] = [1.0, 1.0, 1.0]  # class outputs of empty cells are not penalised
    terms = {k: float(v[0]) for k, v in yolo.yolo_loss(tf.constant(raw), gt, cls, c).items()}
    assert terms["loss/coordinates"] == pytest.approx(0.0, abs=1e-6)  # box 0 is responsible, exact
    assert terms["loss/object"] == pytest.approx((0.5 - 1.0) ** 2, abs=1e-5)  # target: IoU 1
    assert terms["loss/no_object"] == pytest.approx(0.5 * (0.3 ** 2 + 0.4 ** 2), abs=1e-6)
    assert terms["loss/class"] == pytest.approx(0.2 ** 2 + 0.1 ** 2 + 0.4 ** 2, abs=1e-6)
    # moving box 0 off the truth costs lambda_coord * its squared errors, and the IoU target drops
    raw[0, 0, 1, 0:4] = [0.6, 0.5, 0.5, 0.4]
    moved = {k: float(v[0]) for k, v in yolo.yolo_loss(tf.constant(raw), gt, cls, c).items()}
    assert moved["loss/coordinates"] == pytest.approx(5.0 * (0.1 ** 2 + 0.1 ** 2), abs=1e-5)
    pred = [0.25 - 0.08, (1 + 0.6) / 2 - 0.125, 0.25 + 0.08, (1 + 0.6) / 2 + 0.125]
    target_iou = B.iou_numpy([pred], gt[0])[0, 0]
    assert moved["loss/object"] == pytest.approx((0.5 - target_iou) ** 2, abs=1e-5)


def test_yolo_config_checks_the_grid():
    with pytest.raises(ValueError, match="grid"):
        yolo.get_config("tiny", grid=7)
    assert yolo.build_yolo(yolo.get_config("tiny")).output.shape[1:] == (4, 4, 15)


def test_yolo_paper_network_has_24_convolutions_and_a_7x7x30_output():
    c = yolo.get_config("paper", num_classes=20)
    convs = [layer for layer in c.layers if layer != "M"]
    assert len(convs) == 24 and c.outputs_per_cell == 30 and c.grid == 7


# ------------------------------------------------------------------ metrics
def test_voc_map_on_hand_made_detections():
    truths = [{"boxes": [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], "classes": [0, 0]},
              {"boxes": [[0, 0, 0.4, 0.4]], "classes": [0]}]
    detections = [{"boxes": [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0, 0, 0.5, 0.5]],
                   "scores": [0.9, 0.6, 0.8], "classes": [0, 0, 0]},  # the 0.8 one is a duplicate
                  {"boxes": [[0.6, 0.6, 0.9, 0.9]], "scores": [0.7], "classes": [0]}]  # a miss
    # ranked: 0.9 TP, 0.8 FP (duplicate), 0.7 FP, 0.6 TP; 3 objects
    # precision 1, 1/2, 1/3, 1/2 at recall 1/3, 1/3, 1/3, 2/3
    # all-point: 1/3 * 1 + 1/3 * 1/2 = 0.5
    assert metrics.voc_map(detections, truths, 1, method="all") == pytest.approx(0.5)
    # 11-point: recall >= 0, .1, .2, .3 -> 1 (4 points); .4, .5, .6 -> 1/2 (3 points); above 2/3: 0
    assert metrics.voc_map(detections, truths, 1, method="11") == pytest.approx((4 * 1 + 3 * 0.5) / 11)
    # a second class with no detection counts 0; a class without objects is left out
    truths[1] = {"boxes": [[0, 0, 0.4, 0.4], [0, 0, 1, 1]], "classes": [0, 1]}
    assert metrics.voc_map(detections, truths, 3, method="all") == pytest.approx(0.25)


def test_precision_recall_curves_count_at_each_score_threshold(tmp_path):
    truths = [{"boxes": [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], "classes": [0, 0]},
              {"boxes": [[0, 0, 0.4, 0.4]], "classes": [0]}]
    detections = [{"boxes": [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0, 0, 0.5, 0.5]],
                   "scores": [0.9, 0.6, 0.8], "classes": [0, 0, 0]},
                  {"boxes": [[0.6, 0.6, 0.9, 0.9]], "scores": [0.7], "classes": [0]}]
    curve = metrics.precision_recall_curves(detections, truths, 2, num_thresholds=11)[0]  # class 1: no objects
    # at 0.5: all four (TP 0.9, 0.6; FP 0.8, 0.7); at 0.75: 0.9 TP, 0.8 FP; at 0.85: 0.9 alone; at 1.0: none
    assert [curve[k][5].tolist() for k in ("tp", "fp", "fn")] == [2, 2, 1]
    assert [curve[k][8].tolist() for k in ("tp", "fp", "fn")] == [1, 1, 2]
    assert curve["precision"][9] == 1.0 and curve["recall"][9] == pytest.approx(1 / 3)
    assert curve["tp"][10] == 0 and curve["precision"][10] == 1.0 and not curve["tn"].any()
    assert list(metrics.precision_recall_curves(detections, truths, 2)) == [0]
    # logged for TensorBoard's PR-curve plugin, with each class's AP, and boxes drawn with their labels
    from conftest import tensorboard_tags

    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        detection_training.log_precision_recall(detections, truths, ["ring", "cross"], step=3)
    tags, _ = tensorboard_tags(tmp_path)
    assert tags["pr_curves"] == {"eval/pr_curve/ring/pr_curves"} and "eval/AP50/ring" in tags["scalars"]
    image = np.full((2, 20, 20, 3), 90, np.uint8)
    drawn = detection_training.drawn_boxes(image, truths, detections, ["ring", "cross"])
    assert drawn.shape == (2, 40, 40, 3) and drawn.dtype == np.uint8
    assert (drawn[0, 1:10, 1:10] == [40, 220, 40]).all(-1).any()  # the truth's label band, top left
    assert (drawn[0, 10:19, 1:10] == [235, 50, 50]).all(-1).any()  # a detection's, bottom left of its box
    assert (drawn[1] == [235, 50, 50]).all(-1).any()
    quiet = detection_training.drawn_boxes(image, truths, detections, ["ring", "cross"], min_score=0.75)
    assert not (quiet[1] == [235, 50, 50]).all(-1).any()  # image 1's only detection scores 0.7


def test_difficult_objects_are_neither_hits_nor_misses():
    truths = [{"boxes": [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]], "classes": [0, 0], "difficult": [False, True]}]
    detections = [{"boxes": [[0.5, 0.5, 1, 1], [0, 0, 0.5, 0.5]], "scores": [0.9, 0.8], "classes": [0, 0]}]
    assert metrics.voc_map(detections, truths, 1) == pytest.approx(1.0)


def test_coco_map_averages_over_iou_thresholds():
    truths = [{"boxes": [[0, 0, 1, 0.72]], "classes": [0]}]
    detections = [{"boxes": [[0, 0, 1, 1]], "scores": [0.9], "classes": [0]}]  # IoU 0.72
    # a hit at 0.50, 0.55, 0.60, 0.65, 0.70 (AP 1), a miss at 0.75 .. 0.95 (AP 0)
    assert metrics.coco_map(detections, truths, 1) == pytest.approx(0.5)
    assert metrics.detection_scores(detections, truths, 1)["mAP50"] == pytest.approx(1.0)


# ------------------------------------------------------------------ data
def test_embedded_scenes_are_deterministic_and_well_formed():
    a = data.embedded_set(20, 64, seed=3)
    b = data.embedded_set(20, 64, seed=3)
    for i in range(20):
        image, boxes, classes, difficult = a.load(i)
        np.testing.assert_array_equal(image, b.load(i)[0])
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert 1 <= len(boxes) <= 4 and len(classes) == len(boxes) and not difficult.any()
        assert np.all(boxes[:, 2:] > boxes[:, :2]) and boxes.min() >= 0 and boxes.max() <= 1
        assert set(classes) <= set(range(len(data.SHAPES)))
    assert not np.array_equal(a.load(0)[0], data.embedded_set(20, 64, seed=3, split="validation").load(0)[0])


def test_training_pipeline_flips_boxes_with_the_pixels():
    # one black image with one white rectangle: after any flip, the white pixels are inside the box
    image = np.zeros((32, 32, 3), np.uint8)
    image[4:12, 2:10] = 255
    box = np.array([[4 / 32, 2 / 32, 12 / 32, 10 / 32]], np.float32)
    one = data.DetectionSet(("r",), 32, 1, lambda i: (image, box, np.array([0], np.int32), np.zeros(1, bool)))
    flips = 0
    for batch in data.detection_dataset(one, 4, 3, seed=1).take(4):
        for img, boxes, classes in zip(batch["images"].numpy(), batch["boxes"].numpy(), batch["classes"].numpy()):
            ys, xs = np.nonzero(img[..., 0] > 128)
            y0, x0, y1, x1 = boxes[0] * 32
            assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == pytest.approx((y0, x0, y1, x1), abs=1e-3)
            assert list(classes) == [0, -1, -1]
            flips += xs.min() > 16
    assert 0 < flips < 16  # some flipped, some not


def _write_voc(root, boxes, width=40, height=30, image=True):
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, "JPEGImages"), exist_ok=True)
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    objects = "".join(f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin>"
                      f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                      for n, d, b in boxes)
    with open(os.path.join(root, "Annotations", "000001.xml"), "w") as f:
        f.write(f"<annotation><filename>000001.jpg</filename><size><width>{width}</width>"
                f"<height>{height}</height><depth>3</depth></size>{objects}</annotation>")
    if image:
        import cv2

        cv2.imwrite(os.path.join(root, "JPEGImages", "000001.jpg"), np.full((height, width, 3), 128, np.uint8))
    for split in ("trainval", "test"):
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("000001\n")


def test_voc_reader(tmp_path):
    _write_voc(str(tmp_path), [("dog", 0, (1, 1, 20, 15)), ("person", 1, (21, 16, 40, 30))])
    ds = data.detection_set(str(tmp_path), "train", size=32)
    assert ds.class_names == data.VOC_CLASSES and len(ds) == 1
    image, boxes, classes, difficult = ds.load(0)
    assert image.shape == (32, 32, 3)
    np.testing.assert_allclose(boxes, [[0, 0, 15 / 30, 20 / 40], [15 / 30, 20 / 40, 1, 1]], atol=1e-6)
    assert [data.VOC_CLASSES[c] for c in classes] == ["dog", "person"] and list(difficult) == [False, True]


def test_voc_image_of_random_bytes_or_truncated_is_named_before_training(tmp_path):
    _write_voc(str(tmp_path), [("dog", 0, (1, 1, 20, 15))])
    jpeg = tmp_path / "JPEGImages" / "000001.jpg"
    whole = jpeg.read_bytes()
    jpeg.write_bytes(np.random.default_rng(0).bytes(len(whole)))
    with pytest.raises(DataError, match=r"JPEGImages/000001\.jpg: not a JPEG, PNG or BMP file"):
        data.detection_set(str(tmp_path), "train", size=32)
    jpeg.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataError, match=r"JPEGImages/000001\.jpg: truncated or corrupt JPEG.*--skip-bad-files"):
        data.detection_set(str(tmp_path), "train", size=32)
    # --skip-bad-files: the image left out and named; a list left with no image is still refused
    from suite.data.files import BadFiles

    bad = BadFiles(skip=True)
    with pytest.raises(DataError, match=r"trainval\.txt: no readable image \(1 skipped\)"):
        data.detection_set(str(tmp_path), "train", size=32, bad=bad)
    assert len(bad.skipped) == 1 and "000001.jpg: truncated" in bad.skipped[0]


def test_voc_box_outside_the_image_names_the_file(tmp_path):
    _write_voc(str(tmp_path), [("dog", 0, (1, 1, 45, 15))])  # xmax 45 > width 40
    with pytest.raises(DataError, match=r"000001\.xml.*outside the 40x30 image"):
        data.detection_set(str(tmp_path), "train", size=32)


def _write_coco(root, files, annotations, write=()):
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    os.makedirs(os.path.join(root, "train2017"), exist_ok=True)
    import cv2

    for name in write:
        cv2.imwrite(os.path.join(root, "train2017", name), np.full((20, 40, 3), 60, np.uint8))
    doc = {"images": [{"id": i + 1, "file_name": n, "width": 40, "height": 20} for i, n in enumerate(files)],
           "annotations": annotations,
           "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}]}
    with open(os.path.join(root, "annotations", "instances_train2017.json"), "w") as f:
        json.dump(doc, f)


def test_coco_reader(tmp_path):
    _write_coco(str(tmp_path), ["a.jpg"], [
        {"id": 1, "image_id": 1, "bbox": [10, 5, 20, 10], "category_id": 3, "iscrowd": 0},
        {"id": 2, "image_id": 1, "bbox": [0, 0, 40, 20], "category_id": 1, "iscrowd": 1}], write=["a.jpg"])
    ds = data.detection_set(str(tmp_path), "train", size=16)
    assert ds.class_names == ("cat", "dog")
    image, boxes, classes, _ = ds.load(0)
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(boxes, [[0.25, 0.25, 0.75, 0.75]])  # the crowd region is dropped
    assert list(classes) == [1]


def test_coco_file_naming_a_missing_image_names_the_file(tmp_path):
    _write_coco(str(tmp_path), ["a.jpg", "missing.jpg"], [], write=["a.jpg"])
    with pytest.raises(DataError, match=r"instances_train2017\.json: image missing\.jpg .*does not exist"):
        data.detection_set(str(tmp_path), "train", size=16)


def test_tfds_voc_reader():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        ds = data.detection_set("tfds:voc/2007", "train", size=24)
    assert len(ds) == 3 and len(ds.class_names) == 20
    image, boxes, classes, difficult = ds.load(0)
    assert image.shape == (24, 24, 3) and boxes.shape[1:] == (4,) and len(classes) == len(boxes) == len(difficult)


def test_yolo_jitter_keeps_each_box_on_its_object():
    """YOLO's scaling, translation and HSV jitter on red rectangles over a blue-grey ground: after it, the
    red pixels' extent is the box's (to the interpolation's blur), every image was moved, and colours
    changed in exposure and saturation but not in hue."""
    rng = np.random.default_rng(0)
    n, s = 16, 96
    images = np.empty((n, s, s, 3), np.uint8)
    images[:] = (30, 60, 90)
    boxes, classes = np.zeros((n, 2, 4), np.float32), np.full((n, 2), -1, np.int32)
    for i in range(n):
        y0, x0 = rng.integers(0, 70, 2)
        y1, x1 = min(y0 + int(rng.integers(15, 30)), s), min(x0 + int(rng.integers(15, 30)), s)
        images[i, y0:y1, x0:x1] = (240, 30, 30)
        boxes[i, 0], classes[i, 0] = np.array([y0, x0, y1, x1]) / s, 2
    out = data.yolo_jitter(seed=3)({"images": tf.constant(images), "boxes": tf.constant(boxes),
                                     "classes": tf.constant(classes)})
    moved, kept = out["images"].numpy().astype(int), out["classes"].numpy()
    assert (kept[:, 1] == -1).all() and not out["boxes"].numpy()[:, 1].any()  # padding stays padding
    for i in range(n):
        red = moved[i, ..., 0] - moved[i, ..., 1] > 60
        if kept[i, 0] < 0:  # pushed out of the image entirely
            assert red.sum() < 4
            continue
        ys, xs = np.nonzero(red)
        found = np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1]) / s
        b = out["boxes"].numpy()[i, 0]
        inter = np.prod(np.clip(np.minimum(b[2:], found[2:]) - np.maximum(b[:2], found[:2]), 0, None))
        assert inter / (np.prod(b[2:] - b[:2]) + np.prod(found[2:] - found[:2]) - inter) > 0.8, i
    assert (np.abs(out["boxes"].numpy()[:, 0] - boxes[:, 0]).max(-1) > 0.01).mean() > 0.8
    centres = [moved[i][tuple(np.argwhere(moved[i, ..., 0] - moved[i, ..., 1] > 60).mean(0).astype(int))]
               for i in range(n) if kept[i, 0] >= 0]
    assert all(abs(c[1] - c[2]) <= 10 and c[0] > max(c[1], c[2]) + 60 for c in centres)  # still red: hue kept
    assert len({tuple(c) for c in centres}) > len(centres) // 2  # exposure and saturation differ per image


def test_the_training_pipeline_jitters_when_asked():
    ds = data.embedded_set(8, 64, seed=2)
    plain, jittered = (next(iter(data.detection_dataset(ds, 8, 8, seed=1, jitter=j))) for j in (None, {}))
    assert jittered["images"].dtype == tf.uint8 and jittered["images"].shape == (8, 64, 64, 3)
    boxes, classes = jittered["boxes"].numpy(), jittered["classes"].numpy()
    assert ((boxes >= 0) & (boxes <= 1)).all() and not boxes[classes < 0].any()
    assert not np.array_equal(plain["images"].numpy(), jittered["images"].numpy())
    assert yolo.get_config("tiny").augment is True  # the paper's; recipes.yolo turns it off on the embedded data


# ------------------------------------------------------------------ Faster R-CNN
def _scene_batch(n=2, size=96):
    ds = data.embedded_set(n, size, seed=5)
    batch = next(iter(data.detection_dataset(ds, n, 8, training=False)))
    return {k: v for k, v in batch.items()}


def test_rpn_targets_mark_the_best_anchor_of_every_object():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    gt = tf.constant([[model.anchors[1000].numpy(), [0, 0, 0, 0]]])  # an object exactly on anchor 1000
    classes = tf.constant([[2, -1]])
    positive, negative, targets = model.rpn_targets(gt, classes >= 0)
    assert bool(positive[0, 1000]) and not bool(negative[0, 1000])
    np.testing.assert_allclose(targets[0, 1000].numpy(), 0.0, atol=1e-5)
    assert int(tf.reduce_sum(tf.cast(positive | negative, tf.int32))) == 256  # the RPN minibatch


def test_cross_boundary_anchors_are_left_out_of_training_and_kept_at_test_time():
    """Ren et al. 3.3: anchors crossing the image's boundary take no part in the RPN loss; at test time
    every anchor proposes, its box clipped to the image."""
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    corners = model.anchors.numpy()
    inside = ((corners >= 0) & (corners <= 1)).all(-1)
    assert np.array_equal(model.trainable_anchors.numpy(), inside) and 0 < inside.sum() < len(inside)
    batch = _scene_batch(4)
    positive, negative, _ = model.rpn_targets(batch["boxes"], batch["classes"] >= 0)
    sampled = (positive | negative).numpy()
    assert not sampled[:, ~inside].any() and positive.numpy().sum(-1).min() > 0
    assert (sampled.sum(-1) == 256).all()  # the minibatch is filled from the anchors inside
    everywhere = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny", ignore_cross_boundary=False))
    positive, negative, _ = everywhere.rpn_targets(batch["boxes"], batch["classes"] >= 0)
    assert (positive | negative).numpy()[:, ~inside].any()  # without the rule they are sampled
    # test time: the best-scored anchor crosses the boundary, and proposes its clipped box
    outside = int(np.flatnonzero(~inside)[0])
    logits = tf.one_hot([outside], len(corners), on_value=10.0, off_value=-10.0)
    boxes, valid = model.proposals(logits, tf.zeros([1, len(corners), 4]), training=False)
    np.testing.assert_allclose(boxes[0, 0].numpy(), np.clip(corners[outside], 0, 1), atol=1e-6)


def test_roi_sampling_includes_the_objects_and_keeps_the_fraction():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    gt = tf.constant([[[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.8]]])
    classes = tf.constant([[0, 3]])
    proposals = tf.random.uniform([1, 100, 2], 0, 0.5)
    proposals = tf.concat([proposals, proposals + 0.3], -1)
    rois, labels, targets, weights = model.sample_rois(proposals, tf.ones([1, 100], bool), gt, classes)
    assert rois.shape == (1, 64, 4)
    fg = labels.numpy()[0] > 0
    assert 2 <= fg.sum() <= 16  # the objects themselves at least; a quarter of 64 at most
    assert set(labels.numpy()[0][fg]) <= {1, 4}  # class + 1 (0 is the background)
    assert weights.numpy().sum() == 64


def test_faster_rcnn_trains_a_step_and_detects():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    model.compile()
    logs = model.train_step(_scene_batch())
    for k in ("loss/rpn_objectness", "loss/rpn_box", "loss/head_class", "loss/head_box"):
        assert np.isfinite(float(logs[k])) and float(logs[k]) >= 0
    out = model.detect(_scene_batch()["images"])
    assert out["detection_boxes"].shape == (2, 100, 4) and out["num_detections"].shape == (2,)


def test_padded_proposal_nms_keeps_the_same_boxes_and_compiles_with_xla():
    tf.random.set_seed(3)
    combined = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny"))
    padded = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny", proposal_nms="padded"))
    logits = tf.random.normal([2, int(combined.anchors.shape[0])])
    deltas = tf.random.normal([2, int(combined.anchors.shape[0]), 4], stddev=0.2)
    boxes_c, valid_c = combined.proposals(logits, deltas, training=True)
    boxes_p, valid_p = tf.function(padded.proposals, jit_compile=True)(logits, deltas, training=True)
    np.testing.assert_array_equal(valid_c.numpy(), valid_p.numpy())
    np.testing.assert_allclose(boxes_p.numpy()[valid_p.numpy()], boxes_c.numpy()[valid_c.numpy()], atol=1e-6)
    with pytest.raises(ValueError, match="proposal_nms"):
        faster_rcnn.get_config("tiny", proposal_nms="fast")


def test_faster_rcnn_paper_preset_is_vgg16_at_stride_16():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("paper", image_size=224, min_side=128, max_side=224,
                                                          head_units=(32, 32)))
    assert model.stride == 16 and model.feature_size == 14 and model.num_anchors == 9
    assert model.backbone.output.shape[-1] == 512  # conv5_3
    assert model.anchors.shape == (14 * 14 * 9, 4)


def test_mixed_precision_keeps_losses_and_outputs_in_float32():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for model in (faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny")), yolo.YOLO(yolo.get_config("tiny"))):
            model.compile()
            batch = _scene_batch(size=model.config.image_size)
            logs = model.train_step(batch)
            assert all(v.dtype == tf.float32 and np.isfinite(float(v)) for v in logs.values())
            out = model.detect(batch["images"])
            assert out["detection_scores"].dtype == tf.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_backbone_weights_file_is_loaded_or_refused_by_name(tmp_path):
    import keras

    from suite.detection.backbones import build_backbone

    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    path = str(tmp_path / "vgg16_notop.weights.h5")
    source.save_weights(path)
    model, stride = build_backbone("vgg16", 64, weights=path)
    assert stride == 16
    kernel = model.get_layer("vgg16").get_layer("block5_conv3").kernel.numpy()
    np.testing.assert_array_equal(kernel, source.get_layer("block5_conv3").kernel.numpy())
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match=r"--backbone-weights .*bad\.weights\.h5"):
        build_backbone("vgg16", 64, weights=str(bad))


# ------------------------------------------------------------------ images kept in their aspect (Ren et al.'s 600/1000)
def _voc_300x800(root):
    """A VOC folder with one 300 x 800 image: grey, one white rectangle (x 100..300, y 50..250)."""
    import cv2

    _write_voc(root, [("dog", 0, (101, 51, 300, 250))], width=800, height=300, image=False)
    image = np.full((300, 800, 3), 90, np.uint8)
    image[50:250, 100:300] = 255
    cv2.imwrite(os.path.join(root, "JPEGImages", "000001.jpg"), image)


def test_a_300x800_image_keeps_its_aspect_at_the_top_left_of_the_square(tmp_path):
    _voc_300x800(str(tmp_path))
    assert data.fitted_size(300, 800, 600, 1000) == (375, 1000)  # the paper's: 600 would make the longer 1600
    ds = data.detection_set(str(tmp_path), "train", size=112, fit=(60, 100))  # 300x800 -> 38x100 (x 0.125)
    image, boxes, _, _ = ds.load(0)
    assert image.shape == (112, 112, 3) and ds.extent(0) == (38 / 112, 100 / 112)
    assert image[:38, :100].min() > 50 and not image[38:].any() and not image[:, 100:].any()  # the rest is padding
    np.testing.assert_allclose(boxes[0], np.array([50 / 300 * 38, 100 / 8, 250 / 300 * 38, 300 / 8]) / 112, atol=1e-6)
    ys, xs = np.nonzero(image[..., 0] > 200)  # the white rectangle is where its box says
    np.testing.assert_allclose([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1], boxes[0] * 112, atol=1.0)
    np.testing.assert_allclose(ds.extents(), [[38 / 112, 100 / 112]])
    flips = 0
    for batch in data.detection_dataset(ds, 4, 3, seed=2).take(3):  # mirrored within the image, never the padding
        np.testing.assert_allclose(batch["extents"].numpy(), [[38 / 112, 100 / 112]] * 4)
        for img, b in zip(batch["images"].numpy(), batch["boxes"].numpy()):
            assert not img[38:].any() and not img[:, 100:].any()
            ys, xs = np.nonzero(img[..., 0] > 200)
            np.testing.assert_allclose([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1], b[0] * 112, atol=1.0)
            flips += xs.min() > 50
    assert 0 < flips < 12


def test_no_anchor_in_the_padding_is_sampled_and_detections_stay_in_the_image():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny", min_side=40, max_side=96))
    extents = tf.constant([[0.5, 1.0], [1.0, 0.4]])
    gt = tf.constant([[[0.1, 0.1, 0.4, 0.5]], [[0.2, 0.05, 0.7, 0.35]]])
    valid = tf.constant([[True], [True]])
    positive, negative, _ = (t.numpy() for t in model.rpn_labels(gt, valid, extents))
    a = model.anchors.numpy()
    for i, (ey, ex) in enumerate(extents.numpy()):
        within = (a[:, 2] <= ey + 1e-6) & (a[:, 3] <= ex + 1e-6) & (a[:, :2] >= -1e-6).all(1)
        assert positive[i].any() and negative[i].any()
        assert not (positive[i] | negative[i])[~within].any()  # crossing the image's edge, or in the padding
    sampled = model.rpn_targets(gt, valid, tf.constant([[0, 1], [0, 2]], tf.int64), extents)
    assert not (sampled[0].numpy() | sampled[1].numpy())[:, ~((a[:, 2:] <= 1.0 + 1e-6).all(1))].any()
    images = tf.constant(np.random.default_rng(0).integers(0, 255, (2, 96, 96, 3)), tf.uint8)
    out = model.detect(images, extents)
    boxes = out["detection_boxes"].numpy()
    assert (boxes[..., [0, 2]] <= 0.5 + 1e-6)[0].all() and (boxes[..., [1, 3]] <= 0.4 + 1e-6)[1].all()


def test_export_of_a_detector_kept_in_its_aspect_answers_in_each_images_coordinates():
    model = faster_rcnn.FasterRCNN(faster_rcnn.get_config("tiny", min_side=48, max_side=96, score_threshold=0.0))
    endpoints = detection_training.serving_endpoints(model, data.SHAPES)
    image = np.random.default_rng(1).integers(0, 255, (1, 60, 160, 3)).astype(np.uint8)  # fitted: 36 x 96
    served = endpoints["serving_default"][0](tf.constant(image))
    extent = data.fit_image(image[0], 96, (48, 96))[1]
    assert extent == (36 / 96, 1.0)  # as the training data: 36 x 96 at the top left of the square
    canvas = tf.image.pad_to_bounding_box(tf.image.resize(tf.cast(image, tf.float32), (36, 96), antialias=True),
                                          0, 0, 96, 96)  # (the graph's resizer; OpenCV's INTER_AREA differs a little)
    direct = model.detect(tf.clip_by_value(canvas, 0, 255), tf.constant([extent], tf.float32))
    n = int(served["num_detections"][0])
    assert n > 0 and n == int(direct["num_detections"][0])
    # the same detections, divided by the extent: normalised by the 60 x 160 image
    np.testing.assert_allclose(served["detection_boxes"][0, :n], direct["detection_boxes"][0, :n].numpy()
                               / [36 / 96, 1, 36 / 96, 1], atol=1e-5)
    assert float(tf.reduce_max(served["detection_boxes"])) <= 1.0
    png = tf.io.encode_png(image[0])
    by_bytes = endpoints["image_bytes"][0](tf.stack([png]))
    np.testing.assert_allclose(by_bytes["detection_boxes_pixels"][0, :n], by_bytes["detection_boxes"][0, :n]
                               * [60, 160, 60, 160], rtol=1e-5)
