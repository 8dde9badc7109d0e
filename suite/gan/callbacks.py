"""TensorBoard views of a GAN run: sample grids from fixed latents and the SWD per phase."""
import sys

import numpy as np
import tensorflow as tf

from suite.data import to_uint8
from suite.gan.metrics import sliced_wasserstein_distance
from suite.training import Callback


def image_grid(images, columns=8, cell=64):
    """uint8 [N, H, W, C] -> one uint8 grid image [rows*cell, columns*cell, C] (nearest upscaling)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    k = max(1, cell // h)
    images = images.repeat(k, axis=1).repeat(k, axis=2)
    rows = -(-n // columns)
    pad = rows * columns - n
    if pad:
        images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    h, w = images.shape[1:3]
    return images.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)


def generate(generator, latents, batch=256):
    return tf.concat([generator(latents[i:i + batch], training=False) for i in range(0, len(latents), batch)], 0)


class GANMonitor(Callback):
    """At the end of every stage (chief only): a grid of samples from fixed latents and,
    when ``reals`` (float [-1, 1], full resolution) are given, the sliced Wasserstein
    distance between as many samples and the reals at the current resolution.

    ``self.swd`` keeps ``[(stage name, resolution, mean SWD x 1e3, per-level dict)]``.
    """

    def __init__(self, gan, reals=None, grid=64, seed=0):
        self.gan = gan
        self.reals = None if reals is None else np.asarray(reals, np.float32)
        rng = np.random.default_rng(seed + 12345)
        self.grid_latents = rng.standard_normal((grid, gan.latent_dim)).astype(np.float32)
        n = 0 if reals is None else len(self.reals)
        self.swd_latents = rng.standard_normal((n, gan.latent_dim)).astype(np.float32)
        self.swd = []
        self.initial_swd = None
        self._logged_reals = False

    def resolution(self):
        return getattr(self.gan, "resolution", None) or int(self.gan.sampler.output_shape[1])

    def reals_at(self, resolution):
        factor = self.reals.shape[1] // resolution
        return tf.nn.avg_pool2d(self.reals, factor, factor, "VALID").numpy() if factor > 1 else self.reals

    def evaluate(self):
        """SWD (x 1e3) between generated images and the reals at the current resolution."""
        fakes = generate(self.gan.sampler, self.swd_latents).numpy()
        return sliced_wasserstein_distance(self.reals_at(fakes.shape[1]), fakes)

    def on_stage_begin(self, driver, stage):
        if not driver.chief or self.reals is None or self._logged_reals:
            return
        self._logged_reals = True
        with driver.writer.as_default(step=driver.step):
            tf.summary.image("reals", image_grid(to_uint8(self.reals[:64]).numpy())[None])
            if self.initial_swd is not None:
                tf.summary.scalar("swd/untrained_at_target_resolution", self.initial_swd)

    def baseline(self):
        """SWD of the untrained generator at the resolution it is built for (call before
        training): the figure a trained generator must beat."""
        if self.reals is not None:
            self.initial_swd = self.evaluate()["mean"]
            print(f"[untrained {self.resolution()}x{self.resolution()}] SWD x1e3 mean {self.initial_swd:.1f}",
                  file=sys.stderr)
        return self.initial_swd

    def on_stage_end(self, driver, stage):
        if not driver.chief:
            return
        with driver.writer.as_default(step=driver.step):
            samples = to_uint8(generate(self.gan.sampler, self.grid_latents)).numpy()
            tf.summary.image("samples", image_grid(samples)[None])
            if self.reals is not None:
                result = self.evaluate()
                tf.summary.scalar("swd/mean", result["mean"])
                for res, value in result["levels"].items():
                    tf.summary.scalar(f"swd/{res}", value)
                self.swd.append((stage.name, self.resolution(), result["mean"], result["levels"]))
                print(f"[{stage.name}] step {driver.step}: SWD x1e3 mean {result['mean']:.1f} "
                      + " ".join(f"{r}:{v:.1f}" for r, v in result["levels"].items()), file=sys.stderr)
