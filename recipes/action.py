"""Human action recognition: single-frame, late/early/slow fusion (Karpathy et al. 2014) and
two-stream (Simonyan and Zisserman 2014) networks on video clips.

    python -m recipes.action                               # slow fusion on the embedded motion videos
    python -m recipes.action --model two_stream            # RGB + stacked optical flow
    python -m recipes.action --data ~/UCF-101 --model early --preset paper
    python -m recipes.action --data tfds:ucf101 --model late
    tensorboard --logdir logs

Training samples a random clip of a random video per example. Each epoch ends
with clip and video top-1/top-5 accuracy on the held-out videos (a video's
prediction averages its --clips-per-video evenly spaced clips) and the
confusion matrix as an image in TensorBoard. Optical flow (two-stream) is
computed once per video with OpenCV's Farneback method, clipped to +-20
pixels and stored as bytes (the two-stream paper's quantisation), cached in
--flow-cache.

The export ``saved_models/action_<model>/<version>/`` takes ``frames`` uint8
[N, T, H, W, 3] (any H, W, resized in the graph; T is the model's clip length:
single_frame 1, late 16, early 10, slow 10, two_stream 1), two-stream also
``flow`` uint8 [N, H, W, 20] (10 stacked (dx, dy) fields, quantised as
above), and returns ``probabilities``, ``class_id`` and ``label``.
"""
import time

from recipes._common import print_result, run
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

NAME = "action"
MODELS = ("single_frame", "late", "early", "slow", "two_stream")
# embedded training and held-out videos per preset (rendered on demand, nothing held in memory)
EMBEDDED_COUNTS = {"tiny": (20000, 160), "small": (50000, 400), "paper": (50000, 400)}
DEFAULTS = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=10, batch=32), "paper": dict(epochs=30, batch=64)}


def parse_args(argv=None):
    p = core_parser(NAME, __doc__.split("\n")[0], default_data="motion", default_steps_per_epoch=500,
                    epochs_help="epochs (default: the preset's: tiny 2, small 10, paper 30); each ends with a "
                                "checkpoint and the held-out clip and video accuracies",
                    data_help=("'motion' (the embedded videos: 8 classes told apart by motion only, generated from "
                               "--seed), 'tfds:ucf101' (prepared in TFDS_DATA_DIR), or a UCF-101 folder (class "
                               "folders of videos and ucfTrainTestlist/) or an HMDB-51 folder (class folders and "
                               "testTrainMulti_7030_splits/)"),
                    batch_help="global batch of clips (default: the preset's: tiny/small 32, paper 64)")
    g = p.add_argument_group("action recognition")
    g.add_argument("--model", default="slow", choices=MODELS,
                   help="single_frame (one frame), late (two frames 15 apart, merged at the first fully "
                        "connected layer), early (10 frames in the first layer), slow (10 frames fused "
                        "progressively), two_stream (an RGB frame and 10 stacked optical flow fields)")
    g.add_argument("--fusion", default="average", choices=("average", "learned"),
                   help="two-stream: average the streams' softmax scores (the paper), or learn a layer on them")
    g.add_argument("--clips-per-video", type=int, default=5,
                   help="evenly spaced clips whose averaged probabilities are a video's prediction")
    g.add_argument("--split", type=int, default=1, choices=(1, 2, 3),
                   help="UCF-101 / HMDB-51 official split (fold) to train and test on")
    g.add_argument("--flow-cache", default=None, metavar="DIR",
                   help="where each video's optical flow is kept once computed (default: LOGDIR/flow)")
    g.add_argument("--num-videos", type=int, default=None,
                   help="embedded training videos (default: the preset's: tiny 20000, small 50000)")
    add_learning_rate(g, "learning rate (default: the preset's: Adam 3e-4 for tiny/small; SGD with momentum "
                        "0.9 at 1e-3 (Karpathy) or 1e-2 (two-stream) for paper)")
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "clips_per_video", "num_videos")
    check_learning_rate(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    from suite.training import start_run

    strategy, chief, _ = start_run(args)  # before any other TensorFlow op

    import dataclasses
    import os

    import tensorflow as tf

    from suite import export
    from suite.action import models, training
    from suite.data import video
    from suite.training import Driver, Stage, check_run_config

    config = models.get_config(args.model, args.preset, fusion=args.fusion, learning_rate=args.learning_rate)
    defaults = DEFAULTS[args.preset]
    epochs = args.epochs or defaults["epochs"]
    batch = args.batch_size or defaults["batch"]
    check_batch(batch, strategy.num_replicas_in_sync)
    name = f"{NAME}_{args.model}"
    if chief:  # a taken --version is refused before training
        export.resolve_version(args.export_dir, name, args.version)
    flow_frames = config.flow_frames if config.uses_flow else 0
    min_frames = max(config.clip_frames, flow_frames + 1)
    cache = video.FlowCache(args.flow_cache or os.path.join(args.logdir, "flow"))
    train_count, eval_count = EMBEDDED_COUNTS[args.preset]
    if args.data == video.EMBEDDED:
        train = video.embedded_set(args.num_videos or train_count, config.image_size, seed=args.seed,
                                   split="train", flow_cache=cache)
        held_out = video.embedded_set(eval_count, config.image_size, seed=args.seed, split="validation",
                                      flow_cache=cache)
    else:
        # every file is opened first: an unreadable or too short video stops the run before it starts
        train, held_out = (video.video_set(args.data, split, config.image_size, min_frames, flow_cache=cache,
                                           fold=args.split, check=True, progress=not args.no_progress)
                           for split in ("train", "test"))
    config = dataclasses.replace(config, num_classes=len(train.class_names))

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        model = training.ActionClassifier(config)
        model.compile()
    settings = {"model": args.model, "data": args.data, "preset": args.preset, "fusion": config.fusion,
                "split": args.split, "num_classes": config.num_classes}
    check_run_config(args.logdir, settings, chief)  # the first write to --logdir
    if config.uses_flow and chief:
        held_out.precompute_flow(progress=not args.no_progress)

    def dataset_fn(ctx):
        ds = video.clip_dataset(train, config.clip_frames, ctx.get_per_replica_batch_size(batch), flow_frames,
                                seed=args.seed, shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))
        return ds if config.uses_flow else ds.map(lambda x, y: (x["frames"], y))

    evaluator = training.ActionEvaluator(model, held_out, config, args.clips_per_video)
    steps = args.steps_per_epoch
    driver = Driver(strategy, model, dataset_fn, logdir=args.logdir, checkpoint_every=steps,
                    log_every=max(1, min(50, steps)), jit_compile=args.jit_compile, callbacks=[evaluator],
                    progress=not args.no_progress)
    initial = None
    if driver.restore() == 0 and chief:
        initial = evaluator.evaluate()[0]  # the untrained network: chance, for comparison
    first = driver.step
    started = time.perf_counter()
    driver.train([Stage(f"epoch {e + 1}", steps) for e in range(epochs)])
    wall = time.perf_counter() - started
    result = {"model": args.model, "step": driver.step, "initial": initial,
              "eval": evaluator.history[-1][1] if evaluator.history else None, "history": evaluator.history,
              "clips_per_second": (driver.step - first) * batch / max(wall, 1e-9), "wall_seconds": wall,
              "logs": driver.logs, "classes": list(train.class_names), "export": None}
    if chief:
        result["export"] = export.export_saved_model(
            name, args.export_dir, training.serving_endpoints(model.net, config, train.class_names), [model.net],
            version=args.version)
        print_result(result)
    return result, model


if __name__ == "__main__":
    run(main)
