"""What every GAN recipe wires the same way: metric flags, the monitor, the generator export,
and the command-line entry point (errors as one ``error: ...`` line, exit status 2)."""
import json
import os
import sys


def add_gan_metric_flags(parser):
    g = parser.add_argument_group("metrics (logged to TensorBoard at the end of every epoch or phase)")
    g.add_argument("--swd-images", type=int, default=512,
                   help="generated and held-out real images compared by the sliced Wasserstein distance "
                        "and the MS-SSIM diversity (0: off)")
    g.add_argument("--fid-weights", default=None, metavar="PATH",
                   help="Keras weights of InceptionV3 without its top "
                        "(inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5): also log the Frechet "
                        "Inception Distance over the same images (nothing is downloaded)")
    g.add_argument("--fid-resolution", type=int, default=299,
                   help="size the images are resized to for InceptionV3 (299 is the standard; other sizes "
                        "give FIDs that are not comparable with published ones)")
    return g


def check_gan_metric_flags(parser, args):
    if args.swd_images < 0:
        parser.error(f"--swd-images must be >= 0, got {args.swd_images}")
    if args.swd_images == 1:
        parser.error("--swd-images must be 0 (off) or at least 2 (MS-SSIM compares pairs)")
    if args.fid_weights and not args.swd_images:
        parser.error("--fid-weights needs --swd-images > 0 (FID compares those images)")
    if args.fid_weights and not os.path.isfile(args.fid_weights):
        parser.error(f"--fid-weights {args.fid_weights}: no such file")
    if args.fid_resolution < 75:
        parser.error(f"--fid-resolution must be >= 75 (InceptionV3's smallest input), got {args.fid_resolution}")


def make_gan_monitor(args, gan, resolution, chief, num_images):
    """The ``GANMonitor`` of a recipe: held-out reals (seed + 1) for the metrics, on the chief only."""
    from suite.data import sample_images
    from suite.gan.callbacks import GANMonitor
    from suite.gan.metrics import InceptionFeatures

    reals = fid = None
    if chief and args.swd_images:
        reals = sample_images(args.data, resolution, args.swd_images, seed=args.seed + 1,
                              num_images=max(num_images, args.swd_images))
        if args.fid_weights:
            fid = InceptionFeatures(args.fid_weights, size=args.fid_resolution)
    return GANMonitor(gan, reals=reals, seed=args.seed, fid=fid)


def export_generator(name, args, generator, latent_dim):
    """Exports ``serving_default``: ``latents`` float32 [N, latent_dim] -> ``images`` uint8 [N, R, R, C],
    as ``--version`` or, without it, the next version free at export time."""
    import tensorflow as tf

    from suite import export
    from suite.data import to_uint8

    @tf.function
    def serve(latents):
        return {"images": to_uint8(generator(latents, training=False))}

    spec = [tf.TensorSpec([None, latent_dim], tf.float32, name="latents")]
    return export.export_saved_model(name, args.export_dir, {"serving_default": (serve, spec)}, [generator],
                                     version=args.version)


def print_result(result):
    print(json.dumps(result, default=str))


def run(main):
    """Calls ``main()``; a ValueError or OSError (bad flag, data or file) is one line on stderr
    and exit status 2 (``SUITE_TRACEBACK=1`` shows the traceback instead)."""
    try:
        main()
    except (ValueError, OSError) as e:
        if os.environ.get("SUITE_TRACEBACK"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
