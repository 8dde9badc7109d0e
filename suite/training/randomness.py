"""Randomness keyed by example, so that a step trains the same on any number of replicas.

What a training step samples for its loss (GAN latents, WGAN-GP's interpolation
points, Faster R-CNN's anchor and RoI minibatches) is drawn with stateless
generators seeded by (run seed, global step, the example's position in the
global batch). Replica r of R, holding examples [r*b, (r+1)*b) of the global
batch, draws for them exactly what a single replica holding the whole batch
draws, and a resumed run draws what an uninterrupted one would have. Stateful
generators (``tf.random.uniform``, a ``tf.random.Generator`` created under a
strategy) give each replica its own stream instead, so a two-replica run
would train on other noise than a one-replica run.

Stochastic layers (dropout, SpecAugment's masks) still draw per replica, as
on any multi-device setup; the replica-exactness tests turn them off.
"""
import tensorflow as tf

_INDEX_BITS = 24  # positions in a global batch: < 16M examples


def batch_size_of(batch):
    """The number of examples in a (nested) batch: the leading size of its first tensor."""
    return tf.shape(tf.nest.flatten(batch)[0])[0]


def example_seeds(seed, step, batch_size):
    """Seeds [batch_size, 2] int64 of this replica's examples at global ``step``.

    Example j of replica r is example r * batch_size + j of the global batch
    (``tf.distribute`` deals consecutive per-replica batches to the replicas
    in order); its seed depends on that position only.
    """
    ctx = tf.distribute.get_replica_context()
    replica = 0 if ctx is None else ctx.replica_id_in_sync_group
    n = tf.cast(batch_size, tf.int64)
    index = tf.cast(replica, tf.int64) * n + tf.range(n, dtype=tf.int64)
    step = tf.cast(step, tf.int64)
    return tf.stack([tf.fill([n], tf.cast(seed, tf.int64)), step * (1 << _INDEX_BITS) + index], -1)


def _per_example(draw, seeds, shape, salt, dtype):
    def one(seed):
        return draw(shape, seed=tf.random.experimental.stateless_fold_in(seed, salt), dtype=dtype)

    return tf.map_fn(one, seeds, fn_output_signature=dtype)


def uniform(seeds, shape, salt, dtype=tf.float32):
    """Per example: uniform [0, 1) values of ``shape`` -> [N, *shape]. ``salt`` tells apart the
    draws of one step (one integer per use)."""
    return _per_example(tf.random.stateless_uniform, seeds, list(shape), salt, dtype)


def normal(seeds, shape, salt, dtype=tf.float32):
    """Per example: standard normal values of ``shape`` -> [N, *shape]."""
    return _per_example(tf.random.stateless_normal, seeds, list(shape), salt, dtype)
