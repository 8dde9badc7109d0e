"""Serving latency: every export's signatures, loaded as TensorFlow Serving loads them, against its
Keras network called in the same process.

    python -m benchmarks serving [--kinds dcgan,yolo,...] [--repeats 20] [--output serving.md]

For each kind the benchmark builds the recipe's model at the tiny preset, untrained (latency does
not depend on the weights), exports it with the recipe's own serving endpoints and warm-up requests
(``Recipe.serving``, ``Recipe.warmup``: a held-out example per signature), loads the SavedModel and
times each signature on its warm-up request (batch 1) and on that request repeated 32 times (batch
32): the median of ``--repeats`` calls after two untimed ones. The reference is the network the
export tracks first, called as a compiled ``tf.function`` on exactly the tensors the signature
hands it (recorded by running the signature's function eagerly once; every Keras model the export
tracks: RMDL's members, MT-DNN's encoder and head). The ratio, signature over
network, is what the serving graph adds around the network: decoding bytes, tokenising strings,
resizing, clip sampling, and post-processing such as NMS, CTC decoding or text-line construction.
Every figure of a row comes from the same process, one after the other.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

from benchmarks import report
from suite.training.cli import at_least

TINY = ["--preset", "tiny", "--no-progress", "--strategy", "default"]
# kind: (recipe module, flags): the tiny preset with as little data as a built model needs
KINDS = {
    "pggan": ("pggan", ["--num-images", "64", "--swd-images", "0"]),
    "dcgan": ("dcgan", ["--num-images", "64", "--swd-images", "0"]),
    "faster_rcnn": ("faster_rcnn", ["--num-images", "16", "--eval-images", "4"]),
    "yolo": ("yolo", ["--num-images", "16", "--eval-images", "4"]),
    "ds1": ("deepspeech", ["--model", "ds1", "--num-utterances", "16", "--eval-utterances", "4"]),
    "ds2": ("deepspeech", ["--model", "ds2", "--num-utterances", "16", "--eval-utterances", "4"]),
    "action_slow": ("action", ["--model", "slow", "--num-videos", "16"]),
    "action_two_stream": ("action", ["--model", "two_stream", "--num-videos", "16"]),
    "bert": ("bert", ["--num-documents", "400"]),
    "mtdnn": ("mtdnn", ["--tasks", "sst,sts,nli,qnli"]),
    "word2vec": ("word2vec", []),
    "gpt": ("gpt", ["--num-sentences", "2000"]),
    "elmo": ("elmo", ["--num-sentences", "2000"]),
    "rmdl_image": ("rmdl", ["--modality", "image"]),
    "rmdl_text": ("rmdl", ["--modality", "text"]),
    "rmdl_points": ("rmdl", ["--modality", "points"]),
    "segmentation_fcn8s": ("segmentation", ["--model", "fcn8s", "--num-images", "16", "--eval-images", "4"]),
    "segmentation_deeplab": ("segmentation", ["--model", "deeplab_v3plus", "--num-images", "16",
                                              "--eval-images", "4"]),
    "pixellink": ("text_detection", ["--model", "pixellink", "--num-images", "16", "--eval-images", "4"]),
    "ctpn": ("text_detection", ["--model", "ctpn", "--num-images", "16", "--eval-images", "4"]),
    "crnn": ("text_recognition", ["--num-words", "16", "--eval-words", "4"]),
}
BATCH = 32


def batched(specs, values, n):
    """The warm-up request made ``n`` examples: every batched input repeated along its first axis
    (``count`` of a sampler: ``n``); other scalars as they are."""
    import numpy as np

    out = []
    for spec, value in zip(specs, values, strict=True):
        value = np.asarray(value)
        if spec.shape.rank == 0:
            out.append(np.asarray(n, value.dtype) if spec.name == "count" else value)
        else:
            out.append(np.repeat(value, n, axis=0) if n != value.shape[0] else value)
    return out


def median_seconds(fn, repeats):
    import tensorflow as tf

    def once():
        t0 = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
        return time.perf_counter() - t0

    once(), once()  # tracing, allocation
    return statistics.median(once() for _ in range(repeats))


def network_calls(networks, fn, inputs):
    """[(network, args, kwargs)] of every call of one of ``networks`` while ``fn(*inputs)`` runs
    eagerly."""
    import tensorflow as tf

    calls = []

    def recording(network, call):
        def record(*args, **kwargs):
            calls.append((network, args, kwargs))
            return call(*args, **kwargs)

        return record

    for network in networks:
        network.call = recording(network, network.call)
    tf.config.run_functions_eagerly(True)
    try:
        fn(*[tf.constant(x) for x in inputs])
    finally:
        tf.config.run_functions_eagerly(False)
        for network in networks:
            del network.call
    return calls


def measure_kind(kind, repeats, workdir, export_dir):
    """[(kind, signature, batch, signature seconds, network seconds)] of one export kind."""
    import importlib

    import keras
    import tensorflow as tf

    from suite import export
    from suite.training import runner

    module, flags = KINDS[kind]
    recipe = importlib.import_module(f"recipes.{module}").recipe
    args = recipe.parse_args([*TINY, *flags, "--logdir", os.path.join(workdir, kind), "--export-dir", export_dir])
    run = runner.start(recipe, args)
    runner.build(recipe, run)
    endpoints, track = recipe.serving(run)
    warmup = recipe.warmup(run)
    for name, (fn, specs) in endpoints.items():  # builds what training would have (RMDL's featurizer)
        fn(*[tf.constant(v, s.dtype) for s, v in zip(specs, warmup[name])])
    path = export.export_saved_model(run.name, args.export_dir, endpoints, track, warmup=warmup)
    loaded = tf.saved_model.load(path)
    networks = [t for t in track if isinstance(t, keras.Model)]

    def reference(calls):
        """The recorded calls of the networks as one compiled function of their tensors."""
        nets = [net for net, _, _ in calls]
        run_all = tf.function(lambda args: [net(*a, **k) for net, (a, k) in zip(nets, args)])
        args = [(a, k) for _, a, k in calls]
        return lambda: run_all(args)

    rows = []
    for name, (fn, specs) in endpoints.items():
        signature = loaded.signatures[name]
        for n in (1, BATCH):
            values = batched(specs, warmup[name], n)
            request = {s.name: tf.constant(v, s.dtype) for s, v in zip(specs, values)}
            served = median_seconds(lambda: signature(**request), repeats)
            calls = network_calls(networks, fn, [tf.constant(v, s.dtype) for s, v in zip(specs, values)])
            direct = median_seconds(reference(calls), repeats) if calls else float("nan")
            rows.append((kind, name, n, served, direct))
            print(f"{kind} {name} batch {n}: {served * 1e3:.1f} ms served, {direct * 1e3:.1f} ms network",
                  file=sys.stderr, flush=True)
    return rows


def table(rows):
    lines = ["| export | signature | batch | served (ms) | network (ms) | served / network |",
             "|---|---|---|---|---|---|"]
    for kind, name, n, served, direct in rows:
        if direct == direct and direct > 0:
            lines.append(f"| {kind} | {name} | {n} | {served * 1e3:.1f} | {direct * 1e3:.1f} | {served / direct:.2f}x |")
        else:  # no network called as a whole (lookups; a generation loop through a cache)
            lines.append(f"| {kind} | {name} | {n} | {served * 1e3:.1f} | - | - |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks serving", description=__doc__.split("\n")[0])
    p.add_argument("--kinds", default=",".join(KINDS),
                   help=f"comma-separated export kinds (default: all: {', '.join(KINDS)})")
    p.add_argument("--repeats", type=at_least(1), default=20, help="timed calls per figure (their median is reported)")
    p.add_argument("--output", default=None, metavar="FILE", help="also write the table there")
    p.add_argument("--keep", default=None, metavar="DIR",
                   help="keep the (untrained) exports in DIR (default: a temporary directory, removed)")
    args = p.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        p.error(f"--kinds: unknown {', '.join(unknown)} (choose from {', '.join(KINDS)})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as workdir:
        for kind in kinds:
            rows += measure_kind(kind, args.repeats, workdir, args.keep or os.path.join(workdir, "export"))
    report(table(rows), args.output)


if __name__ == "__main__":
    main()
