"""The prepared TFRecord form (issue 22 item 2): prepare writes shards and a manifest whole, the reader
checks them, the stream of a prepared split is the folder's utterances, shared by file between
workers, resumable at any position."""
import json
import os

import numpy as np
import pytest

from suite.data import prepare
from suite.data import speech as S
from suite.data.errors import DataError
from suite.speech import text as T
from test_speech import write_ljspeech

WORDS = "the cat sees a red bird near the old house".split()


def _lj_folder(root, count=40):
    rng = np.random.default_rng(0)
    entries = []
    for i in range(count):
        seconds = 0.2 + 0.05 * (i % 7)
        t = np.arange(int(22050 * seconds)) / 22050
        entries.append((f"LJ{i:03d}", " ".join(WORDS[:2 + i % 8]), 0.3 * np.sin(2 * np.pi * (200 + 20 * i) * t)
                        + 0.01 * rng.normal(size=len(t))))
    write_ljspeech(str(root), entries)
    return str(root)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prep")
    folder = _lj_folder(root / "lj")
    out = str(root / "prepared")
    prepare.prepare_speech(folder, out, progress=False)
    return folder, out


def test_prepare_writes_shards_and_a_manifest_whole(prepared, python):
    folder, out = prepared
    manifest = json.load(open(os.path.join(out, prepare.MANIFEST)))
    assert manifest["topic"] == "speech" and manifest["source"] == folder
    raw = {split: S.speech_set(folder, split) for split in ("train", "validation")}
    for split, entry in manifest["splits"].items():
        assert entry["count"] == len(raw[split]) and entry["lengths"] == raw[split].lengths.tolist()
        assert len(entry["shards"]) == min(8, entry["count"])  # at least 8 shards (fewer utterances: one each)
        assert sum(s["count"] for s in entry["shards"]) == entry["count"]
    assert sorted(os.listdir(out)) == sorted([prepare.MANIFEST] + [s["file"] for e in manifest["splits"].values()
                                                                   for s in e["shards"]])  # nothing else left
    held = S.speech_set(f"tfrecord:{out}", "validation", stream=False)  # read back: the folder's utterances
    assert held.texts == raw["validation"].texts and list(held.lengths) == list(raw["validation"].lengths)
    for i in range(len(held)):
        np.testing.assert_allclose(held.load(i), raw["validation"].load(i), atol=1.5 / 32768)
    done = python(["-m", "suite.data.prepare", "verify", out])
    assert "every shard whole" in done.stdout


def _names_of_one_epoch(train, shard, batch=3):
    import tensorflow as tf

    ds = S.speech_dataset(train, batch, training=False, shard=shard, buckets=1)
    names = []
    for b in ds:
        names += [tuple(t) for t in tf.RaggedTensor.from_tensor(b["labels"], lengths=b["label_lengths"]).to_list()]
    return names


def test_two_workers_read_disjoint_shards_whose_union_is_the_split(prepared):
    _, out = prepared
    train = S.speech_set(f"tfrecord:{out}", "train")
    assert train.shards and len(train) == sum(n for _, n in train.shards)
    every = _names_of_one_epoch(train, (1, 0))
    first, second = _names_of_one_epoch(train, (2, 0)), _names_of_one_epoch(train, (2, 1))
    assert len(first) + len(second) == len(every) == len(train)
    assert sorted(first + second) == sorted(every)
    shards = train.shards
    assert sum(n for _, n in shards[0::2]) == len(first) and sum(n for _, n in shards[1::2]) == len(second)


def test_the_training_stream_is_seeded_and_resumes_at_any_position(prepared):
    _, out = prepared
    train = S.speech_set(f"tfrecord:{out}", "train")

    def lengths(seed, start, batches):
        ds = S.speech_dataset(train, 2, training=True, seed=seed, buckets=1, start=start)
        return [tuple(b["lengths"].numpy()) for b in ds.take(batches)]

    stream = lengths(0, 0, 45)  # past two epochs of 38 utterances (19 batches each)
    assert stream == lengths(0, 0, 45) and stream != lengths(1, 0, 45)
    assert lengths(0, 11, 34) == stream[11:]  # resumed after 11 batches: the same batches follow
    assert lengths(0, 23, 22) == stream[23:]  # and in the second epoch
    assert stream[:19] != stream[19:38]  # each epoch in its own order


def test_a_prepared_folder_that_is_not_whole_is_refused_naming_the_shard(prepared, tmp_path):
    import shutil

    _, out = prepared
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    manifest = json.load(open(bad / prepare.MANIFEST))
    shard = bad / manifest["splits"]["train"]["shards"][3]["file"]
    data = shard.read_bytes()
    shard.write_bytes(data[:-10])
    with pytest.raises(DataError, match=rf"{shard.name}: {len(data) - 10} bytes, the manifest says {len(data)}"):
        S.speech_set(f"tfrecord:{bad}", "train")
    shard.write_bytes(data[:5] + bytes([data[5] ^ 1]) + data[6:])  # same size, one bit changed
    S.speech_set(f"tfrecord:{bad}", "train")  # sizes agree: only verify reads every byte
    with pytest.raises(DataError, match=rf"{shard.name}: its SHA-256 differs"):
        prepare.read_manifest(str(bad), verify=True)
    shard.unlink()
    with pytest.raises(DataError, match=rf"{shard.name}: shard missing"):
        S.speech_set(f"tfrecord:{bad}", "train")
    shard.write_bytes(data)
    (bad / "train-00099-of-00100.tfrecord").write_bytes(b"")
    with pytest.raises(DataError, match="train-00099-of-00100.tfrecord: a shard the manifest does not list"):
        S.speech_set(f"tfrecord:{bad}", "train")
    (bad / "train-00099-of-00100.tfrecord").unlink()
    manifest["topic"] = "video"
    (bad / prepare.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="prepared for video, not speech"):
        S.speech_set(f"tfrecord:{bad}", "train")
    (bad / prepare.MANIFEST).unlink()  # a preparation that never finished has no manifest
    with pytest.raises(DataError, match="no manifest.json"):
        S.speech_set(f"tfrecord:{bad}", "train")
    with pytest.raises(DataError, match="trains on all of its"):
        S.speech_set(f"tfrecord:{out}", "train", count=5)


def test_prepare_refuses_bad_input_and_leaves_nothing(tmp_path, python):
    write_ljspeech(str(tmp_path / "lj"), [("LJ000", "hello", b"RIFF\x00\x00")])  # a corrupt WAV
    out = tmp_path / "out"
    refused = python(["-m", "suite.data.prepare", "speech", "--data", str(tmp_path / "lj"), "--out", str(out)],
                     check=False)
    assert refused.returncode == 2 and "LJ000.wav" in refused.stderr and "Traceback" not in refused.stderr
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".out")]
    refused = python(["-m", "suite.data.prepare", "speech", "--data", "espeak", "--out", str(out)], check=False)
    assert refused.returncode == 2 and "--count" in refused.stderr


@pytest.mark.slow
def test_deepspeech_trains_on_a_prepared_folder(prepared, tmp_path, python):
    from conftest import result_json

    _, out = prepared
    run = python(["-m", "recipes.deepspeech", "--model", "ds1", "--preset", "tiny", "--data", f"tfrecord:{out}",
                  "--epochs", "1", "--steps-per-epoch", "4", "--batch-size", "4", "--no-progress",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    r = result_json(run.stdout)
    assert r["step"] == 4 and np.isfinite(r["logs"]["loss"]) and r["train_utterances"] == 38
    assert os.path.isdir(r["export"])


# ------------------------------------------------------------------ video
@pytest.fixture(scope="module")
def prepared_videos(tmp_path_factory):
    from test_action import _ucf

    root = tmp_path_factory.mktemp("prepv")
    folder = root / "UCF-101"
    lengths = {"Archery/v_a.avi": 20, "Archery/v_b.avi": 14, "Archery/v_c.avi": 12, "Bowling/v_d.avi": 16,
               "Bowling/v_e.avi": 13, "Bowling/v_f.avi": 18}
    _ucf(folder, lengths)
    out = str(root / "prepared")
    prepare.prepare_video(str(folder), out, size=32, flow=True, progress=False)
    return str(folder), out, lengths


def test_prepared_videos_are_the_folders_frames_and_flow(prepared_videos, tmp_path):
    from suite.data import video as V

    folder, out, lengths = prepared_videos
    raw, ready = V.video_set(folder, "train", size=32), V.video_set(f"tfrecord:{out}", "train", size=32)
    assert ready.class_names == raw.class_names and ready.labels.tolist() == raw.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [ready.num_frames(i) for i in range(6)] == [lengths[k] for k in sorted(lengths)]
    for i in range(len(raw)):
        np.testing.assert_array_equal(ready.load(i), raw.load(i))
        np.testing.assert_array_equal(ready.clip(i, 2, 10), raw.clip(i, 2, 10))
        np.testing.assert_array_equal(ready.flow_window(i, 1, 10), raw.flow_window(i, 1, 10))  # stored, not redone
    assert raw.flow_cache.computed == 6 and ready.flow_cache is None  # the prepared set computed no flow
    assert len(V.video_set(f"tfrecord:{out}", "test", size=32)) == 2
    with pytest.raises(DataError, match=r"frames prepared at 32x32, the model takes 64x64 \(prepare it again with "
                                        r"--size 64\)"):
        V.video_set(f"tfrecord:{out}", "train", size=64)
    with pytest.raises(DataError, match="v_b.avi has 14 frames, shorter than the clip length 16"):
        V.video_set(f"tfrecord:{out}", "train", size=32, min_frames=16)
    jpeg = prepare.prepare_video(folder, str(tmp_path / "jpeg"), splits=("train",), size=32, jpeg_quality=95,
                                 progress=False)
    coded = V.video_set(f"tfrecord:{jpeg}", "train", size=32)
    assert coded.load_flow is None and os.path.getsize(os.path.join(jpeg, prepare.MANIFEST)) > 0
    assert np.abs(coded.clip(0, 3, 4).astype(int) - raw.clip(0, 3, 4)).mean() < 16  # a noise texture: JPEG's worst
    # clips for two workers: each its own shards' videos, disjoint, together the whole split
    clips = [V.clip_dataset(ready, 1, 1, training=False, shard=(2, k)) for k in (0, 1)]
    seen = [sorted(int(y[0]) for _, y in ds) for ds in clips]
    assert sorted(seen[0] + seen[1]) == sorted(ready.labels.tolist())
    halves = [set(np.flatnonzero(ready.files % 2 == k)) for k in (0, 1)]
    assert not halves[0] & halves[1] and len(halves[0]) + len(halves[1]) == 6 and len(ready.files) == 6


def test_a_prepared_video_changed_or_gone_since_the_check_is_named(prepared_videos, tmp_path):
    import shutil

    from suite.data import video as V

    _, out, _ = prepared_videos
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    ready = V.video_set(f"tfrecord:{bad}", "train", size=32)
    shard = bad / json.load(open(bad / prepare.MANIFEST))["splits"]["train"]["shards"][0]["file"]
    data = bytearray(shard.read_bytes())
    data[:8] = (len(data) * 2).to_bytes(8, "little")  # a record longer than the shard
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{shard.name}: no whole record at byte 0"):
        ready.load(0)
    data[:8] = (len(data) - 16).to_bytes(8, "little")
    data[12:20] = b"\xff" * 8  # bytes that are no Example
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"{shard.name}: the record at byte 0 is not a readable example"):
        V.video_set(f"tfrecord:{bad}", "train", size=32).load(0)
    other = bad / json.load(open(bad / prepare.MANIFEST))["splits"]["train"]["shards"][1]["file"]
    other.unlink()
    with pytest.raises(DataError, match=rf"{other.name}: cannot be read \(No such file or directory; it was there"):
        ready.clip(1, 0, 4)


def test_prepare_video_refuses_bad_input_and_leaves_nothing(tmp_path, capsys):
    from test_action import _ucf

    root = tmp_path / "UCF-101"
    _ucf(root, {"Archery/v_a.avi": 12, "Bowling/v_b.avi": 12})
    (root / "Bowling" / "v_b.avi").write_bytes(b"RIFF\x00\x00 not a video")
    out = tmp_path / "out"
    for argv, message in (([], "v_b.avi: not a readable video"), (["--jpeg-quality", "0"], "--jpeg-quality must be"),
                          (["--size", "0"], "argument --size: must be a positive integer")):
        with pytest.raises(SystemExit) as stop:
            prepare.main(["video", "--data", str(root), "--out", str(out), "--no-progress", *argv])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.startswith(".out")]


@pytest.mark.slow
def test_two_stream_trains_on_prepared_frames_and_flow(prepared_videos, tmp_path, capsys):
    from conftest import result_json
    from recipes import action

    _, out, _ = prepared_videos
    action.recipe.cli(["--data", f"tfrecord:{out}", "--model", "two_stream", "--flow", "farneback", "--preset",
                       "tiny", "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "4", "--no-progress",
                       "--strategy", "default", "--logdir", str(tmp_path / "logs"), "--export-dir",
                       str(tmp_path / "export")])
    r = result_json(capsys.readouterr().out)
    assert r["step"] == 3 and np.isfinite(r["logs"]["loss"]) and r["classes"] == ["Archery", "Bowling"]
    assert os.path.isdir(r["export"]) and not (tmp_path / "logs" / "flow").exists()  # no flow computed or cached


# ------------------------------------------------------------------ detection
def test_prepared_detection_sets_are_their_folders_and_tfds_sets_stream(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from suite.data import detection as D
    from test_detection import _voc_300x800, _write_coco

    voc = str(tmp_path / "voc")
    _voc_300x800(voc)
    out = prepare.prepare_detection(voc, str(tmp_path / "voc-ready"), progress=False)
    for fit in (None, (60, 100)):  # squashed, or its aspect kept: as the folder reads it
        raw, ready = (D.detection_set(d, "train", size=112, fit=fit) for d in (voc, f"tfrecord:{out}"))
        assert ready.class_names == raw.class_names and len(ready) == len(raw) == 1 and ready.paths == raw.paths
        for a, b in zip(ready.load(0), raw.load(0)):
            np.testing.assert_array_equal(a, b)
        assert ready.extents().tolist() == raw.extents().tolist()
    coco = str(tmp_path / "coco")
    _write_coco(coco, ["a.jpg", "b.jpg"], [{"id": 1, "image_id": 1, "bbox": [10, 5, 20, 10], "category_id": 3,
                                            "iscrowd": 0}], write=["a.jpg", "b.jpg"])
    out = prepare.prepare_detection(coco, str(tmp_path / "coco-ready"), splits=("train",), progress=False)
    ready = D.detection_set(f"tfrecord:{out}", "train", size=16)
    assert ready.class_names == ("cat", "dog") and len(ready) == 2 and len(ready.load(1)[1]) == 0  # b: no object
    np.testing.assert_allclose(ready.load(0)[1], [[0.25, 0.25, 0.75, 0.75]])
    assert ready.files.tolist() == [0, 1]  # two shards: two workers read one each
    seen = [[int((b["classes"].numpy() >= 0).sum()) for b in D.detection_dataset(ready, 1, 4, training=False,
                                                                                  shard=(2, k))] for k in (0, 1)]
    assert seen == [[1], [0]]  # a (one object) for the first, b (none) for the second
    # TFDS: held in memory only while it fits, else prepared from its encoded images, streaming
    import cv2
    import tensorflow as tf

    rng = np.random.default_rng(0)
    scenes = [(rng.integers(0, 255, (30 + 10 * i, 40, 3), np.uint8), rng.uniform(0, 0.5, (i + 1, 4)) + [0, 0, .5, .5])
              for i in range(4)]

    def as_dataset(self, split, decoders=None, **kwargs):  # VOC's features; images encoded only when asked
        encoded = decoders is not None

        def examples():
            for image, boxes in scenes:
                n = len(boxes)
                yield {"image": cv2.imencode(".png", image)[1].tobytes() if encoded else image[..., ::-1],
                       "objects": {"bbox": boxes.astype(np.float32), "label": np.arange(n) % 20,
                                   "is_difficult": np.arange(n) % 2 == 1, "is_truncated": np.zeros(n, bool),
                                   "pose": np.zeros(n, np.int64)}}

        image = tf.TensorSpec([], tf.string) if encoded else tf.TensorSpec([None, None, 3], tf.uint8)
        return tf.data.Dataset.from_generator(examples, output_signature={
            "image": image, "objects": {"bbox": tf.TensorSpec([None, 4], tf.float32),
                                        "label": tf.TensorSpec([None], tf.int64),
                                        "is_difficult": tf.TensorSpec([None], tf.bool),
                                        "is_truncated": tf.TensorSpec([None], tf.bool),
                                        "pose": tf.TensorSpec([None], tf.int64)}})

    monkeypatch.setattr(prepare, "MEMORY_BYTES", 20000)
    with tfds.testing.mock_data(num_examples=4, as_dataset_fn=as_dataset):
        with pytest.raises(DataError, match=r"tfds:voc/2007 train: more than .* GiB decoded.*prepare detection"):
            D.detection_set("tfds:voc/2007", "train", size=96)
        held = D.detection_set("tfds:voc/2007", "train", size=32)  # 4 x 3 kB
        out = prepare.prepare_detection("tfds:voc/2007", str(tmp_path / "tfds"), splits=("train",), progress=False)
        ready = D.detection_set(f"tfrecord:{out}", "train", size=32)
    assert len(ready) == len(held) == 4 and ready.class_names == held.class_names
    for i in range(4):
        image, boxes, classes, difficult = ready.load(i)
        np.testing.assert_allclose(boxes, held.load(i)[1], atol=1e-6)
        assert classes.tolist() == held.load(i)[2].tolist() and difficult.tolist() == held.load(i)[3].tolist()
        assert np.abs(image.astype(int) - held.load(i)[0]).mean() < 1  # decoded from the same bytes


@pytest.mark.slow
def test_faster_rcnn_trains_on_prepared_scenes(tmp_path, capsys):
    from conftest import result_json
    from recipes import faster_rcnn

    out = str(tmp_path / "shapes")
    prepare.main(["detection", "--data", "shapes", "--count", "24", "--out", out, "--no-progress"])
    assert "prepared shapes" in capsys.readouterr().out
    faster_rcnn.recipe.cli(["--data", f"tfrecord:{out}", "--preset", "tiny", "--epochs", "1", "--steps-per-epoch", "2",
                            "--batch-size", "2", "--no-progress", "--strategy", "default", "--logdir",
                            str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    r = result_json(capsys.readouterr().out)
    assert r["step"] == 2 and np.isfinite(r["logs"]["loss"]) and os.path.isdir(r["export"])
