"""MT-DNN pieces: GLUE readers, metrics, the SAN answer module, the ranking loss, the task sampler
and multi-task steps that update only the encoder and the step's own head."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import glue
from suite.data.errors import DataError
from suite.layers.nlu import StochasticAnswerNetwork
from suite.nlu import bert, metrics, mtdnn
from suite.training import Driver, Stage


# ------------------------------------------------------------------ metrics
def test_glue_metrics_on_hand_made_values():
    y, p = [1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0]
    assert metrics.accuracy(y, p) == pytest.approx(4 / 6)
    assert metrics.f1(y, p) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # tp=2 tn=2 fp=1 fn=1: (4 - 1) / sqrt(3 * 3 * 3 * 3)
    assert metrics.matthews_correlation(y, p) == pytest.approx(3 / 9)
    assert metrics.matthews_correlation(y, [1] * 6) == 0.0  # a constant predictor
    assert metrics.pearson([1, 2, 3], [2, 4, 6.5]) == pytest.approx(np.corrcoef([1, 2, 3], [2, 4, 6.5])[0, 1])
    np.testing.assert_allclose(metrics.ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    assert metrics.spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    scores = [[0.1, 0.9, 0.3, 0.0], [0.8, 0.2, 0.9, 0.0], [0.5, 0.4, 0.3, 0.9]]
    out = metrics.ranking_scores(scores, [1, 0, 2], mask=[[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0]])
    assert out["accuracy"] == pytest.approx(1 / 3)  # the padded 0.9 of the last group does not count
    assert out["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


# ------------------------------------------------------------------ GLUE files
def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_glue_tsv_layouts(tmp_path):
    _write(tmp_path / "CoLA" / "train.tsv", ["gj04\t1\t\tThe book was read .", "gj04\t0\t*\tRead book the was ."])
    _write(tmp_path / "STS-B" / "dev.tsv", ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\t"
                                           "sentence2\tscore", "0\tmain\tf\t2012\t1\tnone\tnone\tA man plays.\t"
                                           "A man is playing.\t4.6"])
    _write(tmp_path / "MNLI" / "dev_matched.tsv", ["index\tpromptID\tsentence1\tsentence2\tgold_label",
                                                   '0\t1\tHe said "no".\tHe refused.\tentailment',
                                                   "1\t2\tIt rains.\tIt is dry.\tcontradiction"])
    _write(tmp_path / "QNLI" / "train.tsv", ["index\tquestion\tsentence\tlabel",
                                             "0\tWho won?\tBob won.\tentailment", "1\tWho won?\tIt rained.\tnot_entailment",
                                             "2\tWho won?\tAl lost.\tnot_entailment", "3\tWhere?\tHere.\tnot_entailment",
                                             "4\tWhen?\tNow.\tentailment"])
    cola = glue.load_task(str(tmp_path), "cola")
    assert list(cola.first) == ["The book was read .", "Read book the was ."] and list(cola.labels) == [1, 0]
    assert cola.second is None
    sts = glue.load_task(str(tmp_path), "stsb", split="validation")
    assert sts.labels.dtype == np.float32 and sts.labels[0] == pytest.approx(4.6)
    mnli = glue.load_task(str(tmp_path), "mnli", split="validation")
    assert list(mnli.labels) == [0, 2] and mnli.first[0] == 'He said "no".'  # quotes are text, not quoting
    qnli = glue.load_task(str(tmp_path), "qnli")  # as ranking: one group per entailed sentence
    assert list(qnli.first) == ["Who won?", "When?"] and list(qnli.labels) == [0, 0]
    assert list(qnli.second[0][:3]) == ["Bob won.", "It rained.", "Al lost."] and list(qnli.mask[0]) == [True] * 3 + [
        False] * 5
    assert qnli.mask[1].sum() == 1  # "Where?" has no answer and is left out


def test_glue_bad_files_name_the_file_and_line(tmp_path):
    _write(tmp_path / "SST-2" / "train.tsv", ["text\tlabel", "good film\t1"])
    with pytest.raises(DataError, match=r"SST-2/train.tsv:1: missing column\(s\) \['sentence'\]"):
        glue.load_task(str(tmp_path), "sst2")
    _write(tmp_path / "RTE" / "train.tsv", ["index\tsentence1\tsentence2\tlabel", "0\ta\tb\tentailment",
                                            "1\tc\td\tmaybe"])
    with pytest.raises(DataError, match=r"RTE/train.tsv:3: label 'maybe' is not one of \['entailment', "
                                        r"'not_entailment'\]"):
        glue.load_task(str(tmp_path), "rte")
    _write(tmp_path / "STS-B" / "train.tsv", ["sentence1\tsentence2\tscore", "a\tb\t7.5"])
    with pytest.raises(DataError, match=r"STS-B/train.tsv:2: score 7.5 outside \[0.0, 5.0\]"):
        glue.load_task(str(tmp_path), "stsb")
    _write(tmp_path / "WNLI" / "train.tsv", ["index\tsentence1\tsentence2\tlabel", "0\tonly two"])
    with pytest.raises(DataError, match=r"WNLI/train.tsv:2: 2 column\(s\)"):
        glue.load_task(str(tmp_path), "wnli")
    with pytest.raises(DataError, match=r"QQP/train.tsv: no such file"):
        glue.load_task(str(tmp_path), "qqp")
    (tmp_path / "CoLA").mkdir()
    (tmp_path / "CoLA" / "train.tsv").write_bytes(b"gj1\tok\t1\n" * 3 + b"\xff\xfe random bytes\n")
    with pytest.raises(DataError, match=r"CoLA/train.tsv:4: not UTF-8 text \(byte 0xff at offset 27\)"):
        glue.load_task(str(tmp_path), "cola")
    with pytest.raises(DataError, match="not a GLUE task"):
        glue.load_task(str(tmp_path), "squad")
    with pytest.raises(DataError, match="no such folder"):
        glue.load_task(str(tmp_path / "nope"), "cola")


def test_tfds_glue_reader():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        mrpc = glue.load_task("tfds:glue", "mrpc")
        sts = glue.load_task("tfds:glue", "stsb", split="validation")
    assert len(mrpc) == 6 and mrpc.second is not None and set(mrpc.labels) <= {0, 1}
    assert sts.labels.dtype == np.float32


def test_embedded_tasks_pipeline():
    from suite.nlu.lexicon import Lexicon, train_vocabulary

    data = {t: glue.embedded_task(t, "validation", count=40) for t in glue.EMBEDDED_TASKS}
    texts = [s for d in data.values() for s in list(d.first) + ([] if d.second is None else list(np.ravel(d.second)))]
    lexicon = Lexicon(train_vocabulary(texts, 200), 32)
    x, y = next(iter(glue.task_dataset(data["qnli"], lexicon.encode, 8, repeat=False)))
    assert x["token_ids"].shape == (8, 4, 32) and x["candidate_mask"].shape == (8, 4) and y.shape == (8,)
    x, y = next(iter(glue.task_dataset(data["sts"], lexicon.encode, 8, repeat=False)))
    assert x["segment_ids"].numpy().max() == 1 and y.dtype == tf.float32
    x, y = next(iter(glue.task_dataset(data["cola"], lexicon.encode, 8, repeat=False)))
    assert x["segment_ids"].numpy().max() == 0 and y.dtype == tf.int32


def test_a_task_encoded_once_gives_the_batches_encoded_a_batch_at_a_time(monkeypatch):
    """Tasks that fit in memory are tokenized when the pipeline is made: the same batches, in the same
    order, from any start, as tokenizing each batch (what a task over the budget still does)."""
    from suite.nlu.lexicon import Lexicon, train_vocabulary

    data = {t: glue.embedded_task(t, "train", count=45) for t in ("sts", "qnli")}  # a pair, a ranking group
    lexicon = Lexicon(train_vocabulary(glue.texts(data), 200), 32)
    monkeypatch.setattr(glue, "ENCODE_CHUNK", 16)  # several chunks
    # a pair shuffled from a start and cut to a length; a ranking group once over (an evaluation)
    for task, kwargs, count in (("sts", {"seed": 3, "start": 4, "length": 24}, 8), ("qnli", {"repeat": False}, 6)):
        once, each = (glue.task_dataset(data[task], lexicon.encode, 8, encoded_bytes=budget, **kwargs)
                      for budget in (None, 0))
        batches = [list(ds.take(8).as_numpy_iterator()) for ds in (once, each)]
        assert len(batches[0]) == len(batches[1]) == count
        for (x1, y1), (x2, y2) in zip(*batches):
            np.testing.assert_array_equal(y1, y2)
            assert x1.keys() == x2.keys() and all(np.array_equal(x1[k], x2[k]) for k in x1), task
    assert glue.encoded_once(data["sts"], lambda *a: lexicon.encode(a[0], a[1]), budget=1000) is None


def test_a_task_set_fits_each_task_over_both_splits_and_reads_each_development_example_once():
    from suite.nlu.lexicon import Lexicon, train_vocabulary

    names = ("cola", "sts", "qnli")
    train = {t: glue.embedded_task(t, "train", count=40) for t in names}
    dev = {t: glue.embedded_task(t, "validation", count=10) for t in names}
    lexicon = Lexicon(train_vocabulary(glue.texts(train), 256), 48)
    tasks = glue.TaskSet(train, dev, lexicon)
    assert list(tasks) == list(names) and tasks.sizes == {t: 40 for t in names}
    for t in names:
        assert tasks.lengths[t] == max(lexicon.fitted_length(d[t].first, d[t].second) for d in (train, dev))
    datasets = tasks.dev_datasets(batch_size=4)
    for t in names:
        labels = np.concatenate([y.numpy() for _, y in datasets[t]])
        np.testing.assert_array_equal(labels, dev[t].labels)  # every example once, in order
        x, _ = next(iter(tasks.train_dataset(t, batch_size=8, seed=1)))
        assert x["token_ids"].shape[-1] == tasks.lengths[t]
    requests = tasks.example_requests()
    assert requests["cola"] == [[str(dev["cola"].first[0])]]
    assert requests["sts"] == [[str(dev["sts"].first[0])], [str(dev["sts"].second[0])]]
    assert requests["qnli"] == [[str(dev["qnli"].first[0])], [str(dev["qnli"].second[0, 0])]]


@pytest.mark.slow  # every task's heads at two lengths: CI only (the developer loop stays under 5 minutes)
def test_each_task_pads_to_its_longest_example_and_its_heads_answer_as_at_full_length():
    from suite.nlu.lexicon import Lexicon, train_vocabulary

    data = {t: glue.embedded_task(t, "validation", count=24) for t in ("cola", "sts", "nli", "qnli")}
    config = mtdnn.get_config("tiny")
    full = config.encoder.sequence_length  # 48
    words = glue.texts({t: glue.embedded_task(t, "train", count=300) for t in data})
    lexicon = Lexicon(train_vocabulary(words, 256), full)
    lengths = {t: lexicon.fitted_length(d.first, d.second) for t, d in data.items()}
    assert all(n % 8 == 0 and n < full for n in lengths.values()), lengths
    assert lengths["cola"] < lengths["sts"]  # one sentence against two
    longest = int(lexicon.encode(np.repeat(data["qnli"].first, 4).tolist(),
                                 np.ravel(data["qnli"].second).tolist())["padding_mask"].numpy().sum(1).max())
    assert lengths["qnli"] - 8 < longest <= lengths["qnli"]  # the groups' candidates, each after its question
    backbone = bert.build_backbone(config.encoder, lexicon.vocabulary_size)
    model = mtdnn.MTDNN(backbone, [d.spec for d in data.values()], config, seed=0)
    model.build_all(full)
    for t, d in data.items():
        x_full, _ = next(iter(glue.task_dataset(d, lexicon.encode, 24, repeat=False)))
        x_cut, _ = next(iter(glue.task_dataset(d, lexicon.encode, 24, repeat=False, length=lengths[t])))
        assert x_cut["token_ids"].shape[-1] == lengths[t] and x_full["token_ids"].shape[-1] == full
        assert int(tf.reduce_sum(x_cut["padding_mask"])) == int(tf.reduce_sum(x_full["padding_mask"]))  # nothing cut
        np.testing.assert_allclose(model.head_output(t, x_cut), model.head_output(t, x_full), atol=1e-5)

# ------------------------------------------------------------------ SAN and the ranking loss
def test_san_shapes_and_inference_average():
    layer = StochasticAnswerNetwork(3, steps=5, prediction_dropout=0.5, dropout=0.0, seed=1)
    rng = np.random.default_rng(0)
    seq = tf.constant(rng.standard_normal((4, 10, 16)), tf.float32)
    segments = tf.constant([[0] * 5 + [1] * 5] * 4)
    mask = tf.constant([[1] * 10, [1] * 8 + [0] * 2, [1] * 10, [1] * 6 + [0] * 4])
    steps = layer.step_probabilities(seq, segments, mask).numpy()
    assert steps.shape == (4, 5, 3)
    out = layer([seq, segments, mask], training=False).numpy()
    np.testing.assert_allclose(out, steps.mean(axis=1), rtol=1e-5)  # inference: the average of the K steps
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    trained = layer([seq, segments, mask], training=True).numpy()  # stochastic prediction dropout
    np.testing.assert_allclose(trained.sum(-1), 1.0, rtol=1e-5)
    assert not np.allclose(trained, out)
    # padding does not leak: changing padded positions leaves the answer unchanged
    noisy = seq.numpy().copy()
    noisy[1, 8:] += 100.0
    np.testing.assert_allclose(layer([tf.constant(noisy), segments, mask]).numpy()[1], out[1], rtol=1e-5)
    again = StochasticAnswerNetwork.from_config(layer.get_config())
    assert again.steps == 5 and again.num_classes == 3
    with pytest.raises(ValueError, match="num_classes >= 2"):
        StochasticAnswerNetwork(1)


def test_ranking_loss_on_a_hand_made_group():
    logits = np.array([[2.0, -1.0, 0.0, 5.0]], np.float32)
    mask = np.array([[1, 1, 1, 0]])
    got = float(mtdnn.ranking_loss(logits, np.array([0]), mask, gamma=10.0)[0])
    scores = 10.0 / (1.0 + np.exp(-logits[0, :3]))  # the padded 4th candidate takes no part
    assert got == pytest.approx(-(scores[0] - np.log(np.sum(np.exp(scores)))), rel=1e-5)
    got = float(mtdnn.ranking_loss(np.array([[9.0, -9.0]]), np.array([0]), np.array([[1, 1]]), gamma=10.0)[0])
    assert got < 1e-3  # a confident right answer costs almost nothing


# ------------------------------------------------------------------ sampling and multi-task steps
def test_task_sampler_follows_sizes():
    sizes = {"a": 1000, "b": 3000, "c": 6000}
    schedule = mtdnn.task_schedule(sizes, 20000, seed=3)
    share = {t: schedule.count(t) / len(schedule) for t in sizes}
    assert share == pytest.approx({"a": 0.1, "b": 0.3, "c": 0.6}, abs=0.015)
    assert schedule == mtdnn.task_schedule(sizes, 20000, seed=3) and schedule != mtdnn.task_schedule(sizes, 20000)
    assert mtdnn.epoch_steps(sizes, 32) == 32 + 94 + 188


class _Recorder(tf.Module):
    """A stand-in model: each step reports which task's data its batch holds."""

    def __init__(self, names):
        super().__init__()
        self.names = names
        self.optimizer = None

    def checkpoint_objects(self):
        return {}

    def train_step(self, batch, task, step=None):
        expected = float(self.names.index(task))
        return {"task": tf.constant(expected), "wrong_rows": tf.reduce_sum(tf.cast(tf.not_equal(batch, expected),
                                                                                  tf.float32))}


def test_driver_gives_each_step_one_tasks_batch(tmp_path):
    names = ["a", "b", "c"]
    schedule = mtdnn.task_schedule({"a": 1, "b": 2, "c": 3}, 60, seed=0)
    fns = {t: (lambda ctx, start, v=float(i): tf.data.Dataset.from_tensors(tf.fill([4], v)).repeat())
           for i, t in enumerate(names)}
    driver = Driver(tf.distribute.get_strategy(), _Recorder(names), fns, logdir=str(tmp_path), log_every=1,
                    checkpoint_every=10**6, progress=False)
    driver.train([Stage("multi", 60, task=lambda i: schedule[i])])
    assert [names[int(logs["task"])] for _, logs in driver.history] == schedule
    assert all(logs["wrong_rows"] == 0 for _, logs in driver.history)
    with pytest.raises(ValueError, match="no dataset for task 'd'"):
        Driver(tf.distribute.get_strategy(), _Recorder(names), fns, logdir=str(tmp_path / "x"),
               progress=False).train([Stage("bad", 1, task=lambda i: "d")])


def test_a_step_updates_the_encoder_and_its_own_head_only(tmp_path):
    config = mtdnn.get_config("tiny", encoder=bert.get_config("tiny", vocabulary_size=64, sequence_length=16))
    specs = [glue.EMBEDDED_TASKS[t] for t in ("sst", "nli", "qnli")]
    model = mtdnn.MTDNN(bert.build_backbone(config.encoder), specs, config, seed=0)
    model.build_all(16)
    model.compile(total_steps=100)
    rng = np.random.default_rng(0)

    def batch(shape):
        ids = rng.integers(5, 64, shape).astype(np.int32)
        return {"token_ids": ids, "segment_ids": (np.arange(shape[-1]) >= 8).astype(np.int32) * np.ones_like(ids),
                "padding_mask": np.ones_like(ids)}

    fns = {"sst": lambda ctx, start: tf.data.Dataset.from_tensors((batch((8, 16)), np.ones(8, np.int32))).repeat(),
           "nli": lambda ctx, start: tf.data.Dataset.from_tensors((batch((8, 16)), np.ones(8, np.int32))).repeat()}

    def snapshot(layer):
        return [v.numpy().copy() for v in layer.trainable_variables]

    encoder, nli_head = snapshot(model.backbone), snapshot(model.heads["nli"].get_layer("head_nli"))
    sst_head, qnli_head = (snapshot(model.heads[t].get_layer(f"head_{t}")) for t in ("sst", "qnli"))
    driver = Driver(tf.distribute.get_strategy(), model, fns, logdir=str(tmp_path), checkpoint_every=10**6,
                    log_every=1, progress=False)
    driver.train([Stage("sst", 3, task=lambda i: "sst")])
    changed = lambda before, layer: any(not np.array_equal(a, b) for a, b in zip(before, snapshot(layer)))  # noqa
    assert changed(encoder, model.backbone) and changed(sst_head, model.heads["sst"].get_layer("head_sst"))
    assert not changed(nli_head, model.heads["nli"].get_layer("head_nli"))
    assert not changed(qnli_head, model.heads["qnli"].get_layer("head_qnli"))
    assert set(driver.logs) >= {"loss", "loss/sst", "loss/nli", "loss/qnli"}
