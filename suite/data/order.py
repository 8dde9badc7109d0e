"""The order of an endless training stream, addressable by position.

Epoch ``e`` visits the examples in the permutation drawn from ``(*key, e)``, so
the stream's ``start``-th element is found without producing the ones before
it: a run resumed from a checkpoint continues where it stopped instead of
replaying its data from the beginning (the driver passes each pipeline the
number of batches it delivered before the checkpoint).
"""
import numpy as np


def epoch_order(indices, key, start=0):
    """(epoch, index) pairs of the endless stream over ``indices`` from its ``start``-th element."""
    indices = np.asarray(indices)
    if not len(indices):
        raise ValueError("an empty set has no order")
    epoch, position = divmod(int(start), len(indices))
    while True:
        order = np.random.default_rng([*key, epoch]).permutation(indices)
        for i in order[position:]:
            yield epoch, int(i)
        position = 0
        epoch += 1


def shard_by_file(count, shard=None, files=None):
    """The indices of ``count`` examples one worker reads: with ``shard`` = (workers, index), those of
    every workers-th file from the index-th (each example its own file, or ``files``: the file each
    is in, when files hold many)."""
    indices = np.arange(count)
    if shard is None:
        return indices
    return indices[(indices if files is None else np.asarray(files)) % shard[0] == shard[1]]


def order_dataset(indices, key, start=0, with_epoch=False):
    """``epoch_order``'s stream as a tf.data dataset of int64 indices, or of (epoch, index) pairs
    ``with_epoch`` (no Python generator: each epoch's permutation is one ``numpy_function`` call,
    the examples are then mapped in parallel)."""
    import tensorflow as tf

    indices = np.asarray(indices, np.int64)
    if not len(indices):
        raise ValueError("an empty set has no order")
    epoch, position = divmod(int(start), len(indices))

    def permutation(e):
        return np.random.default_rng([*key, int(e)]).permutation(indices)

    def one_epoch(e):
        order = tf.ensure_shape(tf.numpy_function(permutation, [e], tf.int64, stateful=False), [len(indices)])
        return tf.data.Dataset.from_tensor_slices((tf.fill([len(indices)], e), order) if with_epoch else order)

    return tf.data.Dataset.counter(epoch).flat_map(one_epoch).skip(position)
