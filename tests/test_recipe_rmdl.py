"""recipes.rmdl end to end: one tiny run per modality (the image run killed with SIGKILL after its third
epoch and resumed) feeds the learning, export, serving and TensorBoard checks; bad input is refused
before anything is written."""
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, replay_warmup, serve_cases,
                      tensorboard_tags, tensorflow_only)
from runs import RUNS

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--skip-bad-files")
RMDL = ["-m", "recipes.rmdl", "--preset", "tiny", "--no-progress"]
MODALITIES = ["image", "points", "text"]
CLASSES = {"image": 5, "points": 5, "text": 6}


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.rmdl", "--help"]).stdout
    for flag in CORE + ("--modality", "--dnn", "--cnn", "--rnn", "--vote", "--embeddings", "--image-size",
                        "--num-points"):
        assert flag in out, flag


@pytest.fixture(scope="module", params=[pytest.param(m, marks=pytest.mark.trained(f"rmdl_{m}")) for m in MODALITIES],
                ids=MODALITIES)
def tiny(request, trained):
    key = f"rmdl_{request.param}"
    return request.param, key, trained.get(key)


@pytest.mark.slow
def test_tiny_run_learns_every_member_above_chance_and_the_vote_above_the_median(tiny):
    modality, key, run = tiny
    r, e = run.result, run.result["eval"]
    assert run.resumed_at == RUNS[key][1] and r["step"] == 4 * 50
    chance = 1 / CLASSES[modality]
    assert abs(r["initial"]["accuracy"] - chance) < 0.1
    assert learned(r["initial"]["accuracy"], e["accuracy"], readme_figure(f"rmdl {modality}", "ensemble accuracy")) >= 0.5
    assert e["accuracy"] > e["median_member_accuracy"] + 0.05  # the vote is worth more than a typical member
    assert all(a > chance for a in e["member"].values()), e["member"]
    assert len(r["members"]) == 9 and sum(m.startswith("RNN") for m in r["members"]) == 3
    curve = [v for _, v in loss_curve(run.logdir)]
    assert curve[-1] < 0.8 * curve[0]


@pytest.mark.slow
def test_export_votes_on_raw_inputs_of_any_size_in_tensorflow_only(tiny):
    modality, _, run = tiny
    n = CLASSES[modality]
    if modality == "image":
        cases = [("serving_default", {"images": "tf.cast(tf.random.uniform([2, 32, 32, 3], 0, 255), tf.uint8)"}),
                 ("serving_default", {"images": "tf.cast(tf.random.uniform([1, 50, 70, 3], 0, 255), tf.uint8)"}),
                 ("image_bytes", {"image_bytes": "tf.stack([tf.io.encode_png(tf.zeros([20, 30, 3], tf.uint8)), "
                                                 "tf.io.encode_jpeg(tf.zeros([64, 48, 3], tf.uint8))])"}),
                 ("serving_default", {"images": "tf.zeros([0, 32, 32, 3], tf.uint8)"}),
                 ("image_bytes", {"image_bytes": "tf.constant([b'<html>'])"})]
        sizes = [2, 1, 2, 0]
    elif modality == "points":
        cases = [("serving_default", {"points": "tf.random.uniform([2, 50, 6])"}),
                 ("serving_default", {"points": "tf.random.uniform([1, 300, 6])"}),
                 ("serving_default", {"points": "tf.random.uniform([1, 1, 6])"}),
                 ("serving_default", {"points": "tf.zeros([0, 10, 6])"}),
                 ("serving_default", {"points": "tf.fill([1, 4, 6], float('nan'))"})]
        sizes = [2, 1, 1, 0]
    else:
        cases = [("serving_default", {"text": "tf.constant(['the team won the match and the cup', 'bake it'])"}),
                 ("serving_default", {"text": "tf.constant([''])"}),
                 ("serving_default", {"text": "tf.constant(['the ' * 500])"}),
                 ("serving_default", {"text": "tf.zeros([0], tf.string)"})]
        sizes = [2, 1, 1, 0]
    out = serve_cases(run.export, cases, run.export_dir)
    for got, size in zip(out, sizes):
        assert got["probabilities"] == [size, n] and got["label"] == [size] and got["votes"] == [size, n]
        assert got["member_classes"] == [size, 9] and got["member_probabilities"] == [size, 9, n]
        assert got["agreement"] == [size]
    if modality == "image":
        assert "image_bytes element 0 is not a JPEG, PNG, GIF or BMP image" in out[4]["error"]
    if modality == "points":
        assert "points holds a non-finite coordinate or colour" in out[4]["error"]
    if modality == "text":  # the vote on a plain sport sentence, as a client reads it
        answer = tensorflow_only(
            f"m = tf.saved_model.load({str(run.export)!r})\n"
            "r = m.signatures['serving_default'](text=tf.constant(['the match team goal coach player score league']))\n"
            "out = {'label': r['label'].numpy()[0].decode(), 'agreement': float(r['agreement'][0]),"
            " 'sum': float(tf.reduce_sum(r['probabilities']))}\n", run.export_dir)
        assert answer["label"] == "sport" and answer["agreement"] > 0.5 and abs(answer["sum"] - 1) < 1e-4
    warm = replay_warmup(run.export, run.export_dir)
    assert sorted(warm) == (["image_bytes", "serving_default"] if modality == "image" else ["serving_default"])


@pytest.mark.slow
def test_tensorboard_shows_members_agreement_and_architectures(tiny):
    modality, _, run = tiny
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "member0/loss", "member8/accuracy", "eval/accuracy", "eval/median_member_accuracy",
            "eval/ensemble_of/09", "eval/member/08", "eval/validation/00"} <= tags["scalars"]
    assert "eval/member_agreement" in tags["images"]
    assert "members/architecture" in tags["text"]
    assert hparams["recipe"] == "rmdl" and hparams["modality"] == modality


def test_an_ensemble_of_no_member_and_misplaced_flags_are_refused(tmp_path):
    assert_refused_cleanly([*RMDL, "--dnn", "0", "--cnn", "0", "--rnn", "0"], "--dnn 0 --cnn 0 --rnn 0 leaves an "
                           "ensemble of no member", tmp_path)
    assert_refused_cleanly([*RMDL, "--modality", "image", "--embeddings", "x.txt"], "--embeddings initialises word "
                           "embeddings: it needs --modality text", tmp_path)


def test_bad_point_folders_are_refused_naming_the_file(tmp_path):
    data = tmp_path / "clouds"
    for c in ("cube", "ball"):
        (data / c).mkdir(parents=True)
        for i in range(3):
            (data / c / f"{i}.xyz").write_text(f"0 0 0\n1 {i} 1\n2 2 {i}\n")
    (data / "ball" / "bad.ply").write_text("ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\n"
                                           "property float y\nproperty float z\nend_header\n0 0 0\n")
    assert_refused_cleanly([*RMDL, "--modality", "points", "--data", str(data)], "bad.ply: PLY vertex 1 has 0 "
                           "values, the header declares 3", tmp_path)
    (data / "ball" / "bad.ply").write_text("0 0 0 1 1\n1 1 1 1 1\n")
    (data / "ball" / "bad.ply").rename(data / "ball" / "five.xyz")
    assert_refused_cleanly([*RMDL, "--modality", "points", "--data", str(data)], "five.xyz: the file has 5 columns "
                           "per point; x y z or x y z r g b (3 or 6) expected", tmp_path)
    (data / "ball" / "five.xyz").unlink()
    (data / "one").mkdir()
    (data / "one" / "0.xyz").write_text("0 0 0\n1 1 1\n")
    assert_refused_cleanly([*RMDL, "--modality", "points", "--data", str(data)], "class 'one' has 1 readable "
                           "example(s); at least 2 are needed", tmp_path)
    (data / "one" / "0.xyz").unlink()
    assert_refused_cleanly([*RMDL, "--modality", "points", "--data", str(data)], "one: an empty class folder",
                           tmp_path)


def test_jit_compile_is_refused_with_rnn_members_and_the_reason(tmp_path):
    assert_refused_cleanly([*RMDL, "--jit-compile"], "the RNN members' LSTMs and GRUs run on cuDNN", tmp_path)


def test_word_vectors_from_a_file_initialise_the_text_members(tmp_path):
    """--embeddings: a GloVe-format file's vectors for the corpus' words, read by a two-step run."""
    from conftest import result_json, run_python

    words = "match team goal rain storm recipe oven song band bank market".split()
    (tmp_path / "glove.txt").write_text("".join(f"{w} {' '.join(str((i + k) % 5 / 10) for k in range(8))}\n"
                                                for i, w in enumerate(words)))
    out = run_python([*RMDL, "--modality", "text", "--epochs", "1", "--steps-per-epoch", "2", "--dnn", "0",
                      "--cnn", "1", "--rnn", "1", "--embeddings", str(tmp_path / "glove.txt"),
                      "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    assert f"--embeddings: {len(words)} of " in out.stdout
    r = result_json(out.stdout)
    assert r["step"] == 2 and len(r["members"]) == 2 and r["export"]
