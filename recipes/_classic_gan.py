"""The one recipe body of GAN, DCGAN and WGAN / WGAN-GP (``recipes.gan``, ``recipes.dcgan``,
``recipes.wgan``): flags, data, build under the strategy scope, train epoch by epoch with
the suite's driver, evaluate, export the generator."""
import time

from recipes._common import add_gan_metric_flags, check_gan_metric_flags, export_generator, print_result, \
    start_gan_run
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

EXPORT_DOC = """
The export ``saved_models/{name}/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3]; ``python -m recipes.gan_sample`` draws a grid from it.
"""


def parse_args(name, doc, variant, argv=None):
    p = core_parser(name, doc, default_data="shapes", default_steps_per_epoch=None,
                    epochs_help="epochs to train (default: the preset's: tiny 4, small 10, paper 100); "
                                "each ends with a checkpoint, a sample grid and the metrics",
                    steps_help=("generator steps per epoch (default: the preset's: tiny 50, small 200, paper 1000); "
                                "a checkpoint every epoch"),
                    batch_help=("global minibatch of every generator and critic update, split over the replicas; "
                                "a training step consumes BATCH_SIZE x critic steps real images (default: the "
                                "preset's: tiny 32, small 64, paper 64 (DCGAN 128))"))
    p.set_defaults(batch_size=None)
    g = p.add_argument_group("model")
    g.add_argument("--resolution", type=int, default=None,
                   help="image size, a power of two >= 8 (default: the preset's: tiny 16, small 32, paper 64)")
    g.add_argument("--latent-dim", type=int, default=None,
                   help="size of the latent vector (default: the preset's: tiny 32, small and paper 100)")
    add_learning_rate(g, "learning rate of both optimizers (default: the paper's: GAN and DCGAN 2e-4, "
                        "WGAN 5e-5, WGAN-GP 1e-4)")
    g.add_argument("--num-images", type=int, default=10000, help="size of the embedded dataset")
    if variant == "gan":
        g.add_argument("--g-loss", default="nonsaturating", choices=("nonsaturating", "minimax"),
                       help="generator loss: -log D(G(z)) (the paper's practical choice) or the saturating "
                            "log(1 - D(G(z))) of its minimax equation, which barely trains while D wins")
    if variant == "wgan":
        g.add_argument("--gradient-penalty", type=float, default=0.0, metavar="LAMBDA",
                       help="0: WGAN (weight clipping, RMSprop 5e-5, batch-normalised critic); > 0: WGAN-GP "
                            "with this penalty weight (the paper's is 10; no clipping, Adam(1e-4, 0, 0.9), "
                            "no batch normalisation in the critic)")
        g.add_argument("--clip-value", type=float, default=None,
                       help="WGAN: every critic weight is clipped to [-c, c] after each critic step "
                            "(default 0.01)")
        g.add_argument("--critic-steps", type=int, default=None,
                       help="critic updates per generator update (default 5)")
        g.add_argument("--critic-norm", default=None, choices=("batch", "layer", "none"),
                       help="normalisation in the critic (default: batch for WGAN, none for WGAN-GP; the "
                            "gradient penalty refuses batch)")
    add_gan_metric_flags(p)
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "latent_dim", "num_images")
    check_gan_metric_flags(p, args)
    if variant == "wgan":
        if args.gradient_penalty < 0:
            p.error(f"--gradient-penalty must be >= 0 (0 turns it off), got {args.gradient_penalty}")
        if args.gradient_penalty > 0 and args.clip_value is not None:
            p.error("--clip-value is WGAN's weight clipping; WGAN-GP (--gradient-penalty > 0) replaces it")
        if args.clip_value is not None and args.clip_value <= 0:
            p.error(f"--clip-value must be > 0, got {args.clip_value}")
        check_positive(p, args, "critic_steps")
    check_learning_rate(p, args)
    return args


def config_from_args(variant, args):
    from suite.gan import classic

    overrides = dict(resolution=args.resolution, latent_dim=args.latent_dim, batch_size=args.batch_size,
                     learning_rate=args.learning_rate, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
    if variant == "gan":
        overrides["g_loss"] = args.g_loss
    if variant == "wgan":
        if args.gradient_penalty > 0:
            variant = "wgan_gp"
            overrides["gp_weight"] = args.gradient_penalty
        overrides.update(clip_value=args.clip_value, d_steps=args.critic_steps, critic_norm=args.critic_norm)
    return classic.get_config(variant, args.preset, **overrides)


def main(name, doc, variant, argv=None):
    import os

    args = parse_args(name, doc, variant, argv)
    if variant == "wgan" and args.gradient_penalty > 0:  # WGAN-GP: its own logs and export name
        if args.logdir == os.path.join("logs", name):
            args.logdir = os.path.join("logs", "wgan_gp")
        name = "wgan_gp"
    # The strategy comes before any other TensorFlow op.
    from suite.training import start_run

    strategy, _, policy = start_run(args)

    import dataclasses

    from suite.gan import classic
    
    config = config_from_args(variant, args)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync)

    def build():
        gan = classic.build_gan(config, seed=args.seed)
        gan.compile(*classic.make_optimizers(config, policy))
        return gan

    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("epochs", "steps_per_epoch")}
    # every step feeds d_steps critic minibatches and one generator minibatch
    gan, monitor, driver, chief = start_gan_run(
        args, name, strategy, resolution=config.resolution, images_per_step=batch * config.d_steps,
        build=build, settings=settings, checkpoint_every=config.steps_per_epoch)
    first_step = driver.step
    started = time.perf_counter()
    driver.train(classic.epochs(config))
    wall = time.perf_counter() - started
    train_seconds = max(wall - monitor.seconds, 1e-9)
    result = {"variant": config.variant, "step": driver.step, "resolution": config.resolution,
              "initial": monitor.initial, "reals_ms_ssim": monitor.reals_diversity, "metrics": monitor.history,
              "wall_seconds": wall, "train_seconds": train_seconds,
              "images_per_second": (driver.step - first_step) * batch * config.d_steps / train_seconds,
              "logs": driver.logs, "export": None}
    if chief:
        result["export"] = export_generator(name, args, gan.sampler, config.latent_dim)
        print_result(result)
    return result, gan


def entry(name, variant, doc):
    """(main, module doc with the export section) of the recipe ``name`` training ``variant``."""

    def recipe_main(argv=None):
        return main(name, doc.split("\n")[0], variant, argv)

    return recipe_main, doc + EXPORT_DOC.format(name=name)
