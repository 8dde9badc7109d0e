"""What every GAN recipe (pggan, gan, dcgan, wgan) declares the same way: image data, the
metric flags, the monitor (samples, SWD, MS-SSIM, FID) and the generator's export."""
import os

from suite.training.cli import at_least, non_negative_int
from suite.training.runner import Recipe, lazy

images = lazy("suite.data.images")
callbacks = lazy("suite.gan.callbacks")
metrics = lazy("suite.gan.metrics")
quality = lazy("suite.gan.quality")
serving = lazy("suite.gan.serving")

EXPORT_DOC = """
The export ``saved_models/{name}/<version>/`` has a ``serving_default``
signature taking ``latents`` float32 [N, latent_dim] and returning ``images``
uint8 [N, R, R, 3], and a ``generate`` signature taking ``count`` int32 and
``seed`` int64 (standard-normal latents drawn in the graph; the same seed, the
same images); ``python -m recipes.predict EXPORT`` draws a grid from it.
"""


class GANRecipe(Recipe):
    default_data = "shapes"
    unit = "images"

    # ------------------------------------------------------------ flags
    def parser(self):
        p = super().parser()
        g = p.add_argument_group("metrics (logged to TensorBoard at the end of every epoch or phase)")
        g.add_argument("--swd-images", type=non_negative_int, default=512,
                       help="generated and held-out real images compared by the sliced Wasserstein distance "
                            "and the MS-SSIM diversity (0: off)")
        g.add_argument("--no-quality", action="store_true",
                       help="skip the quality score: the Frechet distance of a small classifier's features "
                            "(samples against reals) and the fraction of samples in which it finds, with "
                            "confidence, a shape and a background (the embedded scenes) or a class (a folder "
                            "with a sub-folder per class, a TFDS set with a 'label'); the embedded scenes' classifiers "
                            "ship with the suite, a labelled dataset's is trained once on its labels (up to 3 "
                            "minutes on 2 cores) and cached")
        g.add_argument("--fid-weights", default=None, metavar="PATH",
                       help="Keras weights of InceptionV3 without its top "
                            "(inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5): also log the Frechet "
                            "Inception Distance over the same images (nothing is downloaded)")
        g.add_argument("--fid-resolution", type=at_least(75, "InceptionV3's smallest input"), default=299,
                       help="size the images are resized to for InceptionV3, at least 75 (its smallest input; 299 "
                            "is the standard: other sizes give FIDs that are not comparable with published ones)")
        d = p.add_argument_group("input")
        d.add_argument("--cache-dir", default=None, metavar="DIR",
                       help="keep the decoded, resized images in files in DIR (written whole in one pass the first "
                            "time, with a progress bar; reused by later runs on the same files at the same "
                            "resolution): for a folder too large to keep in memory (the default keeps decoded "
                            "images in memory up to 1 GiB and decodes a larger set again every epoch)")
        return p

    def check_flags(self, parser, args):
        if args.cache_dir:
            from suite.training.cli import check_output_dir

            try:
                check_output_dir("--cache-dir", args.cache_dir)
            except ValueError as e:
                parser.error(str(e))
        if args.swd_images == 1:
            parser.error("--swd-images must be 0 (off) or at least 2 (MS-SSIM compares pairs)")
        if args.fid_weights and not args.swd_images:
            parser.error("--fid-weights needs --swd-images > 0 (FID compares those images)")
        if args.fid_weights and not os.path.isfile(args.fid_weights):
            parser.error(f"--fid-weights {args.fid_weights}: no such file")

    # ------------------------------------------------------------ data
    def load_data(self, run):
        # --data checked (missing folder, no images, bad files) before anything is built or written;
        # a folder's checked files are its data
        a = run.args
        if a.data != images.EMBEDDED and os.path.isdir(a.data):
            return images.list_image_files(a.data, run.bad)
        images.image_source(a.data, run.config.resolution, a.seed, a.num_images)
        return a.data

    def dataset(self, run, feed):
        return images.image_pipeline(run.data, run.config.resolution, num_images=run.args.num_images,
                                     cache_dir=run.args.cache_dir, progress=run.progress, **feed)

    # ------------------------------------------------------------ evaluation
    def evaluator(self, run):
        """Held-out reals (seed + 1) for the metrics, on the chief only."""
        a = run.args
        reals = fid = scorer = None
        if run.chief and a.swd_images:
            reals = images.sample_images(run.data, run.config.resolution, a.swd_images, seed=a.seed + 1,
                                         num_images=max(a.num_images, a.swd_images))
            if a.fid_weights:
                fid = metrics.InceptionFeatures(a.fid_weights, size=a.fid_resolution)
            if not a.no_quality:
                scorer = self.quality_scorer(run)
        return callbacks.GANMonitor(run.model, reals=reals, seed=a.seed, fid=fid, quality=scorer)

    def quality_scorer(self, run):
        """A classifier of the data's own labels: the embedded scenes' (shipped with the suite), or one of
        a labelled folder's or TFDS set's classes (trained once, cached); unlabelled data has none."""
        import sys

        a = run.args
        if a.data == images.EMBEDDED:
            return quality.embedded_scorer(run.config.resolution, progress=run.progress)
        labelled = quality.labelled_scorer(a.data, a.seed, run.config.resolution, progress=run.progress,
                                           files=run.data if isinstance(run.data, list) else None)
        if labelled is None:
            print(f"[quality] --data {a.data}: no labels (a sub-folder per class, or a TFDS 'label'), the quality "
                  "score is skipped", file=sys.stderr)
            return None
        scorer, names = labelled
        print(f"[quality] --data {a.data}: scored by a classifier of its {len(names)} classes "
              f"({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})", file=sys.stderr)
        return scorer

    # ------------------------------------------------------------ serving
    def generator(self, run):
        """The generator to export."""
        return run.model.sampler

    def serving(self, run):
        generator = self.generator(run)
        return serving.generator_endpoints(generator, run.model.latent_dim), [generator]

    def warmup(self, run):
        import numpy as np

        latents = np.random.default_rng(run.args.seed).standard_normal((1, run.model.latent_dim), np.float32)
        return {"serving_default": [latents], "generate": [np.int32(1), np.int64(run.args.seed)]}
