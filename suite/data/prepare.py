"""A prepared form of what is slow to decode: sharded TFRecord files read with a parallel interleave.

    python -m suite.data.prepare speech --data ~/LibriSpeech --out ~/librispeech-prepared
    python -m recipes.deepspeech --data tfrecord:~/librispeech-prepared
    python -m suite.data.prepare verify ~/librispeech-prepared

``prepare`` reads a dataset once with the recipe's own reader (every file checked as for training),
decodes it, and writes each split as shards ``<split>-NNNNN-of-MMMMM.tfrecord`` plus a
``manifest.json`` recording the source, the topic, each split's example count and lengths, and each
shard's examples, bytes and SHA-256. The folder is written beside its destination and renamed into
place complete, so a half-written preparation is never read (a rerun starts again). A reader
(``tfrecord:DIR``) checks the manifest and every shard's size before training (a missing or
truncated shard, or one the manifest does not describe, is an error naming it); ``verify`` also
checks every checksum.

Speech: each utterance one ``tf.train.Example``: ``waveform`` (16 kHz mono, 16-bit little-endian
PCM bytes), ``labels`` (``suite.speech.text``'s ids of its transcript), ``text``, ``name``.
"""
import hashlib
import json
import os

import numpy as np

from suite.data.errors import DataError

PREFIX = "tfrecord:"
MANIFEST = "manifest.json"
FORMAT = "suite-prepared-tfrecord"
VERSION = 1
TOPICS = ("speech",)


# ------------------------------------------------------------------ the manifest and its shards
def shard_name(split, k, count):
    return f"{split}-{k:05d}-of-{count:05d}.tfrecord"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root, topic=None, verify=False):
    """The manifest of a prepared folder, every shard checked to exist with its recorded size
    (``verify``: and its SHA-256); DataError naming the folder or the shard otherwise."""
    path = os.path.join(root, MANIFEST)
    if not os.path.isdir(root):
        raise DataError(f"--data {PREFIX}{root}: no such folder")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{root}: no {MANIFEST} (not a folder python -m suite.data.prepare wrote, or one it "
                        "did not finish)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "splits" not in manifest:
        raise DataError(f"{path}: not a manifest of python -m suite.data.prepare")
    if manifest.get("version") != VERSION:
        raise DataError(f"{path}: format version {manifest.get('version')}, this suite reads {VERSION}: prepare "
                        "it again")
    if topic and manifest.get("topic") != topic:
        raise DataError(f"{root}: prepared for {manifest.get('topic')}, not {topic}")
    listed = set()
    for split, entry in manifest["splits"].items():
        for shard in entry["shards"]:
            file = os.path.join(root, shard["file"])
            listed.add(shard["file"])
            if not os.path.isfile(file):
                raise DataError(f"{file}: shard missing (the manifest lists it with {shard['count']} examples)")
            size = os.path.getsize(file)
            if size != shard["bytes"]:
                raise DataError(f"{file}: {size} bytes, the manifest says {shard['bytes']} (truncated or replaced: "
                                "prepare it again)")
            if verify and _sha256(file) != shard["sha256"]:
                raise DataError(f"{file}: its SHA-256 differs from the manifest's (corrupted: prepare it again)")
        if sum(s["count"] for s in entry["shards"]) != entry["count"]:
            raise DataError(f"{path}: split {split}'s shards hold {sum(s['count'] for s in entry['shards'])} "
                            f"examples, the manifest says {entry['count']}")
    strays = sorted(f for f in os.listdir(root) if f.endswith(".tfrecord") and f not in listed)
    if strays:
        raise DataError(f"{os.path.join(root, strays[0])}: a shard the manifest does not list")
    return manifest


def split_entry(root, split, topic):
    """(manifest, its entry for ``split``) of a prepared folder, checked (``read_manifest``)."""
    manifest = read_manifest(root, topic)
    if split not in manifest["splits"]:
        raise DataError(f"{root}: no {split} split prepared (it has {', '.join(sorted(manifest['splits']))})")
    return manifest, manifest["splits"][split]


def write_prepared(out, topic, source, splits, shards_of, progress=True):
    """Writes the prepared folder ``out`` whole (``suite.data.files.replace_folder``): ``splits`` =
    {split: (count, lengths, examples)} where ``examples`` yields serialized ``tf.train.Example``
    bytes in order; ``shards_of(count, lengths)`` -> the number of shards of a split."""
    import tensorflow as tf
    from tqdm import tqdm

    from suite.data.files import replace_folder

    def fill(tmp):
        manifest = {"format": FORMAT, "version": VERSION, "topic": topic, "source": source, "splits": {}}
        for split, (count, lengths, examples) in splits.items():
            n = max(1, min(shards_of(count, lengths), count))
            bounds = np.linspace(0, count, n + 1).round().astype(int)
            entry = {"count": int(count), "lengths": [int(x) for x in lengths], "shards": []}
            stream = iter(tqdm(examples, total=count, desc=f"preparing {split}", unit="example",
                               disable=not progress, mininterval=2.0))
            for k in range(n):
                name = shard_name(split, k, n)
                file = os.path.join(tmp, name)
                with tf.io.TFRecordWriter(file) as writer:
                    for _ in range(bounds[k + 1] - bounds[k]):
                        writer.write(next(stream))
                entry["shards"].append({"file": name, "count": int(bounds[k + 1] - bounds[k]),
                                        "bytes": os.path.getsize(file), "sha256": _sha256(file)})
            manifest["splits"][split] = entry
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:  # last: the folder is complete
            json.dump(manifest, f)

    return replace_folder(out, fill)


# ------------------------------------------------------------------ speech
def _speech_example(waveform, labels, text, name):
    import tensorflow as tf

    pcm = (np.clip(waveform, -1, 1) * 32767).astype("<i2").tobytes()
    feature = {"waveform": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pcm])),
               "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=list(labels))),
               "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])),
               "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(name).encode("utf-8")]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_speech(record):
    """One prepared utterance -> {'waveform' float32 [T] in [-1, 1], 'labels' int32 [L], 'text', 'name'}."""
    import tensorflow as tf

    f = tf.io.parse_single_example(record, {"waveform": tf.io.FixedLenFeature([], tf.string),
                                            "labels": tf.io.VarLenFeature(tf.int64),
                                            "text": tf.io.FixedLenFeature([], tf.string),
                                            "name": tf.io.FixedLenFeature([], tf.string)})
    waveform = tf.cast(tf.io.decode_raw(f["waveform"], tf.int16), tf.float32) / 32768.0
    return {"waveform": waveform, "labels": tf.cast(tf.sparse.to_dense(f["labels"]), tf.int32), "text": f["text"],
            "name": f["name"]}


def prepare_speech(data, out, splits=("train", "validation"), count=None, shard_megabytes=128, progress=True,
                   seed=0):
    """Reads ``data`` with ``suite.data.speech.speech_set`` (``count`` utterances a split at most) and
    writes its prepared form to ``out``; returns ``out``."""
    from suite.data import speech
    from suite.speech import text as T

    sets = {split: speech.speech_set(data, split, seed=seed, count=count, progress=progress) for split in splits}

    def examples(s):
        for i in range(len(s)):
            yield _speech_example(s.load(i), T.encode(s.texts[i]), s.texts[i], s.names[i])

    def shards_of(n, lengths):  # 2 bytes a sample; at least 8 shards (file-level sharding over 8 workers)
        return max(8, int(np.ceil(2 * np.sum(lengths) / (shard_megabytes << 20))))

    return write_prepared(out, "speech", data, {split: (len(s), s.lengths, examples(s)) for split, s in sets.items()},
                          shards_of, progress)


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m suite.data.prepare", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speech", help="a speech dataset (--data as recipes.deepspeech reads it: an LJSpeech or "
                                      "LibriSpeech folder, tfds:librispeech, or 'espeak', the embedded corpus)")
    s.add_argument("--data", required=True, help="the dataset to prepare (as recipes.deepspeech --data)")
    s.add_argument("--out", required=True, help="the prepared folder to write (replaced whole if it exists)")
    s.add_argument("--splits", nargs="+", default=["train", "validation"], choices=("train", "validation", "test"),
                   help="the splits to prepare (default: train validation)")
    s.add_argument("--count", type=int, default=None,
                   help="utterances a split at most (default: all; the embedded corpus needs it)")
    s.add_argument("--shard-megabytes", type=int, default=128, help="the size a shard aims at (default 128; at "
                                                                    "least 8 shards a split)")
    s.add_argument("--seed", type=int, default=0, help="the embedded corpus's seed (default 0)")
    s.add_argument("--no-progress", action="store_true", help="no progress bars")
    v = sub.add_parser("verify", help="check a prepared folder: its manifest, every shard's size and SHA-256")
    v.add_argument("folder")
    a = p.parse_args(argv)
    try:
        if a.command == "verify":
            manifest = read_manifest(a.folder, verify=True)
            counts = ", ".join(f"{k} {v['count']}" for k, v in manifest["splits"].items())
            print(f"{a.folder}: {manifest['topic']} from {manifest['source']}, {counts}: every shard whole")
            return
        if a.count is not None and a.count < 1:
            p.error(f"--count must be a positive integer, got {a.count}")
        if a.shard_megabytes < 1:
            p.error(f"--shard-megabytes must be a positive integer, got {a.shard_megabytes}")
        if a.data == "espeak" and not a.count:
            p.error("--count: the embedded corpus is generated, say how many utterances a split")
        prepare_speech(a.data, a.out, a.splits, a.count, a.shard_megabytes, not a.no_progress, a.seed)
        print(f"prepared {a.data} in {a.out}")
    except DataError as e:
        p.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    main()
