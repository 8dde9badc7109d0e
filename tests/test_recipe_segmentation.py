"""recipes.segmentation end to end: one tiny run per model family (FCN-8s; DeepLab v3+, killed with
SIGKILL after its first epoch and resumed) feeds the learning, export, serving and TensorBoard checks;
bad data and flags are refused before anything is written."""
import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, replay_warmup, serve_cases,
                      tensorboard_tags, tensorflow_only)
from runs import RUNS, total_steps
from test_segmentation import _mask, _write_voc

SEG = ["-m", "recipes.segmentation", "--preset", "tiny", "--no-progress"]
CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--skip-bad-files", "--learning-rate",
        "--sync-batch-norm")
FAMILIES = {"segmentation_fcn": ("fcn8s", "segmentation fcn8s"),
            "segmentation_deeplab": ("deeplab_v3plus", "segmentation deeplab_v3plus")}


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.segmentation", "--help"]).stdout
    for flag in CORE + ("--model", "--backbone", "--output-stride", "--eval-output-stride", "--eval-scales",
                        "--eval-flip", "--image-size", "--num-images", "--eval-images"):
        assert flag in out, flag


@pytest.fixture(scope="module", params=[pytest.param(k, marks=pytest.mark.trained(k)) for k in FAMILIES],
                ids=list(FAMILIES))
def tiny(request, trained):
    return request.param, trained.get(request.param)


@pytest.mark.slow
def test_tiny_run_learns_every_class_far_above_all_background(tiny):
    key, run = tiny
    r = run.result
    assert r["step"] == total_steps(key) and run.resumed_at == RUNS[key][1]
    assert r["model"] == FAMILIES[key][0]
    from suite.data.segmentation import embedded_set

    labels = np.stack([m for _, m in embedded_set(100, 64, 0, "validation").examples()])
    trivial = (labels == 0).mean() / 6  # all background: its IoU is its share of the pixels, the others' 0
    assert r["initial"]["mIoU"] < trivial
    assert learned(r["initial"]["mIoU"], r["eval"]["mIoU"], readme_figure(FAMILIES[key][1], "mIoU")) >= 0.5
    assert r["eval"]["mIoU"] > 2.5 * trivial
    # every shape found, thin ones too (untrained: 0.00-0.04; DeepLab's weakest in CI: cross 0.25)
    assert min(r["eval"]["IoU"].values()) > 0.1, r["eval"]["IoU"]
    losses = loss_curve(run.logdir)
    assert losses[-1][1] < 0.6 * losses[0][1], losses
    if "--crf" in RUNS[key][0]:  # the fully connected CRF sharpens the shapes' edges
        assert learned(r["eval"]["mIoU"], r["eval"]["crf"]["mIoU"],
                       readme_figure("segmentation fcn8s + CRF", "mIoU")) >= 0.5, r["eval"]


@pytest.mark.slow
def test_export_segments_pixels_and_encoded_images_at_their_own_size(tiny, tmp_path):
    _, run = tiny
    out = serve_cases(run.export, [
        ("serving_default", {"images": "tf.cast(tf.random.uniform([2, 64, 64, 3], 0, 255), tf.uint8)"}),
        ("serving_default", {"images": "tf.cast(tf.random.uniform([1, 50, 90, 3], 0, 255), tf.uint8)"}),
        ("serving_default", {"images": "tf.zeros([0, 64, 64, 3], tf.uint8)"}),
        ("image_bytes", {"image_bytes": "tf.zeros([0], tf.string)"}),
        ("image_bytes", {"image_bytes": "tf.constant([b'GIF89a', b'<html>'])"})], run.export_dir)
    assert out[0]["class_map"] == [2, 64, 64] and out[0]["probabilities"] == [2, 64, 64, 6]
    assert out[1]["class_map"] == [1, 50, 90] and out[1]["class_names"] == [1, 6] and out[1]["class_map_png"] == [1]
    assert out[2]["class_map"] == [0, 64, 64] and out[3]["class_map"][0] == 0
    assert "image_bytes element 1 is not a JPEG, PNG, GIF or BMP image" in out[4]["error"]
    # what a client holds: a JPEG of 96x80 and five PNGs of 64x64, of scenes the model was not trained on
    import io

    from PIL import Image

    from suite.data.segmentation import embedded_set, encode_png

    scenes = embedded_set(5, 64, seed=7, split="test").examples()
    jpeg = io.BytesIO()
    Image.fromarray(scenes[0][0]).resize((96, 80), Image.NEAREST).save(jpeg, "JPEG", quality=95)
    paths = [tmp_path / "a.jpg"] + [tmp_path / f"{k}.png" for k in range(5)]
    paths[0].write_bytes(jpeg.getvalue())
    for path, (image, _) in zip(paths[1:], scenes):
        path.write_bytes(encode_png(image))
    got = tensorflow_only(
        f"data = tf.constant([open(p, 'rb').read() for p in {[str(p) for p in paths]!r}])\n"
        f"m = tf.saved_model.load({str(run.export)!r})\n"
        "res = m.signatures['image_bytes'](image_bytes=data)\n"
        "pixels = m.signatures['serving_default'](images=tf.io.decode_png(data[1])[None])['class_map']\n"
        "out = {'sizes': res['image_sizes'].numpy().tolist(), 'map': res['class_map'].numpy().tolist(),\n"
        "       'pixels': pixels.numpy().tolist(),\n"
        "       'png': [tf.io.decode_png(p).shape.as_list() for p in res['class_map_png']]}\n", run.export_dir)
    assert got["sizes"] == [[80, 96]] + [[64, 64]] * 5 and got["png"] == [[80, 96, 3]] + [[64, 64, 3]] * 5
    maps = np.array(got["map"])
    assert maps.shape == (6, 80, 96) and (maps[1:, 64:, :] == 255).all() and (maps[1:, :, 64:] == 255).all()
    # a PNG's map is what the pixels' signature answers for the same pixels
    assert (maps[1, :64, :64] == np.array(got["pixels"])[0]).mean() > 0.99
    # the shapes found where they are (all foreground would score ~0.26, all background 0)
    found, truth = maps[1:, :64, :64] > 0, np.stack([m for _, m in scenes]) > 0
    assert (found & truth).sum() / (found | truth).sum() > 0.5
    # the JPEG's map at the client's own size: the same scene's map, scaled
    scaled = np.array(Image.fromarray(maps[1, :64, :64].astype(np.uint8)).resize((96, 80), Image.NEAREST))
    assert (maps[0] == scaled).mean() > 0.8
    warm = replay_warmup(run.export, run.export_dir)
    assert sorted(warm) == ["image_bytes", "serving_default"] and warm["image_bytes"]["class_map"][0] == 1


@pytest.mark.slow
def test_tensorboard_has_the_promised_views(tiny):
    key, run = tiny
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "cross_entropy", "pixel_accuracy", "eval/mIoU", "eval/pixel_accuracy", "eval/IoU/ring",
            "eval/IoU/background", "learning_rate/optimizer"} <= tags["scalars"]
    assert "eval/segmentation (image, truth, prediction)/0" in tags["images"]
    assert "eval/confusion (rows: truth, columns: prediction)" in tags["images"]
    assert "eval/confusion" in tags["text"]
    assert hparams["recipe"] == "segmentation" and hparams["model"] == FAMILIES[key][0]
    assert ("eval/crf/mIoU" in tags["scalars"]) == ("--crf" in RUNS[key][0])


def test_bad_data_and_flags_are_refused_before_anything_is_written(tmp_path):
    voc = tmp_path / "VOC2012"
    _write_voc(voc, [("a", (40, 40), _mask(40, 40)), ("b", (40, 48), _mask(40, 40))])
    assert_refused_cleanly([*SEG, "--data", str(voc)], "b.png: mask is 40x40, its image", tmp_path)
    _write_voc(voc, [("a", (40, 40), _mask(40, 40)), ("b", (40, 48), None)])
    (voc / "SegmentationClass" / "b.png").unlink()
    assert_refused_cleanly([*SEG, "--data", str(voc)], "b.jpg: no mask", tmp_path)
    assert_refused_cleanly([*SEG, "--model", "fcn8s", "--output-stride", "16"],
                           "--model fcn8s upsamples from stride 32", tmp_path)
    assert_refused_cleanly([*SEG, "--model", "fcn8s", "--backbone", "xception65"],
                           "fcn8s is built on vgg16, not xception65", tmp_path)
    assert_refused_cleanly([*SEG, "--data", str(tmp_path / "nowhere")], "no such folder", tmp_path)
