"""recipes.bert and recipes.mtdnn end to end: one tiny run each (killed with SIGKILL half-way and
resumed) feeds the learning, export (raw strings answered in a TensorFlow-only process),
TensorBoard and resume checks; the pre-trained encoder initialises MT-DNN; bad input."""
import json
import os

import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, refused_on_a_copy, replay_warmup,
                      result_json, tensorboard_tags, tensorflow_only)
from runs import RUNS

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed")


@pytest.mark.parametrize("recipe, own", [("bert", ("--num-documents", "--sequence-length", "--vocabulary-size")),
                                         ("mtdnn", ("--tasks", "--init-from", "--no-san", "--learning-rate"))])
def test_help_documents_every_flag(python, recipe, own):
    out = python(["-m", f"recipes.{recipe}", "--help"]).stdout
    for flag in CORE + own:
        assert flag in out, flag


def serve(path, calls, cwd):
    """Calls signatures of an export in a TensorFlow-only process; ``calls``: [(signature, {input: [strings]})]
    -> [{output: value as a list}, or {"error": the message of a refused call}]."""
    return tensorflow_only(
        f"m = tf.saved_model.load({str(path)!r})\n"
        f"calls = json.loads({json.dumps(json.dumps(calls))})\n"
        "out = []\n"
        "for sig, kwargs in calls:\n"
        "    try:\n"
        "        res = m.signatures[sig](**{k: tf.constant(v, tf.string) for k, v in kwargs.items()})\n"
        "    except tf.errors.InvalidArgumentError as e:\n"
        "        out.append({'error': e.message})\n"
        "        continue\n"
        "    out.append({k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist()\n"
        "                for k, v in res.items()})\n", cwd,
        forbidden=("suite", "recipes", "keras_hub", "tensorflow_text"))


LONG = "alice gave bob the red ball in the park " * 20  # far past the sequence length: truncated


@pytest.fixture(scope="module")
def bert_run(trained):
    """Tiny BERT pre-training, 2 x 1,000 steps, killed after the first epoch and resumed."""
    return trained.get("bert")


@pytest.fixture(scope="module")
def mtdnn_run(trained):
    """Tiny MT-DNN, all five embedded tasks, 4 x 2000 steps from a fresh encoder, killed half-way."""
    return trained.get("mtdnn")


@pytest.mark.slow
@pytest.mark.trained("bert")
def test_bert_pretraining_learns_and_resumed_after_kill(bert_run):
    r = bert_run.result
    assert bert_run.resumed_at == 1000 and r["step"] == 2000
    losses = loss_curve(bert_run.logdir)  # from step 1 (untrained) across the kill
    assert losses[0][0] == 1 and losses[-1][1] < 0.8 * losses[0][1], losses
    assert r["initial"]["mlm_accuracy"] < 0.05
    assert learned(r["initial"]["mlm_accuracy"], r["eval"]["mlm_accuracy"],
                   readme_figure("bert", "masked-LM accuracy")) >= 0.5, r
    # next sentence: the stories keep their tense and voice, which a sentence of another story mostly breaks
    assert abs(r["initial"]["nsp_accuracy"] - 0.5) < 0.1
    assert learned(0.5, r["eval"]["nsp_accuracy"], readme_figure("bert", "next-sentence accuracy")) >= 0.5, r
    assert sorted(os.listdir(bert_run.logdir / "encoder")) == ["config.json", "encoder.weights.h5", "vocabulary.txt"]


@pytest.mark.slow
@pytest.mark.trained("bert")
def test_bert_export_embeds_raw_strings(bert_run, tmp_path):
    single, pair, *edges, mismatched = serve(
        bert_run.export, [("serving_default", {"text": ["bob threw the cup", "", LONG]}),
                          ("pair", {"text_a": ["who has it"], "text_b": ["alice has it"]}),
                          # what a client may well send alone: nothing to tokenize, or nothing at all
                          ("serving_default", {"text": [""]}), ("serving_default", {"text": ["  \t "]}),
                          ("serving_default", {"text": ["x" * 10000]}), ("serving_default", {"text": []}),
                          ("pair", {"text_a": ["", ""], "text_b": ["", ""]}),
                          ("pair", {"text_a": ["who", "what"], "text_b": ["alice"]})], tmp_path)
    assert len(single["pooled_output"]) == 3 and len(single["pooled_output"][0]) == 64
    assert len(single["sequence_output"][2]) == 48 and sum(single["padding_mask"][2]) == 48  # truncated
    assert sum(single["padding_mask"][1]) == 2  # an empty string is [CLS] [SEP]
    assert len(pair["pooled_output"]) == 1
    empty, blank, long_word, none, empty_pair = edges
    assert [sum(x["padding_mask"][0]) for x in (empty, blank, long_word)] == [2, 2, 3]  # a long word: one [UNK]
    assert none["pooled_output"] == [] and sum(empty_pair["padding_mask"][1]) == 3
    assert "text_a and text_b must hold the same number of strings" in mismatched["error"]
    warm = replay_warmup(bert_run.export, tmp_path)  # TF Serving's warm-up requests, each answered
    assert sorted(warm) == ["pair", "serving_default"] and warm["pair"]["pooled_output"] == [1, 64]


@pytest.mark.slow
@pytest.mark.trained("bert")
def test_bert_encoder_initialises_mtdnn(bert_run, python, tmp_path):
    out = python(["-m", "recipes.mtdnn", "--preset", "tiny", "--tasks", "sst", "--epochs", "1", "--steps-per-epoch",
                  "5", "--no-progress", "--init-from", str(bert_run.logdir), "--logdir", str(tmp_path / "mt"),
                  "--export-dir", str(tmp_path / "export")])
    assert result_json(out.stdout)["step"] == 5
    assert not (tmp_path / "mt" / "vocabulary.txt").exists()  # the encoder's own vocabulary is used


@pytest.mark.slow
@pytest.mark.trained("mtdnn")
def test_mtdnn_learns_every_task_and_resumed_after_kill(mtdnn_run):
    """The tiny preset, all five embedded tasks, 8,000 steps from a fresh encoder: every task at
    least half of the way from the untrained model to what the README reports."""
    from suite.nlu.mtdnn import get_config

    r, tiny = mtdnn_run.result, get_config("tiny")
    assert mtdnn_run.resumed_at == 4000 and r["step"] == tiny.epochs * tiny.steps_per_epoch == 8000
    assert r["tasks"] == ["cola", "sst", "sts", "nli", "qnli"]
    dev, initial = r["eval"], r["initial"]
    for task, metric, name in (("cola", "mcc", "MCC"), ("sst", "accuracy", "accuracy"), ("sts", "pearson", "Pearson"),
                               ("nli", "accuracy", "accuracy"), ("qnli", "mrr", "MRR")):
        share = learned(initial[task][metric], dev[task][metric], readme_figure(f"mtdnn {task}", name))
        assert share >= 0.5, (task, initial[task], dev[task])
    # every task got steps in proportion to its size
    steps = r["task_steps"]
    assert steps["sts"] > steps["cola"] > steps["sst"] and sum(steps.values()) == r["step"]


@pytest.mark.slow
@pytest.mark.trained("mtdnn")
def test_mtdnn_export_answers_every_task_from_raw_strings(mtdnn_run, tmp_path):
    calls = [("sst", {"sentence": ["the food was good but the service was bad", "", LONG]}),
             ("serving_default", {"sentence": ["alice gave the red ball to bob"]}),  # the first task: cola
             ("nli", {"sentence1": ["bob gave the cup to alice"], "sentence2": ["alice did not get the cup"]}),
             ("sts", {"sentence1": ["bob gave the cup to alice", ""], "sentence2": ["alice gave the cup to bob", LONG]}),
             ("qnli", {"question": ["who gave the cup to alice"] * 2, "candidate": ["bob gave the cup to alice", ""]}),
             ("sst", {"sentence": []}), ("sts", {"sentence1": ["a", "b"], "sentence2": ["c"]})]
    sst, cola, nli, sts, qnli, none, mismatched = serve(mtdnn_run.export, calls, tmp_path)
    assert none == {"label": [], "label_id": [], "probabilities": []}
    assert "sentence1 and sentence2 must hold the same number of strings" in mismatched["error"]
    warm = replay_warmup(mtdnn_run.export, tmp_path)  # TF Serving's warm-up requests, each answered
    assert sorted(warm) == ["cola", "nli", "qnli", "serving_default", "sst", "sts"] and warm["qnli"]["score"] == [1]
    assert len(sst["label"]) == 3 and set(sst["label"]) <= {"negative", "positive"}
    assert cola["label"][0] in ("acceptable", "unacceptable")
    assert abs(sum(sst["probabilities"][2]) - 1.0) < 1e-4
    assert nli["label"][0] in ("entailment", "neutral", "contradiction") and len(nli["probabilities"][0]) == 3
    assert len(sts["score"]) == 2 and all(0.0 < s < 1.0 for s in qnli["score"])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [pytest.param(r, marks=pytest.mark.trained(r)) for r in ("bert", "mtdnn")])
def test_tensorboard_has_the_promised_views(recipe, request):
    run = request.getfixturevalue(f"{recipe}_run")
    tags, hparams = tensorboard_tags(run.logdir)
    if recipe == "bert":
        assert {"loss", "loss/mlm", "loss/nsp", "accuracy/mlm", "eval/mlm_accuracy", "eval/nsp_accuracy",
                "learning_rate/optimizer"} <= tags["scalars"]
        assert "masked_words" in tags["text"]
    else:
        assert {"loss", "loss/sst", "loss/qnli", "dev/sst/accuracy", "dev/sts/pearson", "dev/qnli/mrr",
                "learning_rate/optimizer"} <= tags["scalars"]
    assert hparams["recipe"] == recipe and hparams["encoder.num_layers"] == 2


@pytest.mark.slow
@pytest.mark.trained("mtdnn")
def test_mtdnn_refuses_to_resume_with_other_tasks(trained, tmp_path):
    run = trained.get("mtdnn")
    assert (run.logdir / "vocabulary.txt").exists()
    refused_on_a_copy(run, [*RUNS["mtdnn"][0], "--tasks", "sst", "--epochs", "5"], "tasks", tmp_path)


@pytest.mark.parametrize("args, message", [
    (["-m", "recipes.mtdnn", "--tasks", "sst,squad"], "'squad' is not an embedded task"),
    (["-m", "recipes.mtdnn", "--tasks", "sst,sst"], "a task is named twice"),
    (["-m", "recipes.mtdnn", "--init-from", "/nonexistent/encoder"], "not a pre-trained encoder"),
    (["-m", "recipes.mtdnn", "--data", "/nonexistent/glue"], "no such folder"),
    (["-m", "recipes.mtdnn", "--learning-rate", "0"], "argument --learning-rate: must be > 0, got 0"),
    (["-m", "recipes.bert", "--data", "/nonexistent/corpus.txt"], "no such file"),
    (["-m", "recipes.bert", "--sequence-length", "4"], "argument --sequence-length: must be at least 8, got 4"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, args, message):
    assert_refused_cleanly(args, message, tmp_path)


def test_a_bad_glue_file_names_file_and_line(tmp_path):
    glue_dir = tmp_path / "glue" / "RTE"
    glue_dir.mkdir(parents=True)
    (glue_dir / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta b\tc d\tentailment\n"
                                        "1\te f\tg h\tperhaps\n")
    (glue_dir / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta b\tc d\tentailment\n")
    assert_refused_cleanly(["-m", "recipes.mtdnn", "--data", str(tmp_path / "glue"), "--tasks", "rte"],
                           "RTE/train.tsv:3: label 'perhaps'", tmp_path)
