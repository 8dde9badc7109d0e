"""Progressive GAN: train from 4x4 up to the target resolution, watch it, export the generator.

    python -m recipes.pggan                      # embedded shapes, small preset, 4x4 -> 32x32
    python -m recipes.pggan --data ~/faces --resolution 64 --images-per-phase 200000
    tensorboard --logdir logs

The export ``saved_models/pggan/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3], computed by the moving average of the generator.
"""
import time

from recipes._common import add_gan_metric_flags, check_gan_metric_flags, export_generator, print_result, run, \
    start_gan_run
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
    from suite.training import start_run

    strategy, _, policy = start_run(args)

    from suite.gan import pggan
    from suite.training import limit_stages

    config = pggan.get_config(args.preset, resolution=args.resolution, images_per_phase=args.images_per_phase,
                              batch_size=args.batch_size)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync, config.mbstd_group_size)

    def build():
        gan = pggan.ProgressiveGAN(config, seed=args.seed)
        gan.compile(*pggan.make_optimizers(config, policy))
        gan.set_alpha(1.0)  # the untrained baseline is measured at the target resolution
        return gan

    settings = {"model": "pggan", "resolution": config.resolution, "latent_dim": config.latent_dim,
                "fmap_base": config.fmap_base, "fmap_max": config.fmap_max}
    gan, monitor, driver, chief = start_gan_run(
        args, NAME, strategy, resolution=config.resolution, images_per_step=batch, build=build,
        settings=settings, checkpoint_every=args.steps_per_epoch)
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
