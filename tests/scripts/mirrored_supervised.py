"""Trains a small classifier with the suite's driver under --strategy, prints its weights as JSON.

usage: mirrored_supervised.py STRATEGY VIRTUAL_CPUS LOGDIR
"""
import json
import sys

from suite.training import Driver, Stage, resolve_strategy, split_cpu

strategy_name, cpus, logdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
split_cpu(cpus)
strategy = resolve_strategy(strategy_name)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 6)).astype("float32")
y = (x[:, 0] * x[:, 1] > 0).astype("int32")  # XOR-like: needs the hidden layer
GLOBAL = 32


def dataset_fn(ctx):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat()
    return ds.batch(GLOBAL, drop_remainder=True).shard(ctx.num_input_pipelines, ctx.input_pipeline_id).unbatch().batch(
        ctx.get_per_replica_batch_size(GLOBAL))


keras.utils.set_random_seed(1)
with strategy.scope():
    inp = keras.Input((6,))
    h = keras.layers.Dense(32, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(h))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)
driver = Driver(strategy, model, dataset_fn, logdir=logdir, checkpoint_every=1000, log_every=10, progress=False)
driver.train([Stage("train", 150)])
pred = np.argmax(model.predict(x, verbose=0), -1)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": driver.history[0][1]["loss"],
                  "final_loss": driver.logs["loss"], "accuracy": float((pred == y).mean()),
                  "weights": [w.tolist() for w in model.get_weights()]}))
