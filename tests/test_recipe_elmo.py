"""recipes.elmo end to end: one tiny run (killed with SIGKILL after its first epoch and resumed) feeds the
learning, serving, pre-trained folder and TensorBoard checks; bad text and flags are refused before
anything is written."""
import numpy as np
import pytest

from conftest import (assert_bad_text_refused, assert_refused_cleanly, learned, loss_curve, readme_figure,
                      replay_warmup, serve_cases, tensorboard_tags, tensorflow_only)
from runs import RUNS, flag

ELMO = ["-m", "recipes.elmo", "--preset", "tiny", "--no-progress"]


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.elmo", "--help"]).stdout
    for f in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
              "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--learning-rate", "--num-sentences",
              "--sequence-length", "--vocabulary-size", "--negatives", "--prompts"):
        assert f in out, f


@pytest.mark.slow
@pytest.mark.trained("elmo")
def test_tiny_run_learns_both_directions_far_below_the_unigram_model_and_resumed_after_kill(trained):
    run = trained.get("elmo")
    r = run.result
    assert r["step"] == 2 * flag("elmo", "--steps-per-epoch") and run.resumed_at == RUNS["elmo"][1]
    unigram = r["eval"]["unigram_perplexity"]
    assert r["initial"]["perplexity"] > unigram  # untrained: worse than counting words
    for direction in ("forward", "backward"):  # each LM alone far below the unigram model
        assert r["eval"][f"{direction}/perplexity"] < 0.25 * unigram, r["eval"]
        assert r["eval"][f"{direction}/accuracy"] > 0.3, r["eval"]
    start, end = r["initial"]["perplexity"], r["eval"]["perplexity"]
    assert learned(start, end, readme_figure("elmo", "perplexity")) >= 0.5, r["eval"]
    assert r["words_per_second"] > 0 and r["parameters"] > 0
    losses = loss_curve(run.logdir)
    assert losses[-1][1] < 0.5 * losses[0][1], losses


@pytest.mark.slow
@pytest.mark.trained("elmo")
def test_export_gives_contextual_vectors_of_raw_sentences_in_a_tensorflow_only_process(trained):
    from suite.data.text_corpus import tokenize

    run = trained.get("elmo")
    sentences = ["alice gave bob the red book .", "The red BOOK was given to Alice!", "", "Naïve café", "東京 😀",
                 "alice " * 5000]
    got = tensorflow_only(
        f"m = tf.saved_model.load({str(run.export)!r})\n"
        f"r = m.signatures['serving_default'](sentences=tf.constant({sentences!r}))\n"
        "e = m.signatures['serving_default'](sentences=tf.zeros([0], tf.string))\n"
        "out = {'tokens': [[t.decode() for t in row] for row in r['tokens'].numpy()],\n"
        "       'mask': r['mask'].numpy().tolist(), 'shape': r['layers'].shape.as_list(),\n"
        "       'layers': r['layers'].numpy()[:2, :8].tolist(), 'vectors': r['vectors'].numpy()[:2, :8].tolist(),\n"
        "       'padding': float(abs(r['layers'].numpy()[2]).max()), 'empty': e['vectors'].shape.as_list()}\n",
        run.export_dir)
    assert got["shape"] == [6, 5000, 3, 128] and got["empty"] == [0, 0, 128]
    for s, tokens, mask in zip(sentences, got["tokens"], got["mask"]):
        words = tokenize(s)
        assert tokens[:len(words)] == words and sum(mask) == len(words) and set(tokens[len(words):]) <= {""}
    assert got["padding"] == 0.0  # an empty sentence has no vectors
    layers, vectors = np.array(got["layers"]), np.array(got["vectors"])
    np.testing.assert_allclose(vectors, layers.mean(2), rtol=1e-5, atol=1e-6)
    # "book" (position 5 of the first sentence, 2 of the second): the same word, the same token layer, but
    # each biLM layer gives it its sentence
    np.testing.assert_allclose(layers[0, 5, 0], layers[1, 2, 0], rtol=1e-5, atol=1e-5)
    for k in (1, 2):
        a, b = layers[0, 5, k], layers[1, 2, k]
        assert np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) < 0.99, k
    assert sorted(replay_warmup(run.export, run.export_dir)) == ["serving_default"]
    out = serve_cases(run.export, [("serving_default", {"sentences": "tf.constant([[b'a']])"})], run.export_dir)
    assert "error" in out[0]  # a [1, 1] matrix is not the [N] of the signature


@pytest.mark.slow
@pytest.mark.trained("elmo")
def test_pretrained_folder_holds_the_exported_bilm(trained):
    import tensorflow as tf

    from suite.lm import elmo

    run = trained.get("elmo")
    config, vocabulary, net = elmo.load_pretrained(str(run.logdir))
    assert config == elmo.get_config("tiny", vocabulary_size=len(vocabulary)) and vocabulary[:2] == ["<unk>", "<s>"]
    ours = elmo.serving_endpoints(net, config)["serving_default"][0](tf.constant(["alice gave bob the red book ."]))
    served = tf.saved_model.load(str(run.export)).signatures["serving_default"](
        sentences=tf.constant(["alice gave bob the red book ."]))
    np.testing.assert_allclose(ours["layers"].numpy(), served["layers"].numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="not a pre-trained ELMo"):
        elmo.load_pretrained(str(run.export_dir))


@pytest.mark.slow
@pytest.mark.trained("elmo")
def test_tensorboard_has_the_promised_views(trained):
    run = trained.get("elmo")
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "loss/forward", "loss/backward", "accuracy/forward", "eval/perplexity", "eval/unigram_perplexity",
            "eval/forward/perplexity", "eval/backward/perplexity"} <= tags["scalars"]
    assert "eval/predictions" in tags["text"] and hparams["recipe"] == "elmo"


def test_bad_text_and_flags_are_refused_before_anything_is_written(tmp_path):
    assert_bad_text_refused(ELMO, tmp_path)
    (tmp_path / "short.txt").write_text("one two\nthree\n" * 5)
    assert_refused_cleanly([*ELMO, "--data", str(tmp_path / "short.txt")], "too few for one window of 22", tmp_path)
    assert_refused_cleanly([*ELMO, "--vocabulary-size", "2"], "--vocabulary-size: must be at least 3 (<unk> and <s>",
                           tmp_path)
    assert_refused_cleanly([*ELMO, "--sequence-length", "1"], "--sequence-length: must be at least 2, got 1", tmp_path)
    assert_refused_cleanly([*ELMO, "--negatives", "0"], "--negatives", tmp_path)
