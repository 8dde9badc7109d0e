"""Scene-text detection (suite/ocr/pixellink.py, suite/ocr/detection.py, suite/data/text_scenes.py):
PixelLink's targets, loss and decoding by hand, its network, the embedded scenes, the ICDAR folder
reader and its bad input, and decoding perfect scores back into the embedded scenes' words."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import text_scenes as data
from suite.data.errors import DataError
from suite.data.files import BadFiles
from suite.ocr import geometry, pixellink as pl
from suite.ocr.metrics import Word, evaluate


def _rect(x0, y0, x1, y1):
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _targets(words, kinds, size=32, stride=4):
    quads = tf.constant([words], tf.float32)
    return {k: v[0].numpy() for k, v in pl.targets(quads, tf.constant([kinds], tf.int32), size, stride).items()}


# ------------------------------------------------------------------ targets

def steps_on_one_batch(model, kind, steps=5):
    """Compiles a tiny detector task and trains it ``steps`` steps on one batch of 8 embedded 128-pixel
    scenes of ``kind``: (the first step's logs, the last's, the batch)."""
    model.compile()
    batch = next(iter(data.scene_dataset(data.scene_set(kind, "train", 128, count=8), 8, 128)))
    step = tf.function(model.train_step)
    first = step(batch)
    for _ in range(steps - 1):
        last = step(batch)
    return first, last, batch

def test_targets_text_overlap_dont_care_weights_and_links_by_hand():
    # on an 8x8 map (stride 4): word 1 covers columns 0-3 of rows 1-2, word 2 columns 5-7 of row 5,
    # word 3 overlaps word 1 at column 3, a do-not-care region covers rows 6-7 of columns 0-1
    t = _targets([_rect(0, 4, 16, 12), _rect(20, 20, 32, 24), _rect(12, 0, 20, 4.5), _rect(0, 24, 8, 32),
                  [[0, 0]] * 4], [1, 1, 1, -1, 0])
    text = np.zeros((8, 8), bool)
    text[1:3, 0:4] = True
    text[5, 5:8] = True
    text[0, 3:5] = True  # word 3's own row (its centre row 0: y 2 < 4.5)
    assert (t["text"] == text).all()
    assert t["ignore"][6:8, 0:2].all() and t["ignore"].sum() == 4
    assert t["instance"][1, 0] == 1 and t["instance"][5, 6] == 2 and t["instance"][0, 4] == 3
    # instance-balanced: every word's pixels weigh the same in total (the text area over the words)
    totals = [t["weight"][t["instance"] == k].sum() for k in (1, 2, 3)]
    assert np.allclose(totals, text.sum() / 3) and (t["weight"][~text] == 0).all()
    # links: right of (1, 0) is (1, 1), same word; below (2, 0) is (3, 0), no text; above (1, 3) is (0, 3):
    # text of another word
    right, down, up = 4, 6, 1
    assert t["links"][1, 0, right] and not t["links"][2, 0, down] and not t["links"][1, 3, up]
    assert not t["links"][~text].any()


def test_overlapping_words_pixels_are_not_text():
    t = _targets([_rect(0, 0, 20, 8), _rect(12, 0, 32, 8)], [1, 1])
    assert t["text"][0:2, 0:3].all() and t["text"][0:2, 5:8].all() and not t["text"][0:2, 3:5].any()


def test_pixel_loss_mines_three_hard_negatives_per_text_pixel():
    t = _targets([_rect(0, 0, 8, 4)], [1])  # 2 text pixels on an 8x8 map
    logits = np.zeros((1, 8, 8, 2), np.float32)
    hard = [(3, 3, 4.0), (4, 4, 3.0), (5, 5, 2.0), (6, 6, 1.0)]  # non-text pixels predicted text
    for y, x, v in hard:
        logits[0, y, x, 1] = v
    targets = {k: tf.constant(v[None]) for k, v in t.items()}
    ce = lambda v: np.log1p(np.exp(v))  # noqa: E731: softplus, the cross-entropy of a logit gap v
    assert t["weight"][0, 0] == 1.0 and t["text"].sum() == 2
    # ratio 1: the two hardest negatives; ratio 3: six, the other two of the 58 equally easy ones
    for ratio, negatives in ((1, [4.0, 3.0]), (3, [4.0, 3.0, 2.0, 1.0, 0.0, 0.0])):
        loss, count = pl.pixel_loss(tf.constant(logits), targets, ratio)
        expected = (2 * np.log(2) + sum(ce(v) for v in negatives)) / (2 + len(negatives))
        assert count.numpy()[0] == 2 + len(negatives) and np.isclose(loss.numpy()[0], expected, rtol=1e-5)


# ------------------------------------------------------------------ decoding
def test_components_join_by_either_link_and_keep_lines_apart():
    scores = np.zeros((6, 8), np.float32)
    scores[1, 0:6] = scores[4, 0:6] = 1.0
    links = np.zeros((6, 8, 8), np.float32)
    links[1, 0:5, 4] = 1.0  # row 1: each pixel links to its right neighbour
    links[4, 0, 4] = 1.0  # 0-1 joined
    links[4, 3:6, 3] = 1.0  # row 4: pixels 3-5 link left, so 2-3 joins by 3's link alone; 1-2 is unlinked
    labels = pl.components(tf.constant(scores), tf.constant(links), 0.5, 0.5).numpy()
    assert len(set(labels[1, 0:6])) == 1 and labels[1, 0] == 8
    assert labels[4, 0] == labels[4, 1] != labels[4, 2] == labels[4, 5]
    assert labels[1, 0] != labels[4, 0] and (labels[0] == 48).all()


@pytest.mark.parametrize("angle", [0.0, 17.0, -30.0, 60.0])
def test_rectangles_recover_a_rotated_word_clockwise_from_its_top_left(angle):
    a = np.radians(angle)
    e1, e2 = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
    centre, half_l, half_h = np.array([64.0, 64.0]), 44.0, 12.0
    truth = np.array([centre - half_l * e1 - half_h * e2, centre + half_l * e1 - half_h * e2,
                      centre + half_l * e1 + half_h * e2, centre - half_l * e1 + half_h * e2], np.float32)
    text = pl.inside_quads(tf.constant(truth[None]), 128, 4)[0]
    labels = tf.where(text, 0, 32 * 32)
    corners, score, height, area = pl.rectangles(labels, tf.cast(text, tf.float32), 4)
    got = corners.numpy()[0]
    assert geometry.iou(got, truth) > 0.8, (got, truth)  # a 24-pixel-high word on a stride-4 map
    assert np.abs(got - truth).max() < 6.0  # the same corner first: the top left of the reading direction
    assert score.numpy()[0] == 1.0 and abs(height.numpy()[0] - 24) < 6


@pytest.mark.parametrize("kind", data.EMBEDDED)
def test_perfect_scores_decode_into_every_embedded_word(kind):
    c = pl.get_config("tiny")
    scenes = data.scene_set(kind, "validation", 128, seed=3, count=32)
    batch = next(iter(data.scene_dataset(scenes, 32, 128)))
    t = pl.targets(batch["quads"], batch["kinds"], 128, c.stride)
    polygons, scores, counts = pl.decode(tf.cast(t["text"], tf.float32), tf.cast(t["links"], tf.float32), c)
    truths = [[Word(q) for q, k in zip(qs, ks) if k == 1] for qs, ks in zip(batch["quads"].numpy(),
                                                                          batch["kinds"].numpy())]
    detected = [[Word(p) for p in ps[:n]] for ps, n in zip(polygons.numpy(), counts.numpy())]
    # all but a word of 2x2 map pixels or less (a digit 8 pixels wide), whose IoU the stride-4 grid bounds
    assert evaluate(truths, detected)["f"] > 0.97
    assert (polygons.numpy()[np.arange(c.max_words)[None] >= counts.numpy()[:, None]] == 0).all()


# ------------------------------------------------------------------ the network
def test_paper_network_is_vgg16_4s_with_fc6_fc7():
    c = pl.get_config("paper", image_size=256)
    net = pl.build_pixellink(c)
    assert net.output["pixel_logits"].shape[1:] == (64, 64, 2)
    assert net.output["link_logits"].shape[1:] == (64, 64, 8, 2)
    fc6 = net.get_layer("fc6")
    assert fc6.filters == 1024 and fc6.kernel_size == (3, 3) and fc6.dilation_rate == (6, 6)
    assert [n for n in ("pixel_score_conv3_3", "pixel_score_conv4_3", "pixel_score_conv5_3", "pixel_score_fc7")
            if net.get_layer(n)] and net.get_layer("vgg16").get_layer("pool5").strides == (1, 1)
    # VGG16's 14.7M convolution parameters, fc6/fc7's 5.8M, the 1x1 score layers'
    assert abs(net.count_params() - 20.5e6) < 0.2e6, net.count_params()
    two = pl.build_pixellink(pl.get_config("tiny", stride=2))
    assert two.output["pixel_logits"].shape[1:] == (64, 64, 2) and two.get_layer("pixel_score_conv2_2")


def test_one_train_step_lowers_the_loss():
    c = pl.get_config("tiny")
    first, last, _ = steps_on_one_batch(pl.PixelLink(c, seed=0), "scenes")
    assert set(first) >= {"loss/pixel", "loss/link_positive", "loss/link_negative", "pixel_accuracy"}
    assert float(last["loss"]) < float(first["loss"])


# ------------------------------------------------------------------ data
def test_embedded_scenes_are_deterministic_and_their_quads_lie_in_the_image():
    a = data.embedded_scenes(6, 96, seed=5, split="train").examples()
    b = data.embedded_scenes(6, 96, seed=5, split="train").examples()
    assert all((x[0] == y[0]).all() and (x[1] == y[1]).all() and x[2] == y[2] for x, y in zip(a, b))
    for image, quads, texts in a:
        assert image.shape == (96, 96, 3) and len(quads) == len(texts) >= 1 and all(texts)
        assert (quads >= 0).all() and (quads <= 96).all()
    for _, quads, _ in data.embedded_scenes(6, 96, seed=5, split="train", oriented=False).examples():
        assert np.allclose(quads[:, 0, 1], quads[:, 1, 1])  # level: the top edge horizontal
    other = data.embedded_scenes(1, 96, seed=5, split="validation").examples()
    assert not (other[0][0] == a[0][0]).all()


def _scene_folder(root, names, bom=True):
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (100, 60), (200, 200, 200)).save(root / f"{name}.jpg")
        text = "10,10,50,10,50,30,10,30,Hello, world\n200,10,240,10,240,30,200,30,far\n5,40,60,40,60,70,5,70,###\n"
        (root / f"gt_{name}.txt").write_bytes(("\ufeff" if bom else "").encode() + text.encode())


def test_icdar_folder_reads_quads_skips_words_outside_and_clips(tmp_path):
    _scene_folder(tmp_path / "train", ["img_1", "img_2"])
    _scene_folder(tmp_path / "test", ["img_3"], bom=False)
    train = data.scene_set(str(tmp_path), "train")
    image, quads, texts = train.load(0)
    assert image.shape == (60, 100, 3) and texts == ["Hello, world", "###"] and train.max_words == 2
    assert quads[1].tolist() == [[5, 40], [60, 40], [60, 60], [5, 60]]  # clipped to the image
    assert len(train.skipped) == 2 and "word 2 ('far') lies outside the 100x60 image" in train.report()
    held = data.scene_set(str(tmp_path), "validation")
    assert len(held) == 1 and held.items[0][0].endswith("img_3.jpg")
    batch = next(iter(data.scene_dataset(train, 2, 64)))
    assert batch["images"].shape == (2, 64, 64, 3) and batch["kinds"].numpy().tolist() == [[1, -1], [1, -1]]
    assert np.allclose(batch["quads"].numpy()[0, 0, 1], [50 * 0.64, 10 * 64 / 60])


def test_icdar_folder_bad_input_is_named(tmp_path):
    _scene_folder(tmp_path, [f"img_{k}" for k in range(3)])
    (tmp_path / "img_9.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(30))
    with pytest.raises(DataError, match=r"img_9.png: no ground-truth file gt_img_9.txt"):
        data.scene_set(str(tmp_path), "train")
    bad = BadFiles(skip=True)
    assert len(data.scene_set(str(tmp_path), "train", bad=bad)) == 3 and len(bad.skipped) == 1
    (tmp_path / "img_9.png").unlink()
    (tmp_path / "gt_img_1.txt").write_text("10,10,50,10,50,30,10,30,ok\n10 10 50\n")
    with pytest.raises(DataError, match=r"gt_img_1.txt:2: expected 4 corners"):
        data.scene_set(str(tmp_path), "train")
    with pytest.raises(DataError, match="no such folder"):
        data.scene_set(str(tmp_path / "nowhere"), "train")
    with pytest.raises(DataError, match="TFDS has no scene-text detection set"):
        data.scene_set("tfds:coco", "train")


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize("degrees", [0.0, 30.0, -70.0])
def test_a_rotated_word_is_cropped_back_upright(degrees):
    from PIL import Image

    from suite.data.ocr import embedded_words
    from suite.ocr.end_to_end import crop_word

    word, _ = embedded_words(1, seed=2).load(0)
    h, w = word.shape[:2]
    inverse, forward = data._affine(np.radians(degrees), (100.0, 100.0), (w / 2, h / 2))
    canvas = np.asarray(Image.fromarray(word).transform((200, 200), Image.AFFINE, inverse, Image.BILINEAR))
    quad = forward([[0, 0], [w, 0], [w, h], [0, h]]).astype(np.float32)
    crop = crop_word(tf.constant(canvas), tf.constant(quad)).numpy()
    assert crop.shape == (h, w, 3)
    inner = (slice(2, h - 2), slice(2, w - 2))  # the border pixels blend with the canvas around the word
    a, b = crop[inner].astype(float).ravel(), word[inner].astype(float).ravel()
    assert np.abs(a - b).mean() < 12 and np.corrcoef(a, b)[0, 1] > 0.9


# ------------------------------------------------------------------ CTPN
def test_ctpn_anchors_are_16_wide_with_heights_from_11_to_283():
    from suite.ocr import ctpn

    c = ctpn.get_config("paper")
    cx, cy, heights = (t.numpy() for t in ctpn.anchors(c))
    assert len(cx) == 38 and cx[0] == 8 and cx[1] - cx[0] == 16  # 608 / 16 positions, centred on each window
    assert heights.tolist() == [11, 16, 23, 33, 48, 68, 97, 139, 198, 283]
    assert np.allclose(heights[1:] / heights[:-1], 1 / 0.7, atol=0.06)  # each the one before / 0.7


def test_ctpn_vertical_targets_and_side_anchors_by_hand():
    from suite.ocr import ctpn

    c = ctpn.get_config("tiny")  # 128 pixels: an 8 x 8 map, centres at 8, 24, ..., 120
    # a word from x 20 to 70 (columns centred at 24, 40, 56), y 30 to 52 (22 high, centre 41)
    t = ctpn.targets(tf.constant([[_rect(20, 30, 70, 52)]], tf.float32), tf.constant([[1]]), c)
    label = t["label"][0].numpy()
    assert (label[:, [0, 4, 5, 6, 7]] != 1).all() and (label[:, 1:4] == 1).any(axis=(0, 2)).all()
    # in column 1, row 2 (centre y 40): the 23-pixel anchor covers 28.5..51.5, IoU 21.5 / 23.5 > 0.7
    assert label[2, 1, 2] == 1
    v_c, v_h = t["vertical"][0, 2, 1, 2].numpy()
    assert np.isclose(v_c, (41 - 40) / 23) and np.isclose(v_h, np.log(22 / 23))
    side, is_side = t["side"][0].numpy(), t["is_side"][0].numpy()
    assert is_side[2, 1, 2] and np.isclose(side[2, 1, 2], (20 - 24) / 16)  # the left side, 4 pixels left of 24
    assert is_side[2, 3, 2] and np.isclose(side[2, 3, 2], (70 - 56) / 16)  # the right side


def test_ctpn_text_lines_join_a_row_of_proposals_and_keep_two_lines_apart():
    from suite.ocr import ctpn

    c = ctpn.get_config("tiny", max_proposals=16, min_proposals=2)
    # line A: three proposals in consecutive columns at y 10..30; line B: two at y 60..80 in the same
    # columns; a lone proposal far right of A (three columns on: beyond max_gap 16)
    boxes = [[16, 10, 32, 30], [32, 11, 48, 30], [48, 10, 64, 31], [16, 60, 32, 80], [32, 60, 48, 80],
             [112, 10, 128, 30]]
    scores = [0.9, 0.8, 0.95, 0.9, 0.85, 0.99]
    sides = [14.0, 40.0, 66.0, 17.0, 47.0, 120.0]  # the ends' refined sides: A 14..66, B 17..47
    pad = 16 - len(boxes)
    polygons, line_scores, count = ctpn.text_lines(
        tf.constant(boxes + [[0, 0, 0, 0]] * pad, tf.float32), tf.constant(scores + [0] * pad, tf.float32),
        tf.constant(sides + [0] * pad, tf.float32), tf.range(16) < len(boxes), c)
    assert int(count) == 2  # the lone proposal is no line (min_proposals 2)
    got = sorted(p[[0, 2]].ravel().tolist() for p in polygons.numpy()[:2])  # x1 y1 x2 y2 of each line
    assert np.allclose(got, [[14, 31 / 3, 66, 91 / 3], [17, 60, 47, 80]]), got
    assert np.isclose(line_scores.numpy()[0], (0.9 + 0.8 + 0.95) / 3)


def test_ctpn_network_and_one_train_step():
    from suite.ocr import ctpn

    net = ctpn.build_ctpn(ctpn.get_config("paper", image_size=224))
    assert net.output["scores"].shape[1:] == (14, 14, 10, 2) and net.output["side"].shape[1:] == (14, 14, 10)
    assert net.get_layer("blstm").layer.forward_layer.units == 128 and net.get_layer("fc").units == 512
    assert net.get_layer("window").kernel_size == (3, 3) and net.get_layer("window").filters == 512
    first, last, _ = steps_on_one_batch(ctpn.CTPN(ctpn.get_config("tiny"), seed=0), "scenes-horizontal")
    assert {"loss/score", "loss/vertical", "loss/side", "anchor_accuracy"} <= set(first)
    assert float(last["loss"]) < float(first["loss"])
