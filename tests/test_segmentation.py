"""Segmentation's parts: backbones at an output stride, FCN's bilinear upsampling, ASPP, multi-scale
fusion, mIoU, the embedded scenes and the augmentation, the VOC and folder readers and their
refusals of bad files."""
import re

import numpy as np
import pytest
import tensorflow as tf

from suite.data import segmentation as D
from suite.data.errors import DataError
from suite.layers.segmentation import BilinearUpsampling
from suite.segmentation import backbones as bb
from suite.segmentation import metrics
from suite.segmentation import models as M


def _receptive_field(model, size=160):
    """The width of the input pixels the centre output feature of ``model`` depends on (weights made
    positive, so no ReLU hides a path), and the output's spatial size."""
    for v in model.weights:
        if "moving_variance" in v.path or "gamma" in v.path:
            v.assign(tf.ones_like(v))
        elif "moving_mean" in v.path or "beta" in v.path:
            v.assign(tf.zeros_like(v))
        else:
            v.assign(tf.abs(v) + 1e-3)
    x = tf.ones([1, size, size, 3]) * 200.0

    @tf.function  # eager depthwise-convolution gradients of TF 2.17 corrupt the heap (glibc aborts) on CPU
    def centre_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model(x, training=False)["out"]
            centre = out[0, tf.shape(out)[1] // 2, tf.shape(out)[2] // 2, 0]
        return tape.gradient(centre, x), tf.shape(out)[1]

    grad, side = centre_gradient(x)
    touched = np.nonzero(tf.reduce_sum(tf.abs(grad[0]), [0, 2]).numpy() > 0)[0]
    return touched[-1] - touched[0] + 1, int(side)


@pytest.mark.parametrize("build", [
    lambda os_: bb.resnet(None, os_, (1, 1, 1, 1), 8, (1, 1, 1)),
    lambda os_: bb.xception(None, os_, 4, 1),
    lambda os_: bb.vgg(None, os_, ((8, 1), (8, 1), (8, 1), (8, 1), (8, 1)), pool=3)], ids=["resnet", "xception", "vgg"])
def test_dilation_keeps_the_stride_and_the_receptive_field(build):
    fields = {}
    for os_ in (32, 16, 8):
        field, side = _receptive_field(build(os_))
        assert side == 160 // os_  # the map at the output stride
        fields[os_] = field
    # DeepLab's rule: every skipped stride becomes a rate, so the centre feature sees as far as at 32
    # (within one stride of alignment)
    assert abs(fields[16] - fields[32]) <= 32 and abs(fields[8] - fields[32]) <= 32, fields
    assert fields[8] > 40, fields


def test_resnet_multi_grid_rates_follow_the_output_stride():
    for os_, rates in ((16, [2, 4, 8]), (8, [4, 8, 16])):
        net = bb.resnet(None, os_, (1, 1, 1, 3), 8, (1, 2, 4))
        got = [net.get_layer(f"conv5_block{u}_2_conv").dilation_rate[0] for u in (1, 2, 3)]
        assert got == rates, (os_, got)


def test_bilinear_transposed_convolution_is_bilinear_upsampling():
    x = tf.random.stateless_uniform([1, 8, 8, 3], [1, 2])
    for factor in (2, 8, 32):
        layer = tf.keras.layers.Conv2DTranspose(3, 2 * factor, factor, padding="same", use_bias=False,
                                                kernel_initializer=BilinearUpsampling(factor))
        up = layer(x).numpy()[0]
        ref = tf.image.resize(x, [8 * factor, 8 * factor], method="bilinear").numpy()[0]
        inner = slice(factor, 7 * factor)  # the resize clamps at the border, the transposed convolution pads zeros
        np.testing.assert_allclose(up[inner, inner], ref[inner, inner], atol=1e-5)


def test_aspp_branches_and_image_pooling_at_each_output_stride():
    for os_, rates in ((16, (6, 12, 18)), (8, (12, 24, 36))):
        c = M.get_config("tiny", "deeplab_v3", aspp_rates=(6, 12, 18), output_stride=os_)
        net = M.build_network(c)
        head = net.get_layer("deeplab")
        assert [head.get_layer(f"aspp_rate{r}").dilation_rate[0] for r in rates] == list(rates)
        assert head.get_layer("aspp_1x1").kernel_size == (1, 1)
        pooled = head.get_layer("image_pool").output
        assert pooled.shape[1:3] == (1, 1)  # image-level features, upsampled to the map
        assert net(tf.zeros([2, 64, 96, 3])).shape == (2, 64, 96, 6)


def test_v2_fuses_its_scales_by_the_pixelwise_maximum():
    c = M.get_config("tiny", "deeplab_v2", scales=(0.5, 0.75, 1.0))
    net = M.build_network(c)
    assert c.rates == (1, 2, 3, 4)
    x = tf.random.stateless_uniform([1, 64, 64, 3], [3, 4], maxval=255.0)
    head = net.get_layer("deeplab")
    full = head(x)
    per_scale = [tf.image.resize(head(tf.image.resize(x, [s, s])), full.shape[1:3]) for s in (32, 48)] + [full]
    fused = tf.image.resize(tf.reduce_max(tf.stack(per_scale), 0), [64, 64])  # then to the input's size
    np.testing.assert_allclose(net(x).numpy(), fused.numpy(), atol=1e-4)


def test_v2_trains_on_the_fused_loss_and_each_scales_own():
    c = M.get_config("tiny", "deeplab_v2", scales=(0.5, 1.0))
    task = M.Segmenter(c)
    task.compile()
    batch = {"images": tf.cast(tf.random.stateless_uniform([2, 64, 64, 3], [1, 2], maxval=255.0), tf.uint8),
             "labels": tf.cast(tf.random.stateless_uniform([2, 64, 64], [3, 4], maxval=6, dtype=tf.int32), tf.uint8)}
    logs = task.train_step(batch)
    assert {"cross_entropy", "cross_entropy/scale_0.5", "cross_entropy/scale_1"} <= set(logs)
    terms = [float(logs[k]) for k in ("cross_entropy", "cross_entropy/scale_0.5", "cross_entropy/scale_1")]
    assert float(logs["loss"]) == pytest.approx(sum(terms), rel=1e-5) and all(t > 0 for t in terms)
    assert task.scales_net.weights[0] is task.net.weights[0]  # one network, two views of it
    one_scale = M.Segmenter(M.get_config("tiny", "deeplab_v3"))
    assert one_scale.scales_net is one_scale.net


def test_paper_presets_decay_deeplabs_rate_by_poly():
    assert M.get_config("paper", "deeplab_v3plus").schedule == "poly"  # (1 - step / total) ** 0.9
    assert M.get_config("paper", "fcn8s").schedule == "constant"  # FCN's fixed rate
    from suite.training.optimizers import OptimizerSpec

    spec = OptimizerSpec.from_config(M.get_config("paper", "deeplab_v1"))  # what the Segmenter builds
    assert (spec.name, spec.schedule, spec.power) == ("sgd", "poly", 0.9)


def test_weights_move_to_another_output_stride():
    c = M.get_config("tiny", "deeplab_v3plus", "resnet50")
    net = M.build_network(c)
    other = M.network_at(net, c, 8)
    x = tf.random.stateless_uniform([1, 64, 64, 3], [5, 6], maxval=255.0)
    assert other(x).shape == net(x).shape
    for a, b in zip(net.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert M.network_at(net, c, 16) is net


@pytest.mark.parametrize("model, millions", [("fcn8s", 134.5), ("deeplab_v1", 20.5)])
def test_paper_networks_have_the_papers_parameter_counts(model, millions):
    """Long et al.'s FCN-8s: 134M (table 1); Chen et al.'s DeepLab-LargeFOV: 20.5M (table 2)."""
    net = M.build_network(M.get_config("paper", model))
    assert abs(net.count_params() / 1e6 - millions) < 0.1 * millions / 20, net.count_params()


def test_configs_refuse_what_the_papers_do_not_build():
    with pytest.raises(ValueError, match="output stride 32"):
        M.get_config("tiny", "fcn8s", output_stride=16)
    with pytest.raises(ValueError, match="built on vgg16"):
        M.get_config("tiny", "fcn8s", "resnet50")


def test_miou_on_hand_made_label_maps_ignores_255():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 255], [2, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0], [2, 2, 0, 1]])
    cm = metrics.confusion_matrix(truth, pred, 3)
    assert cm.sum() == 10  # the two 255 pixels count nowhere
    s = metrics.scores(cm, ["bg", "a", "b"])
    # bg: tp 3, fp 1 (b->bg), fn 1 (bg->a): 3/5; a: tp 3, fp 1, fn 0: 3/4; b: tp 2, fn 1: 2/3
    assert s["IoU"] == pytest.approx({"bg": 3 / 5, "a": 3 / 4, "b": 2 / 3})
    assert s["mIoU"] == pytest.approx((3 / 5 + 3 / 4 + 2 / 3) / 3)
    assert s["pixel_accuracy"] == pytest.approx(8 / 10)
    import keras  # the same as Keras' MeanIoU with its ignored class

    k = keras.metrics.MeanIoU(3, ignore_class=255)
    k.update_state(truth.reshape(-1), pred.reshape(-1))
    assert float(k.result()) == pytest.approx(s["mIoU"])
    absent = metrics.scores(metrics.confusion_matrix([0, 0], [0, 0], 3))  # classes nowhere: left out
    assert absent["mIoU"] == 1.0 and list(absent["IoU"]) == ["0"]


def test_embedded_scenes_label_their_shapes_and_keep_the_detection_scenes():
    from suite.data.detection import render_scene

    a = D.embedded_set(3, 64, seed=1).load(2)
    b = D.embedded_set(3, 64, seed=1).load(2)
    np.testing.assert_array_equal(a[0], b[0]), np.testing.assert_array_equal(a[1], b[1])
    image, boxes, classes = render_scene(np.random.default_rng([1, 0, 2]), 64, min_side=0.25, max_side=0.6)
    np.testing.assert_array_equal(image, a[0])  # drawing labels does not change the scene
    labels = a[1]
    assert set(np.unique(labels)) <= {0, *(classes + 1)} and (labels > 0).any()
    for box, cls in zip(boxes, classes):  # the last-drawn shape's pixels lie within its box
        y0, x0, y1, x1 = (box * 64).round().astype(int)
        outside = labels.copy()
        outside[max(y0 - 1, 0):y1 + 1, max(x0 - 1, 0):x1 + 1] = 0
        if cls == classes[-1] and (classes == cls).sum() == 1:
            assert not (outside == cls + 1).any()


def test_augmentation_moves_mask_and_pixels_together_and_resumes():
    codes = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)

    def render(i):  # each pixel's colour names its class
        rng = np.random.default_rng(i)
        labels = np.repeat(np.repeat(rng.integers(0, 3, (8, 8)), 8, 0), 8, 1).astype(np.uint8)
        return codes[labels], labels

    dataset = D.SegmentationSet(("a", "b", "c"), 20, render=render)
    batches = D.segmentation_dataset(dataset, 4, 48, seed=3)
    seen_ignore = False
    for batch in batches.take(5):
        images, labels = batch["images"].numpy(), batch["labels"].numpy()
        valid = labels != 255
        seen_ignore |= not valid.all()
        decoded = np.argmin(np.abs(images[..., None, :].astype(int) - codes.astype(int)).sum(-1), -1)
        assert (decoded[valid] == labels[valid]).mean() > 0.95  # bilinear pixels vs nearest labels at edges
    assert seen_ignore  # scaled below the crop: padded with the ignore label
    third = next(iter(D.segmentation_dataset(dataset, 4, 48, seed=3, start=2)))
    again = list(batches.take(3))[2]
    np.testing.assert_array_equal(third["images"].numpy(), again["images"].numpy())
    np.testing.assert_array_equal(third["labels"].numpy(), again["labels"].numpy())


# ------------------------------------------------------------------ readers
def _write_voc(root, items, lists=("train", "val")):
    """A VOC 2012 tree: items = [(id, image size (h, w), mask array or None)]."""
    from PIL import Image

    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True, exist_ok=True)
    palette = D.voc_palette().reshape(-1).tolist()
    for image_id, (h, w), mask in items:
        Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(root / "JPEGImages" / f"{image_id}.jpg")
        if mask is not None:
            m = Image.fromarray(mask.astype(np.uint8), "P")
            m.putpalette(palette)
            m.save(root / "SegmentationClass" / f"{image_id}.png")
    for name in lists:
        (root / "ImageSets" / "Segmentation" / f"{name}.txt").write_text("".join(f"{i}\n" for i, _, _ in items))


def _mask(h, w, cls=15):
    m = np.zeros((h, w), np.uint8)
    m[4:12, 4:12] = cls
    m[3, 3:13] = 255  # a border
    return m


def test_voc_reader_reads_palette_indices_and_borders(tmp_path):
    _write_voc(tmp_path, [("a", (16, 20), _mask(16, 20)), ("b", (24, 16), _mask(24, 16, 3))])
    s = D.segmentation_set(str(tmp_path), "train")
    assert s.class_names == D.VOC_CLASSES and len(s) == 2
    image, labels = s.load(0)
    assert image.shape == (16, 20, 3) and labels.shape == (16, 20)
    assert set(np.unique(labels)) == {0, 15, 255}  # indices, not palette colours
    batch = next(iter(D.segmentation_dataset(s, 2, 32, seed=0)))
    assert batch["images"].shape == (2, 32, 32, 3) and set(np.unique(batch["labels"])) <= {0, 3, 15, 255}


@pytest.mark.parametrize("case, message", [
    ("size", "mask is 20x12, its image"),
    ("class", "class indices [40] beyond the 21 classes"),
    ("no mask", "no mask"),
    ("no list", "no "),
])
def test_voc_bad_files_are_named(tmp_path, case, message):
    if case == "size":
        _write_voc(tmp_path, [("a", (16, 20), _mask(12, 20))])
    elif case == "class":
        _write_voc(tmp_path, [("a", (16, 20), _mask(16, 20, 40))])
    elif case == "no mask":
        _write_voc(tmp_path, [("a", (16, 20), None)])
    else:
        _write_voc(tmp_path, [("a", (16, 20), _mask(16, 20))], lists=("val",))
    with pytest.raises(DataError, match=re.escape(message)) as e:
        D.segmentation_set(str(tmp_path), "train")
    assert ("a.png" in str(e.value) or "a.jpg" in str(e.value)) if case != "no list" else "train.txt" in str(e.value)


def test_folder_reader_holds_out_a_tenth_and_reads_class_names(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for k in range(20):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / f"{k:02d}.png")
        Image.fromarray(np.full((8, 8), k % 3, np.uint8), "L").save(tmp_path / "masks" / f"{k:02d}.png")
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\n")
    train, val = D.segmentation_set(str(tmp_path), "train"), D.segmentation_set(str(tmp_path), "validation")
    assert (len(train), len(val)) == (18, 2) and train.class_names == ("sky", "road", "car")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "masks" / "00.png")  # colours, not classes
    with pytest.raises(DataError, match="00.png: a mask must be a palette or greyscale PNG"):
        D.segmentation_set(str(tmp_path), "train")


# ------------------------------------------------------------------ the fully connected CRF
def _toy(seed=0, size=32):
    """Three flat-coloured regions and a unary right at 70% of the pixels (0.6 on a random class elsewhere)."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((size, size), int)
    truth[:, 12:] = 1
    truth[8:20, 20:28] = 2
    image = np.array([[40, 40, 40], [200, 60, 60], [60, 200, 60]], float)[truth] + rng.normal(0, 2, (size, size, 3))
    noisy = np.where(rng.random((size, size)) < 0.3, rng.integers(0, 3, (size, size)), truth)
    p = np.full((size, size, 3), 0.2)
    p[np.arange(size)[:, None], np.arange(size), noisy] = 0.6
    return tf.constant(p, tf.float32), tf.constant(image, tf.float32), truth


def test_crf_moves_labels_to_the_colour_edges_and_lowers_its_energy():
    from suite.segmentation import crf

    p, image, truth = _toy()
    before = (p.numpy().argmax(-1) == truth).mean()
    q, energies = crf.mean_field(p, image, crf.CRFParams(), downsample=1)
    after = (q.numpy().argmax(-1) == truth).mean()
    assert before < 0.85 and after > 0.98, (before, after)
    e = energies.numpy()
    assert len(e) == 11 and np.all(np.diff(e) <= 1e-4 * np.abs(e[:-1])), e  # mean field: KL(Q||P) falls


def test_fast_crf_agrees_with_the_exact_one_on_small_images():
    """The block approximation (d x d blocks as the appearance kernel's keys) against every pair: the
    messages within 5% at d = 2 on an embedded scene (theta_beta 10: above its camera noise, which a
    block's mean colour averages away), and the refined labels the same; the separable smoothness blur
    equals the exact pairwise sum."""
    from suite.segmentation import crf

    image, labels = D.embedded_set(1, 48, seed=3).load(0)
    image = tf.constant(image, tf.float32)
    q = tf.nn.softmax(tf.random.stateless_normal([48, 48, 6], [1, 1]))
    exact = crf.appearance_messages(image, q, 67.0, 10.0, 1).numpy()
    fast = crf.appearance_messages(image, q, 67.0, 10.0, 2).numpy()
    assert np.abs(fast - exact).sum() / np.abs(exact).sum() < 0.05
    np.testing.assert_allclose(crf.smoothness_messages(q, 1.0).numpy(), crf.smoothness_messages(q, 1.0, exact=True),
                               atol=5e-5)  # the blur stops at 4 sigma: exp(-8) of a neighbour's share
    p = tf.nn.softmax(tf.constant(np.eye(6)[labels] * 2.0, tf.float32) + tf.random.stateless_normal([48, 48, 6], [2, 2]))
    params = crf.CRFParams(theta_beta=10.0)
    q_exact, _ = crf.mean_field(p, image, params, downsample=1, exact_smoothness=True)
    q_fast, _ = crf.mean_field(p, image, params, downsample=2)
    assert (q_exact.numpy().argmax(-1) == q_fast.numpy().argmax(-1)).mean() > 0.99
    assert crf.auto_downsample(64, 64) == 1 and crf.auto_downsample(513, 513) == 9


def test_crf_settings_are_parsed_or_refused_by_name():
    from suite.segmentation.crf import CRFParams

    assert CRFParams.parse(["theta_beta=5", "iterations=3"]) == CRFParams(theta_beta=5.0, iterations=3)
    for bad, message in ((["theta=1"], "unknown setting 'theta'"), (["iterations=x"], "'x' is not a number"),
                         (["w_appearance=0"], "must be > 0")):
        with pytest.raises(ValueError, match=message):
            CRFParams.parse(bad)


def test_cityscapes_reader_maps_label_ids_to_the_19_train_ids(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        (tmp_path / "leftImg8bit" / split / "aachen").mkdir(parents=True)
        (tmp_path / "gtFine" / split / "aachen").mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
            tmp_path / "leftImg8bit" / split / "aachen" / "aachen_000000_000019_leftImg8bit.png")
        ids = np.array([[0, 7, 8, 26, 33, 1, 9, 24]] * 8, np.uint8)  # unlabeled, road, sidewalk, car, bicycle, ...
        Image.fromarray(ids, "L").save(tmp_path / "gtFine" / split / "aachen" / "aachen_000000_000019_gtFine_labelIds.png")
    s = D.segmentation_set(str(tmp_path), "validation")
    assert len(s.class_names) == 19 and s.class_names[0] == "road" and s.class_names[18] == "bicycle"
    _, labels = s.load(0)
    assert labels[0].tolist() == [255, 0, 1, 13, 18, 255, 255, 11]  # ego vehicle, parking: ignored; person 11
    batch = next(iter(D.segmentation_dataset(s, 1, 16, seed=0)))
    assert set(np.unique(batch["labels"])) <= {0, 1, 11, 13, 18, 255}
