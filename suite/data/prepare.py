"""A prepared form of what is slow to decode or too large to hold: sharded TFRecord files and a manifest.

    python -m suite.data.prepare speech --data ~/LibriSpeech --out ~/librispeech-prepared
    python -m recipes.deepspeech --data tfrecord:~/librispeech-prepared
    python -m suite.data.prepare verify ~/librispeech-prepared
    python -m suite.data.prepare video --data ~/UCF-101 --size 224 --flow --jpeg-quality 90 --out ~/ucf-prepared
    python -m recipes.action --data tfrecord:~/ucf-prepared --preset paper --model two_stream --flow farneback
    python -m suite.data.prepare detection --data tfds:coco/2017 --out ~/coco-prepared
    python -m recipes.faster_rcnn --data tfrecord:~/coco-prepared --preset paper

``prepare`` reads a dataset once with the recipe's own reader (every file checked as for training),
decodes it, and writes each split as shards ``<split>-NNNNN-of-MMMMM.tfrecord`` plus a
``manifest.json`` recording the source, the topic, each split's example count and lengths, and each
shard's examples, bytes and SHA-256. The folder is written beside its destination and renamed into
place complete, so a half-written preparation is never read (a rerun starts again). A reader
(``tfrecord:DIR``) checks the manifest and every shard's size before training (a missing or
truncated shard, or one the manifest does not describe, is an error naming it); ``verify`` also
checks every checksum.

Speech: each utterance one ``tf.train.Example``: ``waveform`` (16 kHz mono, 16-bit little-endian
PCM bytes), ``labels`` (``suite.speech.text``'s ids of its transcript), ``text``, ``name``; read as a
stream (parallel interleave of the shards, a shuffle buffer).

Detection: each image one ``tf.train.Example``: ``image`` (the file's bytes as they are), ``boxes``
(normalised by the image, [ymin, xmin, ymax, xmax] each), ``classes``, ``difficult``, ``name``; the
manifest keeps each image's size, and the record's offset: read by seeking, as video.

Video: each video one ``tf.train.Example``: ``frames`` (one entry a frame at the prepared size:
raw RGB bytes, or JPEG with ``--jpeg-quality``), with ``--flow`` ``flow`` (one entry a field: the
Farneback flow to the next frame, quantised as the two-stream paper stores it), ``label``,
``name``. The manifest also keeps each record's byte offset, so a video is read by seeking to it
(random access: the clip sampler and the video-level evaluation pick videos, they do not stream
them) and only the clip's frames are decoded; every shard's size is checked before training.
"""
import dataclasses
import hashlib
import itertools
import json
import os
import struct

import numpy as np

from suite.data.errors import DataError
from suite.training.cli import positive_int

PREFIX = "tfrecord:"
MEMORY_BYTES = 1 << 30  # a TFDS split is decoded into memory only when it takes no more; a larger one is prepared
MANIFEST = "manifest.json"
FORMAT = "suite-prepared-tfrecord"
VERSION = 1


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


class MemoryBudget:
    """What a reader that holds a split in memory has taken: past ``limit`` bytes, a DataError that
    says to prepare the split instead (``suite.data.prepare``: streamed from disk)."""

    def __init__(self, what, topic, limit=None):
        self.what, self.topic, self.held = what, topic, 0
        self.limit = MEMORY_BYTES if limit is None else limit

    def add(self, nbytes):
        self.held += int(nbytes)
        if self.held > self.limit:
            data = self.what.split()[0]
            raise DataError(f"{self.what}: more than {self.limit / (1 << 30):g} GiB decoded, too much to hold in "
                            f"memory; prepare it once (python -m suite.data.prepare {self.topic} --data {data} "
                            f"--out DIR) and train on --data {PREFIX}DIR, read from disk")


def split_size(info, split):
    """A TFDS split's example count from its info (0 when it has none)."""
    try:
        return int(info.splits[split].num_examples)
    except Exception:  # noqa: BLE001 - a set without split info
        return 0


def indexed_split(root, split, topic, fields):
    """(manifest, entry, [(shard file, record offset)] of every example, the shard index of each) of a
    prepared split read by offset, its manifest checked to list ``fields`` for every example."""
    manifest, entry = split_entry(root, split, topic)
    offsets = [(os.path.join(root, s["file"]), o) for s in entry["shards"] for o in s.get("offsets", ())]
    counts = {len(offsets), *(len(entry.get(f, ())) for f in fields)}
    if counts != {entry["count"]}:
        raise DataError(f"{os.path.join(root, MANIFEST)}: split {split} lists {entry['count']} examples but "
                        f"{len(offsets)} record offsets (or fewer {', '.join(fields)}): prepare it again")
    files = np.concatenate([np.full(s["count"], k) for k, s in enumerate(entry["shards"])])
    return manifest, entry, offsets, files


def _same_classes(data, names):
    if len(set(names)) > 1:
        raise DataError(f"--data {data}: its splits name different classes")
    return list(names[0])


def write_prepared(out, topic, source, splits, sizes, shard_megabytes=128, progress=True, extra=None):
    """Writes the prepared folder ``out`` whole (``suite.data.files.replace_folder``): ``splits`` =
    {split: (expected count, examples)} where ``examples`` yields (serialized ``tf.train.Example``,
    {field: value}) in order, the values kept in the split's manifest entry as lists, one per
    example (``lengths`` at least); a stream that ends early (skipped examples) leaves its last
    shards short. ``sizes``: {split: its estimated bytes}, cut in shards of about ``shard_megabytes``,
    8 at least (file-level sharding over 8 workers); ``extra``: more manifest fields. Each shard's
    entry keeps its records' byte offsets."""
    import tensorflow as tf
    from tqdm import tqdm

    from suite.data.files import replace_folder

    def fill(tmp):
        manifest = {"format": FORMAT, "version": VERSION, "topic": topic, "source": source, **(extra or {}),
                    "splits": {}}
        for split, (count, examples) in splits.items():
            n = max(1, min(max(8, int(np.ceil(sizes[split] / (shard_megabytes << 20)))), count))
            bounds = np.linspace(0, count, n + 1).round().astype(int)
            entry = {"count": 0, "lengths": [], "shards": []}
            stream = iter(tqdm(examples, total=count, desc=f"preparing {split}", unit="example",
                               disable=not progress, mininterval=2.0))
            for k in range(n):
                name = shard_name(split, k, n)
                file = os.path.join(tmp, name)
                offsets, position = [], 0
                with tf.io.TFRecordWriter(file) as writer:
                    for record, fields in itertools.islice(stream, None if k == n - 1 else bounds[k + 1] - bounds[k]):
                        for key, value in fields.items():
                            entry.setdefault(key, []).append(value)
                        writer.write(record)
                        offsets.append(position)
                        position += len(record) + 16  # length (8), its CRC (4), the record, its CRC (4)
                entry["shards"].append({"file": name, "count": len(offsets), "bytes": os.path.getsize(file),
                                        "sha256": _sha256(file), "offsets": offsets})
                entry["count"] += len(offsets)
            if not entry["count"]:
                raise DataError(f"--data {source}: no {split} example to prepare")
            manifest["splits"][split] = entry
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:  # last: the folder is complete
            json.dump(manifest, f)

    return replace_folder(out, fill)


class Records:
    """Random access to prepared records by the offsets their manifest keeps: ``read(file, offset)``
    -> the record's bytes (positional reads, safe from tf.data's parallel threads; the shard opened
    for each read, so thousands of shards never exhaust the process's file descriptors). A shard
    that is gone or cut short since it was checked is a DataError naming it."""

    def read(self, file, offset):
        try:
            fd = os.open(file, os.O_RDONLY)
        except OSError as e:
            raise DataError(f"{file}: cannot be read ({e.strerror}; it was there when the run started)") from None
        try:
            head = os.pread(fd, 12, offset)
            size = struct.unpack("<Q", head[:8])[0] if len(head) == 12 else -1
            data = os.pread(fd, size, offset + 12) if 0 <= size < 1 << 34 else b""
        finally:
            os.close(fd)
        if size < 0 or len(data) != size:
            raise DataError(f"{file}: no whole record at byte {offset} (the shard changed since it was "
                            "prepared: prepare it again)")
        return data


def example_features(data, file, offset):
    """A record's ``tf.train.Example`` features (a protobuf map); DataError naming the shard when the
    bytes are not one."""
    import tensorflow as tf

    try:
        return tf.train.Example.FromString(data).features.feature
    except Exception:  # noqa: BLE001 - protobuf's DecodeError
        raise DataError(f"{file}: the record at byte {offset} is not a readable example (corrupted: prepare it "
                        "again)") from None


def _bytes_feature(values):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _float_feature(values):
    import tensorflow as tf

    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _int_feature(values):
    import tensorflow as tf

    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


# ------------------------------------------------------------------ speech
def _speech_example(waveform, labels, text, name):
    import tensorflow as tf

    pcm = (np.clip(waveform, -1, 1) * 32767).astype("<i2").tobytes()
    feature = {"waveform": _bytes_feature([pcm]), "labels": _int_feature(labels),
               "text": _bytes_feature([text.encode("utf-8")]), "name": _bytes_feature([str(name).encode("utf-8")])}
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
    """Reads ``data`` with ``suite.data.speech``'s reader (``count`` utterances a split at most; a TFDS
    set streamed, never held in memory) and writes its prepared form to ``out``; returns ``out``."""
    from suite.data import speech
    from suite.speech import text as T

    def from_set(s):
        for i in range(len(s)):
            wave = s.load(i)
            yield _speech_example(wave, T.encode(s.texts[i]), s.texts[i], s.names[i]), {"lengths": len(wave)}

    def from_tfds(rows):
        for row in itertools.islice((r for r in rows if r[0] == "ok"), count):
            _, wave, text, where = row
            yield _speech_example(wave, T.encode(text), text, where), {"lengths": len(wave)}

    sources, sizes = {}, {}
    for split in splits:
        if data.startswith("tfds:"):
            expected, rows = speech.tfds_utterances(data[5:], split)
            sizes[split] = 2 * 16000 * 15 * (min(expected, count) if count else expected)  # LibriSpeech: ~15 s
            sources[split] = (min(expected, count) if count else expected) or 1, from_tfds(rows)
        else:
            s = speech.speech_set(data, split, seed=seed, count=count, progress=progress)
            sizes[split], sources[split] = 2 * int(np.sum(s.lengths)), (len(s), from_set(s))  # 2 bytes a sample

    return write_prepared(out, "speech", data, sources, sizes, shard_megabytes, progress)


# ------------------------------------------------------------------ video
def encode_frames(frames, jpeg_quality=None):
    """uint8 [F, H, W, 3] RGB -> one bytes entry a frame: raw, or JPEG at ``jpeg_quality``."""
    if not jpeg_quality:
        return [np.ascontiguousarray(f).tobytes() for f in frames]
    import cv2

    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])[1]
            .tobytes() for f in frames]


def decode_frames(entries, size, encoding, where):
    """``encode_frames``' entries -> uint8 [F, size, size, 3]; DataError naming ``where`` if they are not
    frames of that size."""
    if encoding == "jpeg":
        import cv2

        frames = [cv2.imdecode(np.frombuffer(e, np.uint8), cv2.IMREAD_COLOR) for e in entries]
        if any(f is None or f.shape != (size, size, 3) for f in frames):
            raise DataError(f"{where}: a frame is not a {size}x{size} JPEG (corrupted: prepare it again)")
        return np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames])
    return unpack(entries, (size, size, 3), where)


def unpack(entries, shape, where):
    """Raw uint8 entries of ``shape`` each -> uint8 [len(entries), *shape]."""
    data = b"".join(entries)
    if len(data) != len(entries) * int(np.prod(shape)):
        raise DataError(f"{where}: entries are not {'x'.join(map(str, shape))} bytes each (corrupted: prepare it "
                        "again)")
    return np.frombuffer(data, np.uint8).reshape(len(entries), *shape)


def _videos_of(s):
    for i in range(len(s)):
        yield s.load(i), int(s.labels[i]), s.keys[i]


def prepare_video(data, out, splits=("train", "test"), size=32, flow=False, fold=1, count=None, frames=20, seed=0,
                  jpeg_quality=None, shard_megabytes=128, progress=True, bad=None):
    """Reads ``data`` with ``suite.data.video``'s reader (every file checked; ``count`` videos a split
    at most; a TFDS set streamed, never held in memory) at ``size`` x ``size`` and writes its
    prepared form to ``out``, with each video's quantised Farneback flow when ``flow``; returns
    ``out``."""
    import tensorflow as tf

    from suite.data import video as V

    def examples(stream):
        for video, label, key in stream:
            feature = {"frames": _bytes_feature(encode_frames(video, jpeg_quality)), "label": _int_feature([label]),
                       "name": _bytes_feature([str(key).encode("utf-8")])}
            if flow:
                feature["flow"] = _bytes_feature(f.tobytes() for f in V.quantize_flow(V.farneback_flow(video)))
            yield (tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(),
                   {"lengths": len(video), "labels": int(label), "names": str(key)})

    per_frame = size * size * (3 / (10 if jpeg_quality else 1) + (2 if flow else 0))  # bytes (JPEG: a tenth)
    sources, sizes, names = {}, {}, []
    for split in splits:
        if data.startswith("tfds:"):
            expected, classes, stream = V.tfds_videos(data[5:], split, size)
            expected = min(expected, count) if count else expected
            sources[split] = expected or 1, examples(itertools.islice(stream, count))
            sizes[split] = expected * 186 * per_frame  # UCF-101's mean frames a video
        else:
            s = V.video_set(data, split, size, seed=seed, count=count, frames=frames, fold=fold, check=True,
                            progress=progress, bad=bad)
            if count and data != V.EMBEDDED:
                s = dataclasses.replace(s, labels=s.labels[:count], keys=s.keys[:count])
            classes = s.class_names
            sources[split] = len(s), examples(_videos_of(s))
            sizes[split] = sum(s.num_frames(i) for i in range(len(s))) * per_frame
        names.append(tuple(classes))
    extra = {"size": size, "class_names": _same_classes(data, names), "flow": bool(flow),
             "flow_bound": V.FLOW_BOUND if flow else None, "encoding": "jpeg" if jpeg_quality else "raw"}
    return write_prepared(out, "video", data, sources, sizes, shard_megabytes, progress, extra)


# ------------------------------------------------------------------ detection
def prepare_detection(data, out, splits=("train", "validation"), count=None, size=96, seed=0, shard_megabytes=256,
                      progress=True, bad=None):
    """Reads ``data`` with ``suite.data.detection``'s reader (every annotation parsed, every image
    checked; ``count`` images a split at most; a TFDS set streamed with its images still encoded) and
    writes its prepared form to ``out``: each image's file bytes as they are (the embedded scenes,
    rendered at ``size``, as PNG), its boxes normalised by the image, classes, difficult flags;
    returns ``out``."""
    import tensorflow as tf

    from suite.data import detection as D

    def examples(stream):
        for encoded, boxes, classes, difficult, name, shape in stream:
            feature = {"image": _bytes_feature([encoded]), "boxes": _float_feature(np.ravel(boxes)),
                       "classes": _int_feature(classes), "difficult": _int_feature(difficult),
                       "name": _bytes_feature([str(name).encode("utf-8")])}
            yield (tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(),
                   {"lengths": len(encoded), "names": str(name), "shapes": [int(shape[0]), int(shape[1])]})

    def header(encoded):
        import io

        from PIL import Image

        with Image.open(io.BytesIO(encoded)) as im:
            return im.height, im.width

    sources, sizes, names = {}, {}, []
    for split in splits:
        if data.startswith("tfds:"):
            expected, classes, stream = D.tfds_objects(data[5:], split, encoded=True)
            expected = min(expected, count) if count else expected
            rows = ((e, b, c, d, w, header(e)) for e, b, c, d, w in itertools.islice(stream, count))
            sources[split], sizes[split] = (expected or 1, examples(rows)), expected * 160_000  # COCO: ~160 kB each
        elif data == D.EMBEDDED:
            import cv2

            s = D.detection_set(data, split, size, seed, count)
            classes = s.class_names

            def rendered(s=s, split=split):
                for i in range(len(s)):
                    image, boxes, c, d = s.load(i)
                    png = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()
                    yield png, boxes, c, d, f"{split}-{i:06d}.png", image.shape[:2]

            sources[split], sizes[split] = (len(s), examples(rendered())), len(s) * size * size
        else:
            s = D.detection_set(data, split, size, seed, bad=bad)
            records = s.records[:count] if count else s.records
            classes = s.class_names
            rows = ((D._read_file(p), b, c, d, p, D.image_size(p)) for p, b, c, d in records)
            sources[split], sizes[split] = (len(records), examples(rows)), sum(os.path.getsize(r[0]) for r in records)
        names.append(tuple(classes))
    return write_prepared(out, "detection", data, sources, sizes, shard_megabytes, progress,
                          {"class_names": _same_classes(data, names)})


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(prog="python -m suite.data.prepare", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("speech", help="a speech dataset (--data as recipes.deepspeech reads it: an LJSpeech or "
                                      "LibriSpeech folder, tfds:librispeech, or 'espeak', the embedded corpus)")
    s.add_argument("--splits", nargs="+", default=["train", "validation"], choices=("train", "validation", "test"),
                   help="the splits to prepare (default: train validation)")
    v = sub.add_parser("video", help="a video dataset (--data as recipes.action reads it: a UCF-101 or HMDB-51 "
                                     "folder, tfds:ucf101, or 'motion', the embedded videos)")
    v.add_argument("--splits", nargs="+", default=["train", "test"], choices=("train", "validation", "test"),
                   help="the splits to prepare (default: train test, the two recipes.action reads)")
    v.add_argument("--size", type=positive_int, default=32, help="frames are kept at size x size: the frame size of the "
                                                        "recipes.action preset that reads them (tiny 32, the "
                                                        "default; small 64; paper 170, or 224 for two_stream)")
    v.add_argument("--flow", action="store_true", help="also keep each video's Farneback optical flow "
                                                       "(recipes.action --model two_stream --flow farneback)")
    v.add_argument("--jpeg-quality", type=int, default=None, metavar="Q",
                   help="keep frames as JPEG at quality Q (1-100; about a tenth of the space, decoding "
                        "costs a little; default: raw, exact)")
    v.add_argument("--fold", type=int, default=1, choices=(1, 2, 3), help="UCF-101 / HMDB-51 official split")
    v.add_argument("--frames", type=int, default=20, help="frames of each embedded video (default 20)")
    d = sub.add_parser("detection", help="a detection dataset (--data as recipes.faster_rcnn reads it: a PASCAL VOC "
                                         "or COCO folder, tfds:voc/2007, tfds:coco/2017, or 'shapes', the embedded "
                                         "scenes)")
    d.add_argument("--splits", nargs="+", default=["train", "validation"], choices=("train", "validation", "test"),
                   help="the splits to prepare (default: train validation, the two the detection recipes read)")
    d.add_argument("--size", type=positive_int, default=96, help="the embedded scenes' size (default 96, the tiny presets'); "
                                                        "other images are kept as they are, resized when read")
    for q, what in ((s, "utterances"), (v, "videos"), (d, "images")):
        q.add_argument("--data", required=True, help="the dataset to prepare")
        q.add_argument("--out", required=True, help="the prepared folder to write (replaced whole if it exists)")
        q.add_argument("--count", type=positive_int, default=None,
                       help=f"{what} a split at most (default: all; the embedded corpus needs it)")
        q.add_argument("--shard-megabytes", type=positive_int, default=128, help="the size a shard aims at (default 128; "
                                                                        "at least 8 shards a split)")
        q.add_argument("--seed", type=int, default=0, help="the embedded corpus's seed (default 0)")
        q.add_argument("--no-progress", action="store_true", help="no progress bars")
    c = sub.add_parser("verify", help="check a prepared folder: its manifest, every shard's size and SHA-256")
    c.add_argument("folder")
    a = p.parse_args(argv)
    try:
        if a.command == "verify":
            manifest = read_manifest(a.folder, verify=True)
            counts = ", ".join(f"{k} {v['count']}" for k, v in manifest["splits"].items())
            print(f"{a.folder}: {manifest['topic']} from {manifest['source']}, {counts}: every shard whole")
            return
        if a.data in ("espeak", "motion", "shapes") and not a.count:
            p.error(f"--count: the embedded corpus is generated, say how many {a.command} examples a split")
        if a.command == "speech":
            prepare_speech(a.data, a.out, a.splits, a.count, a.shard_megabytes, not a.no_progress, a.seed)
        elif a.command == "detection":
            prepare_detection(a.data, a.out, a.splits, a.count, a.size, a.seed, a.shard_megabytes, not a.no_progress)
        else:
            if a.jpeg_quality is not None and not 1 <= a.jpeg_quality <= 100:
                p.error(f"--jpeg-quality must be within 1-100, got {a.jpeg_quality}")
            prepare_video(a.data, a.out, a.splits, a.size, a.flow, a.fold, a.count, a.frames, a.seed, a.jpeg_quality,
                          a.shard_megabytes, not a.no_progress)
        print(f"prepared {a.data} in {a.out}")
    except DataError as e:
        p.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    main()
