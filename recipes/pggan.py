"""Progressive GAN: train from 4x4 up to the target resolution, watch it, export the generator.

    python -m recipes.pggan                      # embedded shapes, small preset, 4x4 -> 32x32
    python -m recipes.pggan --data ~/faces --resolution 64 --images-per-phase 200000
    tensorboard --logdir logs

The export ``saved_models/pggan/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3], computed by the moving average of the generator.
"""
from recipes._gan import GANRecipe
from suite.training.cli import positive_float, positive_int
from suite.training.runner import lazy

pggan = lazy("suite.gan.pggan")
driver = lazy("suite.training.driver")


class PGGAN(GANRecipe):
    __doc__ = __doc__
    name = "pggan"
    epochs_help = "stop after EPOCHS x STEPS_PER_EPOCH steps (default: run every phase to the target resolution)"
    group_title = "PGGAN"
    learning_rate_help = ("the generator's Adam learning rate; the discriminator's is --d-learning-rate-factor times "
                          "it (default: the preset's: 1e-3, tiny 5e-4)")

    def add_flags(self, g):
        g.add_argument("--resolution", type=int, default=None,
                       help="target resolution, a power of two >= 4 (default: the preset's: tiny 8, small 32, "
                            "paper 1024)")
        g.add_argument("--images-per-phase", type=positive_int, default=None,
                       help="real images shown per fade-in and per stabilisation phase (paper: 800000; "
                            "default: the preset's)")
        g.add_argument("--final-images", type=positive_int, default=None,
                       help="real images shown in the last stabilisation phase, at the target resolution "
                            "(default: the preset's: small 80000, others --images-per-phase)")
        g.add_argument("--d-learning-rate-factor", type=positive_float, default=None, metavar="F",
                       help="the discriminator's learning rate over the generator's (default: the preset's: small 2, "
                            "the two time-scale update rule; tiny and paper 1, the paper's one rate)")
        g.add_argument("--loss", default=None, choices=("wgan-gp", "logistic-r1"),
                       help="wgan-gp (the paper's, with its drift term) or logistic-r1 (the non-saturating logistic "
                            "loss with the R1 penalty, as the paper's authors' StyleGAN) (default: the preset's)")
        g.add_argument("--r1-interval", type=positive_int, default=None,
                       help="logistic-r1: take the R1 penalty every N steps, weighted by N (StyleGAN2's lazy "
                            "regularisation: a step without it costs about a quarter less) (default: 1, every step)")
        g.add_argument("--num-images", type=positive_int, default=10000, help="size of the embedded dataset")

    def check_flags(self, p, args):
        super().check_flags(p, args)
        if args.r1_interval is not None and args.loss != "logistic-r1":
            p.error("--r1-interval spaces the R1 penalty of --loss logistic-r1; WGAN-GP (the presets') has none")

    # Data: the embedded shapes scenes, a folder or TFDS (GANRecipe); the model:
    def configure(self, run):
        a = run.args
        return pggan.get_config(a.preset, resolution=a.resolution, images_per_phase=a.images_per_phase,
                                final_images=a.final_images, batch_size=a.batch_size, loss=a.loss,
                                r1_interval=a.r1_interval, learning_rate=a.learning_rate,
                                d_learning_rate_factor=a.d_learning_rate_factor)

    def schedule(self, run):  # --epochs caps the phases' steps
        return run.config.batch_size, run.args.epochs, run.args.steps_per_epoch

    def batch_multiple(self, run):
        return run.config.mbstd_group_size

    def build(self, run):
        gan = pggan.ProgressiveGAN(run.config, seed=run.args.seed)
        gan.compile(*pggan.make_optimizers(run.config, run.policy))
        gan.set_alpha(1.0)  # the untrained baseline is measured at the target resolution
        return gan

    def settings(self, run):
        c = run.config
        return {"model": "pggan", "resolution": c.resolution, "latent_dim": c.latent_dim,
                "fmap_base": c.fmap_base, "fmap_max": c.fmap_max, "loss": c.loss,
                **({"d_fmap_base": c.d_fmap_base} if c.d_fmap_base else {}),
                **({"r1_interval": c.r1_interval} if c.loss == "logistic-r1" else {})}

    # Train: 4x4, then a fade-in and a stabilisation phase per resolution
    def stages(self, run):
        stages = pggan.schedule(run.model, run.batch)
        if run.epochs:
            stages = driver.limit_stages(stages, run.epochs * run.steps)
        return stages

    def finish(self, run, result):
        result.update(resolution=run.model.resolution, swd=run.evaluator.swd)

    # Serve the moving average of the generator, at the level (and fade) reached
    def generator(self, run):
        return run.model.export_generator()


recipe = PGGAN()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
