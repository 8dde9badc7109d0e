"""recipes.word2vec end to end: one tiny run per model (skip-gram killed with SIGKILL after its first epoch
and resumed) feeds the learning, export, serving and TensorBoard checks; bad text and flags are refused
before anything is written."""
import os

import pytest

from conftest import (assert_bad_text_refused, assert_refused_cleanly, learned, loss_curve, readme_figure,
                      replay_warmup, result_json, run_python, serve_cases, tensorboard_tags, tensorflow_only)
from runs import RUNS

W2V = ["-m", "recipes.word2vec", "--preset", "tiny", "--no-progress"]
CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--skip-bad-files", "--learning-rate")
CLASSES = {"alice": "person", "ball": "object", "red": "adjective", "park": "place", "gave": "finite", "given": "participle"}


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.word2vec", "--help"]).stdout
    for flag in CORE + ("--model", "--dim", "--window", "--negatives", "--subsample", "--order", "--vocab-size",
                        "--min-count", "--similarity", "--analogies", "--num-sentences"):
        assert flag in out, flag


def _classes_of(word):
    """The embedded classes ``word`` belongs to (a verb whose past and participle are one word: both; past and
    present forms fill one slot of the stories: one class)."""
    from suite.data import nlu

    finite = [v[0] for v in nlu.VERBS] + [nlu.present(v[2]) for v in nlu.VERBS]
    return {name for name, words in (("person", nlu.NAMES), ("object", nlu.NOUNS), ("adjective", nlu.ADJECTIVES),
                                     ("place", nlu.PLACES), ("finite", finite),
                                     ("participle", [v[1] for v in nlu.VERBS])) if word in words}


@pytest.mark.slow
@pytest.mark.trained("word2vec_skipgram")
@pytest.mark.trained("word2vec_cbow")
@pytest.mark.trained("word2vec_nnlm")
@pytest.mark.parametrize("model", ["skipgram", "cbow", "nnlm"])
def test_tiny_runs_learn_the_corpus_classes(trained, model):
    run = trained.get(f"word2vec_{model}")
    r = run.result
    assert r["step"] == 400 and (run.resumed_at == RUNS["word2vec_skipgram"][1] if model == "skipgram" else True)
    start, end = r["initial"]["similarity/embedded"]["spearman"], r["eval"]["similarity/embedded"]["spearman"]
    assert abs(start) < 0.2 and learned(start, end, readme_figure(f"word2vec {model}", "Spearman")) >= 0.5, r["eval"]
    losses = loss_curve(run.logdir)
    assert losses[-1][1] < losses[0][1], losses
    if model == "nnlm":  # perplexity far below the unigram model's
        assert r["eval"]["perplexity"] < 0.3 * r["eval"]["unigram_perplexity"], r["eval"]
        assert learned(r["initial"]["perplexity"], r["eval"]["perplexity"],
                       readme_figure("word2vec nnlm", "perplexity")) >= 0.5


@pytest.mark.slow
@pytest.mark.trained("word2vec_skipgram")
def test_a_finished_run_run_again_reports_its_scores_and_exports_without_training(trained, tmp_path):
    import json
    import shutil

    from conftest import run_python

    run = trained.get("word2vec_skipgram")
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    shutil.copytree(run.logdir, logdir)
    proc = run_python([*RUNS["word2vec_skipgram"][0], "--logdir", str(logdir), "--export-dir", str(export_dir)])
    again = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert again["step"] == run.result["step"] and again["losses"] == []  # nothing trained
    score = again["eval"]["similarity/embedded"]["spearman"]  # the restored model's, as the run left it
    assert again["initial"] == run.result["initial"] and score == pytest.approx(
        run.result["eval"]["similarity/embedded"]["spearman"], abs=1e-6), again
    assert f"[finished at step {run.result['step']}]" in proc.stderr and os.path.isdir(again["export"])


@pytest.mark.slow
@pytest.mark.trained("word2vec_skipgram")
def test_export_answers_raw_words_with_vectors_neighbours_and_unknown_flags(trained):
    run = trained.get("word2vec_skipgram")
    out = serve_cases(run.export, [("serving_default", {"words": "tf.constant(['alice'] * 5000)"}),
                                   ("serving_default", {"words": "tf.zeros([0], tf.string)"}),
                                   ("neighbours", {"words": "tf.constant(['alice', 'bob'])"})], run.export_dir)
    assert out[0] == {"vectors": [5000, 32], "in_vocabulary": [5000]} and out[1]["vectors"] == [0, 32]
    assert out[2]["neighbours"] == [2, 10]
    queries = list(CLASSES) + ["", "Naïve café", "東京", "😀", "ALICE", " park "]
    got = tensorflow_only(
        f"m = tf.saved_model.load({str(run.export)!r})\n"
        f"q = tf.constant({queries!r})\n"
        "n = m.signatures['neighbours'](words=q)\n"
        "v = m.signatures['serving_default'](words=q)\n"
        "out = {'neighbours': [[w.decode() for w in row] for row in n['neighbours'].numpy()],\n"
        "       'known': n['in_vocabulary'].numpy().tolist(), 'norms': tf.norm(v['vectors'], axis=1).numpy().tolist()}\n",
        run.export_dir)
    assert got["known"] == [True] * 6 + [False] * 4 + [True, True]
    for word, near in zip(CLASSES, got["neighbours"]):  # the nearest five share the word's class
        assert sum(CLASSES[word] in _classes_of(w) for w in near[:5]) >= 4, (word, near)
    assert all(n == 0 for n in got["norms"][6:10]) and all(n > 0 for n in got["norms"][:6])
    assert got["neighbours"][6] == [""] * 10 and got["neighbours"][10] == got["neighbours"][0]
    warm = replay_warmup(run.export, run.export_dir)
    assert sorted(warm) == ["neighbours", "serving_default"]


@pytest.mark.slow
@pytest.mark.trained("word2vec_skipgram")
def test_tensorboard_has_the_promised_views(trained):
    run = trained.get("word2vec_skipgram")
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "loss/negative_sampling", "pair_ranking", "eval/similarity/embedded/spearman"} <= tags["scalars"]
    assert "eval/neighbours" in tags["text"] and hparams["model"] == "skipgram"
    projector = os.path.join(run.logdir, "projector")
    assert os.path.isfile(os.path.join(projector, "projector_config.pbtxt"))
    words = open(os.path.join(projector, "metadata.tsv"), encoding="utf-8").read().split("\n")
    assert words[:2] == ["<unk>", "<s>"] and "alice" in words


def test_bad_text_and_flags_are_refused_before_anything_is_written(tmp_path):
    assert_bad_text_refused(W2V, tmp_path)
    (tmp_path / "sim.tsv").write_text("a\tb\n")
    assert_refused_cleanly([*W2V, "--similarity", str(tmp_path / "sim.tsv")], "sim.tsv:1: expected", tmp_path)
    assert_refused_cleanly([*W2V, "--vocab-size", "2"], "--vocab-size: must be at least 3 (<unk> and <s>",
                           tmp_path)
    assert_refused_cleanly([*W2V, "--model", "nnlm", "--order", "1"], "--order: must be at least 2 (the NNLM reads", tmp_path)


def test_a_folders_bad_text_file_is_refused_or_skipped_and_named(tmp_path):
    """A folder of .txt files with one binary file among them: refused naming it (and the flag that
    skips it); with --skip-bad-files the run trains on the others and names the one left out, once
    though both splits read the folder."""
    from suite.data import text_corpus
    from suite.data.errors import DataError
    from suite.data.files import BadFiles

    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.txt").write_text("\n".join(f"alice gave bob the red ball number {i} {k}" for k in range(40)))
    (folder / "x.txt").write_bytes(bytes(range(256)))
    with pytest.raises(DataError, match="x.txt: a binary file, not text.*--skip-bad-files"):
        text_corpus.corpus_sentences(str(folder), bad=BadFiles())
    bad = BadFiles(skip=True)
    train = text_corpus.corpus_sentences(str(folder), "train", bad=bad)
    held = text_corpus.corpus_sentences(str(folder), "validation", bad=bad)
    assert len(train) + len(held) == 120 and bad.skipped == [f"{folder / 'x.txt'}: a binary file, not text"]
    assert_refused_cleanly([*W2V, "--data", str(folder)], "x.txt: a binary file, not text", tmp_path / "refused")
    out = run_python([*W2V, "--data", str(folder), "--skip-bad-files", "--epochs", "1", "--steps-per-epoch", "2",
                      "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    assert result_json(out.stdout)["skipped_files"] == 1
    assert "--skip-bad-files: left out 1 file(s)" in out.stderr and "x.txt: a binary file" in out.stderr
