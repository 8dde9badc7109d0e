"""The suite's fit driver: a custom loop around ``strategy.run``.

Keras 3's ``model.fit`` fails under MultiWorkerMirroredStrategy
(keras-team/keras#20585) and has been reported failing under a two-device
MirroredStrategy (keras-team/keras#21069); this loop is the documented
TensorFlow way and works the same under the default, Mirrored,
MultiWorkerMirrored and TPU strategies.

Contract with the model:

* ``model.train_step(batch, step=STEP, **step_args)`` runs in each replica
  on that replica's share of the global batch (``STEP`` is the global step,
  an int64 tensor: what the step samples is keyed by it and by the examples'
  positions, see ``suite.training.randomness``). It scales every loss it
  differentiates so that gradients summed over replicas are those of the
  global mean, applies them with its optimizers (Keras 3 optimizers
  all-reduce gradients across replicas), and returns a dict of scalar
  *local means* to log; the driver averages them over replicas.
  ``suite.training.task.SupervisedTask`` does all of this for a model made
  of networks and per-example loss terms; GANs have their own step. Plain
  compiled Keras models (no ``train_step`` of the suite) are trained with
  ``supervised_step``.
* ``model.after_step()`` (optional) runs after each step in cross-replica
  context (the PGGAN's moving average of generator weights).
* ``model.checkpoint_objects()`` returns the trackables to checkpoint (models,
  optimizers); they must be built before ``train`` is called so that a
  restore lands on existing variables. The driver adds the Keras seed
  generators' states in them (dropout: ``random_states``), which Keras leaves
  out of a model's checkpoint, so that a resumed run draws what an
  uninterrupted one would have.

Training is a list of ``Stage``s (one for an ordinary run; fade-in and
stabilisation phases for PGGAN) counted in global steps. A checkpoint is
written every ``checkpoint_every`` steps and at the end of every stage; run
again with the same log directory and training continues from the last
checkpoint, in the stage it was in.
"""
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from typing import Callable

import numpy as np
import tensorflow as tf

from suite.training.optimizers import learning_rate_of
from suite.training.strategy import is_chief, worker_id


@dataclasses.dataclass
class Stage:
    """A run of ``steps`` global steps with the same models.

    ``enter(resumed)`` prepares the models (it runs under the strategy scope;
    ``resumed`` is True when the stage is re-entered after a restore, so that
    state such as optimizer moments must not be reset). ``step_args(i)`` gives
    the per-step scalars passed to ``train_step`` (e.g. the fade-in alpha) for
    the stage's i-th step. ``scalars`` are logged once per logging interval.
    ``task(i)`` (multi-task training, with a ``dataset_fn`` per task) names
    the task of the stage's i-th step: its batch comes from that task's
    dataset and ``train_step`` gets ``task=NAME`` (a Python string: one traced
    step per task, so each may update its own variables).
    """

    name: str
    steps: int
    enter: Callable[[bool], None] | None = None
    step_args: Callable[[int], dict] | None = None
    scalars: dict = dataclasses.field(default_factory=dict)
    task: Callable[[int], str] | None = None


def limit_stages(stages, max_steps):
    """``stages`` cut to ``max_steps`` global steps in all (``--epochs`` x ``--steps-per-epoch``).

    A cut stage keeps its ``step_args``, so a fade-in stopped half-way has
    alpha where the full schedule would have it, and a later run with a
    larger limit continues the same schedule.
    """
    out, left = [], max_steps
    for s in stages:
        if left <= 0:
            break
        out.append(dataclasses.replace(s, steps=min(s.steps, left)))
        left -= s.steps
    return out


def check_run_config(logdir, config, chief=True):
    """Refuses to resume a ``logdir`` made with other model settings; records them on a first run.

    ``config`` is a JSON-able dict of what the checkpoints depend on (sizes,
    variant, losses). A log directory with checkpoints but another config gets
    a ValueError naming each differing setting, instead of a restore error deep
    in TensorFlow (or, worse, a silent mix of two runs' logs).
    """
    path = os.path.join(os.fspath(logdir), "run_config.json")
    config = json.loads(json.dumps(config))  # tuples -> lists, as read back
    if os.path.exists(path) and tf.train.latest_checkpoint(os.path.join(os.fspath(logdir), "checkpoints")):
        with open(path) as f:
            previous = json.load(f)
        diff = [f"{k}={previous.get(k)!r} (now {config.get(k)!r})" for k in sorted(set(previous) | set(config))
                if previous.get(k) != config.get(k)]
        if diff:
            raise ValueError(f"--logdir {logdir} holds a run made with other settings: {', '.join(diff)}; "
                             "pass the same settings to resume it, or another --logdir")
        return
    if chief:
        os.makedirs(logdir, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(config, f, indent=1, sort_keys=True)
        os.replace(tmp, path)


def _variables_of(objects, attr="weights"):
    """``attr`` ("weights", or "variables": the weights and the Keras seed generators' states) of every
    network in ``objects`` (a checkpoint's trackables, optimizers left out): Keras layers and models,
    lists of them, or a tf.Module holding them (PGGAN's networks of every level), in a fixed order."""
    def of(obj):
        if hasattr(obj, "weights"):
            return list(getattr(obj, attr))
        if isinstance(obj, (list, tuple)):
            return [v for o in obj for v in of(o)]
        if isinstance(obj, tf.Module):
            return [v for k, o in vars(obj).items() if not k.startswith("_") for v in of(o)]
        return []

    return [v for obj in objects.values() if not hasattr(obj, "apply") for v in of(obj)]


def model_variables(model):
    """Every variable of the networks ``model.checkpoint_objects()`` names (not the optimizers')."""
    return _variables_of(model.checkpoint_objects())


def random_states(objects):
    """The states of the Keras seed generators (dropout and noise layers) inside ``objects``, each
    once, in a fixed order. Keras keeps them out of ``weights`` and a ``tf.train.Checkpoint`` of a
    model does not reach them: without them a resumed run would draw its dropout masks from the
    start again, not where the killed run was."""
    seen, out = {id(v) for v in _variables_of(objects)}, []
    for v in _variables_of(objects, "variables"):
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


class Callback:
    """Hooks called on every worker (check ``driver.chief`` before writing)."""

    def on_stage_begin(self, driver, stage):
        pass

    def on_log(self, driver, logs):
        pass

    def on_stage_end(self, driver, stage):
        pass

    def on_train_end(self, driver):
        pass


def supervised_step(model, batch, step=None):
    """One replica's step for a plain compiled Keras model: (x, y[, sample_weight])."""
    x, y, sw = batch if len(batch) == 3 else (*batch, None)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
        y_pred = model(x, training=True)
        # Keras losses already divide by the number of replicas (scale_loss_for_distribution),
        # so the gradients all-reduced by the optimizer are those of the global mean.
        loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=True)
        scaled = model.optimizer.scale_loss(loss)
    grads = tape.gradient(scaled, model.trainable_variables)
    model.optimizer.apply(grads, model.trainable_variables)
    return {"loss": tf.cast(loss, tf.float32) * replicas}


def interval_means(outputs):
    """The mean of each value over the step outputs of one logging interval (a task's own values
    over the steps of that task), so that a logged loss is not one batch's noise."""
    keys = dict.fromkeys(k for out in outputs for k in out)
    return {k: float(tf.reduce_mean(tf.stack([tf.cast(out[k], tf.float32) for out in outputs if k in out])))
            for k in keys}


class Driver:
    """Trains ``model`` on ``dataset_fn`` under ``strategy``; see the module doc.

    ``dataset_fn(input_context, start)`` returns this input pipeline's dataset
    of per-replica batches (``input_context.get_per_replica_batch_size``),
    sharded by ``input_context.input_pipeline_id``, beginning after the
    ``start`` batches this pipeline delivered before the restored checkpoint
    (0 on a first run): a resumed run continues the data order instead of
    replaying it. For multi-task training it is a dict {task: dataset_fn}, and
    every stage says each step's task. The datasets are made when ``train``
    is first called, after ``restore``.
    """

    def __init__(self, strategy, model, dataset_fn, *, logdir, checkpoint_every=500, log_every=50,
                 jit_compile=False, callbacks=(), max_to_keep=3, progress=True, data_threads=None):
        self.strategy = strategy
        self.model = model
        self.logdir = os.fspath(logdir)
        self.chief = is_chief(strategy)
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.log_every = max(1, int(log_every))
        self.jit_compile = jit_compile
        self.data_threads = data_threads  # the input pipelines' private thread pool (None: tf.data's default)
        self.callbacks = list(callbacks)
        self.progress = progress
        self.max_to_keep = max_to_keep
        self.step = 0
        self._step_fns = {}  # one traced step per task (None: single-task training)
        self.logs = {}
        self.history = []  # (step, logs) at every logging interval
        self.dataset_fns = dataset_fn if isinstance(dataset_fn, dict) else {None: dataset_fn}
        self.iterators = None  # made by the first ``train``, from the restored step
        self._step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        objects = dict(model.checkpoint_objects()) if hasattr(model, "checkpoint_objects") else {
            "model": model, "optimizer": model.optimizer}
        states = random_states(objects)
        self._objects = objects
        self.checkpoint = tf.train.Checkpoint(global_step=self._step_var, **objects,
                                              **({"random_states": states} if states else {}))
        self.checkpoint_dir = os.path.join(self.logdir, "checkpoints")
        self._optimizers = {k: v for k, v in objects.items() if hasattr(v, "learning_rate")}
        if self.chief:
            os.makedirs(self.logdir, exist_ok=True)
            self.writer = tf.summary.create_file_writer(self.logdir)
        else:
            self.writer = tf.summary.create_noop_writer()

    # ------------------------------------------------------------ checkpoints
    def restore(self):
        """Restores the latest checkpoint of ``logdir`` if any; returns the global step."""
        latest = tf.train.latest_checkpoint(self.checkpoint_dir)
        if latest:
            checkpoint = self.checkpoint
            if hasattr(checkpoint, "random_states") and not any(
                    name.startswith("random_states/") for name, _ in tf.train.list_variables(latest)):
                # written before the seed states were saved: resume the rest, the masks drawn anew
                checkpoint = tf.train.Checkpoint(global_step=self._step_var, **self._objects)
                if self.chief:
                    print(f"{latest} holds no dropout seed states (written by an older version): resuming "
                          "without them, so the dropout masks from here differ from an uninterrupted run's",
                          file=sys.stderr)
            checkpoint.read(latest).assert_existing_objects_matched()
            self.step = int(self._step_var.numpy())
            if self.chief:
                print(f"Resumed from {latest} at step {self.step}", file=sys.stderr)
        return self.step

    def save(self):
        """Writes a checkpoint. Every worker must call it (variables may be read
        collectively); only the chief's lands in ``logdir/checkpoints``."""
        self._step_var.assign(self.step)
        if self.chief:
            directory = self.checkpoint_dir
        else:
            directory = tempfile.mkdtemp(prefix=f"ckpt-{worker_id(self.strategy)}-")
        manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=self.max_to_keep)
        path = manager.save(checkpoint_number=self.step)
        self.writer.flush()  # the curve up to a checkpoint survives a kill with it
        if not self.chief:
            shutil.rmtree(directory, ignore_errors=True)
        return path

    # ------------------------------------------------------------ the step
    def _make_step_function(self, task=None):
        """One traced step for ``task`` (None: single-task training): ``fn(iterator[, args])``."""
        model = self.model
        replica_fn = model.train_step if hasattr(model, "checkpoint_objects") else (
            lambda batch, step: supervised_step(model, batch))
        if self.jit_compile:
            replica_fn = tf.function(replica_fn, jit_compile=True)
        strategy = self.strategy
        after = getattr(model, "after_step", None)

        step_var = self._step_var

        @tf.function
        def step_fn(iterator, args=None):
            # the global step lives in a variable the step advances: no tensor is made per step in Python
            kwargs = {**(args or {}), "step": step_var.read_value(), **({} if task is None else {"task": task})}
            out = strategy.run(replica_fn, args=(next(iterator),), kwargs=kwargs)
            logs = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}
            if after is not None:
                after()
            step_var.assign_add(1)
            return logs

        return step_fn

    def retrace(self):
        """Forgets the traced steps, so that the next step traces again: for a callback that replaced
        a network between stages (RMDL's re-drawn members)."""
        self._step_fns.clear()

    # ------------------------------------------------------------ the data
    def _steps_per_task(self, stages):
        """How many of the global steps before ``self.step`` each task took (None: single-task)."""
        counts = dict.fromkeys(self.dataset_fns, 0)
        start = 0
        for stage in stages:
            taken = min(stage.steps, self.step - start)
            if taken <= 0:
                break
            if stage.task is None:
                counts[None] = counts.get(None, 0) + taken
            else:
                for i in range(taken):
                    counts[stage.task(i)] = counts.get(stage.task(i), 0) + 1
            start += stage.steps
        return counts

    def _make_iterators(self, stages):
        counts = self._steps_per_task(stages)

        def with_start(fn, steps):
            # each step takes one per-replica batch from this pipeline for each of its replicas
            def made(ctx):
                ds = fn(ctx, steps * ctx.num_replicas_in_sync // ctx.num_input_pipelines)
                if self.data_threads:
                    options = tf.data.Options()
                    options.threading.private_threadpool_size = int(self.data_threads)
                    ds = ds.with_options(options)
                return ds

            return made

        return {k: iter(self.strategy.distribute_datasets_from_function(with_start(fn, counts.get(k, 0))))
                for k, fn in self.dataset_fns.items()}

    # ------------------------------------------------------------ the loop
    def train(self, stages):
        """Runs ``stages`` from the current global step; returns the last logs."""
        if self.iterators is None:
            self.iterators = self._make_iterators(stages)
        total = sum(s.steps for s in stages)
        start = 0
        resumed = self.step > 0
        for stage in stages:
            end = start + stage.steps
            if self.step >= end:
                start = end
                continue
            if stage.enter is not None:
                with self.strategy.scope():
                    stage.enter(resumed and self.step > start)
                self._step_fns = {}  # the models may have changed: trace again
            for cb in self.callbacks:
                cb.on_stage_begin(self, stage)
            self._run_stage(stage, start, total, self._step_fns)
            self.save()
            for cb in self.callbacks:
                cb.on_stage_end(self, stage)
            self.writer.flush()
            start = end
        for cb in self.callbacks:
            cb.on_train_end(self)
        self.writer.flush()
        return self.logs

    def _run_stage(self, stage, start, total, step_fn):
        bar = None
        if self.chief and self.progress:
            from tqdm import tqdm

            bar = tqdm(total=stage.steps, initial=self.step - start, desc=stage.name, unit="step",
                       file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 30.0, leave=True)
        tick, tick_step = time.perf_counter(), self.step
        interval = []  # the step outputs since the last log: logged as their means
        while self.step < start + stage.steps:
            i = self.step - start
            args = {k: tf.constant(v, tf.float32) for k, v in (stage.step_args(i) if stage.step_args else {}).items()}
            task = stage.task(i) if stage.task else None
            if task not in self.iterators:
                raise ValueError(f"stage {stage.name!r} step {i}: no dataset for task {task!r} "
                                 f"(datasets: {', '.join(map(str, self.iterators))})")
            if task not in step_fn:
                step_fn[task] = self._make_step_function(task)
            out = step_fn[task](self.iterators[task], args) if args else step_fn[task](self.iterators[task])
            interval.append(out)  # tensors: read (and waited for) only when logged
            self.step += 1
            if bar is not None:
                bar.update(1)
            last = self.step == start + stage.steps
            if self.step % self.log_every == 0 or last or self.step == 1:  # step 1: the untrained loss
                logs = interval_means(interval)
                interval = []
                if not all(np.isfinite(v) for v in logs.values()):
                    raise FloatingPointError(f"non-finite value at step {self.step}: {logs}")
                now = time.perf_counter()
                logs["steps_per_second"] = (self.step - tick_step) / max(now - tick, 1e-9)
                tick, tick_step = now, self.step
                logs.update({k: float(v) for k, v in stage.scalars.items()})
                logs.update({k: float(v) for k, v in args.items()})
                for name, opt in self._optimizers.items():
                    logs[f"learning_rate/{name}"] = learning_rate_of(opt)
                self.logs = logs
                self.history.append((self.step, logs))
                with self.writer.as_default(step=self.step):
                    for k, v in logs.items():
                        tf.summary.scalar(k, v)
                for cb in self.callbacks:
                    cb.on_log(self, logs)
                if bar is not None:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(logs.items())[:4]}, refresh=False)
            if self.step % self.checkpoint_every == 0 and not last:
                self.save()
        if bar is not None:
            bar.close()
