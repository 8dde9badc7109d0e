"""DCGAN (Radford et al. 2016): all-convolutional generator and discriminator with batch norm.

    python -m recipes.dcgan                        # embedded shapes, small preset, 32x32
    python -m recipes.dcgan --data tfds:cifar10
    python -m recipes.dcgan --preset paper --data ~/lsun_bedrooms   # 64x64, the paper's networks
    tensorboard --logdir logs
"""
from recipes import _classic_gan
from recipes.common import run

main, __doc__ = _classic_gan.entry("dcgan", "dcgan", __doc__)

if __name__ == "__main__":
    run(main)
