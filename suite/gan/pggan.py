"""Progressive growing of GANs (Karras et al. 2018, ICLR; Table 2 architecture).

The networks are built once, as functional blocks for every resolution
(``PGGANNetworks``); ``build_generator`` / ``build_discriminator`` compose a
functional model for one level (level 0 is 4x4, level L is the target
resolution) from those shared blocks, with the fade-in blend between the
previous and the new resolution when ``fade`` is set. ``ProgressiveGAN`` is
the ``GAN`` of ``suite.gan.gan`` that switches level per training phase, and
``schedule`` gives the phases as ``suite.training`` stages.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from suite.data.errors import DataError
from suite.gan.gan import GAN
from suite.gan.losses import (logistic_r1_discriminator_loss, nonsaturating_generator_loss, wgan_generator_loss,
                              wgan_gp_discriminator_loss)
from suite.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNormalization, WeightedSum
from suite.training.optimizers import make_optimizer, reset_optimizer


LOSSES = ("wgan-gp", "logistic-r1")


@dataclasses.dataclass(frozen=True)
class PGGANConfig:
    """Sizes and training hyper-parameters; ``nf(stage) = min(fmap_base / 2**stage, fmap_max)`` feature maps
    in the generator, the same in the discriminator with ``d_fmap_base`` in place of ``fmap_base`` when set."""

    resolution: int = 32
    latent_dim: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    d_fmap_base: int = 0  # 0: fmap_base (the paper's mirror-image networks)
    channels: int = 3
    mbstd_group_size: int = 4
    images_per_phase: int = 800_000
    final_images: int = 0  # the last stabilisation phase's images (0: images_per_phase)
    batch_size: int = 16
    learning_rate: float = 0.001
    # the discriminator's rate over the generator's (1: the paper's one rate for both); above 1, the two
    # time-scale update rule (Heusel et al. 2017)
    d_learning_rate_factor: float = 1.0
    beta_1: float = 0.0
    beta_2: float = 0.99
    epsilon: float = 1e-8
    loss: str = "wgan-gp"  # the paper's (with the drift term), or "logistic-r1" (StyleGAN's: non-saturating + R1)
    gp_weight: float = 10.0
    drift: float = 0.001
    r1_gamma: float = 10.0
    r1_interval: int = 1  # logistic-r1: the penalty every this many steps, weighted by it (StyleGAN2: 16)
    ema_decay: float = 0.999

    def __post_init__(self):
        r = self.resolution
        if not isinstance(r, int) or r < 4 or r & (r - 1):
            raise DataError(f"PGGAN resolution {r!r} is not a power of two >= 4")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown PGGAN loss {self.loss!r}: choose one of {', '.join(LOSSES)}")

    @property
    def levels(self):
        """Number of resolutions, 4x4 included (4 -> 32 is 4 levels)."""
        return int(math.log2(self.resolution)) - 1

    def nf(self, stage, discriminator=False):
        base = self.d_fmap_base if discriminator and self.d_fmap_base else self.fmap_base
        return min(int(base / (2.0**stage)), self.fmap_max)

    def level_resolution(self, level):
        return 4 * 2**level


PRESETS = {
    # tests: 4x4 -> 8x8, seconds on a CPU. Networks this narrow are less stable at the
    # paper's learning rate (the generator collapses for hundreds of steps at 8x8), so half.
    "tiny": PGGANConfig(resolution=8, latent_dim=64, fmap_base=256, fmap_max=128, images_per_phase=3200,
                        batch_size=16, learning_rate=5e-4, ema_decay=0.99),
    # the recipe's default: 4x4 -> 32x32 on the embedded shapes, 13-15 minutes on 2 CPU cores
    # The final resolution trains longest, as in the paper's runs (they go on at the target
    # resolution after the last fade-in): at 32x32 the samples' shapes sharpen with images seen there.
    # Batch 8, not 32: at this budget updates count more than images per update (the found-rate
    # 0.08 at 32, 0.23 at 16, 0.31 at 8 for the same images; README, PGGAN). The discriminator at twice
    # the generator's rate (TTUR), at no cost: SWD 29.0 -> 27.2, 31.5 -> 26.3 at seeds 0 and 1; found 0.27 -> 0.38
    # at seed 0, 0.18 -> 0.15 at seed 1 (README, PGGAN).
    "small": PGGANConfig(resolution=32, latent_dim=128, fmap_base=256, fmap_max=64, images_per_phase=16_000,
                         final_images=80_000, batch_size=8, ema_decay=0.995, d_learning_rate_factor=2.0),
    "paper": PGGANConfig(resolution=1024),
}


def get_config(preset="small", **overrides):
    """A preset's config with ``overrides`` (None values ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def _lrelu(x):
    return keras.layers.LeakyReLU(0.2)(x)


class PGGANNetworks:
    """Every block of one generator and one discriminator, for every level."""

    def __init__(self, config, name="pggan"):
        c = self.config = config
        self.g_blocks, self.to_rgb, self.d_blocks, self.from_rgb = [], [], [], []
        for level in range(c.levels):
            res, nf = c.level_resolution(level), c.nf(level + 1)
            # generator block: latent (level 0) or features at res/2 -> features at res
            if level == 0:
                x = inp = keras.Input((c.latent_dim,))
                x = PixelNormalization()(x)
                x = EqualizedDense(nf * 16, gain=math.sqrt(2.0) / 4)(x)
                x = keras.layers.Reshape((4, 4, nf))(x)
            else:
                x = inp = keras.Input((res // 2, res // 2, c.nf(level)))
                x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
                x = PixelNormalization()(_lrelu(EqualizedConv2D(nf, 3)(x)))
            x = PixelNormalization()(_lrelu(x)) if level == 0 else x
            x = PixelNormalization()(_lrelu(EqualizedConv2D(nf, 3)(x)))
            self.g_blocks.append(keras.Model(inp, x, name=f"{name}_g_block_{res}"))
            t = keras.Input((res, res, nf))
            self.to_rgb.append(keras.Model(t, EqualizedConv2D(c.channels, 1, gain=1.0)(t), name=f"{name}_to_rgb_{res}"))

            # discriminator block: features at res -> features at res/2 (level 0: -> score)
            nf = c.nf(level + 1, discriminator=True)
            f = keras.Input((res, res, c.channels))
            self.from_rgb.append(keras.Model(f, _lrelu(EqualizedConv2D(nf, 1)(f)), name=f"{name}_from_rgb_{res}"))
            x = inp = keras.Input((res, res, nf))
            if level == 0:
                x = MinibatchStdDev(c.mbstd_group_size)(x)
                x = _lrelu(EqualizedConv2D(nf, 3)(x))
                x = _lrelu(EqualizedConv2D(c.nf(0, discriminator=True), 4, padding="valid")(x))
                x = EqualizedDense(1, gain=1.0)(keras.layers.Flatten()(x))
            else:
                x = _lrelu(EqualizedConv2D(nf, 3)(x))
                x = _lrelu(EqualizedConv2D(c.nf(level, discriminator=True), 3)(x))
                x = keras.layers.AveragePooling2D(2)(x)
            self.d_blocks.append(keras.Model(inp, x, name=f"{name}_d_block_{res}"))

    def generator_modules(self):
        return self.g_blocks + self.to_rgb

    def discriminator_modules(self):
        return self.d_blocks + self.from_rgb


def _check_level(config, level):
    level = config.levels - 1 if level is None else level
    if not 0 <= level < config.levels:
        raise ValueError(f"level {level} out of range 0..{config.levels - 1} for resolution {config.resolution}")
    return level


def build_generator(config, level=None, fade=False, networks=None, name="generator"):
    """latent [N, latent_dim] -> image [N, R, R, C] in about [-1, 1], R the level's resolution."""
    nets = networks or PGGANNetworks(config)
    level = _check_level(config, level)
    z = keras.Input((config.latent_dim,), name="latents")
    h = z
    for lv in range(level + 1):
        prev, h = h, nets.g_blocks[lv](h)
    out = nets.to_rgb[level](h)
    if fade and level > 0:
        old = keras.layers.UpSampling2D(2, interpolation="nearest")(nets.to_rgb[level - 1](prev))
        out = WeightedSum(name="fade_in")([old, out])
    out = keras.layers.Activation("linear", dtype="float32", name="images")(out)
    return keras.Model(z, out, name=f"{name}_{config.level_resolution(level)}")


def build_discriminator(config, level=None, fade=False, networks=None, name="discriminator"):
    """image [N, R, R, C] -> score [N, 1] (float32, no sigmoid)."""
    nets = networks or PGGANNetworks(config)
    level = _check_level(config, level)
    res = config.level_resolution(level)
    x = keras.Input((res, res, config.channels), name="images")
    h = nets.d_blocks[level](nets.from_rgb[level](x))
    if fade and level > 0:
        old = nets.from_rgb[level - 1](keras.layers.AveragePooling2D(2)(x))
        h = WeightedSum(name="fade_in")([old, h])
    for lv in range(level - 1, -1, -1):
        h = nets.d_blocks[lv](h)
    out = keras.layers.Activation("linear", dtype="float32", name="scores")(h)
    return keras.Model(x, out, name=f"{name}_{res}")


def downscale(images, factor):
    return images if factor == 1 else tf.nn.avg_pool2d(images, factor, factor, "VALID")


def upscale(images, factor):
    if factor == 1:
        return images
    return tf.repeat(tf.repeat(images, factor, axis=1), factor, axis=2)


def _level_models(config, level, nets, ema):
    fade = level > 0
    return (build_generator(config, level, fade, nets), build_discriminator(config, level, fade, nets),
            build_generator(config, level, fade, ema, name="ema_generator"))


class ProgressiveGAN(GAN):
    """PGGAN: WGAN-GP + drift (or the logistic loss with R1: ``config.loss``), one D step per G step, EMA
    generator, levels grown per phase."""

    def __init__(self, config, seed=0, name="pggan", **kwargs):
        nets = PGGANNetworks(config, name=f"{name}")
        ema = PGGANNetworks(config, name=f"{name}_ema")
        g, d, gs = _level_models(config, config.levels - 1, nets, ema)
        super().__init__(g, d, latent_dim=config.latent_dim,
                         d_loss=(wgan_gp_discriminator_loss(config.gp_weight, config.drift) if config.loss == "wgan-gp"
                                 else logistic_r1_discriminator_loss(config.r1_gamma, config.r1_interval)),
                         g_loss=wgan_generator_loss if config.loss == "wgan-gp" else nonsaturating_generator_loss,
                         d_steps=1, ema_generator=gs,
                         ema_decay=config.ema_decay, seed=seed, name=name, **kwargs)
        self.config = config
        self.networks, self.ema_networks = nets, ema
        for src, dst in zip(nets.generator_modules(), ema.generator_modules()):
            self.copy_weights(src, dst)
        self.level = config.levels - 1
        self._alphas = self._alpha_variables()

    def _alpha_variables(self):
        return [layer.alpha for m in (self.generator, self.discriminator, self.ema_generator)
                for layer in m.layers if isinstance(layer, WeightedSum)]

    # every variable of every level, so optimizers and checkpoints never change shape
    def generator_variables(self):
        return [v for m in self.networks.generator_modules() for v in m.trainable_variables]

    def discriminator_variables(self):
        return [v for m in self.networks.discriminator_modules() for v in m.trainable_variables]

    def ema_pairs(self):
        ema = [v for m in self.ema_networks.generator_modules() for v in m.trainable_variables]
        return list(zip(ema, self.generator_variables()))

    def checkpoint_objects(self):
        modules = tf.Module(name="pggan_networks")
        modules.generator = self.networks.generator_modules()
        modules.discriminator = self.networks.discriminator_modules()
        modules.ema_generator = self.ema_networks.generator_modules()
        return {"networks": modules, "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer}

    def set_level(self, level, reset=False):
        """Switches to ``level``'s models; ``reset`` zeroes both optimizers (paper: on growth)."""
        level = _check_level(self.config, level)
        if level != self.level:
            g, d, gs = _level_models(self.config, level, self.networks, self.ema_networks)
            self._nets.generator, self._nets.discriminator, self._nets.ema_generator = g, d, gs
            self.level = level
            self._alphas = self._alpha_variables()
        if reset:
            reset_optimizer(self.g_optimizer)
            reset_optimizer(self.d_optimizer)

    def set_alpha(self, alpha):
        for a in self._alphas:
            a.assign(alpha)

    @property
    def resolution(self):
        return self.config.level_resolution(self.level)

    def prepare_reals(self, reals, alpha=1.0):
        """Downscales full-resolution reals to the level and, during fade-in, blends them
        with their 2x-downscaled-and-upscaled version by the same alpha as the networks."""
        reals = downscale(reals, self.config.resolution // self.resolution)
        if self.level > 0:
            low = upscale(downscale(reals, 2), 2)
            reals = low + tf.cast(alpha, reals.dtype) * (reals - low)
        return reals

    def train_step(self, reals, step=0, alpha=1.0):
        if self._alphas:
            self.set_alpha(alpha)
        return super().train_step(reals, step=step, alpha=alpha)

    def export_generator(self):
        """The moving-average generator at the current level, without the fade-in when alpha is 1."""
        alpha = float(self._alphas[0].numpy()) if self._alphas else 1.0
        fade = self.level > 0 and alpha < 1.0
        generator = build_generator(self.config, self.level, fade, self.ema_networks, name="pggan_generator")
        for layer in generator.layers:  # a run stopped mid-fade exports the blend it had reached
            if isinstance(layer, WeightedSum):
                layer.alpha.assign(alpha)
        return generator


def make_optimizers(config, precision="float32"):
    """(generator's, discriminator's) Adam optimizers."""
    return tuple(make_optimizer("adam", rate, beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon,
                                precision=precision)
                 for rate in (config.learning_rate, config.learning_rate * config.d_learning_rate_factor))


def phases(config, batch_size):
    """[(name, level, fade, steps)] of the progressive schedule: 4x4 stabilise, then for every
    higher resolution a fade-in and a stabilisation phase of ``images_per_phase`` images each (the
    last stabilisation: ``final_images`` when set)."""
    steps = max(1, math.ceil(config.images_per_phase / batch_size))
    out = [("4x4 stabilize", 0, False, steps)]
    for level in range(1, config.levels):
        r = config.level_resolution(level)
        out += [(f"{r}x{r} fade-in", level, True, steps), (f"{r}x{r} stabilize", level, False, steps)]
    if config.final_images:
        name, level, fade, _ = out[-1]
        out[-1] = (name, level, fade, max(1, math.ceil(config.final_images / batch_size)))
    return out


def schedule(gan, batch_size):
    """The phases as ``suite.training.Stage``s for ``gan`` (a ProgressiveGAN)."""
    from suite.training import Stage

    stages = []
    for name, level, fade, steps in phases(gan.config, batch_size):
        def enter(resumed, level=level, fade=fade):
            # Adam's state is reset when the resolution grows (and at the very start).
            gan.set_level(level, reset=(fade or level == 0) and not resumed)
            if not fade:
                gan.set_alpha(1.0)

        step_args = (lambda i, n=steps: {"alpha": (i + 1) / n}) if fade else (lambda i: {"alpha": 1.0})
        stages.append(Stage(name, steps, enter, step_args,
                            scalars={"resolution": gan.config.level_resolution(level), "level": level}))
    return stages
