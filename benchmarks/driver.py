"""The suite's training loop against Keras' ``model.fit``: steps per second on the same model, data
and batch, under the default strategy, as ratios taken in one run.

    python -m benchmarks driver [--steps 200] [--batch 64] [--repeats 3] [--output driver.md]

For each network (an MLP on vectors, a small CNN on 32x32 images) the same
functional model is trained twice from the same initial weights on the same
tf.data pipeline: once with ``model.fit`` (compiled loss and optimizer), once
by the suite's driver as a ``suite.training.task.SupervisedTask`` (per-example
loss, replica scaling, the driver's logging, checkpointing at the end). The
first ``--warmup`` steps (tracing) are left out of both; each loop runs
``--repeats`` times alternately and the best rate of each is kept. A ratio
above 1 means the suite's loop is the faster one.
"""
import argparse
import dataclasses
import os
import sys
import tempfile
import time

from benchmarks import report


def networks(keras):
    def mlp():
        x = keras.Input((256,))
        h = keras.layers.Dense(512, activation="relu")(x)
        h = keras.layers.Dense(512, activation="relu")(h)
        return keras.Model(x, keras.layers.Dense(10)(h), name="mlp")

    def cnn():
        x = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
        h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(x, keras.layers.Dense(10)(h), name="cnn")

    return {"mlp": (mlp, (256,)), "cnn": (cnn, (32, 32, 3))}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks driver", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=200, help="timed steps of each loop (after the warm-up)")
    p.add_argument("--warmup", type=int, default=20, help="steps left out of the timing (tracing)")
    p.add_argument("--batch", type=int, default=64, help="global batch")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each loop, alternately; the best counts")
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    from suite.training.driver import Driver, Stage
    from suite.training.task import SupervisedTask

    @dataclasses.dataclass(frozen=True)
    class Config:
        optimizer: str = "adam"
        learning_rate: float = 1e-3

    class Classifier(SupervisedTask):
        def __init__(self, net):
            super().__init__(Config())
            self.net = net

        def loss_terms(self, batch, training, seeds):
            x, y = batch
            logits = self.net(x, training=training)
            return {"loss/classification": tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits)}, {}

    def data(shape, batch):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4096, *shape)).astype("float32")
        y = rng.integers(0, 10, 4096).astype("int32")
        return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(batch, drop_remainder=True).prefetch(2)

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    def fit_rate(build, shape):
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        clock = Clock()
        clock.times = []
        model.fit(data(shape, args.batch), steps_per_epoch=args.warmup + args.steps, epochs=1, verbose=0,
                  callbacks=[clock])
        return args.steps / (clock.times[-1] - clock.times[args.warmup - 1])

    def driver_rate(build, shape, workdir):
        keras.utils.set_random_seed(0)
        model = Classifier(build())
        model.compile()
        driver = Driver(tf.distribute.get_strategy(), model, lambda ctx, start: data(shape, args.batch), logdir=workdir,
                        checkpoint_every=10**9, log_every=args.warmup, progress=False)
        driver.train([Stage("warm-up", args.warmup)])
        started = time.perf_counter()
        driver.train([Stage("warm-up", args.warmup), Stage("timed", args.steps)])
        return args.steps / (time.perf_counter() - started)

    rows = []
    for name, (build, shape) in networks(keras).items():
        fit, suite = [], []
        for i in range(args.repeats):
            print(f"{name}: repeat {i + 1}/{args.repeats}", file=sys.stderr, flush=True)
            fit.append(fit_rate(build, shape))
            with tempfile.TemporaryDirectory(prefix="bench-driver-") as workdir:
                suite.append(driver_rate(build, shape, workdir))
        rows.append((name, max(fit), max(suite)))
    lines = [f"Training loop, default strategy, batch {args.batch}, {args.steps} timed steps (after {args.warmup}), "
             f"best of {args.repeats}, {os.cpu_count()} CPU cores\n",
             "| network | model.fit steps/s | suite driver steps/s | suite driver / model.fit |", "|---|---|---|---|"]
    lines += [f"| {n} | {f:,.1f} | {s:,.1f} | {s / f:.2f}x |" for n, f, s in rows]
    report("\n".join(lines), args.output)
    return rows


if __name__ == "__main__":
    main()
