"""The original GAN (Goodfellow et al. 2014): MLP generator, maxout discriminator, minimax game.

    python -m recipes.gan                          # embedded shapes, small preset, 32x32
    python -m recipes.gan --g-loss minimax         # the saturating generator loss of the paper's equation 1
    tensorboard --logdir logs

Ends by exporting the generator as a SavedModel (see the export section below).
"""
from recipes import _classic_gan

recipe, main, __doc__ = _classic_gan.recipe("gan", "gan", __doc__)

if __name__ == "__main__":
    recipe.cli()
