"""RRPN's pieces by hand (suite/ocr/rrpn.py): skew IoU against OpenCV, the 54 anchors, the rotated
box encoding, the anchor labels' angle rule, exact greedy rotated NMS, and rotated RoI pooling."""
import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from suite.ocr import geometry, rrpn  # noqa: E402


def _random_boxes(rng, n):
    return np.stack([rng.uniform(20, 80, n), rng.uniform(20, 80, n), rng.uniform(4, 60, n), rng.uniform(4, 60, n),
                     rng.uniform(-math.pi, math.pi, n)], 1).astype(np.float32)


def test_skew_iou_matches_opencv_on_random_pairs():
    import cv2

    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 500), _random_boxes(rng, 500)
    got = rrpn.skew_iou(tf.constant(a), tf.constant(b)).numpy()
    expected = []
    for x, y in zip(a, b):
        # OpenCV's angle is clockwise on the image, ours counter-clockwise
        rx, ry = (((v[0], v[1]), (v[2], v[3]), -math.degrees(v[4])) for v in (x, y))
        kind, region = cv2.rotatedRectangleIntersection(rx, ry)
        inter = 0.0 if kind == cv2.INTERSECT_NONE else cv2.contourArea(cv2.convexHull(region))
        expected.append(inter / (x[2] * x[3] + y[2] * y[3] - inter))
    expected = np.array(expected)
    assert 0.3 < (expected > 0).mean() < 0.9  # overlapping and disjoint pairs both tried
    assert np.abs(got - expected).max() < 1e-3  # OpenCV computes in float32
    # the degenerate cases clipping gets wrong first: a box and itself turned by pi, half of it, an edge shared
    turned = a + np.array([0, 0, 0, 0, math.pi], np.float32)
    assert np.allclose(rrpn.skew_iou(tf.constant(a), tf.constant(turned)).numpy(), 1.0, atol=1e-4)
    assert np.allclose(rrpn.skew_iou(tf.constant(a), rrpn.canonical(tf.constant(a))).numpy(), 1.0, atol=1e-4)
    half = a * np.array([1, 1, 0.5, 1, 1], np.float32)
    assert np.allclose(rrpn.skew_iou(tf.constant(a), tf.constant(half)).numpy(), 0.5, atol=1e-4)
    shifted = a.copy()
    shifted[:, 0] += a[:, 2] * np.cos(a[:, 4]) / 2
    shifted[:, 1] -= a[:, 2] * np.sin(a[:, 4]) / 2
    assert np.allclose(rrpn.skew_iou(tf.constant(a), tf.constant(shifted)).numpy(), 1 / 3, atol=1e-4)


def test_pairwise_iou_skips_far_pairs_and_agrees_with_the_direct_one():
    rng = np.random.default_rng(1)
    a, b = _random_boxes(rng, 40), _random_boxes(rng, 7)
    dense = rrpn.pairwise_iou(tf.constant(a[None]), tf.constant(b[None]), tf.constant([[True] * 6 + [False]]))[0]
    direct = rrpn.skew_iou(tf.constant(np.repeat(a, 7, 0)), tf.constant(np.tile(b, (40, 1)))).numpy().reshape(40, 7)
    assert np.allclose(dense[:, :6], direct[:, :6], atol=1e-6) and not dense[:, 6].numpy().any()



def test_compiled_skew_iou_agrees_with_the_plain_ops_at_every_bucket():
    """Training computes its skew IoUs with XLA, the pairs padded to a power-of-two bucket: the same IoUs
    below, at and above a bucket's size, and the same greedy NMS."""
    rng = np.random.default_rng(3)
    for n in (1, 1023, 1024, 1025, 3000):
        a, b = (tf.constant(_random_boxes(rng, n)) for _ in range(2))
        got = rrpn._compiled_skew_iou(a, b)
        assert got.shape == (n,)
        np.testing.assert_allclose(got.numpy(), rrpn.skew_iou(a, b).numpy(), atol=1e-5)
    boxes = tf.constant(np.stack([_random_boxes(rng, 60) for _ in range(2)]))
    valid = tf.ones([2, 60], tf.bool)
    assert np.array_equal(rrpn.rotated_nms(boxes, valid, 0.3, 20, compiled=True).numpy(),
                          rrpn.rotated_nms(boxes, valid, 0.3, 20).numpy())

def test_corners_boxes_and_quads_agree_with_the_geometry_module():
    rng = np.random.default_rng(2)
    boxes = rrpn.canonical(tf.constant(_random_boxes(rng, 50))).numpy()
    corners = rrpn.corners(tf.constant(boxes)).numpy()
    assert np.allclose(corners, [geometry.rotated_corners(b) for b in boxes], atol=1e-4)
    assert np.all(boxes[:, 2] >= boxes[:, 3]) and np.all((boxes[:, 4] >= -math.pi / 4) & (boxes[:, 4] < 3 * math.pi / 4))
    assert np.allclose(rrpn.from_quads(tf.constant(corners)).numpy(), boxes, atol=1e-3)
    # a word lifted 30 degrees at its right end, 40 x 10, as the scenes' quads give it
    word = geometry.rotated_corners((50, 50, 40, 10, math.radians(30)))
    assert np.allclose(rrpn.from_quads(tf.constant(word[None], tf.float32)).numpy(), [[50, 50, 40, 10, math.radians(30)]],
                       atol=1e-4)


def test_anchors_are_the_papers_54_a_position():
    c = rrpn.get_config("paper")
    assert c.num_anchors == 54 and c.anchor_sizes == (128, 256, 512) and c.anchor_ratios == (1 / 2, 1 / 5, 1 / 8)
    anchors = rrpn.anchors(c).numpy()
    assert anchors.shape == (c.map_size ** 2 * 54, 5)
    first = anchors[:54]
    assert np.allclose(first[:, :2], 8.0)  # the first position's centre, stride 16
    assert np.allclose(first[:, 2] * first[:, 3], np.repeat([128 ** 2, 256 ** 2, 512 ** 2], 18), rtol=1e-5)
    assert np.allclose(np.sort(np.unique(np.round(first[:, 3] / first[:, 2], 4))), [0.125, 0.2, 0.5])
    degrees = np.round(np.degrees(first[:6, 4])).tolist()
    assert degrees == [-30, 0, 30, 60, 90, 120]  # -pi/6 .. 2pi/3, all within [-pi/4, 3pi/4)


def test_encoding_round_trips_and_wraps_the_angle():
    rng = np.random.default_rng(3)
    anchors = rrpn.canonical(tf.constant(_random_boxes(rng, 100)))
    boxes = rrpn.canonical(tf.constant(_random_boxes(rng, 100)))
    deltas = rrpn.encode(boxes, anchors, rrpn.HEAD_STDS)
    assert np.all(np.abs(deltas.numpy()[:, 4] * 0.1) <= math.pi / 2 + 1e-6)
    back = rrpn.decode(deltas, anchors, rrpn.HEAD_STDS).numpy()
    assert np.allclose(rrpn.skew_iou(tf.constant(back), boxes).numpy(), 1.0, atol=1e-4)
    # an angle of 3pi/4 - 0.05 against -pi/4 + 0.05 differs by -0.1 mod pi, not pi - 0.1
    a = tf.constant([[10, 10, 20, 5, -math.pi / 4 + 0.05]], tf.float32)
    b = tf.constant([[10, 10, 20, 5, 3 * math.pi / 4 - 0.05]], tf.float32)
    assert np.isclose(rrpn.encode(b, a).numpy()[0, 4], -0.1, atol=1e-5)
    # boxes of no size (padding words, a proposal decoded to nothing): finite targets, finite gradients
    empty = tf.zeros([2, 5])
    assert np.all(np.isfinite(rrpn.encode(empty, empty).numpy()))
    deltas = tf.Variable(tf.zeros([2, 5]))
    with tf.GradientTape() as tape:
        from suite.detection import boxes as B

        loss = tf.reduce_sum(tf.where([[True], [False]], B.smooth_l1(deltas - rrpn.encode(empty, empty)), 0.0))
    assert np.all(np.isfinite(tape.gradient(loss, deltas).numpy()))


def test_anchor_labels_follow_the_iou_and_angle_rules():
    c = rrpn.get_config("tiny", anchor_sizes=(32,), anchor_ratios=(1 / 2,), anchor_angles=(0, 20, 90))
    model = rrpn.RRPN(c)
    a = model.anchors.numpy()
    # a word exactly on the anchor at position (3, 3), angle 0: IoU 1 with it; the 20-degree anchor there overlaps
    # it by more than 0.7 but its angle is off by more than 15 degrees: negative; the 90-degree one by 1/3
    centre = 3 * 16 + 8
    at = np.where(np.all(np.isclose(a[:, :2], centre), 1))[0]
    assert len(at) == 3
    word = a[at[0]]
    turned = rrpn.skew_iou(tf.constant(word[None]), tf.constant(a[at[1]][None])).numpy()[0]
    assert turned > 0.7
    words = tf.constant(np.stack([word, np.zeros(5, np.float32)])[None])
    care, dont = tf.constant([[True, False]]), tf.constant([[False, False]])
    seeds = tf.constant([[0, 1]], tf.int64)
    positive, negative, targets = model.rpn_targets(words, care, dont, seeds)
    positive, negative = positive.numpy()[0], negative.numpy()[0]
    assert positive[at[0]] and not negative[at[0]] and np.allclose(targets.numpy()[0, at[0]], 0, atol=1e-5)
    assert negative[at[1]] and not positive[at[1]]  # aligned by IoU, not by angle
    assert not positive[at[2]]
    assert positive.sum() >= 1 and positive.sum() + negative.sum() <= c.rpn_batch


def test_anchor_labels_skip_no_pair_that_could_change_them(monkeypatch):
    """The anchors' skew IoU is computed only for pairs whose areas allow an IoU above the negative
    threshold, or that are aligned (a word's best aligned anchor is positive whatever its IoU): the labels
    and targets are those of every pair computed."""
    from suite.data.text_scenes import embedded_scenes, padded_words

    model = rrpn.RRPN(rrpn.get_config("tiny"))
    ex = embedded_scenes(16, 128, seed=4, split="train").examples()
    quads, kinds = (tf.constant(np.stack(x)) for x in zip(*[padded_words(q, t, 4) for _, q, t in ex]))
    words, seeds = rrpn.from_quads(quads), tf.constant(np.stack([np.zeros(16), np.arange(16)], 1), tf.int64)
    pruned = [t.numpy() for t in model.rpn_targets(words, kinds == 1, kinds == -1, seeds)]
    every_pair = rrpn.pairwise_iou
    monkeypatch.setattr(rrpn, "pairwise_iou", lambda a, b, valid_b=None, **_: every_pair(a, b, valid_b))
    full = [t.numpy() for t in model.rpn_targets(words, kinds == 1, kinds == -1, seeds)]
    assert np.array_equal(pruned[0], full[0]) and np.array_equal(pruned[1], full[1]) and full[0].sum() >= 16
    np.testing.assert_allclose(pruned[2][full[0]], full[2][full[0]], atol=1e-6)


def test_rotated_nms_is_exact_greedy():
    box = [50, 50, 40, 10, 0.0]
    boxes = np.array([box,
                      [52, 50, 40, 10, 0.02],  # on the first: suppressed
                      [64, 50, 40, 10, 0.0],  # overlaps the second (0.59), not the first (0.48): kept
                      [50, 50, 40, 10, math.pi / 2],  # crossing the first at 1/7: kept
                      [10, 10, 8, 4, 0.3]],  # elsewhere, but not valid
                     np.float32)
    ious = rrpn.pairwise_iou(tf.constant(boxes[None]), tf.constant(boxes[None]))[0].numpy()
    assert ious[0, 1] > 0.5 and ious[1, 2] > 0.5 > ious[0, 2] and ious[0, 3] < 0.3
    valid = tf.constant([[True] * 4 + [False]])
    keep = rrpn.rotated_nms(tf.constant(boxes[None]), valid, 0.5, 10)
    assert keep.numpy().tolist() == [[True, False, True, True, False]]  # one suppression pass would drop the third
    assert rrpn.rotated_nms(tf.constant(boxes[None]), valid, 0.5, 2).numpy().tolist() == [[True, False, True, False,
                                                                                              False]]
    # a batch: each image its own boxes
    two = tf.constant(np.stack([boxes, boxes[::-1]]))
    keep = rrpn.rotated_nms(two, tf.constant([[True] * 5, [True] * 5]), 0.5, 10).numpy()
    assert keep[0].tolist() == [True, False, True, True, True] and keep[1].tolist() == [True, True, True, False, True]


def test_rotated_roi_pooling_lays_bins_along_the_box():
    # a feature map whose value is the distance along a 30-degree direction: pooled rows must rise left to right
    # and stay equal down each column, whichever way the box is turned
    size, theta = 64, math.radians(30)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    along = (xs - 32) * math.cos(theta) - (ys - 32) * math.sin(theta)  # y down: counter-clockwise on the image
    features = tf.constant(along[None, :, :, None])
    rois = tf.constant([[[32, 32, 40, 12, theta]]], tf.float32)
    pooled = rrpn.rotated_roi_pool(features, rois, 1, 7, 2).numpy()[0, 0, :, :, 0]
    assert np.all(np.diff(pooled, axis=1) > 4) and np.abs(np.diff(pooled, axis=0)).max() < 0.2
    # the first bin's samples lie at 0.5 / 14 and 1.5 / 14 of the box's length, the last bin's at 12.5 and 13.5
    assert np.isclose(pooled[0, 0], (1.5 / 14 - 0.5) * 40, atol=0.05) and np.isclose(pooled[0, -1], (13.5 / 14 - 0.5) * 40, atol=0.05)
    # turned by 90 degrees the rows are across the gradient: equal along each row
    turned = rrpn.rotated_roi_pool(features, tf.constant([[[32, 32, 40, 12, theta + math.pi / 2]]]), 1, 7, 2)
    assert np.abs(np.diff(turned.numpy()[0, 0, :, :, 0], axis=1)).max() < 0.2
    # nothing is read beyond the map: a box far outside pools zeros
    outside = rrpn.rotated_roi_pool(features, tf.constant([[[500, 500, 40, 12, 0.0]]]), 1, 7, 2)
    assert not outside.numpy().any()


def test_paper_network_and_a_tiny_train_step_and_detection():
    from test_ocr_detection import steps_on_one_batch

    paper = rrpn.RRPN(rrpn.get_config("paper", image_size=224))
    net, head = paper.net, paper.head
    assert net.output["logits"].shape[1:] == (14 * 14 * 54, 2) and net.output["deltas"].shape[1:] == (14 * 14 * 54, 5)
    assert net.get_layer("rpn_conv").filters == 512 and head.get_layer("fc6").units == 4096
    # VGG16's 14.7M convolution parameters, the RPN's 2.6M, fc6 / fc7 on 7 x 7 x 512 RoIs 119.6M
    assert abs(net.count_params() - 17.3e6) < 0.1e6 and abs(head.count_params() - 119.6e6) < 0.1e6
    model = rrpn.RRPN(rrpn.get_config("tiny"), seed=0)
    first, last, batch = steps_on_one_batch(model, "scenes")
    assert {"loss/rpn_objectness", "loss/rpn_box", "loss/head_class", "loss/head_box", "head/accuracy"} <= set(first)
    assert float(first["rpn/positives"]) >= 1 and float(last["loss"]) < float(first["loss"])
    polygons, scores, counts = model.detect(tf.cast(batch["images"], tf.float32))
    assert polygons.shape == (8, 16, 4, 2) and scores.shape == (8, 16) and counts.shape == (8,)
    s = scores.numpy()
    assert np.all(np.diff(s, axis=1) <= 0) and np.all((s[np.arange(16)[None] >= counts.numpy()[:, None]]) == 0)
