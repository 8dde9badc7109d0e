"""WGAN (Arjovsky et al. 2017) and, with --gradient-penalty, WGAN-GP (Gulrajani et al. 2017).

    python -m recipes.wgan                         # weight clipping 0.01, RMSprop 5e-5, 5 critic steps
    python -m recipes.wgan --gradient-penalty 10   # WGAN-GP: penalty instead of clipping, Adam(1e-4, 0, 0.9)
    tensorboard --logdir logs

With a gradient penalty the run is WGAN-GP throughout: its default --logdir is
logs/wgan_gp and its export goes to saved_models/wgan_gp/, so that both can be
trained and served side by side.
"""
from recipes import _classic_gan

recipe, main, __doc__ = _classic_gan.recipe("wgan", "wgan", __doc__)

if __name__ == "__main__":
    recipe.cli()
