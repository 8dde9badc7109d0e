"""DCGAN (Radford et al. 2016): all-convolutional generator and discriminator with batch norm.

    python -m recipes.dcgan                        # embedded shapes, small preset, 32x32
    python -m recipes.dcgan --data tfds:cifar10
    python -m recipes.dcgan --preset paper --data ~/lsun_bedrooms   # 64x64, the paper's networks
    tensorboard --logdir logs

Ends by exporting the generator as a SavedModel (see the export section below).
"""
from recipes import _classic_gan

recipe, main, __doc__ = _classic_gan.recipe("dcgan", "dcgan", __doc__)

if __name__ == "__main__":
    recipe.cli()
