"""recipes.text_detection end to end: one tiny PixelLink run (killed with SIGKILL after its first epoch and
resumed) feeds the learning, export, serving and TensorBoard checks; bad data and flags are refused
before anything is written."""
import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, replay_warmup, serve_cases,
                      tensorboard_tags, tensorflow_only)
from runs import RUNS, total_steps

TD = ["-m", "recipes.text_detection", "--preset", "tiny", "--no-progress"]
CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--skip-bad-files", "--learning-rate",
        "--sync-batch-norm")


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.text_detection", "--help"]).stdout
    for flag in CORE + ("--model", "--image-size", "--stride", "--pixel-threshold", "--link-threshold",
                        "--proposal-score", "--num-images", "--eval-images"):
        assert flag in out, flag


@pytest.fixture(scope="module")
def tiny(trained):
    return trained.get("text_detection")


@pytest.mark.slow
@pytest.mark.trained("text_detection")
def test_tiny_run_finds_the_words(tiny):
    r = tiny.result
    assert r["step"] == RUNS["text_detection"][1] * 2 and tiny.resumed_at == RUNS["text_detection"][1]
    assert r["initial"]["f"] < 0.05
    assert learned(r["initial"]["f"], r["eval"]["f"], readme_figure("text_detection", "F")) >= 0.5, r["eval"]
    assert r["eval"]["precision"] > 0.5 and r["eval"]["recall"] > 0.5, r["eval"]
    losses = loss_curve(tiny.logdir)
    assert losses[-1][1] < 0.5 * losses[0][1], losses
    assert r["parameters"] == 382_232 and r["skipped_words"] == 0


@pytest.mark.slow
@pytest.mark.trained("text_detection")
def test_export_finds_words_in_png_and_jpeg_bytes_in_their_own_pixels(tiny, tmp_path):
    import io

    from PIL import Image

    from suite.data.text_scenes import embedded_scenes
    from suite.ocr.metrics import Word, evaluate

    out = serve_cases(tiny.export, [
        ("serving_default", {"images": "tf.zeros([2, 90, 150, 3], tf.uint8)"}),
        ("serving_default", {"images": "tf.zeros([0, 64, 64, 3], tf.uint8)"}),
        ("image_bytes", {"image_bytes": "tf.constant([b'GIF89a', b'<html>'])"})], tiny.export_dir)
    assert out[0] == {"polygons": [2, 16, 4, 2], "scores": [2, 16], "num_words": [2]}
    assert out[1]["polygons"] == [0, 16, 4, 2]
    assert "image_bytes element 1 is not a JPEG, PNG, GIF or BMP image" in out[2]["error"]
    # what a client holds: scenes it has never seen, as PNG files and as JPEG files stretched to 3:2 at 2x
    scenes = embedded_scenes(24, 128, seed=11, split="test").examples()
    paths = []
    for k, (image, _, _) in enumerate(scenes):
        png, jpeg = tmp_path / f"{k}.png", tmp_path / f"{k}.jpg"
        Image.fromarray(image).save(png)
        buffer = io.BytesIO()
        Image.fromarray(image).resize((384, 256), Image.BICUBIC).save(buffer, "JPEG", quality=90)
        jpeg.write_bytes(buffer.getvalue())
        paths += [str(png), str(jpeg)]
    got = tensorflow_only(
        f"data = tf.constant([open(p, 'rb').read() for p in {paths!r}])\n"
        f"m = tf.saved_model.load({str(tiny.export)!r})\n"
        "res = m.signatures['image_bytes'](image_bytes=data)\n"
        "pixels = m.signatures['serving_default'](images=tf.io.decode_png(data[0])[None])\n"
        "out = {k: v.numpy().tolist() for k, v in res.items()}\n"
        "out['pixels'] = pixels['polygons'].numpy().tolist()\n", tiny.export_dir)
    polygons, counts = np.array(got["polygons"]), np.array(got["num_words"])
    truth = [[Word(q) for q in quads] for _, quads, _ in scenes]
    png = [[Word(p) for p in polygons[i][:counts[i]]] for i in range(0, len(paths), 2)]
    jpeg = [[Word(p / [3, 2]) for p in polygons[i][:counts[i]]] for i in range(1, len(paths), 2)]  # back to 128
    assert evaluate(truth, png)["f"] > 0.5, evaluate(truth, png)
    assert evaluate(truth, jpeg)["f"] > 0.5, evaluate(truth, jpeg)  # in the JPEG's own pixels, 3x by 2x
    assert np.allclose(got["pixels"][0], polygons[0], atol=1e-3)
    assert all(s == sorted(s, reverse=True) for s in got["scores"])
    warm = replay_warmup(tiny.export, tiny.export_dir)
    assert sorted(warm) == ["image_bytes", "serving_default"] and warm["image_bytes"]["num_words"] == [1]


@pytest.mark.slow
@pytest.mark.trained("text_detection")
def test_tensorboard_has_the_promised_views(tiny):
    tags, hparams = tensorboard_tags(tiny.logdir)
    assert {"loss", "loss/pixel", "loss/link_positive", "loss/link_negative", "pixel_accuracy", "eval/f",
            "eval/precision", "eval/recall", "learning_rate/optimizer"} <= tags["scalars"], tags["scalars"]
    assert any(t.startswith("eval/detections") for t in tags["images"]), tags["images"]
    assert hparams["recipe"] == "text_detection" and hparams["model"] == "pixellink"


def _served_from_png_files(run, scenes, tmp_path):
    """The words ``run``'s export finds in ``scenes`` saved as PNG files, read in a TensorFlow-only process:
    [[Word]] per scene, in its pixels."""
    from PIL import Image

    from suite.ocr.metrics import Word

    paths = [str(tmp_path / f"{k}.png") for k in range(len(scenes))]
    for path, (image, _, _) in zip(paths, scenes):
        Image.fromarray(image).save(path)
    got = tensorflow_only(
        f"m = tf.saved_model.load({str(run.export)!r})\n"
        f"data = tf.constant([open(p, 'rb').read() for p in {paths!r}])\n"
        "res = m.signatures['image_bytes'](image_bytes=data)\n"
        "out = {k: v.numpy().tolist() for k, v in res.items()}\n", run.export_dir)
    return [[Word(p) for p in ps[:n]] for ps, n in zip(got["polygons"], got["num_words"])]


@pytest.mark.slow
@pytest.mark.trained("text_detection_ctpn")
def test_ctpn_tiny_run_finds_level_words_and_serves_them_from_bytes(trained, tmp_path):
    from suite.data.text_scenes import embedded_scenes
    from suite.ocr.metrics import Word, evaluate

    run = trained.get("text_detection_ctpn")
    r = run.result
    assert r["model"] == "ctpn" and r["step"] == total_steps("text_detection_ctpn") and r["initial"]["f"] < 0.05
    assert learned(r["initial"]["f"], r["eval"]["f"], readme_figure("text_detection ctpn", "F")) >= 0.5, r["eval"]
    assert r["export"].endswith("text_detection_ctpn/1")
    out = serve_cases(run.export, [("serving_default", {"images": "tf.zeros([2, 90, 150, 3], tf.uint8)"}),
                                   ("image_bytes", {"image_bytes": "tf.zeros([0], tf.string)"})], run.export_dir)
    assert out[0] == {"polygons": [2, 16, 4, 2], "scores": [2, 16], "num_words": [2]} and out[1]["scores"] == [0, 16]
    scenes = embedded_scenes(16, 128, seed=23, split="test", oriented=False).examples()
    found = _served_from_png_files(run, scenes, tmp_path)
    assert evaluate([[Word(q) for q in quads] for _, quads, _ in scenes], found)["f"] > 0.3


@pytest.mark.slow
@pytest.mark.trained("text_detection_rrpn")
def test_rrpn_tiny_run_finds_rotated_words_and_serves_them_from_bytes(trained, tmp_path):
    from suite.data.text_scenes import embedded_scenes
    from suite.ocr import geometry
    from suite.ocr.metrics import Word, evaluate

    run = trained.get("text_detection_rrpn")
    r = run.result
    assert r["model"] == "rrpn" and r["step"] == total_steps("text_detection_rrpn")
    assert r["initial"]["f"] < 0.05 and r["parameters"] == 766_769
    assert learned(r["initial"]["f"], r["eval"]["f"], readme_figure("text_detection rrpn", "F")) >= 0.5, r["eval"]
    losses = loss_curve(run.logdir)
    assert losses[-1][1] < 0.5 * losses[0][1], losses
    tags, _ = tensorboard_tags(run.logdir)
    assert {"loss/rpn_objectness", "loss/rpn_box", "loss/head_class", "loss/head_box", "head/accuracy",
            "eval/f"} <= tags["scalars"], tags["scalars"]
    assert r["export"].endswith("text_detection_rrpn/1")
    out = serve_cases(run.export, [("serving_default", {"images": "tf.zeros([2, 90, 150, 3], tf.uint8)"}),
                                   ("image_bytes", {"image_bytes": "tf.zeros([0], tf.string)"})], run.export_dir)
    assert out[0] == {"polygons": [2, 16, 4, 2], "scores": [2, 16], "num_words": [2]} and out[1]["scores"] == [0, 16]
    # rotated words, as PNG files: found as rotated rectangles, in the images' pixels
    scenes = embedded_scenes(16, 128, seed=29, split="test").examples()
    found = _served_from_png_files(run, scenes, tmp_path)
    assert evaluate([[Word(q) for q in quads] for _, quads, _ in scenes], found)["f"] > 0.4
    tilted = [w.polygon for ws in found for w in ws]
    slopes = [abs(np.arctan2(p[1][1] - p[0][1], p[1][0] - p[0][0])) for p in np.array(tilted)]
    assert max(slopes) > 0.2  # not only axis-aligned boxes
    assert all(abs(geometry.area(p)) > 0 for p in tilted)


def test_bad_data_and_flags_are_refused_before_anything_is_written(tmp_path):
    from test_ocr_detection import _scene_folder

    root = tmp_path / "scenes"
    _scene_folder(root, [f"img_{k}" for k in range(12)])
    (root / "img_12.jpg").write_bytes((root / "img_0.jpg").read_bytes())
    assert_refused_cleanly([*TD, "--data", str(root)], "img_12.jpg: no ground-truth file gt_img_12.txt", tmp_path)
    (root / "img_12.jpg").unlink()
    (root / "gt_img_3.txt").write_text("1,2,3\n")
    assert_refused_cleanly([*TD, "--data", str(root)], "gt_img_3.txt:1: expected 4 corners", tmp_path)
    assert_refused_cleanly([*TD, "--image-size", "100"], "--image-size: must be a multiple of 16", tmp_path)
    assert_refused_cleanly([*TD, "--pixel-threshold", "1.5"], "--pixel-threshold: must be between 0 and 1", tmp_path)
    assert_refused_cleanly([*TD, "--data", str(tmp_path / "nowhere")], "no such folder", tmp_path)
    assert_refused_cleanly([*TD, "--model", "ctpn", "--stride", "2"], "--stride: PixelLink's, not CTPN's", tmp_path)
    assert_refused_cleanly([*TD, "--proposal-score", "0.5"], "--proposal-score: CTPN's, not PixelLink's", tmp_path)
    assert_refused_cleanly([*TD, "--model", "rrpn", "--link-threshold", "0.5"], "--link-threshold: PixelLink's, not RRPN's",
                           tmp_path)
    assert_refused_cleanly([*TD, "--model", "rrpn", "--proposal-score", "0.5"], "--proposal-score: CTPN's, not RRPN's",
                           tmp_path)
