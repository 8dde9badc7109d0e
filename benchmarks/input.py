"""Input pipelines against their decode limit: every file-backed reader, raw and in its prepared form.

    python -m benchmarks input [--topics ...] [--files 1000 10000] [--batches 60] [--output input.md]

For each topic, writes folders of ``--files`` files in the real layout from the embedded corpora,
each file a copy of one of ``--distinct`` of them:

* ``speech``: LJSpeech WAV files at 22,050 Hz (the embedded utterances spoken by espeak-ng, each at
  its own gain); DS2's pipeline;
* ``librispeech``: LibriSpeech FLAC files at 16 kHz (the same utterances); DS2's pipeline;
* ``video``: UCF-101 XviD AVI files at 320x240, 48 frames (the embedded motion videos); slow
  fusion's clips of 10 frames at 32x32;
* ``detection``: a PASCAL VOC folder of 500x375 JPEG images and their XML annotations (the embedded
  shapes scenes); Faster R-CNN's pipeline at 96x96 (flips, padded boxes);
* ``images``: a folder of 178x218 JPEG images (CelebA's size; the embedded GAN scenes); the GANs' pipeline at 64x64,
  decoding every epoch;
* ``glue``: a GLUE SST-2 folder whose ``train.tsv`` has that many rows (the embedded sentiment
  sentences); MT-DNN's pipeline (WordPiece in the graph, 128 tokens);

prepares each (``python -m suite.data.prepare``; images: ``--cache-dir``'s file cache; GLUE has no
prepared form: its rows are read once) and measures in fresh processes, one at a time:

* the raw folder's training pipeline alone, examples per second over ``--batches`` batches of 16
  (and 3 seconds at least) after a warm-up, with every core and on one core (the process pinned to it, tf.data's threads
  limited to one);
* the decode limit: the same files decoded with nothing else (speech, video, detection: the reader's
  own decoding function in a process per core; images and GLUE, decoded in the graph: their decoding
  map alone, parallel, without shuffling, batching or conversion);
* the prepared form's pipeline;
* each process's peak resident memory;
* with ``--models``, the tiny and small networks' training rate on the embedded data, examples per
  second: what the pipeline must keep up with.

Ratios are taken within this one run: pipeline / decode limit, all cores / one core, prepared /
raw, pipeline / model.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

from benchmarks import report, run_recipe

BATCH = 16
CLIP = 10  # slow fusion's frames a clip
SIZE = {"video": 32, "detection": 96, "images": 64}  # the tiny presets' sizes
TOPICS = ("speech", "librispeech", "video", "detection", "images", "glue")


# ------------------------------------------------------------------ folders in the real layouts
def _copies(originals, files, path_of):
    """``files`` copies of the ``originals`` in turn, at ``path_of(i, original index)``."""
    for i in range(files):
        path = path_of(i, i % len(originals))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(originals[i % len(originals)], path)


def _utterances(distinct, seed=0):
    from suite.data import speech

    return speech.ljspeech_set(speech.embedded_corpus(distinct, seed, "train", progress=False), "train",
                               holdout_every=0)


def write_speech(root, files, distinct, seed=0):
    """An LJSpeech folder of WAV files at 22,050 Hz (LJSpeech's rate, so reading resamples)."""
    from suite.data import speech

    corpus = _utterances(distinct, seed)
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "wavs"), exist_ok=True)
    lines = []
    for i in range(files):
        k = i % len(corpus)
        audio = speech.resample(corpus.load(k), speech.SAMPLE_RATE, 22050) * rng.uniform(0.6, 1.0)
        speech._write_wav(os.path.join(root, "wavs", f"LJ{i:06d}.wav"), audio, 22050)
        lines.append(f"LJ{i:06d}|{corpus.texts[k]}|{corpus.texts[k]}")
    with open(os.path.join(root, "metadata.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def write_librispeech(root, files, distinct, seed=0):
    """A LibriSpeech folder (train-clean-100/<speaker>/<chapter>/, FLAC at 16 kHz, *.trans.txt)."""
    import tensorflow as tf
    import tensorflow_io as tfio

    corpus = _utterances(distinct, seed)
    originals = []
    for k in range(len(corpus)):
        originals.append(os.path.join(root, f".original{k}.flac"))
        os.makedirs(root, exist_ok=True)
        pcm = tf.constant((np.clip(corpus.load(k), -1, 1) * 32767).astype(np.int16)[:, None])
        with open(originals[-1], "wb") as f:
            f.write(tfio.audio.encode_flac(pcm, 16000).numpy())
    folder = lambda i: os.path.join(root, "train-clean-100", str(100 + i // 500), str(i // 50))  # noqa: E731
    uid = lambda i: f"{100 + i // 500}-{i // 50}-{i % 50:04d}"  # noqa: E731
    _copies(originals, files, lambda i, k: os.path.join(folder(i), uid(i) + ".flac"))
    for i in range(files):
        with open(os.path.join(folder(i), f"{100 + i // 500}-{i // 50}.trans.txt"), "a") as f:
            f.write(f"{uid(i)} {corpus.texts[i % len(corpus)].upper()}\n")
    for path in originals:
        os.remove(path)


def write_video(root, files, distinct, seed=0, frames=48):
    """A UCF-101 folder of XviD AVI files at 320x240 (UCF-101's size and codec) with its split files."""
    import cv2

    from suite.data import video

    motions = video.EmbeddedVideos(distinct, 96, frames, seed, "train")
    originals = []
    os.makedirs(root, exist_ok=True)
    for k in range(distinct):
        originals.append(os.path.join(root, f".original{k}.avi"))
        writer = cv2.VideoWriter(originals[-1], cv2.VideoWriter_fourcc(*"XVID"), 25, (320, 240))
        for frame in motions.load(k):
            writer.write(cv2.cvtColor(cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR),
                                      cv2.COLOR_RGB2BGR))
        writer.release()
    names = [m.capitalize() for m in video.MOTIONS]
    rel = lambda i, k: f"{names[motions.labels[k]]}/v_{names[motions.labels[k]]}_g{i // 7 + 1:04d}_c{i % 7 + 1:02d}.avi"  # noqa: E731,E501
    _copies(originals, files, lambda i, k: os.path.join(root, rel(i, k)))
    for path in originals:
        os.remove(path)
    lists = os.path.join(root, "ucfTrainTestlist")
    os.makedirs(lists, exist_ok=True)
    with open(os.path.join(lists, "classInd.txt"), "w") as f:
        f.write("".join(f"{k + 1} {n}\n" for k, n in enumerate(names)))
    with open(os.path.join(lists, "trainlist01.txt"), "w") as f:
        f.write("".join(f"{rel(i, i % distinct)} {motions.labels[i % distinct] + 1}\n" for i in range(files)))
    with open(os.path.join(lists, "testlist01.txt"), "w") as f:
        f.write(rel(0, 0) + "\n")


def write_detection(root, files, distinct, seed=0):
    """A PASCAL VOC folder (JPEGImages/ at 500x375, Annotations/, ImageSets/Main/trainval.txt)."""
    import cv2

    from suite.data import detection

    originals, objects = [], []
    os.makedirs(os.path.join(root, "Annotations"), exist_ok=True)
    for k in range(distinct):
        image, boxes, classes = detection.render_scene(np.random.default_rng([seed, k]), 128)
        originals.append(os.path.join(root, f".original{k}.jpg"))
        cv2.imwrite(originals[-1], cv2.cvtColor(cv2.resize(image, (500, 375)), cv2.COLOR_RGB2BGR))
        objects.append("".join(
            f"<object><name>{detection.SHAPES[c]}</name><difficult>0</difficult><bndbox><xmin>{b[1] * 500 + 1:.0f}"
            f"</xmin><ymin>{b[0] * 375 + 1:.0f}</ymin><xmax>{b[3] * 500:.0f}</xmax><ymax>{b[2] * 375:.0f}</ymax>"
            "</bndbox></object>" for b, c in zip(boxes, classes)))
    _copies(originals, files, lambda i, k: os.path.join(root, "JPEGImages", f"{i:06d}.jpg"))
    for i in range(files):
        with open(os.path.join(root, "Annotations", f"{i:06d}.xml"), "w") as f:
            f.write(f"<annotation><filename>{i:06d}.jpg</filename><size><width>500</width><height>375</height>"
                    f"<depth>3</depth></size>{objects[i % distinct]}</annotation>")
    os.makedirs(os.path.join(root, "ImageSets", "Main"), exist_ok=True)
    for split, count in (("trainval", files), ("test", 1)):
        with open(os.path.join(root, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("".join(f"{i:06d}\n" for i in range(count)))
    for path in originals:
        os.remove(path)


def write_images(root, files, distinct, seed=0):
    """A folder of 178x218 JPEG images (CelebA's aligned faces' size) in sub-folders of 1,000."""
    import tensorflow as tf

    from suite.data import images

    originals = []
    os.makedirs(root, exist_ok=True)
    for k in range(distinct):
        originals.append(os.path.join(root, f".original{k}.jpg"))
        image = tf.image.resize(images.render_shapes(k, 256, seed), [218, 178], antialias=True)
        tf.io.write_file(originals[-1], tf.io.encode_jpeg(tf.cast(tf.round(image), tf.uint8), quality=90))
    _copies(originals, files, lambda i, k: os.path.join(root, f"{i // 1000:03d}", f"{i:06d}.jpg"))
    for path in originals:
        os.remove(path)


def write_glue(root, files, distinct, seed=0):
    """A GLUE folder with SST-2/train.tsv of ``files`` rows (and a dev.tsv)."""
    from suite.data import nlu

    rows = nlu.task_examples("sst", distinct, seed=seed)
    os.makedirs(os.path.join(root, "SST-2"), exist_ok=True)
    for name, count in (("train.tsv", files), ("dev.tsv", 16)):
        with open(os.path.join(root, "SST-2", name), "w") as f:
            f.write("sentence\tlabel\n" + "".join(f"{rows[i % distinct][0]}\t{rows[i % distinct][1]}\n"
                                                  for i in range(count)))


WRITERS = {"speech": write_speech, "librispeech": write_librispeech, "video": write_video,
           "detection": write_detection, "images": write_images, "glue": write_glue}


def prepare_folder(topic, folder, out):
    """The prepared form of ``folder`` in ``out``: its ``--data`` value (None when the topic has none)."""
    from suite.data import prepare

    if topic in ("speech", "librispeech"):
        return "tfrecord:" + prepare.prepare_speech(folder, out, splits=("train",), progress=False)
    if topic == "video":
        return "tfrecord:" + prepare.prepare_video(folder, out, splits=("train",), size=SIZE["video"], progress=False)
    if topic == "detection":
        return "tfrecord:" + prepare.prepare_detection(folder, out, splits=("train",), progress=False)
    if topic == "images":  # the file cache --cache-dir writes, filled once
        from suite.data import images

        images.image_pipeline(images.list_image_files(folder), SIZE["images"], BATCH, cache_dir=out, progress=False)
        return f"cache:{out}:{folder}"
    return None


# ------------------------------------------------------------------ one measurement a process
def _decode_audio(path):
    from suite.data.speech import read_audio

    return len(read_audio(path))


def _decode_clip(task):
    from suite.data.video import decode_video

    path, start = task
    return len(decode_video(path, SIZE["video"], start, CLIP))


def _decode_image(path):
    from suite.data.detection import _read_file, decode_image

    return len(decode_image(_read_file(path), SIZE["detection"], where=path))


def _glue(data):
    from suite.data import glue
    from suite.nlu import lexicon

    task = glue.load_task(data, "sst2")
    words = lexicon.Lexicon(lexicon.train_vocabulary(list(task.first[:2000]), 2000), 128)
    return task, words


def _pipeline(topic, data):
    """(the training pipeline of ``data``, examples in one of its batches)."""
    if topic in ("speech", "librispeech"):
        from suite.data import speech

        ds = speech.speech_dataset(speech.speech_set(data, "train"), BATCH, training=True, seed=0)
        return ds, lambda b: int(b["lengths"].shape[0])
    if topic == "video":
        from suite.data import video

        s = video.video_set(data, "train", SIZE["video"], min_frames=CLIP, check=True)  # as recipes.action
        return video.clip_dataset(s, CLIP, BATCH, seed=0), lambda b: int(b[1].shape[0])
    if topic == "detection":
        from suite.data import detection

        s = detection.detection_set(data, "train", SIZE["detection"])
        return detection.detection_dataset(s, BATCH, 8, seed=0), lambda b: int(b["images"].shape[0])
    if topic == "images":
        from suite.data import images

        cache, folder = (data.split(":", 2)[1:] if data.startswith("cache:") else (None, data))
        files = images.list_image_files(folder)
        ds = images.image_pipeline(files, SIZE["images"], BATCH, cache=False, cache_dir=cache, progress=False)
        return ds, lambda b: int(b.shape[0])
    from suite.data import glue

    task, words = _glue(data)
    ds = glue.task_dataset(task, words.encode, BATCH, length=words.fitted_length(task.first[:2000]))
    return ds, lambda b: int(b[1].shape[0])


def _graph_decode(topic, data):
    """images, GLUE: their decoding map alone (a dataset of examples, and the examples of one)."""
    if topic == "images":
        from suite.data import images

        return images.image_source(images.list_image_files(data), SIZE["images"])[0].repeat().batch(BATCH), BATCH
    import tensorflow as tf

    task, words = _glue(data)
    rows = tf.data.Dataset.from_tensor_slices(task.first).repeat().batch(BATCH)
    return rows.map(words.encode, num_parallel_calls=tf.data.AUTOTUNE), BATCH


def _decode_tasks(topic, data, count):
    """(the decoding function, its ``count`` tasks): the files or clips the pipeline would read."""
    if topic in ("speech", "librispeech"):
        from suite.data import speech

        return _decode_audio, list(speech.speech_set(data, "train").names)[:count]
    if topic == "detection":
        from suite.data import detection

        paths = detection.detection_set(data, "train", SIZE["detection"]).paths
        return _decode_image, [paths[i % len(paths)] for i in range(count)]
    from suite.data import video

    s = video.video_set(data, "train", SIZE["video"], min_frames=CLIP, check=True)
    rng = np.random.default_rng(0)
    picked = rng.integers(0, len(s), count)
    return _decode_clip, [(s.keys[i], int(rng.integers(0, s.num_frames(i) - CLIP + 1))) for i in picked]


def _rate(ds, size, batches, seconds=3.0):
    """Examples a second over ``batches`` batches of ``ds`` after a warm-up, and at least ``seconds``."""
    it = iter(ds)
    for _ in range(5):  # warm-up
        next(it)
    start, count, done = time.perf_counter(), 0, 0
    while done < batches or time.perf_counter() - start < seconds:
        count += size(next(it))
        done += 1
    return count / (time.perf_counter() - start)


def child(topic, kind, data, batches, threads):
    """One measurement in this process: {'per_second': examples a second, 'rss_mb': peak RSS}; with
    ``threads``, on that many cores (the process pinned to them) and tf.data threads."""
    if threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    import tensorflow as tf

    if kind == "decode" and topic in ("images", "glue"):
        ds, n = _graph_decode(topic, data)
        rate = _rate(ds, lambda b: n, batches)
    elif kind == "decode":
        import concurrent.futures
        import multiprocessing

        fn, tasks = _decode_tasks(topic, data, batches * BATCH)
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) \
                as pool:
            list(pool.map(fn, tasks[:32]))  # warm-up: the workers started and imported
            start, count = time.perf_counter(), 0
            while not count or time.perf_counter() - start < 3.0:  # 3 seconds at least, as the pipelines
                count += len(list(pool.map(fn, tasks, chunksize=8)))
        rate = count / (time.perf_counter() - start)
    else:
        ds, size = _pipeline(topic, data)
        if threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = threads
            ds = ds.with_options(options)
        rate = _rate(ds, size, batches)
    return {"per_second": rate, "rss_mb": peak_rss_mb()}


def peak_rss_mb():
    """This process's peak resident memory (VmHWM: ``ru_maxrss`` would carry the parent's peak across
    fork and exec, and the parent writes the folders)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def measure(topic, kind, data, batches, threads=0):
    import subprocess

    from benchmarks import ROOT

    proc = subprocess.run([sys.executable, "-m", "benchmarks", "input", "--child", topic, kind, data, str(batches),
                           str(threads)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode:
        raise RuntimeError(f"input benchmark {topic} {kind} on {data} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ what the networks consume
MODELS = {"speech": ["-m", "recipes.deepspeech", "--model", "ds2", "--num-utterances", "480", "--eval-utterances", "16"],
          "video": ["-m", "recipes.action", "--model", "slow", "--num-videos", "480", "--clips-per-video", "1"],
          "detection": ["-m", "recipes.faster_rcnn", "--num-images", "480"],
          "images": ["-m", "recipes.dcgan", "--swd-images", "0", "--no-quality", "--num-images", "480"],
          "glue": ["-m", "recipes.mtdnn", "--tasks", "sst"]}
MODELS["librispeech"] = MODELS["speech"]


def model_rate(topic, preset, workdir):
    args = MODELS[topic]
    r = run_recipe([*args, "--preset", preset, "--epochs", "1", "--steps-per-epoch", "30", "--batch-size", str(BATCH),
                    "--no-progress", "--logdir", os.path.join(workdir, f"logs-{topic}-{preset}"), "--export-dir",
                    os.path.join(workdir, "export")], f"{args[1]} {preset}")
    return r["logs"]["steps_per_second"] * BATCH


KINDS = {"speech": ("LJSpeech WAV", "utt/s", "DS2"), "librispeech": ("LibriSpeech FLAC", "utt/s", "DS2"),
         "video": ("UCF-101 AVI", "clips/s", "slow fusion"), "detection": ("VOC JPEG", "img/s", "Faster R-CNN"),
         "images": ("image folder JPEG", "img/s", "DCGAN"), "glue": ("GLUE TSV", "rows/s", "MT-DNN")}


def table(rows, models, batches):
    lines = ["| reader | files | pipeline | decode limit | pipeline / limit | all cores / one core | prepared | "
             "prepared / raw | peak RSS raw / prepared (MB) | prepare (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for topic, files, raw, one, limit, fast, seconds in rows:
        kind, unit, _ = KINDS[topic]
        ready = f"{fast['per_second']:,.0f} | {fast['per_second'] / raw['per_second']:.2f}x" if fast else "- | -"
        memory = f"{raw['rss_mb']:,.0f} / " + (f"{fast['rss_mb']:,.0f}" if fast else "-")
        lines.append(f"| {kind} ({unit}) | {files:,} | {raw['per_second']:,.0f} | {limit['per_second']:,.0f} | "
                     f"{raw['per_second'] / limit['per_second']:.2f} | {raw['per_second'] / one['per_second']:.2f}x | "
                     f"{ready} | {memory} | "
                     f"{seconds:,.0f} |")
    if models:
        lines += ["", "| reader | network | preset | trains | raw pipeline / model | prepared / model |",
                  "|---|---|---|---|---|---|"]
        for (topic, preset), rate in models.items():
            last = [r for r in rows if r[0] == topic][-1]
            raw, fast = last[2]["per_second"], last[5]["per_second"] if last[5] else None
            kind, unit, network = KINDS[topic]
            lines.append(f"| {kind} | {network} | {preset} | {rate:,.1f} {unit} | {raw / rate:,.1f}x | "
                         f"{f'{fast / rate:,.1f}x' if fast else '-'} |")
    return (f"Input pipelines, {os.cpu_count()} cores, batches of {BATCH}, {batches} batches timed\n\n"
            + "\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]))))
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks input", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--topics", nargs="+", default=list(TOPICS), choices=TOPICS, help="the readers to measure")
    p.add_argument("--files", type=int, nargs="+", default=[1000, 10000], help="files (GLUE: rows) of each folder")
    p.add_argument("--distinct", type=int, default=100, help="distinct embedded examples the files copy")
    p.add_argument("--batches", type=int, default=60, help=f"batches of {BATCH} timed per pipeline")
    p.add_argument("--models", action="store_true", help="also the networks' training rates (tiny and small)")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    a = p.parse_args(argv)
    rows, models, workdir = [], {}, tempfile.mkdtemp(prefix="bench-input-")
    try:
        for topic in a.topics:
            for files in a.files:
                folder = os.path.join(workdir, f"{topic}{files}")
                WRITERS[topic](folder, files, a.distinct)
                started = time.perf_counter()
                prepared = prepare_folder(topic, folder, os.path.join(workdir, f"{topic}{files}-prepared"))
                prepare_seconds = time.perf_counter() - started if prepared else 0.0
                raw = measure(topic, "pipeline", folder, a.batches)
                one = measure(topic, "pipeline", folder, a.batches, threads=1)
                limit = measure(topic, "decode", folder, a.batches)
                fast = measure(topic, "pipeline", prepared, a.batches) if prepared else None
                rows.append((topic, files, raw, one, limit, fast, prepare_seconds))
                print(f"{topic}, {files} files: raw {raw}, one core {one}, decode limit {limit}, prepared {fast}",
                      file=sys.stderr, flush=True)
                shutil.rmtree(folder, ignore_errors=True)
                shutil.rmtree(os.path.join(workdir, f"{topic}{files}-prepared"), ignore_errors=True)
            if a.models and topic != "librispeech":
                models.update({(topic, preset): model_rate(topic, preset, workdir) for preset in ("tiny", "small")})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report(table(rows, models, a.batches), a.output)


if __name__ == "__main__":
    main()
