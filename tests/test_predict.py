"""recipes.predict: a user's own files sent to each kind of export through its signatures alone, in
a process that imports no model code of the suite; --rest request bodies that decode back to the
same inputs; bad files refused clearly. Every check reads a shared tiny run's export."""
import base64
import json
import os

import numpy as np
import pytest

from conftest import tensorflow_only

# a client of an export holds TensorFlow and the files, not the suite's models
MODEL_CODE = ("suite.gan", "suite.detection", "suite.nlu", "suite.speech", "suite.action", "suite.layers",
              "suite.segmentation", "suite.ocr",
              "suite.training.driver", "keras_hub", "keras_cv")


def predict(calls, cwd):
    """Runs recipes.predict's ``main`` on each argument list of ``calls`` in one fresh process that may
    import no model code (``tensorflow_only``; an export is loaded once): per call, its JSON lines (or
    REST body), or {"error": message} of the ValueError it stopped with (the command prints that line
    and exits with status 2)."""
    return tensorflow_only(
        "import contextlib, io\n"
        "from recipes import predict\n"
        "out = []\n"
        f"for args in {[list(map(str, c)) for c in calls]!r}:\n"
        "    buffer = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(buffer):\n"
        "            predict.main(args)\n"
        "        out.append([json.loads(x) for x in buffer.getvalue().splitlines() if x.startswith('{')])\n"
        "    except ValueError as e:\n"
        "        out.append({'error': str(e)})\n", cwd, forbidden=MODEL_CODE)


@pytest.mark.slow
@pytest.mark.trained("faster_rcnn")
def test_images_get_boxes_in_their_own_pixels_drawn_and_a_rest_body(trained, tmp_path):
    from PIL import Image

    from suite.data.detection import SHAPES, render_scene

    run = trained.get("faster_rcnn")
    paths = []
    for i, (fmt, (w, h)) in enumerate((("JPEG", (96, 96)), ("PNG", (160, 120)))):
        scene = render_scene(np.random.default_rng(i), 96)[0]
        paths.append(tmp_path / f"scene{i}.{fmt.lower()}")
        Image.fromarray(scene).resize((w, h)).save(paths[-1], fmt)
    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"not a picture at all")
    out, (body,), refused = predict([[run.export, *paths, "--output", tmp_path / "drawn"],
                                     [run.export, *paths, "--rest"], [run.export, fake]], tmp_path)
    assert [o["input"] for o in out] == list(map(str, paths))
    assert sum(len(o["detections"]) for o in out) > 0
    for o, (w, h) in zip(out, ((96, 96), (160, 120))):
        for d in o["detections"]:
            x1, y1, x2, y2 = d["box"]
            assert d["score"] >= 0.3 and d["label"] in SHAPES, d
            assert -1 <= x1 < x2 <= w + 1 and -1 <= y1 < y2 <= h + 1, (d, w, h)
        drawn = Image.open(o["drawn"])
        assert drawn.size == (w, h) and drawn.format == "PNG"
    assert body["signature_name"] == "image_bytes"
    assert [base64.b64decode(x["b64"]) for x in body["instances"]] == [p.read_bytes() for p in paths]
    # a file that is no image: the signature's own message
    assert "refused the input" in refused["error"] and "is not a JPEG, PNG, GIF or BMP image" in refused["error"]


@pytest.mark.slow
@pytest.mark.trained("segmentation_fcn")
def test_images_get_their_class_shares_and_maps_from_a_segmenter(trained, tmp_path):
    from PIL import Image

    from suite.data.segmentation import EMBEDDED_CLASSES, embedded_set

    run = trained.get("segmentation_fcn")
    (image, labels), = embedded_set(1, 64, seed=5, split="test").examples()
    path = tmp_path / "scene.jpg"
    Image.fromarray(image).resize((80, 72)).save(path, "JPEG", quality=95)
    (out,), = predict([[run.export, path, "--output", tmp_path / "maps"]], tmp_path)
    assert out["size"] == [72, 80] and set(out["classes"]) <= set(EMBEDDED_CLASSES)
    assert sum(out["classes"].values()) == pytest.approx(1.0, abs=1e-3)
    truth = np.bincount(labels.reshape(-1), minlength=6) / labels.size
    assert abs(out["classes"].get("background", 0) - truth[0]) < 0.15  # as much background as the scene has
    drawn = Image.open(out["drawn"])
    assert drawn.size == (80, 72) and drawn.format == "PNG"


@pytest.mark.slow
@pytest.mark.trained("text_recognition")
def test_word_crops_get_their_words_from_a_text_recognizer(trained, tmp_path):
    from PIL import Image

    from suite.data.ocr import embedded_words

    words = embedded_words(12, seed=13, split="test").examples()
    paths = []
    for k, (image, _) in enumerate(words):
        paths.append(tmp_path / f"{k}.{'png' if k % 2 else 'jpg'}")
        Image.fromarray(image).save(paths[-1], quality=95)
    out, = predict([[trained.get("text_recognition").export, *paths]], tmp_path)
    assert [o["input"] for o in out] == [str(p) for p in paths] and all(o["log_probability"] <= 0 for o in out)
    read = np.mean([o["words"] == t.lower() for o, (_, t) in zip(out, words)])
    assert read >= 0.25, [(o["words"], t) for o, (_, t) in zip(out, words)]


@pytest.mark.slow
@pytest.mark.trained("text_detection")
def test_scene_images_get_word_polygons_from_a_text_detector(trained, tmp_path):
    from PIL import Image

    from suite.data.text_scenes import embedded_scenes
    from suite.ocr.metrics import Word, evaluate

    scenes = embedded_scenes(8, 128, seed=13, split="test").examples()
    paths = []
    for k, (image, _, _) in enumerate(scenes):
        paths.append(tmp_path / f"{k}.{'png' if k % 2 else 'jpg'}")
        Image.fromarray(image).resize((256, 192)).save(paths[-1], quality=95)  # 2x wide, 1.5x high
    out, = predict([[trained.get("text_detection").export, *paths, "--output", tmp_path / "drawn"]], tmp_path)
    assert [o["input"] for o in out] == [str(p) for p in paths]
    found = [[Word(np.array(w["polygon"]) / [2, 1.5]) for w in o["words"]] for o in out]
    assert evaluate([[Word(q) for q in quads] for _, quads, _ in scenes], found)["f"] > 0.5
    drawn = Image.open(out[0]["drawn"])
    assert drawn.size == (256, 192) and out[0]["drawn"].endswith("0.words.png")


@pytest.mark.slow
@pytest.mark.trained("deepspeech_ds2")
def test_a_wav_file_gets_its_transcript(trained, tmp_path):
    from suite.speech.training import error_rates
    from test_recipe_speech import _held_out_utterance, _resampled_copy

    reference, text = _held_out_utterance()
    wav = _resampled_copy(reference, tmp_path / "x.wav")  # 22.05 kHz stereo: resampled in the graph
    (out,), = predict([[trained.get("deepspeech_ds2").export, wav]], tmp_path)
    assert out["input"] == str(wav) and error_rates([out["transcripts"]], [text])[0] < 0.5, (out, text)


@pytest.mark.slow
@pytest.mark.trained("mtdnn")
def test_texts_get_labels_and_scores_per_task(trained, tmp_path):
    export = trained.get("mtdnn").export
    cola, nli, qnli, (body,), refused = predict([
        [export, "the food was good", "good the was food"],  # serving_default: the first task, cola
        [export, "--signature", "nli", "a man sleeps", "a man sleeps", "a b", "c d"],
        [export, "--signature", "qnli", "candidate=the man ran home", "question=who ran home"],
        [export, "--signature", "sts", "a b", "c d", "--rest"],
        [export, "--signature", "nli", "only one"]], tmp_path)
    assert len(cola) == 2 and all(o["label"] in ("acceptable", "unacceptable") for o in cola), cola
    assert all(abs(sum(o["probabilities"]) - 1) < 1e-4 for o in cola)
    assert [o["input"] for o in nli] == ["a man sleeps | a man sleeps", "a b | c d"]
    assert all(len(o["probabilities"]) == 3 and o["label"] in ("entailment", "neutral", "contradiction") for o in nli)
    assert qnli[0]["input"] == "who ran home | the man ran home" and 0 < qnli[0]["score"] < 1
    assert body == {"signature_name": "sts", "instances": [{"sentence1": "a b", "sentence2": "c d"}]}
    assert "takes 2 texts per example (sentence1 sentence2): got 1 INPUTs" in refused["error"]


@pytest.mark.slow
@pytest.mark.trained("gpt")
def test_prompts_get_completions_greedy_and_sampled(trained, tmp_path):
    export = trained.get("gpt").export
    greedy, sampled, (body,), refused = predict([
        [export, "alice gave bob", ""],
        [export, "--signature", "top_k", "--k", "3", "--temperature", "0.7", "the red book was", "--max-new-tokens", "4"],
        [export, "--signature", "top_p", "alice", "--rest"],
        [export, "--signature", "beam", "alice"]], tmp_path)
    assert [o["input"] for o in greedy] == ["alice gave bob", ""] and all(o["num_tokens"] >= 1 for o in greedy)
    assert greedy[0]["completion"].startswith("the ") and len(greedy[1]["completion"].split()) >= 3, greedy
    assert 1 <= sampled[0]["num_tokens"] <= 4 and sampled[0]["completion"], sampled
    assert body["signature_name"] == "top_p" and body["inputs"]["prompts"] == ["alice"]
    assert sorted(body["inputs"]) == ["max_new_tokens", "p", "prompts", "temperature"]
    assert "no signature 'beam'; it has serving_default, top_k, top_p" in refused["error"]


@pytest.mark.slow
@pytest.mark.trained("elmo")
def test_sentences_get_each_token_and_its_contextual_vector(trained, tmp_path):
    (found, ) = predict([[trained.get("elmo").export, "Alice gave Bob the red book.", ""]], tmp_path)
    assert [o["input"] for o in found] == ["Alice gave Bob the red book.", ""]
    assert found[0]["tokens"] == ["alice", "gave", "bob", "the", "red", "book", "."] and found[1]["tokens"] == []
    assert [len(v) for v in found[0]["vectors"]] == [128] * 7 and found[1]["vectors"] == []


@pytest.mark.slow
@pytest.mark.trained("action_slow")
@pytest.mark.trained("action_two_stream")
def test_a_video_file_gets_its_label(trained, tmp_path):
    """Slow fusion and two-stream alike: the two-stream export computes its optical flow from the frames."""
    import cv2

    from suite.data import video

    frames = video.embedded_set(4, 32, seed=0, split="validation").load(0)
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))  # another size than trained
    for frame in frames:
        writer.write(cv2.cvtColor(cv2.resize(frame, (64, 48)), cv2.COLOR_RGB2BGR))
    writer.release()
    for (out,) in predict([[trained.get(key).export, path] for key in ("action_slow", "action_two_stream")], tmp_path):
        assert out["input"] == path and len(out["probabilities"]) == 8 and abs(sum(out["probabilities"]) - 1) < 1e-4
        assert out["label"] in ("right", "left", "up", "down", "clockwise", "counterclockwise", "grow", "shrink")


@pytest.mark.slow
@pytest.mark.trained("dcgan")
def test_a_gan_draws_a_seeded_grid_or_the_latents_of_a_file(trained, tmp_path):
    from PIL import Image

    export = trained.get("dcgan").export
    latents, wrong = tmp_path / "z.npy", tmp_path / "wrong.npy"
    np.save(latents, np.zeros((3, 32), np.float32))
    np.save(wrong, np.zeros((3, 100), np.float32))
    seeded = [export, "--num-images", "6", "--columns", "3", "--seed", "7"]
    (a,), (b,), (z,), (body,), refused = predict([
        [*seeded, "--output", tmp_path / "a.png"], [*seeded, "--output", tmp_path / "b.png"],
        [export, "--latents", latents, "--output", tmp_path / "z.png"], [*seeded, "--rest"],
        [export, "--latents", wrong, "--output", tmp_path / "bad.png"]], tmp_path)
    assert a["samples"] == 6 and a["size"] == [16, 16] and z["samples"] == 3
    a, b, z = (np.asarray(Image.open(tmp_path / f"{k}.png")) for k in "abz")
    assert a.shape == (2 * 64, 3 * 64, 3) and a.std() > 0  # 16-pixel samples upscaled to 64
    assert (a == b).all()  # the same seed, the same images
    assert z.shape == (64, 3 * 64, 3) and (z[:, :64] == z[:, 64:128]).all()  # equal latents, equal images
    assert body == {"signature_name": "generate", "inputs": {"count": 6, "seed": 7}}
    assert f"--latents {wrong}: shape (3, 100), but the generator takes latents of shape [N, 32]" in refused["error"]
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".") or f == "bad.png"]  # nothing half-written


def test_help_explains_every_flag(python):
    out = python(["-m", "recipes.predict", "--help"]).stdout
    for flag in ("--signature", "--output", "--min-score", "--num-images", "--seed", "--latents", "--columns",
                 "--cell", "--rest"):
        assert flag in out, flag


def test_bad_arguments_are_one_clear_line(python, tmp_path):
    proc = python(["-m", "recipes.predict", str(tmp_path)], check=False)
    assert proc.returncode == 2 and "not a SavedModel directory" in proc.stderr and "Traceback" not in proc.stderr
    proc = python(["-m", "recipes.predict", str(tmp_path), "--num-images", "0"], check=False)
    assert proc.returncode == 2 and "argument --num-images: must be a positive integer" in proc.stderr


@pytest.mark.slow
@pytest.mark.trained("rmdl_image")
@pytest.mark.trained("rmdl_points")
@pytest.mark.trained("rmdl_text")
def test_rmdl_exports_classify_image_point_cloud_and_text_files(trained, tmp_path):
    from PIL import Image

    from suite.data.classification import SOLIDS, shape_images, solid_clouds

    images = shape_images(2, 32, seed=5, split="test")[0]
    pictures = [tmp_path / "a.png", tmp_path / "b.jpg"]
    Image.fromarray(images[0]).resize((48, 40)).save(pictures[0])  # another size than trained
    Image.fromarray(images[1]).save(pictures[1], "JPEG", quality=95)
    clouds, labels, _ = solid_clouds(2, points=200, seed=5, split="test")
    xyz, ply = tmp_path / "a.xyz", tmp_path / "b.ply"
    xyz.write_text("".join(" ".join(f"{v:.5f}" for v in p[:3]) + " " + " ".join(str(int(c * 255)) for c in p[3:])
                           + "\n" for p in clouds[0][:150]))  # 150 points: a different count than b's 200
    ply.write_text("ply\nformat ascii 1.0\nelement vertex 200\nproperty float x\nproperty float y\n"
                   "property float z\nend_header\n" + "".join(f"{p[0]} {p[1]} {p[2]}\n" for p in clouds[1]))
    shapes, solids, texts, five = predict([
        [trained.get("rmdl_image").export, *pictures], [trained.get("rmdl_points").export, xyz, ply],
        [trained.get("rmdl_text").export, "the coach saw the match and the goal of the team"],
        [trained.get("rmdl_points").export, tmp_path / "five.xyz"]], tmp_path)
    for out, names in ((shapes, pictures), (solids, [xyz, ply])):
        assert [o["input"] for o in out] == list(map(str, names))
        for o in out:
            assert abs(sum(o["probabilities"]) - 1) < 1e-3 and len(o["member_classes"]) == 9 and 0 < o["agreement"] <= 1
    assert all(o["label"] in SOLIDS for o in solids)
    assert texts[0]["label"] == "sport"
    assert "five.xyz: no such file" in five["error"]
