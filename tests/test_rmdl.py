"""RMDL: member specs from a seed, every kind for every modality, the vote, the point readers, choice on
validation only, re-drawing a diverged member, bad data named."""
import struct
import types

import numpy as np
import pytest
import tensorflow as tf

from suite.data import classification as C
from suite.data.errors import DataError
from suite.rmdl import ensemble, members, specs, training


def test_specs_are_drawn_within_the_paper_ranges_and_reproducible_from_the_seed():
    r = specs.Ranges()
    drawn = specs.draw_specs({"dnn": 10, "cnn": 10, "rnn": 10}, r, seed=3)
    assert [s.kind for s in drawn] == ["dnn"] * 10 + ["cnn"] * 10 + ["rnn"] * 10
    for s in drawn:
        lo, hi = r.layers(s.kind)
        assert lo <= len(s.widths) <= hi
        assert all(r.widths(s.kind)[0] <= w <= r.widths(s.kind)[1] for w in s.widths)
        assert s.optimizer in specs.OPTIMIZERS and 0.1 <= s.dropout <= 0.5
        low, high = specs.LEARNING_RATES[s.optimizer]
        assert low * 0.99 <= s.learning_rate <= high * 1.01
        assert (s.cell in ("lstm", "gru")) == (s.kind == "rnn")
    assert drawn == specs.draw_specs({"dnn": 10, "cnn": 10, "rnn": 10}, r, seed=3)
    assert drawn != specs.draw_specs({"dnn": 10, "cnn": 10, "rnn": 10}, r, seed=4)
    assert len({s.optimizer for s in drawn}) == 4 and len({len(s.widths) for s in drawn[:10]}) > 2
    again = specs.draw_spec("cnn", r, 3, slot=12, draw=1)  # a replacement: another draw of the slot
    assert again != drawn[12] and again.draw == 1 and again.kind == "cnn"
    with pytest.raises(ValueError, match="at least one member"):
        specs.draw_specs({"dnn": 0, "cnn": 0, "rnn": 0}, r, 0)


def _tiny_set(modality):
    data = C.embedded_set(modality, (60, 30), seed=0)
    config = members.get_config("tiny", modality=modality, num_classes=data.num_classes)
    featurizer = members.Featurizer(config, data.train[0] if modality == "text" else None)
    return config, data, featurizer


@pytest.mark.parametrize("modality", C.MODALITIES)
def test_every_kind_builds_for_every_modality_and_reads_its_feature(modality):
    config, data, featurizer = _tiny_set(modality)
    features = featurizer(tf.constant(data.test[0][:4].astype(str) if modality == "text" else data.test[0][:4]))
    for kind in specs.KINDS:
        spec = specs.draw_spec(kind, config.ranges, seed=1, slot=0)
        net = members.build_member(spec, config, featurizer)
        probs = net(features[members.feature_of(modality, kind)]).numpy()
        assert probs.shape == (4, 5 if modality != "text" else 6)
        np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
        kinds = {"dnn": (tf.keras.layers.Dense,), "cnn": (tf.keras.layers.Conv1D, tf.keras.layers.Conv2D),
                 "rnn": (tf.keras.layers.LSTM, tf.keras.layers.GRU)}[kind]
        layers = [layer for layer in net.layers if isinstance(layer, kinds) and "probabilities" not in layer.name]
        assert [layer.units if kind != "cnn" else layer.filters for layer in layers] == list(spec.widths)
    if modality == "text":  # DNNs read TF-IDF over the vocabulary, CNNs and RNNs word indices
        assert features["tfidf"].shape[1] == featurizer.tfidf.vocabulary_size()
        assert features["tokens"].shape == (4, config.sequence_length)


def test_points_are_centred_scaled_and_ordered_whatever_their_pose_and_count():
    rng = np.random.default_rng(0)
    cloud = C.solid_clouds(1, points=300, seed=1)[0][0]
    turned = cloud.copy()
    q = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    turned[:, :3] = (cloud[:, :3] - 5) @ q.T * 7.0  # moved, turned, scaled
    a, b = (members.normalize_points(x[None], 64).numpy()[0] for x in (cloud, turned))
    np.testing.assert_allclose(a[:, 6], b[:, 6], atol=1e-5)  # the radius profile no pose changes
    assert np.all(np.diff(a[:, 6]) >= 0) and abs(a[:, 6].max() - 1) < 0.05
    few = members.normalize_points(cloud[None, :10], 64).numpy()
    assert few.shape == (1, 64, 7)  # 10 points repeated up to 64


def test_majority_vote_breaks_ties_by_summed_probability_and_average_differs():
    p = np.array([[[0.6, 0.4, 0.0], [0.9, 0.1, 0.0]],      # member 0: class 0, class 0
                  [[0.45, 0.55, 0.0], [0.0, 0.1, 0.9]],    # member 1: class 1, class 2
                  [[0.0, 0.51, 0.49], [0.0, 0.3, 0.7]],    # member 2: class 1, class 2
                  [[1.0, 0.0, 0.0], [0.6, 0.4, 0.0]]], np.float32)  # member 3: class 0, class 0
    # two votes against two each time: example 0, class 0 (probabilities summed 2.05) over class 1
    # (1.46); example 1, class 2 (1.6) over class 0 (1.5)
    label, mean, votes = (x.numpy() for x in ensemble.vote(p, "majority"))
    assert label.tolist() == [0, 2]
    np.testing.assert_allclose(votes[0], [0.5, 0.5, 0.0])
    q = np.array([[[0.4, 0.6]], [[0.4, 0.6]], [[1.0, 0.0]]], np.float32)  # 2 votes for 1, but the mean says 0
    assert ensemble.vote(q, "majority")[0].numpy().tolist() == [1]
    assert ensemble.vote(q, "average")[0].numpy().tolist() == [0]
    np.testing.assert_allclose(ensemble.vote(q, "average")[1].numpy(), [[0.6, 0.4]], rtol=1e-6)


def _model(modality="image", n=3, lr_of_slot1=None):
    config, data, featurizer = _tiny_set(modality)
    config = members.get_config("tiny", modality=modality, num_classes=data.num_classes, dnn=n, cnn=0, rnn=0)
    drawn = specs.draw_specs(config.counts, config.ranges, seed=0)
    if lr_of_slot1:
        drawn[1] = specs.MemberSpec("dnn", (64,), 0.1, "sgd", lr_of_slot1)
    return ensemble.RMDL(config, featurizer, drawn, seed=0), data


def test_the_choice_reads_the_validation_split_and_never_the_test_split():
    model, data = _model()
    monitor = training.RMDLMonitor(model, data, model.config, model.config.ranges, "/nonexistent")

    class Poisoned:
        def __iter__(self):
            raise AssertionError("the choice read the test split")

    monitor.test = Poisoned()
    batch = next(iter(training.training_dataset(model.featurizer, data.train, 16)))
    for _ in range(5):
        model.train_step(batch)
    monitor.select()  # reads validation only
    probs = model.predict_features(monitor.validation, best=True)
    want = training.accuracies(probs, data.validation[1])
    np.testing.assert_allclose([m.best_accuracy.numpy() for m in model.members], want, rtol=1e-6)
    for m in model.members:  # best holds the weights just chosen
        for a, b in zip(m.best.weights, m.net.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(AssertionError, match="read the test split"):
        monitor.evaluate()  # the report, and only it, reads the test split


def test_a_diverged_member_stops_learning_and_is_redrawn():
    model, data = _model(lr_of_slot1=1e12)
    monitor = training.RMDLMonitor(model, data, model.config, model.config.ranges, "/nonexistent")
    batch = next(iter(training.training_dataset(model.featurizer, data.train, 16)))
    logs = [model.train_step(batch) for _ in range(4)][-1]
    assert float(logs["member1/failed"]) == 1.0 and float(logs["member0/failed"]) == 0.0
    assert np.isfinite(float(logs["loss"]))
    driver = types.SimpleNamespace(step=4, strategy=tf.distribute.get_strategy(), chief=False, retrace=lambda: None)
    monitor.on_log(driver, {k: float(v) for k, v in logs.items()})
    old = model.members[1]
    assert monitor.replace_failed(driver)
    new = model.members[1]
    assert new is not old and new.spec.draw == 1 and new.spec.kind == "dnn"
    assert "member 1 replaced at step 4" in monitor.replacements[0]
    out = model.train_step(batch)
    assert float(out["member1/failed"]) == 0.0


# ------------------------------------------------------------------ point files
def test_point_readers_on_hand_written_files(tmp_path):
    (tmp_path / "a.xyz").write_text("# x y z r g b\n0 0 0 255 0 0\n1,0,0,0,255,0\n0 1 0 0 0 255\n")
    xyz = C.read_xyz(tmp_path / "a.xyz")
    np.testing.assert_allclose(xyz[1], [1, 0, 0, 0, 1, 0])
    (tmp_path / "b.txt").write_text("0 0 0\n1 1 1\n")
    assert C.read_xyz(tmp_path / "b.txt")[0, 3:].tolist() == [0.5, 0.5, 0.5]  # grey without colours
    header = "ply\nformat {}\ncomment hand-made\nelement vertex 2\nproperty float x\nproperty float y\n" \
             "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n" \
             "element face 0\nproperty list uchar int vertex_indices\nend_header\n"
    (tmp_path / "c.ply").write_text(header.format("ascii 1.0") + "0 0 1 255 255 255\n2 0 0 0 0 0\n")
    np.testing.assert_allclose(C.read_ply(tmp_path / "c.ply"), [[0, 0, 1, 1, 1, 1], [2, 0, 0, 0, 0, 0]])
    for fmt, order in (("binary_little_endian 1.0", "<"), ("binary_big_endian 1.0", ">")):
        body = struct.pack(order + "fffBBB", 0, 0, 1, 255, 0, 0) + struct.pack(order + "fffBBB", 3, 2, 1, 0, 0, 255)
        (tmp_path / "d.ply").write_bytes(header.format(fmt).encode() + body)
        np.testing.assert_allclose(C.read_ply(tmp_path / "d.ply"), [[0, 0, 1, 1, 0, 0], [3, 2, 1, 0, 0, 1]])
    (tmp_path / "e.off").write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n")
    square = C.read_points(tmp_path / "e.off", 200)
    assert square.shape == (200, 6) and np.all((square[:, :2] >= -1e-6) & (square[:, :2] <= 1 + 1e-6))
    assert np.allclose(square[:, 2], 0) and abs(square[:, 0].mean() - 0.5) < 0.1  # spread over the square
    assert C.read_points(tmp_path / "a.xyz", 7).shape == (7, 6)  # 3 points repeated up to 7
    assert C.read_points(tmp_path / "c.ply", 1).shape == (1, 6)


@pytest.mark.parametrize("name, text, message", [
    ("five.xyz", "0 0 0 1 1\n1 1 1 1 1\n", "has 5 columns per point; x y z or x y z r g b"),
    ("ragged.xyz", "0 0 0\n1 1\n", "lines of [2, 3] columns"),
    ("words.xyz", "0 0 zero\n", "not a number"),
    ("bad.ply", "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\n"
                "end_header\n0 0 0\n1 1\n", "PLY vertex 1 has 2 values, the header declares 3"),
    ("noend.ply", "ply\nformat ascii 1.0\nelement vertex 2\n", "PLY header without 'end_header'"),
    ("bad.off", "OFF\n3 1 0\n0 0 0\n1 0 0\n", "OFF mesh truncated or malformed"),
])
def test_bad_point_files_are_named(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(DataError) as e:
        C.read_points(tmp_path / name, 16)
    assert message in str(e.value)
    assert name in str(e.value)


def test_class_folders_are_checked(tmp_path):
    for c in ("cube", "ball"):
        (tmp_path / c).mkdir()
    (tmp_path / "cube" / "1.xyz").write_text("0 0 0\n1 1 1\n")
    (tmp_path / "cube" / "2.xyz").write_text("0 0 0\n1 1 2\n")
    with pytest.raises(DataError, match="ball: an empty class folder"):
        C.folder_set(tmp_path, "points")
    (tmp_path / "ball" / "1.xyz").write_text("0 0 0\n1 1 1\n")
    with pytest.raises(DataError, match="class 'ball' has 1 readable example"):
        C.folder_set(tmp_path, "points")
    (tmp_path / "ball" / "2.xyz").write_text("0 0 0\n2 1 1\n")
    (tmp_path / "ball" / "3.xyz").write_text("0 0 0\n2 1 3\n")
    data = C.folder_set(tmp_path, "points", num_points=8)
    assert data.class_names == ("ball", "cube") and data.train[0].shape[1:] == (8, 6)
    assert len(data.train[1]) + len(data.validation[1]) + len(data.test[1]) == 5


def test_text_folders_and_word_vectors(tmp_path):
    for c, words in (("sport", "goal match team"), ("music", "song band guitar")):
        (tmp_path / c).mkdir()
        for i in range(4):
            (tmp_path / c / f"{i}.txt").write_text(f"{words} number {i}\n")
    data = C.folder_set(tmp_path, "text")
    assert data.class_names == ("music", "sport") and data.train[0].dtype == object
    (tmp_path / "vectors.txt").write_text("2 3\ngoal 1 2 3\nsong 4 5 6\n")  # word2vec's count line
    matrix, found = members.read_word_vectors(tmp_path / "vectors.txt", ["", "[UNK]", "goal", "song", "band"])
    assert found == 2 and matrix.shape == (5, 3) and matrix[3].tolist() == [4, 5, 6]
    (tmp_path / "bad.txt").write_text("goal 1 2 3\nsong 4 5\n")
    with pytest.raises(DataError, match="bad.txt: line 2 has 2 numbers, the first had 3"):
        members.read_word_vectors(tmp_path / "bad.txt", ["goal"])
    (tmp_path / "music" / "0.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="0.txt: not UTF-8 text"):
        C.folder_set(tmp_path, "text")


@pytest.mark.parametrize("name, modality", [("mnist", "image"), ("ag_news_subset", "text"), ("imdb_reviews", "text")])
def test_tfds_image_and_text_sets(name, modality):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=20):
        data = C.classification_set(f"tfds:{name}", modality, image_size=16)
    x = data.train[0]
    assert len(data.train[1]) + len(data.validation[1]) == 20 and len(data.test[1]) == 20
    assert x.shape[1:] == (16, 16, 3) and x.dtype == np.uint8 if modality == "image" else isinstance(x[0], str)
    assert data.num_classes == {"mnist": 10, "ag_news_subset": 4, "imdb_reviews": 2}[name]
    with pytest.raises(DataError, match="point clouds are read from folders"):
        C.classification_set(f"tfds:{name}", "points")


def test_the_members_now_are_read_back_only_for_a_run_to_resume(tmp_path):
    drawn = specs.draw_specs({"dnn": 1, "rnn": 1}, specs.Ranges(), 0)
    drawn[1] = specs.draw_spec("rnn", specs.Ranges(), 0, 1, draw=2)  # a replacement
    training.write_members(str(tmp_path), drawn)
    assert training.read_members(str(tmp_path)) is None  # no checkpoint: a new run draws its own
    tf.train.Checkpoint(v=tf.Variable(1.0)).save(str(tmp_path / "checkpoints" / "ckpt"))
    assert training.read_members(str(tmp_path)) == drawn


def test_image_folders_with_train_and_test_splits(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for c, value in (("dark", 30), ("light", 220)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(n):
                image = np.full((20 + i, 30, 3), value, np.uint8)  # any size: fit to squares
                (tmp_path / split / c / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    data = C.folder_set(tmp_path, "image", image_size=16)
    assert data.class_names == ("dark", "light") and data.train[0].shape[1:] == (16, 16, 3)
    assert len(data.train[1]) + len(data.validation[1]) == 6 and data.test[1].tolist() == [0, 1]
    assert data.test[0][1].min() == 220
    (tmp_path / "test" / "light").rename(tmp_path / "test" / "bright")
    with pytest.raises(DataError, match=r"class folders \['bright', 'dark'\] differ from the training split's"):
        C.folder_set(tmp_path, "image")
    (tmp_path / "test" / "bright").rename(tmp_path / "test" / "light")
    (tmp_path / "train" / "dark" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="0.png: truncated or corrupt PNG"):
        C.folder_set(tmp_path, "image")
    skip = C.REFUSE.__class__(skip=True)
    kept = C.folder_set(tmp_path, "image", bad=skip)
    assert len(kept.train[1]) + len(kept.validation[1]) == 5 and "0.png" in skip.skipped[0]


def test_the_driver_trains_on_after_a_member_is_redrawn_and_checkpoints_the_new_one(tmp_path):
    from suite.training.driver import Driver, Stage

    model, data = _model(lr_of_slot1=1e12)
    monitor = training.RMDLMonitor(model, data, model.config, model.config.ranges, str(tmp_path))
    driver = Driver(tf.distribute.get_strategy(), model,
                    lambda ctx, start: training.training_dataset(model.featurizer, data.train, 16, start=start),
                    logdir=str(tmp_path), checkpoint_every=4, log_every=1, callbacks=[monitor], progress=False)
    driver.train([Stage("epoch 1", 4), Stage("epoch 2", 4)])
    assert len(monitor.replacements) == 1 and "member 1 replaced at step 4" in monitor.replacements[0]
    assert model.members[1].spec.draw == 1 and driver.logs["member1/failed"] == 0.0  # the new draw trains
    assert training.read_members(str(tmp_path))[1] == model.members[1].spec  # for a resumed run
    restored = ensemble.RMDL(model.config, model.featurizer, training.read_members(str(tmp_path)), seed=0)
    tf.train.Checkpoint(**restored.checkpoint_objects()).read(tf.train.latest_checkpoint(
        str(tmp_path / "checkpoints"))).assert_existing_objects_matched()
    for a, b in zip(restored.members[1].net.weights, model.members[1].net.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
