"""The lineage's task models (suite.lm.lineage): one BiLSTM task model learns on task-only embeddings,
ELMo's features line up with the task's words, the benchmark refuses what it cannot measure."""
import numpy as np

from suite.lm import elmo, lineage


def test_task_model_learns_sentiment_from_task_only_embeddings():
    from suite.data.glue import embedded_task
    from suite.data.text_corpus import tokenize

    train, dev = embedded_task("sst", "train"), embedded_task("sst", "validation", count=300)
    words = ["<unk>", *sorted({w for s in train.first for w in tokenize(s)})]
    r = lineage.fit_and_score(lineage.WordFeatures(words, None, name="scratch"), train, dev)
    assert r["initial"]["accuracy"] < 0.6 and r["final"]["accuracy"] > 0.8, r  # 0.95-1.0 over three seeds


def test_frozen_static_vectors_and_elmo_beside_task_words_line_up_and_only_the_task_trains():
    import keras

    words = ["<unk>", "alice", "gave", "bob"]
    static = lineage.WordFeatures(words, np.eye(4, dtype="float32"))
    x = static.inputs(["Alice gave Bob", "", "zed"])
    assert x["ids"].tolist() == [[1, 2, 3], [0, 0, 0], [0, 0, 0]] and x["mask"].sum(1).tolist() == [3, 1, 1]
    config = elmo.get_config("tiny")
    features = lineage.ElmoFeatures(elmo.build_network(config), config, words, dim=8)
    x = features.inputs(["alice gave bob", ""])
    assert x["ids"].tolist() == [[0, 1, 2, 3, 0], [0, 0, 0, 0, 0]]  # ELMo's <s> at either end: <unk>
    assert x["mask"].sum(1).tolist() == [5, 2] and x["characters"].shape == (2, 5, config.max_characters)
    model = lineage.build_task_model(features, 3, pair=False)
    out = model([x["characters"], x["mask"], x["ids"]])
    assert out.shape == (2, 3) and np.allclose(out.numpy().sum(1), 1, atol=1e-5)
    trained = {v.path.split("/")[0] for v in model.trainable_variables}
    assert "elmo_task_vectors" in trained and not any(n.startswith(("forward", "backward", "char")) for n in trained)
    assert keras.ops.shape(features.mix.get_layer("scalar_mix").scalars) == (3,)


def test_ranking_groups_become_labelled_pairs_and_their_probabilities_rank_the_candidates():
    from suite.data.glue import EMBEDDED_TASKS, TaskData

    spec = EMBEDDED_TASKS["qnli"]
    candidates = np.array([["a0", "a1", "a2", "a3"], ["b0", "b1", "b2", "b3"]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)  # the first group has three real candidates
    task = TaskData(spec, np.array(["qa", "qb"]), candidates, np.array([2, 0], np.int32), mask)
    first, second, labels = lineage.examples(task)
    assert first.tolist() == ["qa"] * 3 + ["qb"] * 4
    assert second.tolist() == ["a0", "a1", "a2", "b0", "b1", "b2", "b3"] and labels.tolist() == [0, 0, 1, 1, 0, 0, 0]
    # P(answer) per pair: group a ranks its answer second (MRR 1/2), group b first
    outputs = np.array([[0, p] for p in (0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.6)], np.float32)
    assert lineage.dev_scores(spec, task, outputs) == {"accuracy": 0.5, "mrr": 0.75}
    sts = EMBEDDED_TASKS["sts"]
    scored = lineage.dev_scores(sts, TaskData(sts, first[:3], second[:3], np.array([1.0, 2.0, 4.0])),
                                np.array([[0.0], [1.0], [5.0]]))
    assert scored["spearman"] == 1.0 and 0.9 < scored["pearson"] < 1.0


def test_similarity_task_model_regresses_one_score():
    from suite.data.glue import embedded_task
    from suite.data.text_corpus import tokenize

    train, dev = embedded_task("sts", "train", count=600), embedded_task("sts", "validation", count=100)
    words = ["<unk>", *sorted({w for c in (train.first, train.second) for s in c for w in tokenize(s)})]
    config = lineage.TaskModelConfig(units=16, hidden=16, epochs=2)
    r = lineage.fit_and_score(lineage.WordFeatures(words, None, dim=16, name="scratch"), train, dev, config)
    assert set(r["final"]) == {"pearson", "spearman"} and all(np.isfinite(v) for v in r["final"].values())
    assert r["trainable"] > 0


def test_lineage_benchmark_refuses_tasks_it_cannot_score(python):
    proc = python(["-m", "benchmarks", "lineage", "--tasks", "mnli"], check=False)
    assert proc.returncode == 2 and "--tasks: mnli: choose from cola, sst, sts, nli, qnli" in proc.stderr
    proc = python(["-m", "benchmarks", "lineage", "--finetune-epochs", "0"], check=False)
    assert proc.returncode == 2 and "argument --finetune-epochs: must be at least 1, got 0" in proc.stderr
