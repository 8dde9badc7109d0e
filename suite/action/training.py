"""Training, evaluation and serving of the action networks.

``ActionClassifier`` gives the task base a network of ``suite.action.models``
and its cross-entropy of the predicted probabilities (two-stream: the sum of
each stream's cross-entropy, as the paper trains the streams apart, plus the
fused one's when the fusion is learned). ``evaluate`` gives clip and video
top-1/top-5 accuracy (a video's prediction is the average of its evenly
spaced clips' probabilities, as both papers do) and the confusion matrix;
``ActionEvaluator`` logs them, and the confusion matrix as an image, at the
end of every epoch.
"""
import numpy as np
import tensorflow as tf

from suite.action.models import build_model
from suite.export import answer_empty_batch
from suite.training.evaluator import Evaluator, heatmap_image
from suite.training.task import SupervisedTask


def crossentropy(probabilities, labels):
    p = tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1.0)
    return -tf.math.log(tf.gather(p, tf.cast(labels, tf.int32), batch_dims=1))


class ActionClassifier(SupervisedTask):
    """The network and its cross-entropy terms, trained by ``suite.training.task.SupervisedTask``
    (the config's ``optimizer``, ``learning_rate`` and ``momentum``)."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_model(config)

    def loss_terms(self, batch, training, seeds):
        inputs, labels = batch
        outputs = self.net(inputs, training=training)
        if self.config.uses_flow:
            terms = {"loss/spatial": crossentropy(outputs["spatial"], labels),
                     "loss/temporal": crossentropy(outputs["temporal"], labels)}
            if self.config.fusion == "learned":
                terms["loss/fused"] = crossentropy(outputs["probabilities"], labels)
        else:
            terms = {"loss/classification": crossentropy(outputs["probabilities"], labels)}
        hits = tf.equal(tf.argmax(outputs["probabilities"], -1, output_type=tf.int32), tf.cast(labels, tf.int32))
        return terms, {"accuracy/clip": hits}


# ------------------------------------------------------------------ evaluation
def top_k_accuracy(probabilities, labels, k):
    k = min(k, probabilities.shape[-1])
    top = np.argsort(-probabilities, axis=-1)[:, :k]
    return float(np.mean([label in row for row, label in zip(top, labels)]))


def confusion_matrix(labels, predictions, num_classes):
    m = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predictions)), 1)
    return m


def evaluate(model, videos, config, clips_per_video=5, batch_size=32):
    """Clip and video top-1 / top-5 accuracy over ``videos`` (a VideoSet) and the video-level
    confusion matrix [true, predicted]."""
    from suite.data.video import video_clips

    clip_probs, clip_labels, video_probs = [], [], []
    pending, owners = [], []

    def flush():
        if not pending:
            return
        batch = {k: np.concatenate([p[k] for p in pending]) for k in pending[0]}
        inputs = batch if config.flow_input else batch["frames"]
        probs = np.concatenate([model(_slice(inputs, s, batch_size), training=False)["probabilities"].numpy()
                                for s in range(0, len(batch["frames"]), batch_size)])
        start = 0
        for owner, p in zip(owners, pending):
            n = len(p["frames"])
            clip_probs.append(probs[start:start + n])
            clip_labels.append(np.full(n, videos.labels[owner]))
            video_probs.append(probs[start:start + n].mean(0))
            start += n
        pending.clear()
        owners.clear()

    for i in range(len(videos)):
        pending.append(video_clips(videos, i, config.clip_frames, config.input_flow_frames, clips_per_video))
        owners.append(i)
        if sum(len(p["frames"]) for p in pending) >= 4 * batch_size:
            flush()
    flush()
    clip_probs, clip_labels = np.concatenate(clip_probs), np.concatenate(clip_labels)
    video_probs = np.stack(video_probs)
    scores = {"clip_top1": top_k_accuracy(clip_probs, clip_labels, 1),
              "clip_top5": top_k_accuracy(clip_probs, clip_labels, 5),
              "video_top1": top_k_accuracy(video_probs, videos.labels, 1),
              "video_top5": top_k_accuracy(video_probs, videos.labels, 5)}
    return scores, confusion_matrix(videos.labels, video_probs.argmax(-1), len(videos.class_names))


def _slice(inputs, start, size):
    if isinstance(inputs, dict):
        return {k: v[start:start + size] for k, v in inputs.items()}
    return inputs[start:start + size]


def confusion_image(matrix, class_names, cell=12):
    """The confusion matrix as an RGB uint8 image: rows true classes, columns predictions, each row
    normalised (white 0 to dark blue 1), for TensorBoard."""
    return heatmap_image(matrix / np.maximum(matrix.sum(1, keepdims=True), 1), cell)


class ActionEvaluator(Evaluator):
    """At the end of every epoch (chief only): clip and video top-1/top-5 on the held-out videos
    (``eval/...``) and the confusion matrix image (``eval/confusion_matrix``)."""

    def __init__(self, model, videos, config, clips_per_video=5):
        super().__init__()
        self.model, self.videos, self.config, self.clips = model, videos, config, clips_per_video

    def evaluate(self):
        return evaluate(self.model, self.videos, self.config, self.clips)

    def log_media(self, matrix, step):
        tf.summary.image("eval/confusion_matrix", confusion_image(matrix, self.videos.class_names)[None])


# ------------------------------------------------------------------ serving
def resize_flow(flow, size, fields):
    """Stacked quantised flow uint8 [N, H, W, 2 * fields] (``suite.data.video.quantize_flow``) resized to
    ``size`` x ``size``, each axis's displacements scaled by that axis's own ratio (dx by the width's,
    dy by the height's: a frame need not be square)."""
    height, width = tf.unstack(tf.cast(tf.shape(flow)[1:3], tf.float32))
    scale = tf.tile(tf.stack([size / width, size / height]), [fields])
    displacement = (tf.cast(flow, tf.float32) - 127.5) * scale
    resized = tf.image.resize(displacement, [size, size], antialias=True) + 127.5
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def serving_endpoints(net, config, class_names, clips_per_video=5):
    """``serving_default`` -> ``probabilities`` [N, classes], ``class_id`` [N] and ``label`` [N] (the
    top class), from

    * ``frames`` uint8 [N, F, H, W, 3]: whole videos (or clips) of F >= T frames (T =
      ``config.clip_frames``; two-stream with its flow in the graph: L + 1; any H, W, resized in the
      graph), each predicted as the mean of its ``clips_per_video`` evenly spaced clips'
      probabilities (the papers' video-level testing, as ``evaluate`` does; F = T: the one clip);
    * two-stream on Farneback flow: ``frames`` uint8 [N, 1, H, W, 3] and ``flow`` uint8 [N, H', W',
      2L], one clip each (flow quantised as ``suite.data.video.quantize_flow``; resized with each
      axis's displacements scaled by that axis's ratio).

    Inputs of another shape are refused with an InvalidArgumentError naming them; a batch of none
    gets empty outputs."""
    size = config.image_size
    names = tf.constant(list(class_names))
    t = config.clip_frames

    def resize_frames(frames):
        shape = tf.shape(frames)
        flat = tf.reshape(frames, tf.concat([[-1], shape[2:]], 0))
        resized = tf.image.resize(tf.cast(flat, tf.float32), [size, size], antialias=True)
        resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
        return tf.reshape(resized, [shape[0], t, size, size, 3])

    def outputs(probs):
        class_id = tf.argmax(probs, -1, output_type=tf.int32)
        return {"probabilities": probs, "class_id": class_id, "label": tf.gather(names, class_id)}

    def checked(frames, flow=None):
        """The inputs, once their shapes are what the model takes (else InvalidArgumentError naming them)."""
        shape = tf.shape(frames)
        count = (tf.debugging.assert_equal(shape[1], t, message=f"frames must hold {t} frames per clip: "
                                                                f"[N, {t}, H, W, 3]") if flow is not None else
                 tf.debugging.assert_greater_equal(shape[1], t, message=f"frames must hold at least {t} frames "
                                                                        "per video (the clip length)"))
        checks = [count, tf.debugging.assert_equal(shape[4], 3, message="frames must be RGB: [N, F, H, W, 3]"),
                  tf.debugging.assert_positive(tf.where(shape[0] > 0, shape[2:4], 1),
                                               message="frames must have a height and a width")]
        if flow is not None:
            channels = 2 * config.flow_frames
            checks += [tf.debugging.assert_equal(tf.shape(flow)[3], channels,
                                                 message=f"flow must hold {channels} channels [N, H, W, {channels}]"),
                       tf.debugging.assert_equal(tf.shape(flow)[0], shape[0],
                                                 message="frames and flow must hold as many clips")]
        with tf.control_dependencies(checks):
            return tf.identity(frames) if flow is None else (tf.identity(frames), tf.identity(flow))

    if config.flow_input:
        def two_stream(frames, flow):
            probs = net({"frames": resize_frames(frames), "flow": resize_flow(flow, size, config.flow_frames)},
                        training=False)
            return outputs(probs["probabilities"])

        @tf.function
        def serve(frames, flow):
            return answer_empty_batch(two_stream, *checked(frames, flow))

        frames_spec = tf.TensorSpec([None, t, None, None, 3], tf.uint8, name="frames")
        flow_spec = tf.TensorSpec([None, None, None, 2 * config.flow_frames], tf.uint8, name="flow")
        return {"serving_default": (serve, [frames_spec, flow_spec])}

    def videos(frames):
        # the evenly spaced clip starts of suite.data.video.clip_starts, in TensorFlow ops
        last = tf.cast(tf.shape(frames)[1] - t, tf.float32)
        starts = tf.unique(tf.cast(tf.round(tf.linspace(0.0, last, clips_per_video)), tf.int32)).y  # [K]
        clips = tf.gather(frames, starts[:, tf.newaxis] + tf.range(t)[tf.newaxis, :], axis=1)  # [N, K, T, H, W, 3]
        n, k = tf.shape(clips)[0], tf.shape(clips)[1]
        flat = tf.reshape(clips, tf.concat([[n * k], tf.shape(clips)[2:]], 0))
        probs = net(resize_frames(flat), training=False)["probabilities"]
        return outputs(tf.reduce_mean(tf.reshape(probs, [n, k, -1]), axis=1))

    @tf.function
    def serve_frames(frames):
        return answer_empty_batch(videos, checked(frames))

    return {"serving_default": (serve_frames, [tf.TensorSpec([None, None, None, None, 3], tf.uint8, name="frames")])}


def warmup_requests(videos, config):
    """A request of ``serving_endpoints``' signature: the first clip of ``videos``' first video (and its flow)."""
    from suite.data.video import clip_at

    clip = clip_at(videos, 0, 0, config.clip_frames, config.input_flow_frames)
    return {"serving_default": [clip["frames"][None]] + ([clip["flow"][None]] if config.flow_input else [])}
