"""PGGAN throughput: training images/second per resolution, with and without XLA,
against the input pipeline's images/second (the pipeline must not be the bottleneck).

    python -m benchmarks pggan [--preset small] [--steps 30] [--batch-size N]

Every figure comes from the same run on the same machine; the ratio columns
compare XLA with plain graph execution and the pipeline with the model's
consumption at that resolution.
"""
import argparse
import time


def measure_pipeline(data, resolution, batch, seconds=3.0):
    from suite.data.images import image_pipeline

    it = iter(image_pipeline(data, resolution, batch))
    for _ in range(5):
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        next(it)
        n += 1
    return n * batch / (time.perf_counter() - t0)


def measure_training(config, level, batch, steps, jit, seed=0):
    import tensorflow as tf

    from suite.gan import pggan

    gan = pggan.ProgressiveGAN(config, seed=seed)
    gan.compile(*pggan.make_optimizers(config))
    gan.set_level(level, reset=True)
    step = gan.train_step
    if jit:
        step = tf.function(step, jit_compile=True)

    @tf.function
    def run(reals, alpha):
        out = step(reals, alpha=alpha)
        gan.after_step()
        return out

    reals = tf.random.uniform([batch, config.resolution, config.resolution, 3], -1.0, 1.0)
    alpha = tf.constant(0.5)
    for _ in range(3):
        run(reals, alpha)["d_loss"].numpy()
    t0 = time.perf_counter()
    for _ in range(steps):
        out = run(reals, alpha)
    out["d_loss"].numpy()
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks pggan", description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="small", choices=("tiny", "small", "paper"))
    p.add_argument("--resolution", type=int, default=None, help="target resolution (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--data", default="shapes", help="input pipeline to measure (see recipes.pggan --data)")
    p.add_argument("--no-jit", action="store_true", help="skip the XLA measurements")
    args = p.parse_args(argv)

    import tensorflow as tf

    from suite.gan import pggan

    config = pggan.get_config(args.preset, resolution=args.resolution, batch_size=args.batch_size)
    batch = config.batch_size
    device = ", ".join(d.device_type for d in tf.config.list_logical_devices() if d.device_type != "CPU") or "CPU"
    pipeline = measure_pipeline(args.data, config.resolution, batch)
    print(f"PGGAN preset={args.preset} resolution={config.resolution} batch={batch} device={device}")
    print(f"input pipeline ({args.data}, {config.resolution}x{config.resolution}): {pipeline:,.0f} images/s")
    header = "| resolution | train img/s | train img/s (XLA) | XLA speed-up | pipeline / model |"
    print(header)
    print("|" + "---|" * 5)
    rows = []
    for level in range(config.levels):
        r = config.level_resolution(level)
        plain = measure_training(config, level, batch, args.steps, jit=False)
        xla = None if args.no_jit else measure_training(config, level, batch, args.steps, jit=True)
        fastest = max(plain, xla or 0)
        rows.append((r, plain, xla, pipeline / fastest))
        xla_s = "-" if xla is None else f"{xla:,.0f}"
        ratio = "-" if xla is None else f"{xla / plain:.2f}x"
        print(f"| {r}x{r} | {plain:,.0f} | {xla_s} | {ratio} | {pipeline / fastest:.1f}x |", flush=True)
    return {"pipeline": pipeline, "rows": rows}


if __name__ == "__main__":
    main()
