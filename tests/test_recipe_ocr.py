"""recipes.ocr: the tiny text detector's and text recognizer's exports composed into one SavedModel
from image bytes to words, measured end to end, served in a TensorFlow-only process; wrong or missing
exports refused before anything is written."""
import json

import numpy as np
import pytest

from conftest import (learned, readme_figure, refused, replay_warmup, run_python, serve_cases, tensorboard_tags,
                      tensorflow_only)


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.ocr", "--help"]).stdout
    for flag in ("--detector", "--recognizer", "--data", "--eval-images", "--image-size", "--seed", "--logdir",
                 "--export-dir", "--version", "--train", "--detector-args", "--recognizer-args"):
        assert flag in out, flag


@pytest.fixture(scope="module")
def composed(trained, tmp_path_factory):
    detector, recognizer = trained.get("text_detection"), trained.get("text_recognition")
    export_dir = tmp_path_factory.mktemp("ocr")
    proc = run_python(["-m", "recipes.ocr", "--detector", str(detector.export), "--recognizer",
                       str(recognizer.export), "--export-dir", str(export_dir), "--logdir", str(export_dir / "logs")])
    return json.loads(proc.stdout.strip().splitlines()[-1]), export_dir


@pytest.mark.slow
@pytest.mark.trained("text_detection")
@pytest.mark.trained("text_recognition")
def test_the_composed_export_reads_the_scenes_words(composed):
    result, export_dir = composed
    assert result["export"] == str(export_dir / "ocr" / "1") and result["eval_images"] == 100
    assert result["detection"]["f"] > 0.5, result
    assert learned(0.0, result["end_to_end"]["f"], readme_figure("ocr", "end-to-end F")) >= 0.5, result
    tags, _ = tensorboard_tags(export_dir / "logs")  # the scores, scenes drawn with the words read, the words
    assert {"eval/detection/f", "eval/end_to_end/f", "eval/end_to_end/precision"} <= tags["scalars"], tags
    assert {f"eval/read (truth green, read red)/{k}" for k in range(4)} <= tags["images"], tags
    assert "eval/words" in tags["text"], tags


@pytest.mark.slow
@pytest.mark.trained("text_detection")
@pytest.mark.trained("text_recognition")
def test_the_composed_export_serves_png_and_jpeg_bytes_in_a_tensorflow_only_process(composed, tmp_path):
    import io

    from PIL import Image

    from suite.data.text_scenes import embedded_scenes
    from suite.ocr.metrics import Word, evaluate

    result, export_dir = composed
    path = result["export"]
    out = serve_cases(path, [
        ("serving_default", {"images": "tf.zeros([2, 90, 150, 3], tf.uint8)"}),
        ("image_bytes", {"image_bytes": "tf.zeros([0], tf.string)"}),
        ("image_bytes", {"image_bytes": "tf.constant([b'GIF89a', b'<html>'])"})], export_dir)
    assert out[0]["texts"] == [2, 16] and out[0]["polygons"] == [2, 16, 4, 2] and out[1]["texts"] == [0, 16]
    assert "image_bytes element 1 is not a JPEG, PNG, GIF or BMP image" in out[2]["error"]
    scenes = embedded_scenes(24, 128, seed=17, split="test").examples()
    paths = []
    for k, (image, _, _) in enumerate(scenes):
        png, jpeg = tmp_path / f"{k}.png", tmp_path / f"{k}.jpg"
        Image.fromarray(image).save(png)
        buffer = io.BytesIO()
        Image.fromarray(image).resize((256, 256), Image.BICUBIC).save(buffer, "JPEG", quality=95)
        jpeg.write_bytes(buffer.getvalue())
        paths += [str(png), str(jpeg)]
    got = tensorflow_only(
        f"data = tf.constant([open(p, 'rb').read() for p in {paths!r}])\n"
        f"m = tf.saved_model.load({path!r})\n"
        "res = m.signatures['image_bytes'](image_bytes=data)\n"
        "out = {'texts': [[t.decode() for t in row] for row in res['texts'].numpy()],\n"
        "       'polygons': res['polygons'].numpy().tolist(), 'num_words': res['num_words'].numpy().tolist()}\n",
        export_dir)
    truth = [[Word(q, t) for q, t in zip(quads, texts)] for _, quads, texts in scenes]
    for start, scale in ((0, 1), (1, 2)):  # the PNGs, then the JPEGs at twice the size, in their own pixels
        found = [[Word(np.array(p) / scale, t) for p, t in zip(got["polygons"][i][:n], got["texts"][i][:n])]
                 for i, n in list(enumerate(got["num_words"]))[start::2]]
        assert evaluate(truth, found)["f"] > 0.5
        assert evaluate(truth, found, end_to_end=True)["f"] > 0.08, [[w.text for w in f] for f in found]
    assert all(t == "" for row, n in zip(got["texts"], got["num_words"]) for t in row[n:])
    warm = replay_warmup(path, export_dir)
    assert sorted(warm) == ["image_bytes", "serving_default"] and warm["image_bytes"]["texts"][0] == 1


@pytest.mark.slow
@pytest.mark.trained("text_detection")
@pytest.mark.trained("text_recognition")
def test_wrong_exports_are_refused_before_anything_is_written(trained, tmp_path):
    detector, recognizer = trained.get("text_detection").export, trained.get("text_recognition").export
    export_dir = tmp_path / "export"
    for args, message in (
            (["--detector", str(recognizer), "--recognizer", str(recognizer)], "not a text detector export"),
            (["--detector", str(detector), "--recognizer", str(detector)], "not a text recognizer export"),
            (["--detector", str(tmp_path / "none"), "--recognizer", str(recognizer)], "no saved_model.pb"),
            (["--recognizer", str(recognizer)], "--detector: no export under")):
        refused(run_python(["-m", "recipes.ocr", *args, "--export-dir", str(export_dir), "--logdir",
                            str(tmp_path / "logs")], check=False), message)
        assert not export_dir.exists() and not (tmp_path / "logs").exists()


@pytest.mark.slow
@pytest.mark.trained("text_detection")
@pytest.mark.trained("text_recognition")
def test_predict_prints_each_words_polygon_and_text(composed, tmp_path):
    from PIL import Image

    from suite.data.text_scenes import embedded_scenes

    (image, quads, texts), = embedded_scenes(1, 128, seed=19, split="test").examples()
    Image.fromarray(image).save(tmp_path / "scene.png")
    proc = run_python(["-m", "recipes.predict", composed[0]["export"], str(tmp_path / "scene.png")])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["input"].endswith("scene.png") and len(out["words"]) >= 1
    assert all(set(w) == {"score", "polygon", "text"} and np.array(w["polygon"]).shape == (4, 2) for w in out["words"])


JOINT = ["--eval-images", "8", "--detector-args", "--preset tiny --steps-per-epoch 3 --epochs 1 --num-images 32 "
         "--eval-images 4 --no-progress --model rrpn", "--recognizer-args", "--preset tiny --steps-per-epoch 3 --epochs 1 "
         "--num-words 64 --eval-words 8 --no-progress"]


@pytest.mark.slow
def test_a_joint_run_trains_both_and_composes_their_exports(tmp_path):
    # plumbing only (three steps each): the shared runs above show the detector and recognizer learn
    export_dir, logdir = tmp_path / "export", tmp_path / "logs"
    proc = run_python(["-m", "recipes.ocr", "--train", *JOINT, "--export-dir", str(export_dir), "--logdir", str(logdir)])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    trained = result["trained"]
    assert trained["detector"]["name"] == "text_detection_rrpn" and trained["recognizer"]["name"] == "text_recognition"
    assert trained["detector"]["step"] == 3 and trained["recognizer"]["step"] == 3
    assert result["detector"] == str(export_dir / "text_detection_rrpn" / "1") == trained["detector"]["export"]
    assert result["recognizer"] == str(export_dir / "text_recognition" / "1") == trained["recognizer"]["export"]
    assert result["export"] == str(export_dir / "ocr" / "1") and (export_dir / "ocr" / "1" / "saved_model.pb").is_file()
    assert result["eval_images"] == 8 and 0 <= result["end_to_end"]["f"] <= 1
    for name in ("text_detection", "text_recognition"):  # each recipe's own logs, and the composition's beside them
        assert "eval/f" in tensorboard_tags(logdir / "text_detection")[0]["scalars"]
        assert any(p.name.startswith("events.out") for p in (logdir / name).iterdir())
    assert "eval/end_to_end/f" in tensorboard_tags(logdir)[0]["scalars"]


def test_joint_run_flags_are_checked_before_anything_trains(tmp_path):
    export_dir, logdir = tmp_path / "export", tmp_path / "logs"
    own = ["--export-dir", str(export_dir), "--logdir", str(logdir)]
    for args, message in (
            (["--train", "--detector", str(tmp_path)], "give neither --detector nor --recognizer"),
            (["--detector-args", "--model rrpn"], "--detector-args and --recognizer-args go with --train"),
            (["--train", "--detector-args", "--seed 3"], "--detector-args: --seed is set by recipes.ocr"),
            (["--train", "--recognizer-args=--logdir=/tmp/x"], "--recognizer-args: --logdir=/tmp/x is set by"),
            (["--train", "--detector-args", "--model nope"], "refused by recipes.text_detection"),
            (["--train", "--recognizer-args", "--preset tiny --num-words 0"], "refused by recipes.text_recognition"),
            (["--train", "--detector-args", "--model 'rrpn"], "--detector-args: No closing quotation")):
        refused(run_python(["-m", "recipes.ocr", *args, *own], check=False), message)
        assert not export_dir.exists() and not logdir.exists(), args
