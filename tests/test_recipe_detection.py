"""recipes.faster_rcnn and recipes.yolo end to end: one tiny run each (killed with SIGKILL after its
first epoch and resumed) feeds the learning, export, serving and TensorBoard checks; runs refuse bad
data and other settings before writing anything."""

import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, refused_on_a_copy, replay_warmup,
                      serve_cases, serve_random_uint8, tensorboard_tags, tensorflow_only)
from runs import RUNS
from test_detection import _write_coco, _write_voc

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--num-images", "--eval-images",
        "--learning-rate", "--sync-batch-norm")
DETECTORS = ["faster_rcnn", "yolo"]  # tiny runs (tests/runs.py): two epochs, killed after the first


@pytest.mark.parametrize("recipe, extra", [("faster_rcnn", ("--backbone", "--backbone-weights", "--pool")),
                                           ("fast_rcnn", ("--proposals", "--selective-search", "--max-proposals")),
                                           ("yolo", ("--augment", "--no-augment"))])
def test_help_documents_every_flag(python, recipe, extra):
    out = python(["-m", f"recipes.{recipe}", "--help"]).stdout
    for flag in CORE + extra:
        assert flag in out, flag


def _check_detections(out, n, max_detections=100):
    assert len(out["detection_boxes"]) == n and len(out["detection_boxes"][0]) == max_detections
    assert len(out["detection_boxes"][0][0]) == 4
    assert len(out["detection_scores"][0]) == len(out["detection_classes"][0]) == max_detections
    assert len(out["num_detections"]) == n and all(0 <= d <= max_detections for d in out["num_detections"])
    for i in range(n):
        k = int(out["num_detections"][i])
        assert all(1 <= c <= 5 for c in out["detection_classes"][i][:k])  # 1-based, as the OD API
        assert all(0.0 <= v <= 1.0 for box in out["detection_boxes"][i][:k] for v in box)
        assert set(out["detection_class_names"][i][:k]) <= {"ellipse", "rectangle", "triangle", "cross", "ring"}


@pytest.fixture(scope="module", params=[pytest.param(d, marks=pytest.mark.trained(d)) for d in DETECTORS],
                ids=DETECTORS)
def tiny(request, trained):
    return request.param, trained.get(request.param)


@pytest.mark.slow
def test_tiny_run_learns_the_embedded_scenes_and_resumed_after_kill(tiny):
    recipe, run = tiny
    r = run.result
    assert run.resumed_at == RUNS[recipe][1] and r["step"] == 2 * RUNS[recipe][1]
    assert r["initial"]["mAP50"] < 0.05
    assert learned(r["initial"]["mAP50"], r["eval"]["mAP50"], readme_figure(recipe, "mAP@0.5")) >= 0.5
    assert learned(r["initial"]["mAP_coco"], r["eval"]["mAP_coco"], readme_figure(recipe, "COCO mAP")) >= 0.5
    losses = loss_curve(run.logdir)  # from step 1 (untrained) across the kill
    assert losses[0][0] == 1 and losses[-1][1] < 0.7 * losses[0][1], losses


@pytest.mark.slow
def test_export_detects_in_images_of_any_size(tiny):
    _, run = tiny
    for size in ((2, 96, 96, 3), (1, 120, 80, 3)):  # resized in the graph
        _check_detections(serve_random_uint8(run.export, {"images": list(size)}, run.export_dir), size[0])
    none, bytes_none, not_image = serve_cases(
        run.export, [("serving_default", {"images": "tf.zeros([0, 96, 96, 3], tf.uint8)"}),
                     ("image_bytes", {"image_bytes": "tf.zeros([0], tf.string)"}),
                     ("image_bytes", {"image_bytes": "tf.constant([b'GIF89a', b'<html>'])"})], run.export_dir)
    # a batch of none: empty outputs of the right shapes; a string that is no image: named
    assert none["detection_boxes"][0] == 0 and none["detection_boxes"][2] == 4 and none["num_detections"] == [0]
    assert bytes_none["detection_boxes_pixels"][0] == 0
    assert "image_bytes element 1 is not a JPEG, PNG, GIF or BMP image" in not_image["error"]
    warm = replay_warmup(run.export, run.export_dir)  # TF Serving's warm-up requests, each answered
    assert sorted(warm) == ["image_bytes", "serving_default"]
    assert warm["image_bytes"]["detection_boxes_pixels"][0] == 1


@pytest.mark.slow
def test_export_detects_in_encoded_images_of_three_sizes_in_one_batch(tiny, tmp_path):
    """What a client holds: JPEG and PNG files, grey, RGB and RGBA, each of its own size."""
    import io

    from PIL import Image

    from suite.data.detection import render_scene

    _, run = tiny
    paths = []
    for i, (mode, fmt, (w, h)) in enumerate((("RGB", "JPEG", (96, 96)), ("L", "PNG", (160, 120)),
                                             ("RGBA", "PNG", (64, 100)))):
        scene = render_scene(np.random.default_rng(i), 96)[0]
        buffer = io.BytesIO()
        Image.fromarray(scene).resize((w, h)).convert(mode).save(buffer, fmt)
        paths.append(str(tmp_path / f"{i}.{fmt.lower()}"))
        with open(paths[-1], "wb") as f:
            f.write(buffer.getvalue())
    out = tensorflow_only(
        f"data = tf.constant([open(p, 'rb').read() for p in {paths!r}])\n"
        f"res = tf.saved_model.load({run.export!r}).signatures['image_bytes'](image_bytes=data)\n"
        "out = {k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist() for k, v in res.items()}\n",
        tmp_path)
    _check_detections(out, 3)
    assert sum(out["num_detections"]) > 0
    for i, (h, w) in enumerate(((96, 96), (120, 160), (100, 64))):  # boxes in each image's own pixels
        k = int(out["num_detections"][i])
        np.testing.assert_allclose(np.array(out["detection_boxes_pixels"][i][:k]).reshape(-1, 4),  # k may be 0
                                   np.array(out["detection_boxes"][i][:k]).reshape(-1, 4) * [h, w, h, w], rtol=1e-5)


@pytest.mark.slow
def test_tensorboard_has_the_promised_views(tiny):
    recipe, run = tiny
    tags, hparams = tensorboard_tags(run.logdir)
    terms = ({"loss/rpn_objectness", "loss/rpn_box", "loss/head_class", "loss/head_box"} if recipe == "faster_rcnn"
             else {"loss/coordinates", "loss/object", "loss/no_object", "loss/class"})
    assert {"loss", "eval/mAP50", "eval/mAP50_voc07", "eval/mAP_coco", "learning_rate/optimizer"} | terms \
        <= tags["scalars"]
    assert "eval/boxes (green: truth, red: detected)" in tags["images"]
    shapes = ("ellipse", "rectangle", "triangle", "cross", "ring")
    assert tags["pr_curves"] == {f"eval/pr_curve/{c}/pr_curves" for c in shapes}  # every class is held out
    assert {f"eval/AP50/{c}" for c in shapes} <= tags["scalars"]
    assert hparams["recipe"] == recipe and hparams["num_classes"] == 5


@pytest.mark.slow
@pytest.mark.trained("faster_rcnn")
def test_another_setting_cannot_resume(trained, tmp_path):
    refused_on_a_copy(trained.get("faster_rcnn"), [*RUNS["faster_rcnn"][0], "--pool", "align", "--epochs", "3"],
                      "pool='max' (now 'align')", tmp_path)


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    voc = tmp_path / "VOC2007"
    _write_voc(str(voc), [("dog", 0, (1, 1, 45, 15))])  # outside the 40-pixel-wide image
    assert_refused_cleanly(["-m", "recipes.yolo", "--preset", "tiny", "--data", str(voc)],
                           "000001.xml: object 0 ('dog') box", tmp_path)
    coco = tmp_path / "coco"
    _write_coco(str(coco), ["a.jpg", "gone.jpg"], [], write=["a.jpg"])
    assert_refused_cleanly(["-m", "recipes.faster_rcnn", "--preset", "tiny", "--data", str(coco)],
                           "instances_train2017.json: image gone.jpg", tmp_path)
    assert_refused_cleanly(["-m", "recipes.faster_rcnn", "--preset", "tiny", "--data", str(tmp_path / "nowhere")],
                           "no such folder", tmp_path)


# ------------------------------------------------------------------ Fast R-CNN on given proposals
@pytest.mark.slow
@pytest.mark.trained("fast_rcnn")
def test_fast_rcnn_learns_from_selective_search_proposals_and_resumed_after_kill(trained):
    run = trained.get("fast_rcnn")
    r = run.result
    assert run.resumed_at == RUNS["fast_rcnn"][1] and r["step"] == 2 * RUNS["fast_rcnn"][1]
    assert r["initial"]["mAP50"] < 0.15  # the untrained head on good proposals: 0.07
    assert learned(r["initial"]["mAP50"], r["eval"]["mAP50"], readme_figure("fast_rcnn", "mAP@0.5")) >= 0.5
    losses = loss_curve(run.logdir)
    assert losses[0][0] == 1 and losses[-1][1] < 0.5 * losses[0][1], losses
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss/head_class", "loss/head_box", "eval/mAP50", "eval/mAP_coco"} <= tags["scalars"]
    assert not {t for t in tags["scalars"] if t.startswith("loss/rpn")}  # no RPN: the proposals are given
    assert "eval/boxes (green: truth, red: detected)" in tags["images"] and len(tags["pr_curves"]) == 5
    assert hparams["proposals"] == "selective search (single)"


@pytest.mark.slow
@pytest.mark.trained("fast_rcnn")
def test_fast_rcnn_export_detects_from_images_and_their_proposals(trained, tmp_path):
    """What a client holds: encoded images of their own sizes and each one's proposals in its pixels
    (from its own selective search), or uint8 images and normalised proposals."""
    import io

    from PIL import Image

    from suite.data.detection import render_scene
    from suite.detection.boxes import iou_numpy
    from suite.detection.proposals import selective_search

    run = trained.get("fast_rcnn")
    files, pixels, truths, sizes = [], [], [], ((96, 96), (120, 160), (96, 96), (150, 100), (80, 200), (96, 96))
    for i, (h, w) in enumerate(sizes):
        scene, boxes, _ = render_scene(np.random.default_rng([77, i]), 96)
        image = np.asarray(Image.fromarray(scene).resize((w, h)))
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        files.append(str(tmp_path / f"{i}.png"))
        with open(files[-1], "wb") as f:
            f.write(buffer.getvalue())
        given = selective_search(image, "single")[:40]
        rows = np.zeros((40, 4), np.float32)  # padded to one length: rows without area are no proposal
        rows[:len(given)] = given[:, [1, 0, 3, 2]] * [w, h, w, h]
        pixels.append(rows.tolist())
        truths.append(boxes)
    out = tensorflow_only(
        f"m = tf.saved_model.load({run.export!r})\n"
        f"data = tf.constant([open(p, 'rb').read() for p in {files!r}])\n"
        f"res = m.signatures['image_bytes'](image_bytes=data, proposals_pixels=tf.constant({pixels!r}))\n"
        "out = {k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist() for k, v in res.items()}\n",
        tmp_path)
    _check_detections(out, len(sizes))
    hits = []
    for i, (h, w) in enumerate(sizes):  # the objects found where they are, in each image's own coordinates
        k = int(out["num_detections"][i])
        scores = np.array(out["detection_scores"][i][:k])
        found = np.array(out["detection_boxes"][i][:k]).reshape(-1, 4)[scores >= 0.3]
        hits += [bool(len(found)) and iou_numpy(b, found).max() >= 0.5 for b in truths[i]]
        np.testing.assert_allclose(np.array(out["detection_boxes_pixels"][i][:k]).reshape(-1, 4),
                                   np.array(out["detection_boxes"][i][:k]).reshape(-1, 4) * [h, w, h, w], rtol=1e-5)
    # (boxes in the wrong frame would find next to nothing; the tiny run's mAP@0.5 is 0.7-0.8)
    assert np.mean(hits) >= 0.5 and len(hits) >= 8, hits
    none, no_proposals, mismatched = serve_cases(run.export, [
        ("serving_default", {"images": "tf.zeros([0, 96, 96, 3], tf.uint8)", "proposals": "tf.zeros([0, 5, 4])"}),
        ("serving_default", {"images": "tf.zeros([2, 96, 96, 3], tf.uint8)", "proposals": "tf.zeros([2, 0, 4])"}),
        ("serving_default", {"images": "tf.zeros([2, 96, 96, 3], tf.uint8)", "proposals": "tf.zeros([3, 5, 4])"})],
        run.export_dir)
    assert none["detection_boxes"][0] == 0 and none["num_detections"] == [0]
    assert no_proposals["num_detections"] == [2]  # nothing to classify: nothing detected, no error
    assert "proposals must have one row of proposals per image" in mismatched["error"]
    warm = replay_warmup(run.export, run.export_dir)
    assert sorted(warm) == ["image_bytes", "serving_default"]


def test_fast_rcnn_refuses_proposals_it_cannot_match_to_images(tmp_path):
    assert_refused_cleanly(["-m", "recipes.fast_rcnn", "--preset", "tiny", "--proposals", str(tmp_path)],
                           "--proposals reads files named after the images: it needs a VOC or COCO folder", tmp_path)
    voc = tmp_path / "VOC2007"
    _write_voc(str(voc), [("dog", 0, (1, 1, 20, 15))])
    (tmp_path / "props").mkdir()
    assert_refused_cleanly(["-m", "recipes.fast_rcnn", "--preset", "tiny", "--data", str(voc), "--proposals",
                            str(tmp_path / "props")], "no 000001.npy for image", tmp_path)
