"""Input pipelines against their decode limit: speech (WAV folders) and video (UCF-101 folders of AVI
files), raw and in their prepared TFRecord form.

    python -m benchmarks input [--topics speech video] [--files 1000 10000] [--batches 60] [--output input.md]

For each topic, writes folders of ``--files`` files in the real layout from the embedded corpora
(speech: LJSpeech WAV files at 22,050 Hz, the embedded utterances spoken by espeak-ng at their own
gains; video: UCF-101 XviD AVI files at 320x240, 48 frames, the embedded motion videos), each file
one of ``--distinct`` of them, prepares each (``python -m suite.data.prepare``), and measures in
fresh processes, one at a time:

* the raw folder's training pipeline alone (speech: ``suite.data.speech.speech_dataset``, a parallel
  map of each file's read and resampling; video: ``suite.data.video.clip_dataset``, a parallel map of
  each clip's seek and decoding, slow fusion's 10 frames at 32x32), examples per second over
  ``--batches`` batches of 16 after a warm-up, with every core and on one core (the process
  pinned to it, tf.data's threads limited to one);
* the decode limit: the same files read (speech: ``read_audio``; video: the clips' frames with
  ``decode_video``) by a process per core and nothing else;
* the prepared form's pipeline (speech: parallel interleave of the shards, parsing in the graph;
  video: each clip's record read by its offset);
* each process's peak resident memory;
* the tiny and small networks' training rate on the embedded data (DS2; slow fusion), in examples
  per second: what the pipeline must keep up with.

Ratios are taken within this one run: pipeline / decode limit, all cores / one core, prepared /
raw, pipeline / model.
"""
import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

from benchmarks import report, run_recipe

BATCH = 16
CLIP = 10  # slow fusion's frames a clip
SIZE = 32  # the tiny preset's frame size


# ------------------------------------------------------------------ folders in the real layouts
def write_speech(root, files, distinct, seed=0):
    """An LJSpeech folder of ``files`` WAV files at 22,050 Hz (LJSpeech's rate, so reading resamples)
    cycling ``distinct`` embedded utterances."""
    from suite.data import speech

    corpus = speech.ljspeech_set(speech.embedded_corpus(distinct, seed, "train", progress=False), "train",
                                 holdout_every=0)
    os.makedirs(os.path.join(root, "wavs"), exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(files):
        k = i % len(corpus)
        audio = speech.resample(corpus.load(k), speech.SAMPLE_RATE, 22050) * rng.uniform(0.6, 1.0)
        speech._write_wav(os.path.join(root, "wavs", f"LJ{i:06d}.wav"), audio, 22050)
        lines.append(f"LJ{i:06d}|{corpus.texts[k]}|{corpus.texts[k]}")
    with open(os.path.join(root, "metadata.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def write_video(root, files, distinct, seed=0, frames=48):
    """A UCF-101 folder of ``files`` XviD AVI files at 320x240 (UCF-101's size and codec), class folders
    of the embedded motions, each file a copy of one of ``distinct`` rendered videos, with the
    split files listing them all as training videos."""
    import cv2

    from suite.data import video

    motions = video.EmbeddedVideos(distinct, 96, frames, seed, "train")
    originals = []
    for k in range(distinct):
        path = os.path.join(root, f".original{k}.avi")
        os.makedirs(root, exist_ok=True)
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), 25, (320, 240))
        for frame in motions.load(k):
            writer.write(cv2.cvtColor(cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR),
                                      cv2.COLOR_RGB2BGR))
        writer.release()
        originals.append(path)
    names = [m.capitalize() for m in video.MOTIONS]
    lines = []
    for i in range(files):
        label = int(motions.labels[i % distinct])
        rel = f"{names[label]}/v_{names[label]}_g{i // 7 + 1:04d}_c{i % 7 + 1:02d}.avi"
        os.makedirs(os.path.join(root, names[label]), exist_ok=True)
        shutil.copyfile(originals[i % distinct], os.path.join(root, rel))
        lines.append(f"{rel} {label + 1}")
    for path in originals:
        os.remove(path)
    lists = os.path.join(root, "ucfTrainTestlist")
    os.makedirs(lists, exist_ok=True)
    with open(os.path.join(lists, "classInd.txt"), "w") as f:
        f.write("".join(f"{k + 1} {n}\n" for k, n in enumerate(names)))
    with open(os.path.join(lists, "trainlist01.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(lists, "testlist01.txt"), "w") as f:
        f.write(lines[0].split()[0] + "\n")
    return root


def prepare_folder(topic, folder, out):
    from suite.data import prepare

    if topic == "speech":
        return prepare.prepare_speech(folder, out, splits=("train",), progress=False)
    return prepare.prepare_video(folder, out, splits=("train",), size=SIZE, progress=False)


# ------------------------------------------------------------------ one measurement a process
def _decode_speech(path):
    from suite.data.speech import read_audio

    return len(read_audio(path))


def _decode_clip(task):
    from suite.data.video import decode_video

    path, start = task
    return len(decode_video(path, SIZE, start, CLIP))


def _pipeline(topic, data):
    """(the training pipeline of ``data``, examples in one of its batches)."""
    if topic == "speech":
        from suite.data import speech

        return speech.speech_dataset(speech.speech_set(data, "train"), BATCH, training=True, seed=0), \
            lambda b: int(b["lengths"].shape[0])
    from suite.data import video

    s = video.video_set(data, "train", SIZE, min_frames=CLIP, check=True)  # as recipes.action: headers read
    return video.clip_dataset(s, CLIP, BATCH, seed=0), lambda b: int(b[1].shape[0])


def _decode_tasks(topic, data, count):
    """(the decoding function, its ``count`` tasks): the files (speech) or clips (video) the pipeline
    would read."""
    if topic == "speech":
        from suite.data import speech

        return _decode_speech, list(speech.speech_set(data, "train").names)[:count]
    from suite.data import video

    s = video.video_set(data, "train", SIZE, min_frames=CLIP, check=True)  # as recipes.action: headers read
    rng = np.random.default_rng(0)
    picked = rng.integers(0, len(s), count)
    return _decode_clip, [(s.keys[i], int(rng.integers(0, s.num_frames(i) - CLIP + 1))) for i in picked]


def child(topic, kind, data, batches, threads):
    """One measurement in this process: {'per_second': examples a second, 'rss_mb': peak RSS}; with
    ``threads``, on that many cores (the process pinned to them) and tf.data threads."""
    if threads:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    import tensorflow as tf

    if kind == "decode":
        import concurrent.futures
        import multiprocessing

        fn, tasks = _decode_tasks(topic, data, batches * BATCH)
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("fork")) \
                as pool:
            list(pool.map(fn, tasks[:32]))  # warm-up: the workers started and imported
            start = time.perf_counter()
            list(pool.map(fn, tasks, chunksize=8))
        rate = len(tasks) / (time.perf_counter() - start)
    else:
        ds, size = _pipeline(topic, data)
        if threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = threads
            ds = ds.with_options(options)
        it = iter(ds)
        for _ in range(5):  # warm-up
            next(it)
        start = time.perf_counter()
        count = sum(size(next(it)) for _ in range(batches))
        rate = count / (time.perf_counter() - start)
    return {"per_second": rate, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


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
def model_rate(topic, preset, workdir):
    logs = ["--no-progress", "--logdir", os.path.join(workdir, f"logs-{topic}-{preset}"), "--export-dir",
            os.path.join(workdir, "export")]
    if topic == "speech":
        args = ["-m", "recipes.deepspeech", "--model", "ds2", "--num-utterances", "480", "--eval-utterances", "16"]
    else:
        args = ["-m", "recipes.action", "--model", "slow", "--num-videos", "480", "--clips-per-video", "1"]
    r = run_recipe([*args, "--preset", preset, "--epochs", "1", "--steps-per-epoch", "30", "--batch-size",
                    str(BATCH), *logs], f"{args[1]} {preset}")
    return r["logs"]["steps_per_second"] * BATCH


UNITS = {"speech": ("WAV", "utt/s", "DS2"), "video": ("AVI", "clips/s", "slow fusion")}


def table(topic, rows, models, batches):
    kind, unit, network = UNITS[topic]
    lines = [f"| files | raw {kind} pipeline ({unit}) | decode limit ({unit}) | pipeline / limit | all cores / one "
             f"core | prepared TFRecord ({unit}) | prepared / raw | peak RSS raw / prepared (MB) | prepare (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for files, raw, one, limit, fast, seconds in rows:
        lines.append(f"| {files:,} | {raw['per_second']:,.0f} | {limit['per_second']:,.0f} | "
                     f"{raw['per_second'] / limit['per_second']:.2f} | {raw['per_second'] / one['per_second']:.2f}x | "
                     f"{fast['per_second']:,.0f} | {fast['per_second'] / raw['per_second']:.2f}x | "
                     f"{raw['rss_mb']:,.0f} / {fast['rss_mb']:,.0f} | {seconds:,.0f} |")
    if models:
        lines += ["", f"| {network} preset | trains ({unit}) | raw pipeline / model | prepared / model |",
                  "|---|---|---|---|"]
        raw, fast = rows[-1][1]["per_second"], rows[-1][4]["per_second"]
        for preset, rate in models.items():
            lines.append(f"| {preset} | {rate:,.1f} | {raw / rate:,.1f}x | {fast / rate:,.1f}x |")
    return (f"{topic.capitalize()} input pipelines, {os.cpu_count()} cores, batches of {BATCH}, {batches} batches "
            "timed\n\n" + "\n".join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], argv[3], int(argv[4]), int(argv[5]))))
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks input", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--topics", nargs="+", default=["speech", "video"], choices=("speech", "video"),
                   help="the readers to measure")
    p.add_argument("--files", type=int, nargs="+", default=[1000, 10000], help="files of each folder")
    p.add_argument("--distinct", type=int, default=200, help="distinct embedded examples the files cycle")
    p.add_argument("--batches", type=int, default=60, help=f"batches of {BATCH} timed per pipeline")
    p.add_argument("--no-model", action="store_true", help="skip the networks' training rates")
    p.add_argument("--output", default=None, help="also write the tables (markdown) to this file")
    a = p.parse_args(argv)
    tables, workdir = [], tempfile.mkdtemp(prefix="bench-input-")
    try:
        for topic in a.topics:
            rows = []
            for files in a.files:
                folder = os.path.join(workdir, f"{topic}{files}")
                (write_speech if topic == "speech" else write_video)(folder, files, a.distinct)
                started = time.perf_counter()
                prepared = prepare_folder(topic, folder, os.path.join(workdir, f"{topic}{files}-prepared"))
                prepare_seconds = time.perf_counter() - started
                raw = measure(topic, "pipeline", folder, a.batches)
                one = measure(topic, "pipeline", folder, a.batches, threads=1)
                limit = measure(topic, "decode", folder, a.batches)
                fast = measure(topic, "pipeline", f"tfrecord:{prepared}", a.batches)
                rows.append((files, raw, one, limit, fast, prepare_seconds))
                print(f"{topic}, {files} files: raw {raw}, one thread {one}, decode limit {limit}, prepared {fast}",
                      file=sys.stderr, flush=True)
                shutil.rmtree(folder, ignore_errors=True)
                shutil.rmtree(prepared, ignore_errors=True)
            models = {} if a.no_model else {preset: model_rate(topic, preset, workdir) for preset in ("tiny", "small")}
            tables.append(table(topic, rows, models, a.batches))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report("\n\n".join(tables), a.output)


if __name__ == "__main__":
    main()
