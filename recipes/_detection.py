"""What the two detection recipes (``recipes.faster_rcnn``, ``recipes.yolo``) share: flags, data,
the training run, evaluation and the export."""
import time

from recipes._common import print_result
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

# embedded training and held-out images per preset (rendered on demand: nothing held in memory)
EMBEDDED_COUNTS = {"tiny": (20000, 100), "small": (50000, 300), "paper": (50000, 300)}
DATA_HELP = ("'shapes' (the embedded scenes: 1-4 ellipses, rectangles, triangles, crosses and rings of any "
             "colour, size and aspect on cluttered backgrounds, generated from --seed), 'tfds:voc/2007' or "
             "'tfds:coco/2017' (prepared in TFDS_DATA_DIR), or a PASCAL VOC folder (Annotations/, JPEGImages/, "
             "ImageSets/Main/) or a COCO folder (annotations/instances_train2017.json, train2017/, ...)")


def parser(name, doc, defaults, model_help, steps_per_epoch):
    p = core_parser(name, doc.split("\n")[0], default_data="shapes", default_steps_per_epoch=steps_per_epoch,
                    epochs_help="epochs (default: the preset's: " + ", ".join(
                        f"{k} {v['epochs']}" for k, v in defaults.items()) + "); each ends with a checkpoint, "
                        "the held-out mAPs and the drawn boxes in TensorBoard",
                    data_help=DATA_HELP,
                    batch_help="global batch of images (default: the preset's: " + ", ".join(
                               f"{k} {v['batch']}" for k, v in defaults.items()) + ")")
    g = p.add_argument_group(model_help)
    g.add_argument("--num-images", type=int, default=None,
                   help="embedded training images (default: the preset's: tiny 20000, small/paper 50000)")
    g.add_argument("--eval-images", type=int, default=None,
                   help="held-out images the mAPs are measured on (default: tiny 100, small/paper 300; "
                        "for tfds and folders, at most this many of the validation split)")
    add_learning_rate(g, "learning rate (default: the preset's: Adam 1e-3 for tiny/small, SGD with momentum "
                         "0.9 at 1e-3 for paper)")
    return p, g


def check(p, args):
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "num_images", "eval_images")
    check_learning_rate(p, args)
    return args


def run_detection(args, name, defaults, make_config, make_detector, settings):
    """Trains ``make_detector(config)`` on ``--data`` and exports it; returns (result, detector).

    ``make_config(num_classes)`` gives the model's config; ``settings`` are what the checkpoints
    depend on besides data and preset (recorded in --logdir, refused when they differ on resume).
    """
    from suite.training import start_run

    strategy, chief, _ = start_run(args)  # before any other TensorFlow op

    import tensorflow as tf

    from suite import export
    from suite.data import detection as data
    from suite.detection import training
    from suite.training import Driver, Stage, check_run_config

    preset = defaults[args.preset]
    epochs = args.epochs or preset["epochs"]
    batch = args.batch_size or preset["batch"]
    check_batch(batch, strategy.num_replicas_in_sync)
    if chief:  # a taken --version is refused before training
        export.resolve_version(args.export_dir, name, args.version)
    train_count, eval_count = EMBEDDED_COUNTS[args.preset]
    eval_count = args.eval_images or eval_count
    size = make_config(None).image_size
    # every annotation is parsed (and every image checked to exist) before training
    train = data.detection_set(args.data, "train", size, seed=args.seed, count=args.num_images or train_count)
    held_out = data.detection_set(args.data, "validation", size, seed=args.seed, count=eval_count)
    config = make_config(len(train.class_names))

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        detector = make_detector(config)
        detector.compile()
    check_run_config(args.logdir, {"data": args.data, "preset": args.preset, "num_classes": config.num_classes,
                                   **settings}, chief)  # the first write to --logdir
    images, truths = held_out.examples(eval_count)

    def dataset_fn(ctx):
        return data.detection_dataset(train, ctx.get_per_replica_batch_size(batch), config.max_boxes, seed=args.seed,
                                      shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))

    evaluator = training.DetectionEvaluator(detector, images, truths, config.num_classes)
    steps = args.steps_per_epoch
    driver = Driver(strategy, detector, dataset_fn, logdir=args.logdir, checkpoint_every=steps,
                    log_every=max(1, min(50, steps)), jit_compile=args.jit_compile, callbacks=[evaluator],
                    progress=not args.no_progress)
    initial = None
    if driver.restore() == 0 and chief:
        initial = evaluator.evaluate()[0]  # the untrained detector, for comparison
    first = driver.step
    started = time.perf_counter()
    driver.train([Stage(f"epoch {e + 1}", steps) for e in range(epochs)])
    wall = time.perf_counter() - started
    result = {"model": name, "step": driver.step, "initial": initial,
              "eval": evaluator.history[-1][1] if evaluator.history else None, "history": evaluator.history,
              "images_per_second": (driver.step - first) * batch / max(wall, 1e-9), "wall_seconds": wall,
              "logs": driver.logs, "classes": list(train.class_names), "export": None}
    if chief:
        result["detect_images_per_second"] = _inference_speed(detector, images)
        result["export"] = export.export_saved_model(
            name, args.export_dir, training.serving_endpoints(detector, train.class_names), detector.networks(),
            version=args.version)
        print_result(result)
    return result, detector


def _inference_speed(detector, images, repeats=3):
    """Held-out images per second through ``detect`` (batches of 32, after one warm-up pass)."""
    from suite.detection.training import detections_of

    detections_of(detector, images[:32])
    started = time.perf_counter()
    for _ in range(repeats):
        detections_of(detector, images)
    return repeats * len(images) / max(time.perf_counter() - started, 1e-9)
