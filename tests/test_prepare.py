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
