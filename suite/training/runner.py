"""The one recipe runner: a recipe declares its model, the runner trains, watches and exports it.

A recipe (``recipes/<name>.py``) is a ``Recipe`` subclass that declares its
name and flags, then, for a run: its ``configure`` (the model config from the
preset and flags), ``load_data``, ``build`` (the compiled model), ``settings``
(what its checkpoints depend on), ``dataset``, ``evaluator`` and
``serving`` endpoints. ``Recipe.main(argv)`` does the rest, in this order:

1. parse the core flags (``suite.training.cli``) and the recipe's own;
   refuse bad ones (``error: ...``, exit status 2) before TensorFlow loads;
2. start-up: ``--virtual-cpus``, the ``--strategy`` (before any other
   TensorFlow op), the ``--mixed-precision`` policy;
3. the config, the global batch checked against the replicas, an
   unwritable ``--logdir`` or ``--export-dir`` and a taken ``--version``
   refused; the data loaded and checked (bad files named) -- all before
   anything is built or written;
4. the log directory locked (``suite.training.lock``: a second run on it is
   refused, naming the first; a lock left by a killed run is taken over);
   the model built under the strategy scope from ``--seed``; the settings
   recorded in ``--logdir`` (a resumed log directory with other settings is
   refused); the settings as TensorBoard hyper-parameters (HParams);
5. the driver: the last checkpoint restored, or the untrained model
   evaluated for comparison; training; throughput over the logged intervals
   (evaluation left out);
6. on the chief: the export (``suite.export``) and the result printed as
   one JSON line (``main`` also returns it, with the model).

A ``ValueError`` or ``OSError`` on the way (bad flag, data or file) is one
``error: ...`` line and exit status 2 (``SUITE_TRACEBACK=1`` shows the
traceback); the checks come before the first write, so nothing is left in
``--logdir`` or ``--export-dir``.

This module imports no TensorFlow until a run starts (``--help`` is
instant); recipes name their topic modules with ``lazy`` for the same reason.
"""
import importlib.util
import json
import os
import sys
import time

from suite.training import cli


def lazy(name):
    """Module ``name``, imported on first attribute access: a recipe names its topic modules at
    the top without importing TensorFlow before ``--help`` or the strategy."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Run:
    """A run as the recipe's declarations see it: ``args``, ``strategy``, ``chief``, ``policy``,
    ``name`` (the export's), and as they are made: ``config``, ``batch``, ``epochs``, ``steps``
    (per epoch), ``data``, ``model``, ``evaluator``, ``driver``; ``bad``: what the readers do with
    a bad file (``suite.data.files.BadFiles``: refuse, or skip with ``--skip-bad-files``)."""

    def __init__(self, args, strategy, chief, policy, name, recipe=None):
        from suite.data.files import BadFiles

        self.args, self.strategy, self.chief, self.policy, self.name = args, strategy, chief, policy, name
        self.recipe = recipe
        self.config = self.data = self.model = self.evaluator = self.driver = None
        self.batch = self.epochs = self.steps = None
        self.bad = BadFiles(getattr(args, "skip_bad_files", False))

    @property
    def replicas(self):
        return self.strategy.num_replicas_in_sync

    @property
    def progress(self):
        return not self.args.no_progress

    @property
    def counts(self):
        """(training, held-out) sizes: ``--num-<counted>`` and ``--eval-<counted>``, else the preset's."""
        preset = self.recipe.counts[self.args.preset]
        given = (getattr(self.args, f"{k}_{self.recipe.counted}") for k in ("num", "eval"))
        return tuple(flag or default for flag, default in zip(given, preset))

    def report(self, *sets):
        """Prints what each data set says of itself (words or files skipped, and why) to stderr."""
        for s in sets:
            if s.report():
                print(s.report(), file=sys.stderr)


class Recipe:
    """A recipe's declarations (see the module docstring); class attributes:

    ``name`` (the export name and default ``--logdir``), ``default_data``, ``data_help``,
    ``epochs_help``, ``steps_help``, ``batch_help``, ``steps_per_epoch`` (the flag's default; None:
    the config's), ``presets`` ({preset: {"epochs": E, "batch": B}} for models whose config
    does not carry them; the ``--epochs`` and ``--batch-size`` help then lists them, ending with
    ``evaluation``: what the end of an epoch shows, and ``batch_items``: what a batch holds, if not
    ``unit``), ``batch_norm`` (its models have batch normalisation: it takes
    ``--sync-batch-norm``), ``learning_rate_help`` (it takes ``--learning-rate``), ``unit``
    (what ``items_per_step`` counts: the throughput is ``<unit>_per_second``), ``export_by`` (a
    flag whose value the export's name carries: ``<name>_<value>``), ``counts`` ({preset:
    (training, held-out)} sizes of the data: it takes ``--num-<counted>`` and ``--eval-<counted>``,
    read as ``run.counts``; ``counts_help``: the two flags' help, before the preset's defaults).
    """

    name = None
    default_data = None
    data_help = epochs_help = steps_help = batch_help = None
    steps_per_epoch = 100
    presets = {}
    evaluation = "the held-out evaluation"
    batch_items = None
    batch_norm = False
    learning_rate_help = None
    unit = "examples"
    group_title = "model"
    export_by = None
    counts = {}
    counted = "images"
    counts_help = None

    def __init__(self, doc=None):
        self.doc = doc or type(self).__doc__ or ""

    # ------------------------------------------------------------ flags
    def add_flags(self, group):
        """The recipe's own flags, in ``group``."""

    def check_flags(self, parser, args):
        """Refuses bad combinations of the recipe's own flags with ``parser.error``."""

    def preset_defaults(self, key):
        """'tiny 2, small 10, paper 30': ``presets``' values of ``key``, for a flag's help."""
        return ", ".join(f"{preset} {values[key]}" for preset, values in self.presets.items())

    def parser(self):
        epochs_help, batch_help = self.epochs_help, self.batch_help
        if self.presets:
            epochs_help = epochs_help or (f"epochs (default: the preset's: {self.preset_defaults('epochs')}); each "
                                          f"ends with a checkpoint and {self.evaluation}")
            batch_help = batch_help or f"global batch of {self.batch_items or self.unit} (default: the preset's: " \
                                       f"{self.preset_defaults('batch')})"
        p = cli.core_parser(self.name, self.doc, default_data=self.default_data,
                            epochs_help=epochs_help, default_steps_per_epoch=self.steps_per_epoch,
                            data_help=self.data_help, steps_help=self.steps_help, batch_help=batch_help)
        group = p.add_argument_group(self.group_title)
        if self.learning_rate_help:
            cli.add_learning_rate(group, self.learning_rate_help)
        if self.batch_norm:
            group.add_argument("--sync-batch-norm", action="store_true",
                               help="batch normalisation over the global batch (Keras' synchronized "
                                    "BatchNormalization) instead of each replica's share of it")
        self.add_flags(group)
        if self.counts:
            helps = self.counts_help or (f"training {self.counted}", f"held-out {self.counted} scored each epoch")
            for i, (prefix, what) in enumerate(zip(("num", "eval"), helps)):
                defaults = ", ".join(f"{preset} {n[i]}" for preset, n in self.counts.items())
                group.add_argument(f"--{prefix}-{self.counted}", type=cli.positive_int, default=None,
                                   help=f"{what} (default: the preset's: {defaults})")
        return p

    def parse_args(self, argv=None):
        p = self.parser()
        args = p.parse_args(argv)  # each flag's type refuses a bad value (positive integers, fractions...)
        self.check_flags(p, args)
        return args

    # ------------------------------------------------------------ a run's declarations
    def export_name(self, args):
        return f"{self.name}_{getattr(args, self.export_by)}" if self.export_by else self.name

    def configure(self, run):
        """The model config from ``run.args`` (preset and flags)."""
        return None

    def schedule(self, run):
        """(global batch, epochs, steps per epoch): the flag, else the config's, else ``presets``."""
        args, config, preset = run.args, run.config, self.presets.get(run.args.preset, {})

        def pick(flag, field, key):
            return flag or getattr(config, field, None) or preset.get(key)

        return (pick(args.batch_size, "batch_size", "batch"), pick(args.epochs, "epochs", "epochs"),
                pick(args.steps_per_epoch, "steps_per_epoch", "steps"))

    def batch_multiple(self, run):
        """Each replica's batch must be a multiple of this (PGGAN's minibatch-stddev groups)."""
        return 1

    def load_data(self, run):
        """Loads and checks ``--data`` (a bad file is a ValueError naming it); may refine
        ``run.config`` (the number of classes)."""
        return None

    def build(self, run):
        """The compiled model (called under the strategy scope, seeded from ``--seed``)."""
        raise TypeError(f"{type(self).__name__} must define build(run)")

    def settings(self, run):
        """What the checkpoints depend on: recorded in --logdir, refused when they differ on resume."""
        return {}

    def prepare(self, run):
        """Runs after the settings are recorded, before training (the first writes allowed)."""

    def global_batch(self, run):
        """What one training step reads across the replicas (default: the global batch)."""
        return run.batch

    def feed(self, run, ctx, start):
        """The keyword arguments every training reader of ``suite`` takes, for the input pipeline of
        ``ctx`` (a tf.distribute.InputContext): ``batch_size`` (its replica's share), ``seed``,
        ``shard`` (pipelines, its index) and ``start`` (the batches it delivered before the restored
        checkpoint)."""
        return {"batch_size": ctx.get_per_replica_batch_size(self.global_batch(run)), "seed": run.args.seed,
                "shard": (ctx.num_input_pipelines, ctx.input_pipeline_id), "start": start}

    def dataset(self, run, feed):
        """This input pipeline's dataset of per-replica batches: a reader called with ``**feed``."""
        raise TypeError(f"{type(self).__name__} must define dataset(run, feed)")

    def dataset_fns(self, run):
        """The driver's dataset function, or {task: function} for multi-task training."""
        return lambda ctx, start: self.dataset(run, self.feed(run, ctx, start))

    def evaluator(self, run):
        return None

    def stages(self, run):
        from suite.training.driver import Stage

        return [Stage(f"epoch {e + 1}", run.steps) for e in range(run.epochs)]

    def items_per_step(self, run, logs):
        """What one logged step consumed, in ``unit``s (default: ``global_batch``)."""
        return self.global_batch(run)

    def serving(self, run):
        """(endpoints {signature: (function, [TensorSpec])}, objects to track) of the export."""
        raise TypeError(f"{type(self).__name__} must define serving(run)")

    def warmup(self, run):
        """{signature: [a value per input]}: one realistic request per signature (held-out data), written
        into the export as TensorFlow Serving's warm-up requests."""
        raise TypeError(f"{type(self).__name__} must define warmup(run)")

    def finish(self, run, result):
        """Adds the recipe's own figures to ``result`` after training (every worker)."""

    # ------------------------------------------------------------ the runner
    def main(self, argv=None):
        """Parses ``argv``, runs, returns (result, model)."""
        return run(self, self.parse_args(argv))

    def cli(self, argv=None):
        """``python -m recipes.<name>``: ``main`` with errors as one line and exit status 2."""
        exit_on_error(lambda: self.main(argv))


def exit_on_error(fn):
    """Calls ``fn()``; a ValueError or OSError (bad flag, data or file), or a DataError raised inside
    the input pipeline during training (a file gone or changed since it was checked), is one line
    on stderr and exit status 2 (``SUITE_TRACEBACK=1`` shows the traceback instead)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - anything else is raised again as it was
        message = str(e) if isinstance(e, (ValueError, OSError)) else pipeline_data_error(e)
        if message is None or os.environ.get("SUITE_TRACEBACK"):
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def pipeline_data_error(error):
    """The message of the DataError a reader raised inside tf.data (TensorFlow wraps it in an
    OpError with its traceback), with a word on the checkpoint; None for any other error."""
    import re

    found = re.findall(r"DataError: ([^\n]+)", str(error))
    if not found:
        return None
    return (f"{found[-1]} (it went bad during training; the last checkpoint is intact: restore the file and run "
            "the same command again to resume from it)")


def write_json(path, value):
    """Writes ``value`` as JSON to ``path`` through a temporary file (never half-written)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(value, f, default=str)
    os.replace(tmp, path)


def print_result(result):
    print(json.dumps(result, default=str), flush=True)


def start(recipe, args):
    """Steps 2 and 3: start-up, config, schedule, export name and version, data. Returns the Run
    (used alone by tests that build a recipe's model and data without training it)."""
    from suite.training.strategy import start_run

    strategy, chief, policy = start_run(args)
    run_ = Run(args, strategy, chief, policy, recipe.export_name(args), recipe)
    run_.config = recipe.configure(run_)
    run_.batch, run_.epochs, run_.steps = recipe.schedule(run_)
    cli.check_batch(run_.batch, run_.replicas, recipe.batch_multiple(run_))
    if chief:  # an unwritable --logdir or --export-dir, or a taken --version, is refused before any work
        from suite import export

        cli.check_output_dir("--logdir", args.logdir)
        cli.check_output_dir("--export-dir", args.export_dir)
        export.resolve_version(args.export_dir, run_.name, args.version)
    run_.data = recipe.load_data(run_)  # the readers get run_.bad
    if run_.bad.skipped and chief:
        print(f"--skip-bad-files: left out {len(run_.bad.skipped)} file(s):\n  " + "\n  ".join(run_.bad.skipped),
              file=sys.stderr)
    return run_


def build(recipe, run_):
    """The model of ``run_``, built under the strategy scope from ``--seed``."""
    import keras

    keras.utils.set_random_seed(run_.args.seed)
    with run_.strategy.scope():
        run_.model = recipe.build(run_)
    return run_.model


def hyperparameters(recipe, run_, settings):
    """The run's settings and core flags, flattened to the scalars TensorBoard's HParams take."""
    args = run_.args
    values = {"recipe": recipe.name, "data": args.data, "preset": args.preset, "batch_size": run_.batch,
              "epochs": run_.epochs, "steps_per_epoch": run_.steps, "replicas": run_.replicas,
              "mixed_precision": args.mixed_precision, "jit_compile": args.jit_compile, "seed": args.seed}
    for k in ("learning_rate", "sync_batch_norm"):
        if getattr(args, k, None) is not None:
            values[k] = getattr(args, k)

    def add(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                add(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (bool, int, float, str)):
            values.setdefault(prefix, value)
        else:
            values.setdefault(prefix, json.dumps(value, default=str))

    add("", settings)
    return {k: v for k, v in values.items() if v is not None}


def throughput(recipe, run_, history, first):
    """(items per second, seconds) of training over the logged intervals after step ``first``:
    the driver times each interval from its previous log (or the stage's start), so the
    evaluations between stages are left out."""
    items = seconds = 0.0
    previous = first
    for step, logs in history:
        if step > previous:
            items += recipe.items_per_step(run_, logs) * (step - previous)
            seconds += (step - previous) / logs["steps_per_second"]
            previous = step
    return items / max(seconds, 1e-9), seconds


def nested_args(recipe, flag, given, by, **own):
    """``recipe``'s parsed flags for a run inside the command ``by``: ``given`` is its ``flag``'s value
    (flags as one quoted string), ``own`` ({"export_dir": value, ...}) what ``by`` sets itself and
    refuses in ``given``. Every problem is a ValueError naming ``flag``."""
    import shlex

    try:
        words = shlex.split(given)
    except ValueError as e:
        raise ValueError(f"{flag}: {e}") from None
    own = {"--" + key.replace("_", "-"): str(value) for key, value in own.items()}
    taken = [w for w in words if w.split("=")[0] in own]
    if taken:
        raise ValueError(f"{flag}: {', '.join(taken)} is set by {by} (give it to {by} itself)")
    try:
        return recipe.parse_args(words + [w for pair in own.items() for w in pair])
    except SystemExit:  # the recipe's parser printed what is wrong
        raise ValueError(f"{flag} {given!r}: refused by recipes.{recipe.name} (above)") from None


def run(recipe, args):
    """Runs ``recipe`` with parsed ``args`` (see the module docstring); returns (result, model)."""
    from suite.training.lock import RunLock

    run_ = start(recipe, args)
    if not run_.chief:
        return _train_and_export(recipe, run_)
    with RunLock(args.logdir):  # one run per log directory: a second one is refused, naming the holder
        return _train_and_export(recipe, run_)


def _train_and_export(recipe, run_):
    args = run_.args
    build(recipe, run_)

    from suite import export
    from suite.training.driver import Driver, check_run_config

    settings = recipe.settings(run_)
    check_run_config(args.logdir, settings, run_.chief)  # the first write to --logdir (but its lock)
    recipe.prepare(run_)
    run_.evaluator = recipe.evaluator(run_)
    steps = run_.steps
    run_.driver = driver = Driver(
        run_.strategy, run_.model, recipe.dataset_fns(run_), logdir=args.logdir, checkpoint_every=steps,
        log_every=max(1, min(50, steps)), jit_compile=args.jit_compile,
        callbacks=[run_.evaluator] if run_.evaluator else [], progress=run_.progress,
        data_threads=getattr(args, "data_threads", None))
    if run_.chief:
        from tensorboard.plugins.hparams import api as hp

        with driver.writer.as_default():
            hp.hparams(hyperparameters(recipe, run_, settings), trial_id=os.path.basename(os.path.abspath(args.logdir)))
            if run_.bad.skipped:
                import tensorflow as tf

                tf.summary.text("data/skipped_files", "\n\n".join(run_.bad.skipped), step=driver.step)
    untrained = os.path.join(args.logdir, "untrained.json")
    if driver.restore() == 0 and run_.chief and run_.evaluator:
        run_.evaluator.baseline()  # the untrained model, for comparison, kept for resumed runs
        run_.evaluator.log_baseline(driver.writer)
        write_json(untrained, run_.evaluator.initial)
    elif run_.evaluator and os.path.exists(untrained):
        with open(untrained) as f:
            run_.evaluator.initial = json.load(f)
    first = driver.step
    started = time.perf_counter()
    driver.train(recipe.stages(run_))
    wall = time.perf_counter() - started
    rate, train_seconds = throughput(recipe, run_, driver.history, first)
    ev = run_.evaluator
    if ev and run_.chief and not ev.history and driver.step > 0:  # a finished run again: nothing left to train
        scores, _ = ev.timed_evaluate()
        ev.history.append((driver.step, scores))
        print(f"[finished at step {driver.step}] {ev.describe(scores)}", file=sys.stderr, flush=True)
    result = {"name": run_.name, "step": driver.step, "initial": ev.initial if ev else None,
              "eval": ev.last if ev else None, "history": ev.history if ev else [], "wall_seconds": wall,
              "train_seconds": train_seconds, f"{recipe.unit}_per_second": rate, "logs": driver.logs,
              "losses": [(step, logs["loss"]) for step, logs in driver.history if "loss" in logs], "export": None,
              "skipped_files": len(run_.bad.skipped)}
    recipe.finish(run_, result)
    if run_.chief:
        endpoints, track = recipe.serving(run_)
        result["export"] = export.export_saved_model(run_.name, args.export_dir, endpoints, track,
                                                     version=args.version, warmup=recipe.warmup(run_))
        print_result(result)
    return result, run_.model
