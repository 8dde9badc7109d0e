"""Trains each model kind a few steps on the same global batches under the default strategy and under
a two-replica MirroredStrategy (two logical CPUs), then a few XLA-compiled steps in mixed bfloat16.

usage: replicas.py KIND [KIND ...]      (kinds: see KINDS; prints one JSON line per kind)

Each kind is built by its recipe's own declarations (configure, load_data, build, dataset), so what is
compared is what the recipes train, except the optimizer: the comparison trains with plain SGD, because
Adam, RMSprop and Adamax are invariant to the gradient's scale (a replica that forgot to divide by the
number of replicas would still match under them), while SGD moves every weight in proportion to its
gradient. The XLA and bfloat16 run keeps the recipe's optimizer. Stochastic layers (dropout, SpecAugment's masks) draw per replica,
as on any multi-device setup, so they are turned off here; everything a loss samples is keyed by
example (``suite.training.randomness``). Models with batch normalisation train with
``--sync-batch-norm`` (statistics over the global batch).
"""
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

# the XLA check asks whether each train step compiles and runs finite, not how fast the compiled code is:
# LLVM's optimisation level 0 halves the compile time (MT-DNN's five steps 21 -> 11 s, DeepLab's 23 -> 10 s)
# and leaves XLA's own lowering and passes, what a TPU shares, as they are
os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"]))

from suite.training.strategy import split_cpu  # noqa: E402

split_cpu(2)  # before any other TensorFlow op

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from suite.training import runner  # noqa: E402
from suite.training.driver import Driver, Stage, limit_stages, model_variables  # noqa: E402
from suite.training.strategy import set_precision  # noqa: E402

STEPS = 3
# DeepLab v3+ is compared after one step: its SGD steps amplify rounding about tenfold each, so that with ONE
# replica the same batches with their examples in reverse order (the same update in exact arithmetic) already
# differ by 0.10% over the model after one step and by 3.0% (worst variable 92%) after three; two replicas
# differ as much (0.06% and 2.7%), and two-pass variances in the synchronized batch norm change nothing
STEPS_OF = {"segmentation_deeplab": 1}
NAMES = []
TINY = ["--preset", "tiny", "--no-progress"]
# kind: (recipe module, flags)
KINDS = {
    "pggan": ("pggan", ["--batch-size", "8", "--images-per-phase", "8", "--swd-images", "0", "--num-images", "64"]),
    "gan": ("gan", ["--batch-size", "8", "--swd-images", "0", "--num-images", "64"]),
    "dcgan": ("dcgan", ["--batch-size", "8", "--swd-images", "0", "--num-images", "64"]),
    "wgan": ("wgan", ["--batch-size", "4", "--swd-images", "0", "--num-images", "64"]),
    "wgan_gp": ("wgan", ["--gradient-penalty", "10", "--batch-size", "4", "--swd-images", "0", "--num-images", "64"]),
    "bert": ("bert", ["--batch-size", "8", "--num-documents", "400"]),
    "mtdnn": ("mtdnn", ["--tasks", "sst,sts,nli,qnli", "--batch-size", "8"]),
    "faster_rcnn": ("faster_rcnn", ["--batch-size", "4", "--num-images", "16", "--eval-images", "4"]),
    "yolo": ("yolo", ["--batch-size", "4", "--num-images", "16", "--eval-images", "4"]),
    "ds1": ("deepspeech", ["--model", "ds1", "--batch-size", "4", "--num-utterances", "16",
                           "--eval-utterances", "4", "--no-spec-augment"]),
    "ds2": ("deepspeech", ["--model", "ds2", "--batch-size", "4", "--num-utterances", "16",
                           "--eval-utterances", "4", "--no-spec-augment"]),
    **{f"action_{m}": ("action", ["--model", m, "--batch-size", "4", "--num-videos", "16", "--clips-per-video", "1"])
       for m in ("single_frame", "late", "early", "slow", "two_stream")},
    # one member of each family (DNN, CNN, RNN): the preset's three of each are more of the same steps (a third of
    # the cost: rmdl_text's three builds 20 -> 8 CPU-seconds)
    **{f"rmdl_{m}": ("rmdl", ["--modality", m, "--batch-size", "8", "--dnn", "1", "--cnn", "1", "--rnn", "1"])
       for m in ("image", "points", "text")},
    "segmentation_fcn": ("segmentation", ["--model", "fcn8s", "--batch-size", "4", "--num-images", "16",
                                          "--eval-images", "4"]),
    "segmentation_deeplab": ("segmentation", ["--model", "deeplab_v3plus", "--backbone", "resnet50", "--batch-size",
                                              "4", "--num-images", "16", "--eval-images", "4"]),
    "text_recognition": ("text_recognition", ["--batch-size", "4", "--num-words", "16", "--eval-words", "4"]),
    "gpt": ("gpt", ["--batch-size", "8", "--num-sentences", "2000"]),
    "elmo": ("elmo", ["--batch-size", "8", "--num-sentences", "2000"]),
    "gpt_finetune": ("gpt_finetune", ["--task", "sts", "--batch-size", "8", "--init-from", "{pretrained_gpt}"]),
}


_SCRATCH = tempfile.mkdtemp(prefix="replicas-")  # this process's own files (removed with the temp directory)


def pretrained_gpt(workdir):
    """A tiny GPT saved as recipes.gpt leaves it (untrained: what is compared is the fine-tuning step)."""
    import keras

    from suite.lm import gpt, gpt_tasks
    from suite.nlu.lexicon import RESERVED

    folder = os.path.join(workdir, "pretrained", "gpt")
    if not os.path.isdir(folder):
        from suite.data.glue import embedded_task
        from suite.nlu.lexicon import train_vocabulary

        data = embedded_task("sts", count=200)
        vocabulary = train_vocabulary([*data.first, *data.second], 128)
        config = gpt.get_config("tiny", vocabulary_size=len(vocabulary))
        keras.utils.set_random_seed(0)
        gpt_tasks.save_pretrained(folder, gpt.build_network(config), config, vocabulary)
        assert vocabulary[:len(RESERVED)] == list(RESERVED)
    return folder


# models with cuDNN recurrent layers on a GPU refuse --jit-compile (their bfloat16 steps run without XLA)
NO_XLA = {"ds2", "rmdl_image", "rmdl_points", "rmdl_text"}


def without_dropout(config):
    """``config`` with every dropout rate 0 (nested configs too)."""
    if not dataclasses.is_dataclass(config):
        return config
    changes = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if "dropout" in f.name and isinstance(value, float):
            changes[f.name] = 0.0
        elif "dropout" in f.name and isinstance(value, tuple):  # a range to draw from (RMDL's members)
            changes[f.name] = (0.0, 0.0)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = without_dropout(value)
    return dataclasses.replace(config, **changes)


def prepared(kind, strategy, workdir, extra=()):
    """(recipe, run) of ``kind`` ready to build: flags parsed, config without dropout, data loaded."""
    import importlib

    module, flags = KINDS[kind]
    flags = [pretrained_gpt(_SCRATCH) if f == "{pretrained_gpt}" else f for f in flags]
    recipe = importlib.import_module(f"recipes.{module}").recipe
    args = recipe.parse_args([*TINY, *flags, *(["--sync-batch-norm"] if recipe.batch_norm else []), *extra,
                              "--logdir", os.path.join(workdir, "logs"), "--export-dir", os.path.join(workdir, "x")])
    run = runner.Run(args, strategy, True, set_precision(args.mixed_precision), recipe.export_name(args), recipe)
    run.config = without_dropout(recipe.configure(run))
    run.batch, run.epochs, run.steps = recipe.schedule(run)
    run.data = recipe.load_data(run)
    run.config = without_dropout(run.config)
    return recipe, run


def global_batches(recipe, run, count):
    """``count`` global batches of each of the recipe's datasets ({task or None: [batch, ...]})."""
    size = recipe.global_batch(run)
    ctx = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=1)
    fns = recipe.dataset_fns(run)
    fns = fns if isinstance(fns, dict) else {None: fns}
    return {t: list(fn(ctx, 0).take(count)) for t, fn in fns.items()}, size


def replica_dataset_fns(batches, size):
    """Dataset functions dealing each global batch to the replicas in order (replica r: rows r*b ...)."""
    def make(items):
        def fn(ctx, start):
            per = ctx.get_per_replica_batch_size(size)
            ds = tf.data.Dataset.from_tensors(items[0])
            for item in items[1:]:  # global batches of speech differ in padded length: no stacking
                ds = ds.concatenate(tf.data.Dataset.from_tensors(item))
            return ds.unbatch().batch(per, drop_remainder=True).repeat()

        return fn

    fns = {t: make(items) for t, items in batches.items()}
    return fns if set(fns) != {None} else fns[None]


def stages_of(recipe, run, steps):
    if not steps:
        return []
    if isinstance(recipe.dataset_fns(run), dict):  # one step per task, in order
        tasks = list(run.data["tasks"])
        return [Stage("tasks", len(tasks), task=lambda i: tasks[i])]
    return limit_stages(recipe.stages(run), steps)


def use_sgd(model, strategy, learning_rate=1e-3):
    import keras

    with strategy.scope():
        if hasattr(model, "g_optimizer"):  # GANs: a generator and a critic optimizer
            model.compile(keras.optimizers.SGD(learning_rate), keras.optimizers.SGD(learning_rate))
        elif hasattr(model, "members"):  # RMDL: an optimizer per member
            for member in model.members:
                member.optimizer = keras.optimizers.SGD(learning_rate)
                member.optimizer.build(member.net.trainable_variables)
        else:
            model.compile(optimizer=keras.optimizers.SGD(learning_rate))


def train(kind, strategy, batches=None, extra=(), steps=STEPS, sgd=True):
    """Builds ``kind`` under ``strategy`` and trains ``steps`` steps (with SGD when ``sgd``);
    returns (weights, initial weights, logs, batches)."""
    workdir = tempfile.mkdtemp(prefix=f"replicas-{kind}-")
    recipe, run = prepared(kind, strategy, workdir, extra)
    if batches is None:
        batches = global_batches(recipe, run, steps)
    runner.build(recipe, run)
    if sgd:
        use_sgd(run.model, strategy)
    variables = model_variables(run.model)
    initial = [v.numpy() for v in variables]
    driver = Driver(strategy, run.model, replica_dataset_fns(*batches), logdir=os.path.join(workdir, "logs"),
                    checkpoint_every=10**6, log_every=1, jit_compile=run.args.jit_compile, progress=False)
    driver.train(stages_of(recipe, run, steps))
    shutil.rmtree(workdir, ignore_errors=True)
    global NAMES
    NAMES = [v.path if hasattr(v, "path") else v.name for v in variables]
    return [v.numpy() for v in variables], initial, driver.logs, batches


def compare(a, b, start):
    """(whole-model ||a - b|| / ||a - start||, the largest per-variable ratio and its variable index).

    Per variable, only those training moved by at least 1% of the median move count: a variable
    whose true gradient is zero (an attention key's bias: softmax ignores a constant) moves by
    rounding alone, and its ratio says nothing."""
    a, b, start = ([np.asarray(t, np.float64) for t in x] for x in (a, b, start))
    moves = np.array([np.linalg.norm(x - x0) for x, x0 in zip(a, start)])
    diffs = np.array([np.linalg.norm(x - y) for x, y in zip(a, b)])
    whole = float(np.sqrt(np.sum(diffs ** 2)) / max(np.sqrt(np.sum(moves ** 2)), 1e-30))
    floor = 0.01 * np.median(moves[moves > 0]) if np.any(moves > 0) else np.inf
    ratios = np.where(moves >= floor, diffs / np.maximum(moves, 1e-30), 0.0)
    worst = int(np.argmax(ratios)) if len(ratios) else None
    return whole, float(ratios[worst]) if worst is not None else 0.0, worst


def check(kind, mirrored, matrix=True):
    """The comparison of ``kind`` (KIND+unscaled: with replica scaling broken on purpose); with
    ``matrix``, also the XLA and bfloat16 runs."""
    if kind.endswith("+unscaled"):  # the negative control: a task base that forgets the replicas
        from suite.training import task

        share = task._global_share
        task._global_share = lambda term, replicas: share(term, 1)
        try:
            return {**check(kind[:-len("+unscaled")], mirrored, matrix=False), "kind": kind}
        finally:
            task._global_share = share
    out = {"kind": kind}
    started = time.perf_counter()
    default = tf.distribute.get_strategy()
    steps = STEPS_OF.get(kind, STEPS)
    one, start, logs, batches = train(kind, default, steps=steps)
    two, start2, logs2, _ = train(kind, mirrored, batches, steps=steps)
    out["steps"] = steps
    out["replicas"] = [default.num_replicas_in_sync, mirrored.num_replicas_in_sync]
    out["variables"] = len(one)
    out["same_start"] = len(one) == len(two) and all(np.array_equal(x, y) for x, y in zip(start, start2))
    out["moved"] = sum(bool(np.any(x != x0)) for x, x0 in zip(one, start))
    out["unmoved"] = [n for n, x, x0 in zip(NAMES, one, start) if np.array_equal(x, x0)]
    out["difference_per_update"], out["worst_variable_difference_per_update"], worst = compare(one, two, start)
    out["worst_variable"] = None if worst is None else NAMES[worst]
    out["allclose"] = all(np.allclose(x, y, rtol=1e-4, atol=1e-5) for x, y in zip(one, two))
    out["logs"] = {k: [float(logs[k]), float(logs2[k])] for k in logs if k.startswith("loss")}
    if not matrix:
        return out
    # TPU readiness as far as a CPU shows it: XLA-compiled steps in bfloat16 (DS2 refuses XLA: cuDNN GRUs)
    extra = ["--mixed-precision", "bfloat16"] + ([] if kind in NO_XLA else ["--jit-compile"])
    try:
        logs = train(kind, default, batches, extra=extra, steps=2, sgd=False)[2]
        out["xla_bfloat16"] = "finite" if all(np.isfinite(v) for v in logs.values()) else f"non-finite: {logs}"
    except Exception as e:  # noqa: BLE001 - reported to the test, which names the kind
        out["xla_bfloat16"] = f"error: {type(e).__name__}: {e}"[:2000]
        traceback.print_exc()
    finally:
        set_precision("none")
    if kind in NO_XLA:
        try:
            with tempfile.TemporaryDirectory() as workdir:
                prepared(kind, default, workdir, ["--jit-compile"])
            out["jit_compile"] = "accepted"
        except SystemExit as e:  # the recipe refused the flag (parser.error printed the reason)
            out["jit_compile"] = f"refused (exit {e.code})"
    out["seconds"] = time.perf_counter() - started
    return out


if __name__ == "__main__":
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for kind in sys.argv[1:]:
        print("RESULT " + json.dumps(check(kind, mirrored)), flush=True)
