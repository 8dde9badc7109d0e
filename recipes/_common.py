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


def start_gan_run(args, name, strategy, *, resolution, images_per_step, build, settings, checkpoint_every):
    """Everything between parsing and training that every GAN recipe does the same way.

    Refuses a taken ``--version`` and bad ``--data`` before anything is built;
    builds the GAN with ``build()`` under the strategy scope (seeded); makes
    the monitor, records ``settings`` in the log directory (refusing to resume
    a run made with others), creates the driver, restores the last checkpoint
    or measures the untrained generator. Returns (gan, monitor, driver, chief).
    """
    import tensorflow as tf

    from suite import export
    from suite.data import image_source
    from suite.data.images import image_pipeline
    from suite.training import Driver, check_run_config, is_chief

    chief = is_chief(strategy)
    if chief:  # an existing --version (or an unwritable --export-dir) is refused before training
        export.resolve_version(args.export_dir, name, args.version)
    # Validates --data (missing folder, no images, bad files) before anything is built or written.
    image_source(args.data, resolution, args.seed, args.num_images)

    def dataset_fn(ctx):
        return image_pipeline(args.data, resolution, ctx.get_per_replica_batch_size(images_per_step),
                              seed=args.seed, num_images=args.num_images,
                              shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        gan = build()
    monitor = make_gan_monitor(args, gan, resolution, chief, args.num_images)
    # the first write to --logdir: after every check that can fail on bad input
    check_run_config(args.logdir, settings, chief)
    driver = Driver(strategy, gan, dataset_fn, logdir=args.logdir, checkpoint_every=checkpoint_every,
                    log_every=max(1, min(50, checkpoint_every)), jit_compile=args.jit_compile,
                    callbacks=[monitor], progress=not args.no_progress)
    if driver.restore() == 0 and chief:
        monitor.baseline()  # the untrained generator at the target resolution
    return gan, monitor, driver, chief
