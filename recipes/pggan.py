"""Progressive GAN: train from 4x4 up to the target resolution, watch it, export the generator.

    python -m recipes.pggan                      # embedded shapes, small preset, 4x4 -> 32x32
    python -m recipes.pggan --data ~/faces --resolution 64 --images-per-phase 200000
    tensorboard --logdir logs

The export ``saved_models/pggan/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3], computed by the moving average of the generator.
"""
import json
import os
import sys
import time

from suite.training.cli import check_batch, check_positive, core_parser

NAME = "pggan"


def parse_args(argv=None):
    p = core_parser(
        NAME, __doc__.split("\n")[0], default_data="shapes", default_steps_per_epoch=100,
        epochs_help="stop after EPOCHS x STEPS_PER_EPOCH steps (default: run every phase to the target resolution)")
    g = p.add_argument_group("PGGAN")
    g.add_argument("--resolution", type=int, default=None,
                   help="target resolution, a power of two >= 4 (default: the preset's: tiny 8, small 32, paper 1024)")
    g.add_argument("--images-per-phase", type=int, default=None,
                   help="real images shown per fade-in and per stabilisation phase (paper: 800000; "
                        "default: the preset's)")
    g.add_argument("--num-images", type=int, default=10000, help="size of the embedded dataset")
    g.add_argument("--swd-images", type=int, default=512,
                   help="images per side for the sliced Wasserstein distance at the end of each phase (0: off)")
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "images_per_phase", "num_images")
    return args


def main(argv=None):
    args = parse_args(argv)
    # The strategy comes before any other TensorFlow op.
    from suite.training import resolve_strategy, split_cpu

    split_cpu(args.virtual_cpus)
    strategy = resolve_strategy(args.strategy)

    import tensorflow as tf

    from suite import export
    from suite.data import image_source, sample_images, to_uint8
    from suite.data.images import image_pipeline
    from suite.gan import pggan
    from suite.gan.callbacks import GANMonitor
    from suite.training import Driver, is_chief, limit_stages, set_precision

    policy = set_precision(args.mixed_precision)
    config = pggan.get_config(args.preset, resolution=args.resolution, images_per_phase=args.images_per_phase,
                              batch_size=args.batch_size)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync, config.mbstd_group_size)
    chief = is_chief(strategy)
    version = export.resolve_version(args.export_dir, NAME, args.version) if chief else None
    # Validates --data (missing folder, no images, bad files) before anything is built or written.
    image_source(args.data, config.resolution, args.seed, args.num_images)

    def dataset_fn(ctx):
        return image_pipeline(args.data, config.resolution, ctx.get_per_replica_batch_size(batch),
                              seed=args.seed, num_images=args.num_images,
                              shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        gan = pggan.ProgressiveGAN(config, seed=args.seed)
        gan.compile(*pggan.make_optimizers(config, policy))

    reals = None
    if chief and args.swd_images:
        reals = sample_images(args.data, config.resolution, args.swd_images, seed=args.seed + 1,
                              num_images=max(args.num_images, args.swd_images))
    monitor = GANMonitor(gan, reals=reals, seed=args.seed)
    driver = Driver(strategy, gan, dataset_fn, logdir=args.logdir, checkpoint_every=args.steps_per_epoch,
                    log_every=max(1, min(50, args.steps_per_epoch)), jit_compile=args.jit_compile,
                    callbacks=[monitor], progress=not args.no_progress)
    if driver.restore() == 0 and chief:
        gan.set_alpha(1.0)
        monitor.baseline()  # the untrained generator at the target resolution
    stages = pggan.schedule(gan, batch)
    if args.epochs:
        stages = limit_stages(stages, args.epochs * args.steps_per_epoch)
    started = time.perf_counter()
    driver.train(stages)
    wall = time.perf_counter() - started

    result = {"step": driver.step, "resolution": gan.resolution, "initial_swd": monitor.initial_swd,
              "swd": monitor.swd, "wall_seconds": wall,
              "logs": driver.logs, "export": None}
    if chief:
        generator = gan.export_generator()

        @tf.function
        def serve(latents):
            return {"images": to_uint8(generator(latents, training=False))}

        spec = [tf.TensorSpec([None, config.latent_dim], tf.float32, name="latents")]
        result["export"] = export.export_saved_model(NAME, args.export_dir, {"serving_default": (serve, spec)},
                                                     [generator], version=version)
        print(json.dumps(result, default=str))
    return result, gan


if __name__ == "__main__":
    try:
        main()
    except (ValueError, OSError) as e:
        if os.environ.get("SUITE_TRACEBACK"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
