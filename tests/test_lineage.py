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


def test_lineage_benchmark_refuses_tasks_it_cannot_score(python):
    proc = python(["-m", "benchmarks", "lineage", "--tasks", "sts"], check=False)
    assert proc.returncode == 2 and "--tasks: sts: choose from cola, sst, nli" in proc.stderr
