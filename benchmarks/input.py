"""Input pipelines against their decode limit: speech, raw WAV files and their prepared TFRecord form.

    python -m benchmarks input [--files 1000 10000] [--batches 60] [--output input.md]

Writes LJSpeech-layout folders of ``--files`` WAV files (the embedded corpus's utterances, spoken by
espeak-ng, each file one of ``--distinct`` of them at its own gain), prepares each
(``python -m suite.data.prepare speech``), and measures in fresh processes, one at a time:

* the raw folder's training pipeline alone (``suite.data.speech.speech_dataset``: a parallel map of
  each file's read and resampling), utterances per second over ``--batches`` batches of 16 after a
  warm-up, with every core and with tf.data's threads limited to one;
* the decode limit: the same files read and resampled (``read_audio``) by a process per core and
  nothing else;
* the prepared form's pipeline (parallel interleave of the shards, parsing in the graph);
* each process's peak resident memory;
* the DS2 tiny and small networks' training rate on the embedded corpus, in utterances per second
  (what the pipeline must keep up with).

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


def write_folder(root, files, distinct, seed=0):
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


def _decode(path):
    from suite.data.speech import read_audio

    return len(read_audio(path))


def child(kind, data, batches, threads):
    """One measurement in this process: {'per_second': utterances a second, 'rss_mb': peak RSS}."""
    import tensorflow as tf

    from suite.data import speech

    if kind == "decode":
        import concurrent.futures
        import multiprocessing

        s = speech.speech_set(data, "train")
        paths = list(s.names)[:batches * 16]
        with concurrent.futures.ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("fork")) \
                as pool:
            list(pool.map(_decode, paths[:32]))  # warm-up: the workers started and imported
            start = time.perf_counter()
            list(pool.map(_decode, paths, chunksize=8))
        rate = len(paths) / (time.perf_counter() - start)
    else:
        s = speech.speech_set(data, "train")
        ds = speech.speech_dataset(s, 16, training=True, seed=0)
        if threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = threads
            ds = ds.with_options(options)
        it = iter(ds)
        for _ in range(5):  # warm-up
            next(it)
        start = time.perf_counter()
        count = sum(int(next(it)["lengths"].shape[0]) for _ in range(batches))
        rate = count / (time.perf_counter() - start)
    return {"per_second": rate, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(kind, data, batches, threads=0):
    import subprocess

    from benchmarks import ROOT

    proc = subprocess.run([sys.executable, "-m", "benchmarks", "input", "--child", kind, data, str(batches),
                           str(threads)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if proc.returncode:
        raise RuntimeError(f"input benchmark {kind} on {data} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def model_rate(preset, workdir):
    r = run_recipe(["-m", "recipes.deepspeech", "--model", "ds2", "--preset", preset, "--epochs", "1",
                    "--steps-per-epoch", "30", "--batch-size", "16", "--num-utterances", "480", "--eval-utterances",
                    "16", "--no-progress", "--logdir", os.path.join(workdir, f"logs-{preset}"), "--export-dir",
                    os.path.join(workdir, "export")], f"recipes.deepspeech ds2 {preset}")
    return r["logs"]["steps_per_second"] * 16


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(json.dumps(child(argv[1], argv[2], int(argv[3]), int(argv[4]))))
        return
    p = argparse.ArgumentParser(prog="python -m benchmarks input", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--files", type=int, nargs="+", default=[1000, 10000], help="WAV files of each folder")
    p.add_argument("--distinct", type=int, default=200, help="distinct embedded utterances the files cycle")
    p.add_argument("--batches", type=int, default=60, help="batches of 16 timed per pipeline")
    p.add_argument("--no-model", action="store_true", help="skip the DS2 training rates")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    a = p.parse_args(argv)
    from suite.data import prepare

    rows, workdir = [], tempfile.mkdtemp(prefix="bench-input-")
    try:
        for files in a.files:
            folder = write_folder(os.path.join(workdir, f"lj{files}"), files, a.distinct)
            started = time.perf_counter()
            prepared = prepare.prepare_speech(folder, os.path.join(workdir, f"prepared{files}"), splits=("train",),
                                              progress=False)
            prepare_seconds = time.perf_counter() - started
            raw = measure("pipeline", folder, a.batches)
            one = measure("pipeline", folder, a.batches, threads=1)
            limit = measure("decode", folder, a.batches)
            fast = measure("pipeline", f"tfrecord:{prepared}", a.batches)
            rows.append((files, raw, one, limit, fast, prepare_seconds))
            print(f"{files} files: raw {raw}, one thread {one}, decode limit {limit}, prepared {fast}",
                  file=sys.stderr, flush=True)
        models = {} if a.no_model else {preset: model_rate(preset, workdir) for preset in ("tiny", "small")}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = ["| files | raw WAV pipeline (utt/s) | decode limit (utt/s) | pipeline / limit | all cores / one core | "
             "prepared TFRecord (utt/s) | prepared / raw | peak RSS raw / prepared (MB) | prepare (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for files, raw, one, limit, fast, seconds in rows:
        lines.append(f"| {files:,} | {raw['per_second']:,.0f} | {limit['per_second']:,.0f} | "
                     f"{raw['per_second'] / limit['per_second']:.2f} | {raw['per_second'] / one['per_second']:.2f}x | "
                     f"{fast['per_second']:,.0f} | {fast['per_second'] / raw['per_second']:.2f}x | "
                     f"{raw['rss_mb']:,.0f} / {fast['rss_mb']:,.0f} | {seconds:,.0f} |")
    if models:
        lines += ["", "| DS2 preset | trains (utt/s) | raw pipeline / model | prepared / model |", "|---|---|---|---|"]
        raw, fast = rows[-1][1]["per_second"], rows[-1][4]["per_second"]
        for preset, rate in models.items():
            lines.append(f"| {preset} | {rate:,.1f} | {raw / rate:,.1f}x | {fast / rate:,.1f}x |")
    text = (f"Speech input pipelines, {os.cpu_count()} cores, batches of 16, {a.batches} batches timed\n\n"
            + "\n".join(lines))
    report(text, a.output)


if __name__ == "__main__":
    main()
