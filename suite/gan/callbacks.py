"""TensorBoard views of a GAN run: sample grids from fixed latents and, per stage (an epoch,
or a PGGAN phase), the sliced Wasserstein distance, the MS-SSIM diversity, the embedded quality
score (``suite.gan.quality``) and optionally FID."""
import sys
import time

import numpy as np
import tensorflow as tf

from suite.data import image_grid, to_uint8
from suite.gan.metrics import frechet_inception_distance, ms_ssim_diversity, sliced_wasserstein_distance
from suite.training.evaluator import Evaluator


def generate(generator, latents, batch=256):
    return tf.concat([generator(latents[i:i + batch], training=False) for i in range(0, len(latents), batch)], 0)


class GANMonitor(Evaluator):
    """At the end of every stage (chief only): a grid of samples from fixed latents and,
    when ``reals`` (float [-1, 1], full resolution) are given, as many samples compared
    with them at the current resolution: the sliced Wasserstein distance (x 1e3), the
    MS-SSIM diversity of the samples (with the reals' own as reference), the embedded FID
    and found-rate when ``quality`` (a ``suite.gan.quality.Scorer``) is given (with the
    reals' own rate at the same resolution as reference), and the FID when ``fid`` (a
    ``suite.gan.metrics.InceptionFeatures``) is given.

    ``history`` keeps (step, figures) per stage (``swd``, ``swd_levels``, ``ms_ssim``,
    ``quality_fid``, ``found``, ``found_reals``, ``found_parts`` and ``found_parts_reals`` (each test
    of the found-rate alone), ``fid``, ``resolution``); ``swd`` keeps
    ``[(stage name, resolution, mean SWD x 1e3, per-level dict)]``.
    """

    def __init__(self, gan, reals=None, grid=64, seed=0, fid=None, diversity=True, quality=None):
        super().__init__()
        self.gan = gan
        self.reals = None if reals is None else np.asarray(reals, np.float32)
        rng = np.random.default_rng(seed + 12345)
        self.grid_latents = rng.standard_normal((grid, gan.latent_dim)).astype(np.float32)
        n = 0 if reals is None else len(self.reals)
        self.swd_latents = rng.standard_normal((n, gan.latent_dim)).astype(np.float32)
        self.fid, self.diversity, self.quality = fid, diversity, quality
        self._quality_stats = {}
        self.swd = []
        self.reals_diversity = None
        self._real_stats = {}
        self._logged_reals = False

    def resolution(self):
        return getattr(self.gan, "resolution", None) or int(self.gan.sampler.output_shape[1])

    def reals_at(self, resolution):
        factor = self.reals.shape[1] // resolution
        return tf.nn.avg_pool2d(self.reals, factor, factor, "VALID").numpy() if factor > 1 else self.reals

    def figures(self):
        """The figures of the current generator against the reals at its resolution."""
        fakes = generate(self.gan.sampler, self.swd_latents).numpy()
        reals = self.reals_at(fakes.shape[1])
        swd = sliced_wasserstein_distance(reals, fakes)
        out = {"swd": swd["mean"], "swd_levels": swd["levels"], "resolution": fakes.shape[1]}
        if self.diversity:
            out["ms_ssim"] = ms_ssim_diversity(fakes)
        r = fakes.shape[1]
        if self.quality is not None:
            if r not in self._quality_stats:
                self._quality_stats[r] = self.quality.reference(reals)
            out.update(self.quality_figures(self._quality_stats[r], fakes))
        if self.fid is not None:
            if r not in self._real_stats:
                self._real_stats[r] = self.fid.statistics(reals)
            out["fid"] = frechet_inception_distance(self.fid, self._real_stats[r], fakes)
        return out

    def quality_figures(self, reference, fakes):
        score = self.quality.score(reference, fakes)
        return {"quality_fid": score["fid"], "found": score["found"], "found_reals": reference["found"],
                "found_parts": score["parts"], "found_parts_reals": reference["parts"]}

    def evaluate(self):
        samples = to_uint8(generate(self.gan.sampler, self.grid_latents)).numpy()
        return ({} if self.reals is None else self.figures()), samples

    def log_media(self, samples, step):
        tf.summary.image("samples", image_grid(samples)[None])

    def scalars(self, figures):
        if not figures:
            return {}
        out = {"swd/mean": figures["swd"], **{f"swd/{r}": v for r, v in figures["swd_levels"].items()}}
        if "ms_ssim" in figures:
            out["ms_ssim/samples"] = figures["ms_ssim"]
        if "quality_fid" in figures:
            out.update({"quality/fid": figures["quality_fid"], "quality/found_samples": figures["found"],
                        "quality/found_reals": figures["found_reals"]})
            for who, key in (("samples", "found_parts"), ("reals", "found_parts_reals")):  # each test alone
                out.update({f"quality/{who}_{k}": v for k, v in figures.get(key, {}).items()})
        if "fid" in figures:
            out["fid"] = figures["fid"]
        return out

    def describe(self, figures):
        if not figures:
            return "samples drawn"
        text = f"SWD x1e3 {figures['swd']:.1f}"
        if len(figures["swd_levels"]) > 1:
            text += " (" + " ".join(f"{r}:{v:.1f}" for r, v in figures["swd_levels"].items()) + ")"
        if "ms_ssim" in figures:
            text += f", MS-SSIM {figures['ms_ssim']:.3f}"
        if "quality_fid" in figures:
            text += (f", embedded FID {figures['quality_fid']:.1f}, found {figures['found']:.2f} "
                     f"(reals {figures['found_reals']:.2f}; samples passing each test: " +
                     ", ".join(f"{k} {v:.2f}" for k, v in figures.get("found_parts", {}).items()) + ")")
        if "fid" in figures:
            text += f", FID {figures['fid']:.1f}"
        return text

    def on_stage_begin(self, driver, stage):
        if not driver.chief or self.reals is None or self._logged_reals:
            return
        self._logged_reals = True
        with driver.writer.as_default(step=driver.step):
            tf.summary.image("reals", image_grid(to_uint8(self.reals[:64]).numpy())[None])
            if self.reals_diversity is not None:
                tf.summary.scalar("ms_ssim/reals", self.reals_diversity)

    def baseline(self):
        """The untrained generator's figures at the resolution it is built for, and the
        reals' own MS-SSIM (call before training): what a trained generator must beat."""
        if self.reals is None:
            return None
        started = time.perf_counter()
        self.initial = self.figures()
        if self.diversity:
            self.reals_diversity = ms_ssim_diversity(self.reals)
        self.seconds += time.perf_counter() - started
        r = self.resolution()
        print(f"[untrained {r}x{r}] " + self.describe(self.initial)
              + ("" if self.reals_diversity is None else f"; reals MS-SSIM {self.reals_diversity:.3f}"),
              file=sys.stderr)
        return self.initial

    def on_stage_end(self, driver, stage):
        super().on_stage_end(driver, stage)
        if driver.chief and self.last:
            self.swd.append((stage.name, self.resolution(), self.last["swd"], self.last["swd_levels"]))
