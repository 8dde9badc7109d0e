"""The GAN family before progressive growing: GAN, DCGAN, WGAN and WGAN-GP.

Every variant is a generator and a discriminator (critic) built with the
functional API and trained by the one ``GAN.train_step`` of
``suite.gan.gan``; the variants differ only in their networks, their losses,
their critic schedule and their optimizers, all of which a ``GANConfig``
names:

* ``gan`` (Goodfellow et al. 2014): MLP generator (ReLU hidden layers),
  maxout discriminator with dropout, the minimax discriminator loss and the
  non-saturating generator loss (``g_loss="minimax"`` gives the saturating
  one of the paper's equation 1). The paper trained with SGD and momentum;
  Adam(2e-4, 0.5) is used here so that every variant has the same optimizer
  family as DCGAN and the comparison shows the networks and losses.
* ``dcgan`` (Radford et al. 2016): the latent is projected and reshaped to
  4x4, then 5x5 transposed convolutions of stride 2 with batch normalisation
  and ReLU double the resolution up to a tanh output; the discriminator is
  the mirror image with strided convolutions and LeakyReLU(0.2), batch
  normalisation on every layer but the first, no pooling, no hidden fully
  connected layer. Weights from N(0, 0.02), Adam(2e-4, beta_1 0.5).
* ``wgan`` (Arjovsky et al. 2017): the DCGAN networks with a critic that
  outputs an unbounded score, the loss ``D(G(z)) - D(x)``, every critic weight
  clipped to [-0.01, 0.01] after each critic step, RMSprop(5e-5), 5 critic
  steps per generator step.
* ``wgan_gp`` (Gulrajani et al. 2017): the same networks, no batch
  normalisation in the critic (``critic_norm="layer"`` puts layer
  normalisation in its place), the gradient penalty with lambda 10 instead of
  clipping, Adam(1e-4, 0.0, 0.9), 5 critic steps.

The discriminators return raw scores [N, 1] in float32; the sigmoid of the
original GAN and DCGAN lives in their loss (``softplus``), which is the
numerically stable form of the same maths.
"""
import dataclasses
import math

import keras

from suite.data.errors import DataError
from suite.gan.gan import GAN
from suite.gan.losses import (
    minimax_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_generator_loss,
    wasserstein_discriminator_loss,
    wgan_generator_loss,
    wgan_gp_discriminator_loss,
)
from suite.layers import Maxout
from suite.training.optimizers import make_optimizer

VARIANTS = ("gan", "dcgan", "wgan", "wgan_gp")
G_LOSSES = {"nonsaturating": nonsaturating_generator_loss, "minimax": minimax_generator_loss,
            "wasserstein": wgan_generator_loss}
CRITIC_NORMS = ("batch", "layer", "none")


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Networks, losses and training hyper-parameters of one GAN variant.

    ``width`` is the number of feature maps of DCGAN's last generator layer
    before the output (and of the discriminator's first layer); each step
    towards 4x4 doubles it (paper: 128 -> 1024 at 4x4 for 64x64 images).
    ``g_units`` / ``d_units`` are the hidden layers of the MLP GAN.
    ``batch_size`` is the minibatch of every update: with ``d_steps`` critic
    steps per generator step, each training step consumes
    ``batch_size * d_steps`` real images.
    """

    variant: str = "dcgan"
    resolution: int = 32
    channels: int = 3
    latent_dim: int = 100
    width: int = 64
    g_units: tuple = (1200, 1200)
    d_units: tuple = (240, 240)
    maxout_pieces: int = 5
    input_dropout: float = 0.2
    dropout: float = 0.5
    critic_norm: str = "batch"
    g_loss: str = "nonsaturating"
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    d_steps: int = 1
    clip_value: float | None = None
    gp_weight: float = 0.0
    ema_decay: float = 0.0  # > 0: samples and export from a moving average of G's weights
    sync_batch_norm: bool = False  # batch statistics over the global batch, not each replica's share
    epochs: int = 10
    steps_per_epoch: int = 200

    def __post_init__(self):
        r = self.resolution
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown GAN variant {self.variant!r}: choose one of {', '.join(VARIANTS)}")
        if not isinstance(r, int) or r < 8 or r & (r - 1):
            raise DataError(f"GAN resolution {r!r} is not a power of two >= 8")
        if self.g_loss not in G_LOSSES:
            raise ValueError(f"unknown generator loss {self.g_loss!r}: choose one of {', '.join(G_LOSSES)}")
        if self.critic_norm not in CRITIC_NORMS:
            raise ValueError(f"unknown critic normalisation {self.critic_norm!r}: choose one of {CRITIC_NORMS}")
        if self.gp_weight < 0:
            raise ValueError(f"gradient penalty weight must be >= 0, got {self.gp_weight}")
        if self.clip_value is not None and self.clip_value <= 0:
            raise ValueError(f"clip value must be > 0, got {self.clip_value}")
        if self.gp_weight > 0 and self.critic_norm == "batch":
            raise ValueError("the gradient penalty is per example, so the critic must not use batch "
                             "normalisation (critic_norm 'layer' or 'none')")
        for name in ("latent_dim", "width", "batch_size", "d_steps", "maxout_pieces", "epochs", "steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")

    @property
    def upsamplings(self):
        """Transposed convolutions from 4x4 to the resolution (DCGAN)."""
        return int(math.log2(self.resolution)) - 2


# The hyper-parameters of each paper (per variant), then the sizes (per preset).
VARIANT_DEFAULTS = {
    "gan": dict(g_loss="nonsaturating", critic_norm="none", optimizer="adam", learning_rate=2e-4, beta_1=0.5),
    "dcgan": dict(g_loss="nonsaturating", critic_norm="batch", optimizer="adam", learning_rate=2e-4, beta_1=0.5),
    "wgan": dict(g_loss="wasserstein", critic_norm="batch", optimizer="rmsprop", learning_rate=5e-5,
                 d_steps=5, clip_value=0.01),
    "wgan_gp": dict(g_loss="wasserstein", critic_norm="none", optimizer="adam", learning_rate=1e-4,
                    beta_1=0.0, beta_2=0.9, d_steps=5, gp_weight=10.0),
}
SIZES = {
    # unit tests: 16x16, seconds on a CPU. The tests judge the generator at one instant, and GAN
    # training oscillates (the MLP GAN's SWD went 144, 111, 122, 143, 121, 108 over 3,000 steps):
    # samples come from a moving average of its weights (0.995), which fell 150 -> 70 steadily
    "tiny": dict(resolution=16, latent_dim=32, width=32, g_units=(256, 256), d_units=(128, 128),
                 maxout_pieces=3, batch_size=32, epochs=4, steps_per_epoch=50, ema_decay=0.995),
    # the recipes' default on the embedded shapes: 32x32, minutes on 2 CPU cores
    "small": dict(resolution=32, latent_dim=100, width=32, g_units=(512, 512), d_units=(256, 256),
                  maxout_pieces=5, batch_size=64, epochs=10, steps_per_epoch=200),
    # the papers' sizes: DCGAN's 64x64 networks (128 -> 1024 feature maps), GAN's 1200-unit
    # generator layers and 240-unit, 5-piece maxout discriminator layers; batch 64 (WGAN, WGAN-GP)
    # or 128 (DCGAN)
    "paper": dict(resolution=64, latent_dim=100, width=128, g_units=(1200, 1200), d_units=(240, 240),
                  maxout_pieces=5, batch_size=64, epochs=100, steps_per_epoch=1000),
}


def get_config(variant, preset="small", **overrides):
    """The config of ``variant`` at ``preset`` sizes, with ``overrides`` (None values ignored)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown GAN variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    if preset not in SIZES:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(SIZES)}")
    values = {"variant": variant, **SIZES[preset], **VARIANT_DEFAULTS[variant]}
    if preset == "paper" and variant == "dcgan":
        values["batch_size"] = 128
    values.update({k: v for k, v in overrides.items() if v is not None})
    return GANConfig(**values)


def _init():
    return keras.initializers.RandomNormal(0.0, 0.02)


# ------------------------------------------------------------------ the original GAN
def build_mlp_generator(config, name="generator"):
    """z -> ReLU hidden layers -> tanh image [R, R, C]."""
    c = config
    z = keras.Input((c.latent_dim,), name="latents")
    x = z
    for i, units in enumerate(c.g_units):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    x = keras.layers.Dense(c.resolution * c.resolution * c.channels, name="output")(x)
    x = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    images = keras.layers.Reshape((c.resolution, c.resolution, c.channels), name="image")(x)
    return keras.Model(z, images, name=name)


def build_mlp_discriminator(config, name="discriminator"):
    """image -> dropout -> maxout hidden layers with dropout -> score (the sigmoid is in the loss)."""
    c = config
    images = keras.Input((c.resolution, c.resolution, c.channels), name="images")
    x = keras.layers.Flatten()(images)
    if c.input_dropout:
        x = keras.layers.Dropout(c.input_dropout, name="input_dropout")(x)
    for i, units in enumerate(c.d_units):
        x = Maxout(units, c.maxout_pieces, name=f"maxout_{i}")(x)
        if c.dropout:
            x = keras.layers.Dropout(c.dropout, name=f"dropout_{i}")(x)
    score = keras.layers.Dense(1, dtype="float32", name="score")(x)
    return keras.Model(images, score, name=name)


# ------------------------------------------------------------------ DCGAN (and WGAN's networks)
def _g_channels(config, i):
    """Feature maps after the i-th upsampling step (i = 0 is the projected 4x4 map)."""
    return config.width * 2 ** (config.upsamplings - 1 - i)


def build_dcgan_generator(config, name="generator"):
    """Project and reshape to 4x4, then (transposed conv 5x5/2, BN, ReLU) up to a tanh image."""
    c = config
    z = keras.Input((c.latent_dim,), name="latents")
    x = keras.layers.Dense(4 * 4 * _g_channels(c, 0), use_bias=False, kernel_initializer=_init(), name="project")(z)
    x = keras.layers.Reshape((4, 4, _g_channels(c, 0)))(x)
    x = keras.layers.ReLU()(_batch_norm(c, "project_bn")(x))
    for i in range(1, c.upsamplings):
        x = keras.layers.Conv2DTranspose(_g_channels(c, i), 5, 2, padding="same", use_bias=False,
                                         kernel_initializer=_init(), name=f"deconv_{i}")(x)
        x = keras.layers.ReLU()(_batch_norm(c, f"deconv_{i}_bn")(x))
    x = keras.layers.Conv2DTranspose(c.channels, 5, 2, padding="same", kernel_initializer=_init(),
                                     name="to_image")(x)
    images = keras.layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, images, name=name)


def _batch_norm(config, name):
    return keras.layers.BatchNormalization(synchronized=config.sync_batch_norm, name=name)


def _normalize(x, config, name):
    kind = config.critic_norm
    if kind == "batch":
        return _batch_norm(config, f"{name}_bn")(x)
    if kind == "layer":  # per example over all features (Gulrajani et al. 2017, 4)
        return keras.layers.LayerNormalization(axis=(1, 2, 3), name=f"{name}_ln")(x)
    return x


def build_dcgan_discriminator(config, name="discriminator"):
    """(conv 5x5/2, [norm], LeakyReLU 0.2) down to 4x4, flattened into one score; no pooling."""
    c = config
    images = keras.Input((c.resolution, c.resolution, c.channels), name="images")
    x = images
    for i in range(c.upsamplings):
        x = keras.layers.Conv2D(c.width * 2**i, 5, 2, padding="same", use_bias=(i == 0 or c.critic_norm != "batch"),
                                kernel_initializer=_init(), name=f"conv_{i}")(x)
        if i > 0:  # DCGAN: no normalisation on the discriminator's input layer
            x = _normalize(x, c, f"conv_{i}")
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    score = keras.layers.Dense(1, dtype="float32", kernel_initializer=_init(), name="score")(x)
    return keras.Model(images, score, name=name)


def build_generator(config, name="generator"):
    return (build_mlp_generator if config.variant == "gan" else build_dcgan_generator)(config, name=name)


def build_discriminator(config, name="discriminator"):
    return (build_mlp_discriminator if config.variant == "gan" else build_dcgan_discriminator)(config, name=name)


def discriminator_loss(config):
    if config.gp_weight > 0:
        return wgan_gp_discriminator_loss(config.gp_weight)
    if config.g_loss == "wasserstein":
        return wasserstein_discriminator_loss
    return minimax_discriminator_loss


def build_gan(config, seed=0):
    """The variant's ``GAN``: networks, losses, critic steps and clipping, and a moving average of
    the generator when ``ema_decay`` (call under the strategy scope)."""
    ema = build_generator(config, name="ema_generator") if config.ema_decay > 0 else None
    return GAN(build_generator(config), build_discriminator(config), latent_dim=config.latent_dim,
               ema_generator=ema, ema_decay=config.ema_decay or 0.999,
               d_loss=discriminator_loss(config), g_loss=G_LOSSES[config.g_loss], d_steps=config.d_steps,
               clip_value=config.clip_value, seed=seed, name=config.variant)


def make_optimizers(config, precision="float32"):
    """(generator optimizer, discriminator optimizer) of the variant's paper."""
    return tuple(make_optimizer(config.optimizer, config.learning_rate, beta_1=config.beta_1,
                                beta_2=config.beta_2, precision=precision) for _ in range(2))


def epochs(config, steps_per_epoch=None, count=None):
    """``count`` epochs of ``steps_per_epoch`` generator steps as ``suite.training`` stages."""
    from suite.training import Stage

    steps = steps_per_epoch or config.steps_per_epoch
    return [Stage(f"epoch {i + 1}", steps) for i in range(count or config.epochs)]
