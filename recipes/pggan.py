"""Progressive GAN: train from 4x4 up to the target resolution, watch it, export the generator.

    python -m recipes.pggan                      # embedded shapes, small preset, 4x4 -> 32x32
    python -m recipes.pggan --data ~/faces --resolution 64 --images-per-phase 200000
    tensorboard --logdir logs

The export ``saved_models/pggan/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3], computed by the moving average of the generator.
"""
import time

from recipes.common import add_gan_metric_flags, check_gan_metric_flags, export_generator, make_gan_monitor, \
    print_result, run
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
    add_gan_metric_flags(p)
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "images_per_phase", "num_images")
    check_gan_metric_flags(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    # The strategy comes before any other TensorFlow op.
    from suite.training import resolve_strategy, split_cpu

    split_cpu(args.virtual_cpus)
    strategy = resolve_strategy(args.strategy)

    import tensorflow as tf

    from suite import export
    from suite.data import image_source
    from suite.data.images import image_pipeline
    from suite.gan import pggan
    from suite.training import Driver, check_run_config, is_chief, limit_stages, set_precision

    policy = set_precision(args.mixed_precision)
    config = pggan.get_config(args.preset, resolution=args.resolution, images_per_phase=args.images_per_phase,
                              batch_size=args.batch_size)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync, config.mbstd_group_size)
    chief = is_chief(strategy)
    if chief:  # an existing --version (or an unwritable --export-dir) is refused before training
        export.resolve_version(args.export_dir, NAME, args.version)
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

    monitor = make_gan_monitor(args, gan, config.resolution, chief, args.num_images)
    # the first write to --logdir: after every check that can fail on bad input
    check_run_config(args.logdir, {"model": "pggan", "resolution": config.resolution, "latent_dim": config.latent_dim,
                                   "fmap_base": config.fmap_base, "fmap_max": config.fmap_max}, chief)
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
        result["metrics"] = monitor.history
        result["export"] = export_generator(NAME, args, gan.export_generator(), config.latent_dim)
        print_result(result)
    return result, gan


if __name__ == "__main__":
    run(main)
