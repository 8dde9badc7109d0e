"""The one recipe of GAN, DCGAN and WGAN / WGAN-GP (``recipes.gan``, ``recipes.dcgan``,
``recipes.wgan``): flags, the variant's config and networks, epoch after epoch of the one GAN
step, the monitor and the generator's export (``recipes._gan``)."""
import dataclasses
import os

from recipes._gan import EXPORT_DOC, GANRecipe
from suite.training.cli import non_negative_float, positive_float, positive_int
from suite.training.runner import lazy

classic = lazy("suite.gan.classic")


class ClassicGAN(GANRecipe):
    steps_per_epoch = None
    epochs_help = ("epochs to train (default: the preset's: tiny 4, small 10, paper 100); each ends with a "
                   "checkpoint, a sample grid and the metrics")
    steps_help = "generator steps per epoch (default: the preset's: tiny 50, small 200, paper 1000); a checkpoint every epoch"
    batch_help = ("global minibatch of every generator and critic update, split over the replicas; a training "
                  "step consumes BATCH_SIZE x critic steps real images (default: the preset's: tiny 32, small 64, "
                  "paper 64 (DCGAN 128))")
    learning_rate_help = ("learning rate of both optimizers (default: the paper's: GAN and DCGAN 2e-4, WGAN 5e-5, "
                          "WGAN-GP 1e-4)")

    def __init__(self, name, variant, doc):
        super().__init__(doc + EXPORT_DOC.format(name=name))
        self.name, self.variant = name, variant
        self.batch_norm = variant != "gan"  # DCGAN's networks (and WGAN's critic)

    def add_flags(self, g):
        g.add_argument("--resolution", type=int, default=None,
                       help="image size, a power of two >= 8 (default: the preset's: tiny 16, small 32, paper 64)")
        g.add_argument("--latent-dim", type=positive_int, default=None,
                       help="size of the latent vector (default: the preset's: tiny 32, small and paper 100)")
        g.add_argument("--num-images", type=positive_int, default=10000, help="size of the embedded dataset")
        g.add_argument("--ema-decay", type=float, default=None,
                       help="draw samples and export from a moving average of the generator's weights with this "
                            "decay (0: the generator itself; default: the preset's)")
        if self.variant == "gan":
            g.add_argument("--g-loss", default="nonsaturating", choices=("nonsaturating", "minimax"),
                           help="generator loss: -log D(G(z)) (the paper's practical choice) or the saturating "
                                "log(1 - D(G(z))) of its minimax equation, which barely trains while D wins")
        if self.variant == "wgan":
            g.add_argument("--gradient-penalty", type=non_negative_float, default=0.0, metavar="LAMBDA",
                           help="0: WGAN (weight clipping, RMSprop 5e-5, batch-normalised critic); > 0: WGAN-GP "
                                "with this penalty weight (the paper's is 10; no clipping, Adam(1e-4, 0, 0.9), "
                                "no batch normalisation in the critic)")
            g.add_argument("--clip-value", type=positive_float, default=None,
                           help="WGAN: every critic weight is clipped to [-c, c] after each critic step "
                                "(default 0.01)")
            g.add_argument("--critic-steps", type=positive_int, default=None,
                           help="critic updates per generator update (default 5)")
            g.add_argument("--critic-norm", default=None, choices=("batch", "layer", "none"),
                           help="normalisation in the critic (default: batch for WGAN, none for WGAN-GP; the "
                                "gradient penalty refuses batch)")

    def check_flags(self, p, args):
        if args.ema_decay is not None and not 0 <= args.ema_decay < 1:
            p.error(f"--ema-decay must be in [0, 1), got {args.ema_decay}")
        super().check_flags(p, args)
        if self.variant == "wgan":
            if args.gradient_penalty > 0 and args.clip_value is not None:
                p.error("--clip-value is WGAN's weight clipping; WGAN-GP (--gradient-penalty > 0) replaces it")
            if args.gradient_penalty > 0 and args.logdir == os.path.join("logs", self.name):
                args.logdir = os.path.join("logs", "wgan_gp")  # WGAN-GP: its own logs and export name

    def export_name(self, args):
        return "wgan_gp" if getattr(args, "gradient_penalty", 0) > 0 else self.name

    # The model: the variant's networks, losses and optimizers, at the preset's sizes
    def configure(self, run):
        a, variant = run.args, self.variant
        overrides = dict(resolution=a.resolution, latent_dim=a.latent_dim, batch_size=a.batch_size,
                         learning_rate=a.learning_rate, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch,
                         sync_batch_norm=getattr(a, "sync_batch_norm", None), ema_decay=a.ema_decay)
        if variant == "gan":
            overrides["g_loss"] = a.g_loss
        if variant == "wgan":
            if a.gradient_penalty > 0:
                variant = "wgan_gp"
                overrides["gp_weight"] = a.gradient_penalty
            overrides.update(clip_value=a.clip_value, d_steps=a.critic_steps, critic_norm=a.critic_norm)
        return classic.get_config(variant, a.preset, **overrides)

    def global_batch(self, run):  # real images per generator step: d_steps critic minibatches
        return run.batch * run.config.d_steps

    def build(self, run):
        gan = classic.build_gan(run.config, seed=run.args.seed)
        gan.compile(*classic.make_optimizers(run.config, run.policy))
        return gan

    def settings(self, run):
        return {k: v for k, v in dataclasses.asdict(run.config).items()
                if k not in ("epochs", "steps_per_epoch", "sync_batch_norm")}

    def finish(self, run, result):
        result.update(variant=run.config.variant, resolution=run.config.resolution,
                      reals_ms_ssim=run.evaluator.reals_diversity)


def recipe(name, variant, doc):
    """(recipe, main, module doc with the export section) of ``recipes.<name>`` training ``variant``."""
    r = ClassicGAN(name, variant, doc)
    return r, r.main, r.doc
