"""The supervised task base: a model is its networks and its per-example loss terms.

A subclass gives

* ``networks()``: {name: functional keras.Model} it is made of (checkpointed
  under those names; the default is ``{"net": self.net}``),
* ``loss_terms(batch, training, seeds)``: ``(terms, metrics)``, each a dict.
  A term is a per-example loss [B] (its mean over the global batch is
  minimised) or a pair ``(values [B], weights [B])`` (its weighted mean over
  the global batch: the masked-LM loss over the masked tokens). Metrics are
  logged, not differentiated, in the same two forms. ``seeds`` [B, 2] key
  whatever the loss samples (``suite.training.randomness``).

and the base does the rest for the fit driver (``suite.training.driver``):
the gradient tape; the replica scaling (each replica minimises its share of
the global mean, so the gradients the optimizer sums over replicas are those
of one replica holding the whole batch); the networks' regularisation losses
(weight decay); loss scaling under ``mixed_float16``; the optimizer, built
from the config's ``OptimizerSpec`` fields (``optimizer``, ``learning_rate``,
``momentum``, ``clipnorm``, ``schedule``, ...); ``checkpoint_objects``;
``test_step``. Multi-task models pass ``task`` through to ``loss_terms`` and
``trainable_for`` (MT-DNN: each step updates the encoder and one head).
"""
import keras
import tensorflow as tf

from suite.training import randomness
from suite.training.optimizers import OptimizerSpec


def _global_share(term, replicas):
    """This replica's share of a term's mean over the global batch."""
    if isinstance(term, tuple):  # weighted: sum(v w) / sum(w), both over the global batch
        values, weights = (tf.cast(t, tf.float32) for t in term)
        total = tf.reduce_sum(weights)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and replicas > 1:
            total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, total)
        return tf.math.divide_no_nan(tf.reduce_sum(values * weights), total)
    values = tf.cast(term, tf.float32)
    return tf.reduce_sum(values) / tf.cast(tf.size(values) * replicas, tf.float32)


def _local_mean(metric):
    if isinstance(metric, tuple):
        values, weights = (tf.cast(t, tf.float32) for t in metric)
        return tf.math.divide_no_nan(tf.reduce_sum(values * weights), tf.reduce_sum(weights))
    return tf.reduce_mean(tf.cast(metric, tf.float32))


class SupervisedTask(keras.Model):
    """Networks + per-example loss terms; see the module docstring."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.seed = int(seed)

    # ------------------------------------------------------------ what a task gives
    def networks(self):
        return {"net": self.net}

    def loss_terms(self, batch, training, seeds, **task):
        raise TypeError(f"{type(self).__name__} must define loss_terms(batch, training, seeds) -> (terms, metrics)")

    def trainable_for(self, task=None):
        """The variables a step of ``task`` updates (every network's by default)."""
        return [v for n in self.networks().values() for v in n.trainable_variables]

    def optimizer_spec(self):
        return OptimizerSpec.from_config(self.config)

    # ------------------------------------------------------------ what the base does
    def call(self, inputs, training=False):
        return next(iter(self.networks().values()))(inputs, training=training)

    def compile(self, optimizer=None, total_steps=None):
        """Sets and builds the optimizer (call under the strategy scope); ``total_steps`` feeds a
        warm-up or decay schedule."""
        super().compile()
        self.optimizer = optimizer or self.optimizer_spec().build(total_steps)
        variables = [v for n in self.networks().values() for v in n.trainable_variables]
        self.optimizer.build(list({id(v): v for v in variables}.values()))

    def checkpoint_objects(self):
        return {**self.networks(), "optimizer": self.optimizer}

    def regularization_loss(self):
        losses = [loss for n in self.networks().values() for loss in n.losses]
        return tf.add_n([tf.cast(x, tf.float32) for x in losses]) if losses else tf.constant(0.0)

    def kernel_decay(self, weight_decay):
        """Caffe's weight decay on every network's kernels, (weight_decay / 2) sum ||w||^2: what the
        papers' solvers (FCN, DeepLab, PixelLink) add to the loss; a subclass adds it in its
        ``regularization_loss``."""
        kernels = [v for n in self.networks().values() for v in n.trainable_variables if "kernel" in v.path]
        if not kernels or not weight_decay:
            return tf.constant(0.0)
        return 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(tf.cast(k, tf.float32))) for k in kernels])

    def _terms(self, batch, training, step, task):
        seeds = randomness.example_seeds(self.seed, step, randomness.batch_size_of(batch))
        return self.loss_terms(batch, training=training, seeds=seeds, **({} if task is None else {"task": task}))

    def train_step(self, batch, step=0, task=None):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        variables = self.trainable_for(task)
        with tf.GradientTape() as tape:
            terms, metrics = self._terms(batch, True, step, task)
            shares = {k: _global_share(v, replicas) for k, v in terms.items()}
            loss = tf.add_n(list(shares.values()))
            # each replica's weight decay is 1 / replicas of it: summed over replicas, once
            scaled = self.optimizer.scale_loss(loss + self.regularization_loss() / replicas)
        grads = tape.gradient(scaled, variables)
        # a variable without a gradient (a pooler a task's head does not read) is left alone
        used = [(g, v) for g, v in zip(grads, variables) if g is not None]
        self.optimizer.apply([g for g, _ in used], [v for _, v in used])
        # local estimates of the global means (the driver averages them over replicas)
        logs = {"loss": loss * replicas, **{k: v * replicas for k, v in shares.items()}}
        return {**logs, **{k: _local_mean(v) for k, v in metrics.items()}}

    def test_step(self, batch, task=None):
        """The loss terms and metrics of a batch without training (local means)."""
        terms, metrics = self._terms(batch, False, 0, task)
        shares = {k: _local_mean(v) for k, v in terms.items()}
        return {"loss": tf.add_n(list(shares.values())), **shares,
                **{k: _local_mean(v) for k, v in metrics.items()}}
