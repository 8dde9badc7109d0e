"""recipes.gpt end to end: one tiny run (killed with SIGKILL after its first epoch and resumed) feeds the
learning, generation, serving and TensorBoard checks; bad text and flags are refused before anything is
written."""
import pytest

from conftest import (assert_bad_text_refused, assert_refused_cleanly, learned, loss_curve, readme_figure,
                      replay_warmup, serve_cases, tensorboard_tags, tensorflow_only)
from runs import RUNS, flag

GPT = ["-m", "recipes.gpt", "--preset", "tiny", "--no-progress"]


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.gpt", "--help"]).stdout
    for f in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
              "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--learning-rate", "--num-sentences",
              "--sequence-length", "--vocabulary-size", "--prompts"):
        assert f in out, f


@pytest.mark.slow
@pytest.mark.trained("gpt")
def test_tiny_run_learns_the_stories_far_below_the_unigram_model_and_resumed_after_kill(trained):
    run = trained.get("gpt")
    r = run.result
    assert r["step"] == 2 * flag("gpt", "--steps-per-epoch") and run.resumed_at == RUNS["gpt"][1]
    start, end = r["initial"]["perplexity"], r["eval"]["perplexity"]
    assert start > r["eval"]["unigram_perplexity"]  # untrained: worse than counting tokens
    assert end < 0.25 * r["eval"]["unigram_perplexity"], r["eval"]
    assert learned(start, end, readme_figure("gpt", "perplexity")) >= 0.5, r["eval"]
    assert r["eval"]["next_token_accuracy"] > 0.3 and r["tokens_per_second"] > 0
    losses = loss_curve(run.logdir)
    assert losses[-1][1] < 0.5 * losses[0][1], losses


@pytest.mark.slow
@pytest.mark.trained("gpt")
def test_export_completes_raw_prompts_in_a_tensorflow_only_process(trained):
    run = trained.get("gpt")
    out = serve_cases(run.export, [
        ("serving_default", {"prompts": "tf.zeros([0], tf.string)", "max_new_tokens": "tf.constant(4)"}),
        ("top_k", {"prompts": "tf.constant(['alice'])", "max_new_tokens": "tf.constant(4)", "k": "tf.constant(0)",
                   "temperature": "tf.constant(1.0)"}),
        ("top_p", {"prompts": "tf.constant(['alice'])", "max_new_tokens": "tf.constant(4)", "p": "tf.constant(1.5)",
                   "temperature": "tf.constant(1.0)"}),
        ("serving_default", {"prompts": "tf.constant(['alice'])", "max_new_tokens": "tf.constant(0)"})], run.export_dir)
    assert out[0] == {"completion": [0], "num_tokens": [0]}
    assert "k must be at least 1" in out[1]["error"] and "p must be in (0, 1]" in out[2]["error"]
    assert "max_new_tokens must be at least 1" in out[3]["error"]
    prompts = ["alice gave bob", "the red book was given to", "", "Naïve café", "東京 😀", "alice " * 5000]
    got = tensorflow_only(
        f"m = tf.saved_model.load({str(run.export)!r})\n"
        f"p = tf.constant({prompts!r})\n"
        "g = m.signatures['serving_default'](prompts=p, max_new_tokens=tf.constant(12))\n"
        "k = m.signatures['top_k'](prompts=p, max_new_tokens=tf.constant(40), k=tf.constant(5),\n"
        "                          temperature=tf.constant(1.0))\n"
        "n = m.signatures['top_p'](prompts=p, max_new_tokens=tf.constant(12), p=tf.constant(0.9),\n"
        "                          temperature=tf.constant(0.8))\n"
        "out = {name: {'text': [t.decode() for t in r['completion'].numpy()], 'n': r['num_tokens'].numpy().tolist()}\n"
        "       for name, r in (('greedy', g), ('top_k', k), ('top_p', n))}\n", run.export_dir)
    from suite.data import nlu

    greedy = got["greedy"]
    assert all(1 <= n <= 12 for n in greedy["n"]), greedy  # every prompt, odd or huge, is continued
    first = greedy["text"][0].split()  # "alice gave bob" -> "the <adjective> <object> ..." as in the stories
    assert first[0] == "the" and first[1] in nlu.ADJECTIVES and first[2] in nlu.NOUNS + nlu.POLYSEMOUS, greedy
    assert greedy["text"][1].split()[0] in nlu.NAMES, greedy["text"][1]
    assert greedy["text"][2].split()[0] in (*nlu.NAMES, "the", "in"), greedy["text"][2]  # a sentence begins
    words = {*nlu.NAMES, *nlu.NOUNS, *nlu.POLYSEMOUS, *nlu.ADJECTIVES, *nlu.PLACES, *(w for v in nlu.VERBS for w in v),
             *(nlu.present(v[2]) for v in nlu.VERBS), "the", "to", "by", "in", "was", "is", "will", "be", "were", "a"}
    for name in ("top_k", "top_p"):  # sampled words are the stories' words, sentences end before 40 tokens
        assert all(1 <= n < 40 for n in got[name]["n"]), got[name]
        known = [w in words for t in got[name]["text"] for w in t.split()]
        assert sum(known) >= 0.9 * len(known), got[name]["text"]
    warm = replay_warmup(run.export, run.export_dir)
    assert sorted(warm) == ["serving_default", "top_k", "top_p"]


@pytest.mark.slow
@pytest.mark.trained("gpt")
def test_tensorboard_has_the_promised_views(trained):
    run = trained.get("gpt")
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "loss/lm", "accuracy/next_token", "eval/perplexity", "eval/unigram_perplexity",
            "eval/next_token_accuracy"} <= tags["scalars"]
    assert "eval/samples" in tags["text"] and hparams["recipe"] == "gpt"


def test_bad_text_and_flags_are_refused_before_anything_is_written(tmp_path):
    assert_bad_text_refused(GPT, tmp_path)
    (tmp_path / "short.txt").write_text("one two\nthree\n" * 5)
    assert_refused_cleanly([*GPT, "--data", str(tmp_path / "short.txt")], "too few for one window of 33", tmp_path)
    assert_refused_cleanly([*GPT, "--vocabulary-size", "5"], "--vocabulary-size: must be at least 6 (the 5 reserved",
                           tmp_path)
    assert_refused_cleanly([*GPT, "--sequence-length", "2"], "--sequence-length: must be at least 4, got 2", tmp_path)


# ------------------------------------------------------------------ fine-tuning (recipes.gpt_finetune)
@pytest.fixture(scope="module")
def finetuned(trained, tmp_path_factory):
    """NLI fine-tuned from the tiny pre-training run (its gpt/ folder), in the foreground: seconds."""
    import json

    from conftest import run_python

    pretrained = trained.get("gpt")
    root = tmp_path_factory.mktemp("gpt_finetune")
    proc = run_python(["-m", "recipes.gpt_finetune", "--preset", "tiny", "--no-progress", "--task", "nli",
                       "--init-from", str(pretrained.logdir), "--logdir", str(root / "logs"),
                       "--export-dir", str(root / "export")])
    return json.loads(proc.stdout.strip().splitlines()[-1]), root


@pytest.mark.slow
@pytest.mark.trained("gpt")
def test_fine_tuned_gpt_learns_inference_and_serves_raw_sentence_pairs(finetuned):
    from suite.data.glue import embedded_task

    result, root = finetuned
    assert result["export"] == str(root / "export" / "gpt_nli" / "1")
    start, end = result["initial"]["nli"]["accuracy"], result["eval"]["nli"]["accuracy"]
    assert start < 0.4 and learned(start, end, readme_figure("gpt_finetune nli", "accuracy")) >= 0.5, result["eval"]
    losses = loss_curve(root / "logs", "loss/task")
    assert losses[-1][1] < losses[0][1], losses
    dev = embedded_task("nli", "validation", seed=0, count=100)
    odd = ["", "Naïve café 東京 😀", "alice " * 5000]
    got = tensorflow_only(
        f"m = tf.saved_model.load({result['export']!r})\n"
        f"r = m.signatures['nli'](sentence1=tf.constant({dev.first.tolist() + odd!r}),\n"
        f"                        sentence2=tf.constant({dev.second.tolist() + odd[::-1]!r}))\n"
        "out = {'ids': r['label_id'].numpy().tolist(), 'p': r['probabilities'].numpy().tolist()}\n", root)
    accuracy = sum(i == y for i, y in zip(got["ids"], dev.labels.tolist())) / len(dev)
    assert accuracy > 0.5, accuracy  # the export answers as the trained model (chance: 1/3)
    assert len(got["ids"]) == 103 and all(abs(sum(p) - 1) < 1e-4 for p in got["p"])
    warm = replay_warmup(result["export"], root)
    assert sorted(warm) == ["nli", "serving_default"]


def test_fine_tuning_help_documents_every_flag(python):
    out = python(["-m", "recipes.gpt_finetune", "--help"]).stdout
    for f in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--logdir",
              "--export-dir", "--seed", "--learning-rate", "--task", "--init-from", "--lm-weight"):
        assert f in out, f


def test_fine_tuning_refuses_what_is_not_a_pre_trained_gpt(tmp_path):
    args = ["-m", "recipes.gpt_finetune", "--preset", "tiny", "--no-progress", "--task", "cola"]
    assert_refused_cleanly([*args, "--init-from", str(tmp_path / "nowhere")], "not a pre-trained GPT (missing "
                           "config.json, vocabulary.txt, gpt.weights.h5)", tmp_path)
    assert_refused_cleanly([*args, "--init-from", str(tmp_path), "--lm-weight", "-1"], "--lm-weight: must be >= 0, got -1",
                           tmp_path)
    assert_refused_cleanly([*args[:-1], "nope", "--init-from", str(tmp_path)], "--task: 'nope' is not an embedded "
                           "task", tmp_path)
    assert_refused_cleanly([*args[:-1], "nli,sts", "--init-from", str(tmp_path)], "--task nli,sts: one task",
                           tmp_path)
