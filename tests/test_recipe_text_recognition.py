"""recipes.text_recognition end to end: one tiny CRNN run (killed with SIGKILL after its first epoch and
resumed) feeds the learning, export, serving and TensorBoard checks; bad data and flags are refused
before anything is written."""
import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, replay_warmup, serve_cases,
                      tensorboard_tags, tensorflow_only)
from runs import RUNS

TR = ["-m", "recipes.text_recognition", "--preset", "tiny", "--no-progress"]
CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--skip-bad-files", "--learning-rate",
        "--sync-batch-norm")


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.text_recognition", "--help"]).stdout
    for flag in CORE + ("--charset", "--width", "--beam-width", "--lexicon", "--num-words", "--eval-words"):
        assert flag in out, flag


@pytest.fixture(scope="module")
def tiny(trained):
    return trained.get("text_recognition")


@pytest.mark.slow
@pytest.mark.trained("text_recognition")
def test_tiny_run_reads_words_far_above_chance(tiny):
    r = tiny.result
    assert r["step"] == 1000 and tiny.resumed_at == RUNS["text_recognition"][1]
    assert r["initial"]["word_accuracy"] == 0.0 and r["initial"]["cer"] > 0.95
    assert learned(r["initial"]["word_accuracy"], r["eval"]["word_accuracy"],
                   readme_figure("text_recognition", "word accuracy")) >= 0.5, r["eval"]
    assert learned(r["initial"]["cer"], r["eval"]["cer"], readme_figure("text_recognition", "CER")) >= 0.5, r["eval"]
    # constrained to the 287-word lexicon, the lexicon's words are read almost always
    assert r["eval"]["lexicon"]["word_accuracy"] > 0.8, r["eval"]
    losses = loss_curve(tiny.logdir)
    assert losses[-1][1] < 0.2 * losses[0][1], losses
    assert r["parameters"] == 885_125 and r["skipped_words"] == 0


@pytest.mark.slow
@pytest.mark.trained("text_recognition")
def test_export_reads_png_and_jpeg_crops_of_any_size_in_a_tensorflow_only_process(tiny, tmp_path):
    import io

    from PIL import Image

    from suite.data.ocr import embedded_words

    out = serve_cases(tiny.export, [
        ("serving_default", {"images": "tf.zeros([2, 40, 130, 3], tf.uint8)"}),
        ("serving_default", {"images": "tf.zeros([0, 32, 100, 3], tf.uint8)"}),
        ("image_bytes", {"image_bytes": "tf.constant([b'GIF89a', b'<html>'])"})], tiny.export_dir)
    assert out[0] == {"words": [2], "log_probability": [2]} and out[1]["words"] == [0]
    assert "image_bytes element 1 is not a JPEG, PNG, GIF or BMP image" in out[2]["error"]
    # what a client holds: word crops it has never seen, as PNG files and as JPEG files at twice the size
    words = embedded_words(40, seed=11, split="test").examples()
    paths = []
    for k, (image, _) in enumerate(words):
        png, jpeg = tmp_path / f"{k}.png", tmp_path / f"{k}.jpg"
        Image.fromarray(image).save(png)
        big = Image.fromarray(image).resize((2 * image.shape[1], 2 * image.shape[0]), Image.BICUBIC)
        buffer = io.BytesIO()
        big.save(buffer, "JPEG", quality=90)
        jpeg.write_bytes(buffer.getvalue())
        paths += [str(png), str(jpeg)]
    got = tensorflow_only(
        f"data = tf.constant([open(p, 'rb').read() for p in {paths!r}])\n"
        f"m = tf.saved_model.load({str(tiny.export)!r})\n"
        "res = m.signatures['image_bytes'](image_bytes=data)\n"
        "pixels = m.signatures['serving_default'](images=tf.io.decode_png(data[0])[None])\n"
        "out = {'words': [w.decode() for w in res['words'].numpy()], 'score': res['log_probability'].numpy().tolist(),\n"
        "       'pixels': pixels['words'].numpy()[0].decode()}\n", tiny.export_dir)
    truth = [t.lower() for _, t in words]
    png_read, jpeg_read = got["words"][0::2], got["words"][1::2]
    accuracy = np.mean([w == t for w, t in zip(png_read, truth)])
    chance = 1 / 36 ** 3  # a three-character word guessed
    assert accuracy > 0.3 > 100 * chance, list(zip(png_read, truth))
    assert np.mean([a == b for a, b in zip(png_read, jpeg_read)]) > 0.7  # the same word at another size and codec
    assert got["pixels"] == png_read[0] and all(s <= 0 for s in got["score"])
    warm = replay_warmup(tiny.export, tiny.export_dir)
    assert sorted(warm) == ["image_bytes", "serving_default"] and warm["image_bytes"]["words"] == [1]


@pytest.mark.slow
@pytest.mark.trained("text_recognition")
def test_tensorboard_has_the_promised_views(tiny):
    tags, hparams = tensorboard_tags(tiny.logdir)
    assert {"loss", "loss/ctc", "ctc_per_character", "eval/word_accuracy", "eval/cer",
            "eval/lexicon/word_accuracy", "learning_rate/optimizer"} <= tags["scalars"], tags["scalars"]
    assert "eval/crops" in tags["images"] and "eval/words" in tags["text"]
    assert hparams["recipe"] == "text_recognition" and hparams["charset"] == "0123456789abcdefghijklmnopqrstuvwxyz"


def test_bad_data_and_flags_are_refused_before_anything_is_written(tmp_path):
    from test_ocr import _png

    root = tmp_path / "words"
    for k in range(12):
        _png(root / f"w{k}.png", f"w{k}")
    (root / "gt.txt").write_text("".join(f'w{k}.png, "w{k}"\n' for k in range(12)) + "w12.png Tiredness\n")
    assert_refused_cleanly([*TR, "--data", str(root)], "gt.txt:13: expected 'image, \"text\"'", tmp_path)
    (root / "gt.txt").write_text("".join(f'w{k}.png, "w{k}"\n' for k in range(13)))
    assert_refused_cleanly([*TR, "--data", str(root)], "gt.txt:13: no image", tmp_path)
    assert_refused_cleanly([*TR, "--charset", "abca"], "--charset: a character set lists each character once",
                           tmp_path)
    assert_refused_cleanly([*TR, "--charset", "abc"], "the character set lacks '0123456789", tmp_path)
    assert_refused_cleanly([*TR, "--lexicon", str(tmp_path / "none.txt")], "none.txt: cannot be read", tmp_path)
    assert_refused_cleanly([*TR, "--width", "8"], "crops must be at least 16 pixels wide", tmp_path)
    assert_refused_cleanly([*TR, "--data", str(tmp_path / "nowhere")], "no such folder", tmp_path)
