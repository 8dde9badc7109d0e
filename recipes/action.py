"""Human action recognition: single-frame, late/early/slow fusion (Karpathy et al. 2014) and
two-stream (Simonyan and Zisserman 2014) networks on video clips.

    python -m recipes.action                               # slow fusion on the embedded motion videos
    python -m recipes.action --model two_stream            # RGB + stacked optical flow, from frames alone
    python -m recipes.action --data ~/UCF-101 --model early --preset paper
    python -m recipes.action --data tfds:ucf101 --model late
    python -m suite.data.prepare video --data ~/UCF-101 --flow --out ~/ucf-32   # once: frames and flow
    python -m recipes.action --data tfrecord:~/ucf-32 --model two_stream --flow farneback
    tensorboard --logdir logs

Training samples a random clip of a random video per example. Each epoch ends
with clip and video top-1/top-5 accuracy on the held-out videos (a video's
prediction averages its --clips-per-video evenly spaced clips) and the
confusion matrix as an image in TensorBoard. Two-stream's optical flow is
computed inside the network from the clip's 11 frames (pyramidal
Lucas-Kanade in TensorFlow ops, clipped to +-20 pixels), so training and the
export see the same flow; --flow farneback computes it instead once per video
with OpenCV's Farneback method, stored as bytes (the two-stream paper's
quantisation) and cached in --flow-cache, and the network takes it as an input.

The export ``saved_models/action_<model>/<version>/`` takes ``frames`` uint8
[N, F, H, W, 3]: videos of F frames at least the model's clip length T
(single_frame 1, late 16, early 10, slow 10, two_stream 11; any H, W, resized
in the graph), each predicted from --clips-per-video evenly spaced clips;
with --flow farneback, two-stream takes one clip of T = 1 frame and ``flow``
uint8 [N, H, W, 20] (10 stacked (dx, dy) fields, quantised as above). It
returns ``probabilities``, ``class_id`` and ``label``.
"""
import dataclasses
import os

from suite.training.cli import positive_int
from suite.training.runner import Recipe, lazy

models = lazy("suite.action.models")
training = lazy("suite.action.training")
video = lazy("suite.data.video")

MODELS = ("single_frame", "late", "early", "slow", "two_stream")


class Action(Recipe):
    __doc__ = __doc__
    name = "action"
    default_data = "motion"
    steps_per_epoch = 500
    presets = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=10, batch=32), "paper": dict(epochs=30, batch=64)}
    evaluation = "the held-out clip and video accuracies"
    data_help = ("'motion' (the embedded videos: 8 classes told apart by motion only, generated from --seed), "
                 "'tfds:ucf101' (prepared in TFDS_DATA_DIR), or a UCF-101 folder (class folders of videos and "
                 "ucfTrainTestlist/) or an HMDB-51 folder (class folders and testTrainMulti_7030_splits/), or 'tfrecord:DIR' "
                 "(any of these prepared once at the preset's frame size by python -m suite.data.prepare video: "
                 "no decoding, and with --flow no optical flow to compute)")
    learning_rate_help = ("learning rate (default: the preset's: Adam 3e-4 for tiny/small; SGD with momentum 0.9 at "
                          "1e-3 (Karpathy) or 1e-2 (two-stream) for paper)")
    batch_norm = True
    unit = "clips"
    group_title = "action recognition"
    export_by = "model"
    counts = {"tiny": (20000, 160), "small": (50000, 400), "paper": (50000, 400)}  # rendered on demand
    counted = "videos"
    counts_help = ("embedded training videos", "embedded held-out videos scored each epoch")

    def add_flags(self, g):
        g.add_argument("--model", default="slow", choices=MODELS,
                       help="single_frame (one frame), late (two frames 15 apart, merged at the first fully "
                            "connected layer), early (10 frames in the first layer), slow (10 frames fused "
                            "progressively), two_stream (an RGB frame and 10 stacked optical flow fields)")
        g.add_argument("--fusion", default="average", choices=("average", "learned"),
                       help="two-stream: average the streams' softmax scores (the paper), or learn a layer on them")
        g.add_argument("--flow", default="graph", choices=("graph", "farneback"),
                       help="two-stream's optical flow: graph (pyramidal Lucas-Kanade inside the network, from the "
                            "clip's frames: the export takes frames alone) or farneback (OpenCV's, computed in the "
                            "input pipeline and cached: the export also takes the flow)")
        g.add_argument("--clips-per-video", type=positive_int, default=5,
                       help="evenly spaced clips whose averaged probabilities are a video's prediction")
        g.add_argument("--split", type=int, default=1, choices=(1, 2, 3),
                       help="UCF-101 / HMDB-51 official split (fold) to train and test on")
        g.add_argument("--flow-cache", default=None, metavar="DIR",
                       help="--flow farneback: where each video's optical flow is kept once computed "
                            "(default: LOGDIR/flow)")

    # The model: the paper's body for the fusion chosen, at the preset's size
    def configure(self, run):
        a = run.args
        return models.get_config(a.model, a.preset, fusion=a.fusion, flow=a.flow, learning_rate=a.learning_rate,
                                 sync_batch_norm=a.sync_batch_norm)

    # The data: embedded motion videos, or a UCF-101 / HMDB-51 split (every file opened first)
    def load_data(self, run):
        a, c = run.args, run.config
        cache = video.FlowCache(a.flow_cache or os.path.join(a.logdir, "flow"))
        if a.data == video.EMBEDDED:
            train, held_out = (video.embedded_set(count, c.image_size, seed=a.seed, split=split, flow_cache=cache)
                               for split, count in zip(("train", "validation"), run.counts))
        else:
            min_frames = max(c.clip_frames, c.input_flow_frames + 1)
            train, held_out = (video.video_set(a.data, split, c.image_size, min_frames, flow_cache=cache,
                                               fold=a.split, check=True, progress=run.progress, bad=run.bad)
                               for split in ("train", "test"))
        run.config = dataclasses.replace(c, num_classes=len(train.class_names))
        return train, held_out

    def build(self, run):
        model = training.ActionClassifier(run.config, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        a = run.args
        return {"model": a.model, "data": a.data, "preset": a.preset, "fusion": run.config.fusion, "flow": a.flow,
                "split": a.split, "num_classes": run.config.num_classes}

    def prepare(self, run):
        if run.config.flow_input and run.chief:
            run.data[1].precompute_flow(progress=run.progress)

    def dataset(self, run, feed):
        ds = video.clip_dataset(run.data[0], run.config.clip_frames, flow_frames=run.config.input_flow_frames, **feed)
        return ds if run.config.flow_input else ds.map(lambda x, y: (x["frames"], y))

    # Evaluate: clip and video accuracy on the held-out videos, the confusion matrix
    def evaluator(self, run):
        return training.ActionEvaluator(run.model, run.data[1], run.config, run.args.clips_per_video)

    # Serve: frames of any size (and flow) in, probabilities and labels out
    def serving(self, run):
        endpoints = training.serving_endpoints(run.model.net, run.config, run.data[0].class_names,
                                               run.args.clips_per_video)
        return endpoints, [run.model.net]

    def warmup(self, run):  # a held-out video's first clip
        return training.warmup_requests(run.data[1], run.config)

    def finish(self, run, result):
        result.update(model=run.args.model, classes=list(run.data[0].class_names))


recipe = Action()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
