"""Action recognition (issue 7): data, optical flow, the five networks' temporal receptive fields,
metrics, the LRN layer, and the readers' errors."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.action import models, training
from suite.data import video
from suite.data.errors import DataError
from suite.data.files import BadFiles
from suite.layers.video import LocalResponseNormalization, OpticalFlow, TemporalConvolution, optical_flow


def _texture(size, seed=0):
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (size // 4, size // 4, 3)).astype(np.uint8)
    import cv2

    return cv2.GaussianBlur(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC), (3, 3), 0)


# ------------------------------------------------------------------ optical flow
def test_flow_of_a_translation_points_the_way_it_moves():
    image = _texture(64)
    frames = np.stack([np.roll(image, (t * -1, t * 2), axis=(0, 1)) for t in range(3)])  # 2 px right, 1 px up
    flow = video.farneback_flow(frames)
    assert flow.shape == (2, 64, 64, 2)
    inner = flow[:, 12:-12, 12:-12]
    dx, dy = np.median(inner[..., 0]), np.median(inner[..., 1])
    assert dx == pytest.approx(2.0, abs=0.3) and dy == pytest.approx(-1.0, abs=0.3)


def _waves(height, width, dx=0.0, dy=0.0, seed=0):
    """A texture of grey levels (a sum of plane waves, contrast like the embedded videos' edges), shifted
    by (dx, dy) pixels: its exact translation."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = sum(np.cos(fx * (xs - dx) + fy * (ys - dy) + phase)
                for fx, fy, phase in zip(*rng.uniform(-1.0, 1.0, (2, 12)), rng.uniform(0, 2 * np.pi, 12)))
    return 128 + 40 * image


@pytest.mark.parametrize("dx,dy", [(1.3, -0.7), (-0.4, 2.6), (0.2, 0.1)])
def test_in_graph_flow_of_a_translation_on_a_non_square_frame(dx, dy):
    first, second = _waves(40, 64), _waves(40, 64, dx, dy)
    flow = optical_flow(first[None, :, :, None], second[None, :, :, None]).numpy()[0, 6:-6, 6:-6]
    mean = flow.reshape(-1, 2).mean(0)
    assert abs(mean[0] - dx) < 0.1 and abs(mean[1] - dy) < 0.1, mean  # x and y each, not swapped or scaled alike
    assert np.median(np.linalg.norm(flow - [dx, dy], axis=-1)) < 0.1


def test_flow_layer_stacks_the_fields_as_the_pipeline_does():
    # three frames, the texture moving (1, 0) then (0, 1): channels (dx1, dy1, dx2, dy2)
    grey = np.stack([_waves(48, 56), _waves(48, 56, 1.0, 0.0), _waves(48, 56, 1.0, 1.0)])
    frames = np.repeat(grey[..., None], 3, -1)[None]  # floats: no rounding or clipping to blur the motion
    flow = OpticalFlow()(frames).numpy()
    assert flow.shape == (1, 48, 56, 4)
    np.testing.assert_allclose(flow[0, 8:-8, 8:-8].reshape(-1, 4).mean(0), [1, 0, 0, 1], atol=0.1)
    clone = OpticalFlow.from_config(OpticalFlow(levels=2, regularization=64.0).get_config())
    assert (clone.levels, clone.regularization, clone.trainable) == (2, 64.0, False)


def test_rendered_videos_know_their_true_flow_and_the_in_graph_flow_finds_it():
    """Endpoint error (EPE) against the renderer's own motion on the embedded videos: the in-graph flow errs
    less than OpenCV's Farneback over the frame and about as little on the moving object (measured on 48
    videos at 32x32: 0.23 and 0.33 pixels; 0.58 and 0.55 on the object, against 0.92 for no motion at all;
    ``python -m benchmarks flow``), and the video's pixels do not change for asking for the flow."""
    videos = video.EmbeddedVideos(16, 32, 20, 0, "validation")
    clips, truths = zip(*(video.render_motion_video(videos.rng(i), int(videos.labels[i]), 32, 20, 4, 11,
                                                    with_flow=True) for i in range(16)))
    clips, truths = np.stack(clips), np.stack(truths)
    assert np.array_equal(clips[3], videos.load_clip(3, 4, 11))
    right = truths[0][np.linalg.norm(truths[0], axis=-1) > 0]  # class 0 moves right at 1.5 x speed px a frame
    assert np.allclose(right[:, 1], 0, atol=1e-6) and 1.1 < right[0, 0] < 1.55 and np.ptp(right[:, 0]) < 1e-6
    graph = OpticalFlow()(clips).numpy().reshape(16, 32, 32, 10, 2).transpose(0, 3, 1, 2, 4)
    farneback = np.stack([video.farneback_flow(c) for c in clips])
    moving = np.linalg.norm(truths, axis=-1) > 0

    def epe(flow, where=moving):
        return np.linalg.norm(flow - truths, axis=-1)[where].mean()

    assert epe(graph) < 0.75 * epe(np.zeros_like(truths)) and epe(graph) < 1.25 * epe(farneback)
    everywhere = np.ones_like(moving)
    assert epe(graph, everywhere) < epe(farneback, everywhere)


def test_flow_quantisation_round_trip_and_clipping():
    flow = np.array([-30.0, -20.0, -3.3, 0.0, 5.0, 20.0, 45.0], np.float32)
    q = video.quantize_flow(flow)
    assert q.dtype == np.uint8 and q[0] == 0 and q[-1] == 255 and q[3] in (127, 128)
    back = video.dequantize_flow(q)
    assert np.abs(back[1:-1] - flow[1:-1]).max() <= 20.0 / 255 + 1e-6
    assert back[0] == pytest.approx(-20.0) and back[-1] == pytest.approx(20.0)


def test_flow_cache_computes_once_per_video(tmp_path):
    frames = np.stack([np.roll(_texture(32), t, axis=1) for t in range(4)])
    calls = []

    def load():
        calls.append(1)
        return frames

    cache = video.FlowCache(str(tmp_path / "flow"))
    a = cache.get("video-1", load)
    b = cache.get("video-1", load)
    assert len(calls) == 1 and a is b and a.shape == (3, 32, 32, 2) and a.dtype == np.uint8
    files = os.listdir(tmp_path / "flow")
    assert len(files) == 1 and files[0].endswith(".npy")  # no temporary file left behind
    again = video.FlowCache(str(tmp_path / "flow")).get("video-1", load)  # a new run reads it back
    assert len(calls) == 1 and np.array_equal(again, a)


# ------------------------------------------------------------------ embedded videos
def test_embedded_videos_are_deterministic_balanced_and_move_as_labelled():
    a = video.embedded_set(16, size=32, frames=20, seed=3)
    b = video.embedded_set(16, size=32, frames=20, seed=3)
    assert np.array_equal(a.load(5), b.load(5)) and a.load(5).shape == (20, 32, 32, 3)
    assert not np.array_equal(a.load(5), video.embedded_set(16, seed=4).load(5))
    assert np.bincount(a.labels).tolist() == [2] * 8
    assert np.array_equal(a.clip(5, 7, 4), a.load(5)[7:11])  # a clip renders only its frames, the same pixels
    # the moving object's flow points the way its class says (at 64x64, where Farneback is steadier)
    a = video.embedded_set(16, size=64, frames=20, seed=3)
    direction = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1)}
    for i in range(16):
        name = video.MOTIONS[a.labels[i]]
        if name in direction:
            flow = video.farneback_flow(a.clip(i, 6, 8))  # middle frames: the object is in view
            moving = np.linalg.norm(flow, axis=-1) > 1.0
            mean = np.median(flow[moving], 0)
            along = np.dot(mean, direction[name])
            across = abs(np.dot(mean, direction[name][::-1]))
            assert along > 0.2 and along > 2 * across, (name, mean)


def test_embedded_videos_keep_their_pixels():
    """The renderer's pixels and true flow are pinned (their digest at MOTION_VERSION 2): a change to
    them must bump MOTION_VERSION, which keys cached flow, and re-measure the README's action figures.
    (Drawing only the torus copies near the frame, 0.57x the time a clip took, kept every pixel.)"""
    import hashlib

    digest = hashlib.sha256()
    for size, seed, split, count in ((32, 0, "train", 48), (64, 1, "validation", 8)):
        videos = video.EmbeddedVideos(count, size, 20, seed, split)
        for i in range(count):
            digest.update(videos.load(i).tobytes())
            frames, flow = video.render_motion_video(videos.rng(i), int(videos.labels[i]), size, 20, 4, 11,
                                                     with_flow=True)
            digest.update(frames.tobytes())
            digest.update(flow.tobytes())
    assert video.MOTION_VERSION == 2
    assert digest.hexdigest() == "56ee8956c4ffd9faf7e915a95ff9c11b554a3318521774bd5b9d0b176ae72b17"


def test_no_single_frame_tells_the_classes_apart():
    """What a motion-blind network could use -- how much of a frame the objects cover, how much of
    its border, how far from the middle -- is distributed alike in every class: over 2,400 random
    frames of random videos the classes' means differ by sampling noise only (less than 5 standard
    errors apart: measured 2.4, 2.7 and 3.2; the generator before the torus and the matched sizes
    spread 5.8, 7.7 and 13.1, and a single-frame network reached 0.31 on it)."""
    per_class = 300
    s = video.embedded_set(8 * per_class, size=32, frames=20, seed=0)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    border = (np.minimum(yy, xx) < 3) | (np.maximum(yy, xx) > 28)
    off_centre = np.hypot(yy - 15.5, xx - 15.5)
    stats = np.empty((len(s), 3))
    for i in range(len(s)):
        frame = s.clip(i, int(rng.integers(20)), 1)[0].astype(np.float32)
        background = np.median(frame.reshape(-1, 3), 0)
        objects = np.abs(frame - background).max(-1) > 45
        stats[i] = objects.mean(), objects[border].mean(), (off_centre * objects).sum() / max(objects.sum(), 1)
    for k, name in enumerate(("area", "border", "distance from the middle")):
        means = np.array([stats[s.labels == c, k].mean() for c in range(8)])
        standard_error = stats[:, k].std() / np.sqrt(per_class)
        assert np.ptp(means) < 5 * standard_error, (name, (np.ptp(means) / standard_error).round(1), means.round(3))


# ------------------------------------------------------------------ networks
def _clip(config, seed=0):
    rng = np.random.default_rng(seed)
    s = config.image_size
    frames = rng.integers(0, 256, (2, config.clip_frames, s, s, 3)).astype(np.uint8)
    return frames


@pytest.mark.parametrize("name", [*models.MODELS, "two_stream_farneback"])
def test_each_model_sees_the_frames_its_name_says(name):
    farneback = name.endswith("_farneback")
    config = models.get_config(name.replace("_farneback", ""), "tiny", flow="farneback" if farneback else "graph")
    net = models.build_model(config)
    frames = _clip(config)
    flow = np.full((2, 32, 32, 2 * config.flow_frames), 128, np.uint8)

    def predict(f, fl=flow):
        inputs = {"frames": f, "flow": fl} if config.flow_input else f
        return net(inputs, training=False)["probabilities"].numpy()

    base = predict(frames)
    assert base.shape == (2, 8) and np.allclose(base.sum(-1), 1.0, atol=1e-5)
    # two-stream: the flow between all 11 frames (in the graph), or one frame and the flow given
    seen = {"single_frame": [0], "late": [0, 15], "early": list(range(10)), "slow": list(range(10)),
            "two_stream": list(range(11)), "two_stream_farneback": [0]}[name]
    assert config.clip_frames == {"single_frame": 1, "late": 16, "early": 10, "slow": 10, "two_stream": 11,
                                  "two_stream_farneback": 1}[name]
    for t in range(config.clip_frames):
        changed = frames.copy()
        changed[:, t] = 255 - changed[:, t]
        differs = not np.allclose(predict(changed), base, atol=1e-6)
        assert differs == (t in seen), (name, t)
    if config.flow_input:  # the temporal stream reads the flow
        moved = flow.copy()
        moved[..., 0::2] = 200
        moved[:, :16] = 60
        assert not np.allclose(predict(frames, moved), base, atol=1e-6)


def test_two_streams_spatial_stream_reads_the_middle_frame():
    config = models.get_config("two_stream", "tiny")
    net = models.build_model(config)
    spatial = keras.Model(net.input, net.get_layer("spatial_probabilities").output)
    frames = _clip(config)
    base = spatial(frames).numpy()
    for t in range(config.clip_frames):
        changed = frames.copy()
        changed[:, t] = 255 - changed[:, t]
        assert np.allclose(spatial(changed).numpy(), base, atol=1e-6) == (t != config.flow_frames // 2), t


def test_slow_fusion_merges_time_progressively():
    config = models.get_config("slow", "tiny")
    net = models.build_model(config)
    steps = [net.get_layer(f"conv{i}").output.shape[1] for i in (1, 2, 3)]
    assert steps == [4, 2, 1]  # 10 frames -> 4 -> 2 -> 1 (Karpathy et al., 2.1)
    early = models.build_model(models.get_config("early", "tiny"))
    conv1 = early.get_layer("conv1")  # the first filters span all 10 frames: 5 x 5 x (10 frames x 3 colours)
    assert (conv1.extent, conv1.kernel_size) == (10, 5) and conv1.conv.kernel.shape == (5, 5, 30, 16)
    with pytest.raises(ValueError, match="leave 2 responses"):
        models.get_config("slow", "tiny", slow_time=((4, 2), (2, 2), (1, 1)))


def test_paper_presets_are_the_papers_networks():
    k = models.get_config("single_frame", "paper")
    assert (k.image_size, k.filters, k.kernels, k.strides, k.fc) == (170, (96, 256, 384, 384, 256),
                                                                     (11, 5, 3, 3, 3), (3, 1), (4096, 4096))
    t = models.get_config("two_stream", "paper")
    assert (t.image_size, t.filters, t.kernels, t.strides, t.fc) == (224, (96, 256, 512, 512, 512),
                                                                     (7, 5, 3, 3, 3), (2, 2), (4096, 2048))
    assert k.normalization == t.normalization == "lrn" and t.flow_frames == 10


def test_local_response_normalization_matches_alexnet_and_serialises():
    x = tf.random.uniform([2, 5, 5, 8], 0, 10, seed=1)
    layer = LocalResponseNormalization()
    y = layer(x).numpy()
    xs = x.numpy()
    sq = np.pad(xs ** 2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    window = sum(sq[..., i:i + 8] for i in range(5))
    assert np.allclose(y, xs / (2.0 + 1e-4 * window) ** 0.75, rtol=1e-5)
    x5 = tf.reshape(tf.concat([x, x], 0), [2, 2, 5, 5, 8])  # [N, T, H, W, C] too
    assert np.allclose(layer(x5).numpy().reshape(4, 5, 5, 8), np.concatenate([y, y]), rtol=1e-5)
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("flow", ["graph", "farneback"])
def test_train_step_lowers_the_loss_on_a_fixed_batch(flow):
    config = models.get_config("two_stream", "tiny", fusion="learned", flow=flow)
    model = training.ActionClassifier(config)
    model.compile()
    videos = video.embedded_set(16, seed=1)
    fields = config.flow_frames if config.flow_input else 0  # Farneback's from the input pipeline
    batch = [video.clip_at(videos, i, 2, config.clip_frames, fields) for i in range(16)]
    inputs = {k: tf.constant(np.stack([b[k] for b in batch])) for k in batch[0]}
    inputs = inputs if config.flow_input else inputs["frames"]
    labels = tf.constant(videos.labels)
    first = model.train_step((inputs, labels))
    assert set(first) == {"loss", "loss/spatial", "loss/temporal", "loss/fused", "accuracy/clip"}
    for _ in range(24):
        last = model.train_step((inputs, labels))
    assert float(last["loss"]) < 0.7 * float(first["loss"])


def test_serving_predicts_a_whole_video_from_its_evenly_spaced_clips():
    config = models.get_config("slow", "tiny", num_classes=3)
    net = models.build_model(config)
    serve, _ = training.serving_endpoints(net, config, ["a", "b", "c"], clips_per_video=5)["serving_default"]
    t = config.clip_frames
    frames = np.random.default_rng(0).integers(0, 256, (2, 25, config.image_size, config.image_size, 3), np.uint8)
    starts = list(video.clip_starts(25, t, 0, 5))  # what the evaluation averages
    assert starts == [0, 4, 8, 11, 15]
    clips = np.concatenate([frames[:, s:s + t] for s in starts])  # [5 N, T, ...], clip-major
    expected = net(clips, training=False)["probabilities"].numpy().reshape(5, 2, 3).mean(0)
    np.testing.assert_allclose(serve(frames)["probabilities"], expected, atol=1e-5)
    one = serve(frames[:, :t])["probabilities"]  # a clip alone: that clip's prediction
    np.testing.assert_allclose(one, net(frames[:, :t], training=False)["probabilities"], atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"frames must hold at least {t} frames per video"):
        serve(frames[:, :t - 1])


def test_two_stream_serves_whole_videos_from_frames_alone():
    config = models.get_config("two_stream", "tiny", num_classes=3)
    net = models.build_model(config)
    serve, specs = training.serving_endpoints(net, config, ["a", "b", "c"], clips_per_video=3)["serving_default"]
    assert [s.name for s in specs] == ["frames"]
    frames = np.random.default_rng(0).integers(0, 256, (2, 30, 40, 56, 3), np.uint8)  # non-square, resized
    out = serve(frames)
    assert out["probabilities"].shape == (2, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="frames must hold at least 11 frames per video"):
        serve(frames[:, :10])


def test_farneback_flow_resizing_scales_each_axis_by_its_own_ratio():
    # a 40 x 64 clip's flow of (+8, -4) pixels: at 32 x 32, (+4, -3.2), quantised as the data pipeline does
    flow = video.quantize_flow(np.broadcast_to(np.array([8.0, -4.0] * 10, np.float32), (1, 40, 64, 20)))
    resized = video.dequantize_flow(training.resize_flow(tf.constant(flow), 32, 10).numpy())
    assert resized.shape == (1, 32, 32, 20)
    np.testing.assert_allclose(resized[0, 4:-4, 4:-4, 0::2], 4.0, atol=0.1)
    np.testing.assert_allclose(resized[0, 4:-4, 4:-4, 1::2], -3.2, atol=0.1)


def test_serving_refuses_clips_of_another_shape_naming_the_input():
    """TensorFlow Serving feeds tensors without checking them against the signature's shapes: the graph
    checks what the model needs (traced here with every dimension free, as such a server feeds it)."""
    config = models.get_config("two_stream", "tiny", num_classes=3, flow="farneback")
    serve, _ = training.serving_endpoints(models.build_model(config), config, ["a", "b", "c"])["serving_default"]
    free = tf.function(serve.python_function, input_signature=[tf.TensorSpec([None] * 5, tf.uint8),
                                                               tf.TensorSpec([None] * 4, tf.uint8)])

    def call(frames, flow):
        return free(tf.zeros(frames, tf.uint8), tf.zeros(flow, tf.uint8))

    assert call([2, 1, 40, 30, 3], [2, 24, 24, 20])["probabilities"].shape == (2, 3)
    assert call([0, 1, 0, 0, 3], [0, 0, 0, 20])["probabilities"].shape == (0, 3)  # a batch of none
    for frames, flow, message in (([1, 2, 32, 32, 3], [1, 32, 32, 20], "frames must hold 1 frames per clip"),
                                  ([1, 1, 32, 32, 4], [1, 32, 32, 20], "frames must be RGB"),
                                  ([1, 1, 0, 32, 3], [1, 32, 32, 20], "frames must have a height and a width"),
                                  ([1, 1, 32, 32, 3], [1, 32, 32, 18], "flow must hold 20 channels"),
                                  ([2, 1, 32, 32, 3], [1, 32, 32, 20], "frames and flow must hold as many clips")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(frames, flow)


# ------------------------------------------------------------------ metrics
def test_top_k_and_confusion_matrix_on_hand_made_values():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.35, 0.25]])
    labels = np.array([1, 2, 2, 1])
    assert training.top_k_accuracy(probs, labels, 1) == 0.5
    assert training.top_k_accuracy(probs, labels, 2) == 1.0
    assert training.top_k_accuracy(probs, labels, 5) == 1.0  # k past the classes: every class counts
    m = training.confusion_matrix(labels, probs.argmax(-1), 3)
    assert m.tolist() == [[0, 0, 0], [1, 1, 0], [1, 0, 1]]
    image = training.confusion_image(m, ("a", "b", "c"))
    assert image.shape == (36, 36, 3) and image.dtype == np.uint8


@pytest.mark.parametrize("extent, temporal_stride, kernel, stride", [(4, 2, 5, 1), (10, 1, 3, 2), (2, 2, 1, 1)])
def test_temporal_convolution_is_the_3d_convolution(extent, temporal_stride, kernel, stride):
    """Against Keras' Conv3D (zero padding of (k - 1) // 2 in space, none in time) given the same
    weights, and through its config."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 10, 9, 9, 3)).astype("float32")
    layer = TemporalConvolution(4, extent, kernel, temporal_stride=temporal_stride, strides=stride)
    y = layer(x).numpy()
    reference = keras.Sequential([keras.layers.ZeroPadding3D((0, (kernel - 1) // 2, (kernel - 1) // 2)),
                                  keras.layers.Conv3D(4, (extent, kernel, kernel), strides=(temporal_stride, stride,
                                                                                            stride))])
    reference.build(x.shape)
    kernel2d, bias = layer.get_weights()  # [k, k, extent * C, F], frames first in the channels
    reference.layers[1].set_weights([kernel2d.reshape(kernel, kernel, extent, 3, 4).transpose(2, 0, 1, 3, 4), bias])
    expected = reference(x).numpy()
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    clone = TemporalConvolution.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y, rtol=1e-6)
    with pytest.raises(ValueError, match="fewer than the temporal extent 12"):
        TemporalConvolution(4, 12, 3)(x)


def test_video_prediction_averages_its_clips():
    """A hand-made case where a video's averaged clip probabilities and its clips' own votes
    disagree: the video's prediction must be the average's."""
    config = models.get_config("single_frame", "tiny")
    # two videos of 9 frames whose pixels say (video, frame); 3 clips each start at frames 0, 4, 8
    frames = np.zeros((2, 9, 4, 4, 3), np.uint8)
    for v in range(2):
        for f in range(9):
            frames[v, f] = 10 * v + f
    videos = video.VideoSet(labels=np.array([0, 1]), class_names=("a", "b", "c"), load=lambda i: frames[i],
                            keys=["v0", "v1"], size=4)
    table = {  # (video, clip start) -> clip probabilities
        (0, 0): [0.4, 0.6, 0.0], (0, 4): [0.4, 0.6, 0.0], (0, 8): [1.0, 0.0, 0.0],  # clips vote b, b, a; mean a
        (1, 0): [0.0, 0.9, 0.1], (1, 4): [0.0, 0.1, 0.9], (1, 8): [0.0, 0.1, 0.9],  # clips vote b, c, c; mean c
    }

    class Fixed:
        def __call__(self, clips, training=False):
            first = np.asarray(clips)[:, 0, 0, 0, 0]
            return {"probabilities": tf.constant([table[(int(p) // 10, int(p) % 10)] for p in first], tf.float32)}

    scores, matrix = training.evaluate(Fixed(), videos, config, clips_per_video=3)
    assert scores["clip_top1"] == pytest.approx(2 / 6)  # video 0's third clip and video 1's first
    assert scores["video_top1"] == pytest.approx(1 / 2)  # video 0 right by its average, video 1 wrong
    assert scores["video_top5"] == scores["clip_top5"] == 1.0  # three classes: all of them in any top 5
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 0]]


# ------------------------------------------------------------------ readers
def _write_video(path, frames=12, size=24, seed=0):
    import cv2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (size, size))
    assert writer.isOpened()
    base = _texture(size, seed)
    for t in range(frames):
        writer.write(np.roll(base, t, axis=1))
    writer.release()


def _ucf(root, videos):
    """A UCF-101 layout: {relative path: frames}; classes from the folders."""
    classes = sorted({rel.split("/")[0] for rel in videos})
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    for rel, n in videos.items():
        _write_video(root / rel, frames=n)
    rels = sorted(videos)
    (lists / "trainlist01.txt").write_text("".join(f"{r} {classes.index(r.split('/')[0]) + 1}\n" for r in rels))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in rels[:2]))
    return classes


def test_ucf101_layout_reads_and_decodes(tmp_path):
    root = tmp_path / "UCF-101"
    _ucf(root, {"Archery/v_Archery_g01_c01.avi": 12, "Archery/v_Archery_g02_c01.avi": 12,
                "Bowling/v_Bowling_g01_c01.avi": 12})
    train = video.video_set(str(root), "train", size=16, min_frames=10)
    assert train.class_names == ("Archery", "Bowling") and train.labels.tolist() == [0, 0, 1]
    frames = train.load(2)
    assert frames.shape == (12, 16, 16, 3) and frames.dtype == np.uint8
    test = video.video_set(str(root), "test", size=16)
    assert len(test) == 2
    clips = video.video_clips(train, 0, 10, count=5)
    assert clips["frames"].shape == (3, 10, 16, 16, 3)  # 12 frames hold clips of 10 at starts 0, 1, 2 only


@pytest.mark.parametrize("suffix,codec", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_a_clip_read_by_seeking_equals_the_same_frames_of_a_full_decode(tmp_path, suffix, codec):
    import cv2

    path = str(tmp_path / f"v{suffix}")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), 25, (32, 24))
    base = cv2.resize(_texture(32, 1), (32, 24))
    for t in range(30):
        writer.write(np.roll(base, 2 * t, axis=1))
    writer.release()
    whole = video.decode_video(path)
    assert whole.shape == (30, 24, 32, 3)
    for start, count in ((0, 5), (7, 10), (25, 5), (26, 10)):  # the last runs past the end: what is there
        np.testing.assert_array_equal(video.decode_video(path, start=start, count=count),
                                      whole[start:start + count])
    with pytest.raises(DataError, match="no frame could be decoded"):
        video.decode_video(path, start=40, count=2)


def test_folder_clips_are_read_by_seeking_and_end_at_the_last_frame(tmp_path, monkeypatch):
    root = tmp_path / "UCF-101"
    _ucf(root, {"Archery/v_a.avi": 20, "Bowling/v_b.avi": 12})
    s = video.video_set(str(root), "train", size=16, min_frames=10)
    assert s.num_frames(0) == 20 and not s.rendered
    decoded = []
    real = video.decode_video
    monkeypatch.setattr(video, "decode_video", lambda *a, **k: decoded.append((a, k)) or real(*a, **k))
    clip = s.clip(0, 6, 10)
    assert len(decoded) == 1 and decoded[0][0][2:] == (6, 10)  # only the clip's frames
    np.testing.assert_array_equal(clip, real(str(root / "Archery" / "v_a.avi"), 16)[6:16])
    # a header that counts more frames than the file has: the clip ends at the last frame there is
    assert s.num_frames(1) == 12
    np.testing.assert_array_equal(s.load_clip(1, 5, 10), real(str(root / "Bowling" / "v_b.avi"), 16)[2:12])


def test_hmdb51_layout_reads(tmp_path):
    root = tmp_path / "hmdb51"
    for cls in ("brush_hair", "cartwheel"):
        for k in range(3):
            _write_video(root / cls / f"{cls}_{k}.avi", frames=11)
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    for cls in ("brush_hair", "cartwheel"):
        (splits / f"{cls}_test_split1.txt").write_text(f"{cls}_0.avi 1\n{cls}_1.avi 2\n{cls}_2.avi 0\n")
    train = video.video_set(str(root), "train", size=16)
    test = video.video_set(str(root), "test", size=16)
    assert train.class_names == ("brush_hair", "cartwheel") and train.labels.tolist() == [0, 1]
    assert [os.path.basename(k) for k in test.keys] == ["brush_hair_1.avi", "cartwheel_1.avi"]


def test_bad_videos_and_split_files_name_the_file(tmp_path):
    root = tmp_path / "UCF-101"
    _ucf(root, {"Archery/v_a.avi": 12, "Bowling/v_b.avi": 4})
    (root / "Archery" / "v_a.avi").write_bytes(b"this is not a video")
    s = video.video_set(str(root), "train", size=16, min_frames=10)
    with pytest.raises(DataError, match=r"v_a\.avi: not a readable video"):
        s.load(0)
    with pytest.raises(DataError, match=r"v_b\.avi: 4 frames, shorter than the clip length 10"):
        s.load(1)
    with pytest.raises(DataError, match=r"v_a\.avi: not a readable video.*--skip-bad-files"):  # before training
        video.video_set(str(root), "train", size=16, min_frames=10, check=True)
    skip = BadFiles(skip=True)  # --skip-bad-files: both left out, named; none left is refused
    with pytest.raises(DataError, match="no readable video in the train split"):
        video.video_set(str(root), "train", size=16, min_frames=10, check=True, bad=skip)
    assert [e.split(":")[0].split("/")[-1] for e in skip.skipped] == ["v_a.avi", "v_b.avi"]
    skip = BadFiles(skip=True)
    kept = video.video_set(str(root), "train", size=16, min_frames=4, check=True, bad=skip)
    assert len(kept) == 1 and kept.keys[0].endswith("v_b.avi") and kept.labels.tolist() == [1]
    assert "v_a.avi: not a readable video" in skip.skipped[0]
    (root / "Archery" / "v_a.avi").unlink()
    _write_video(root / "Archery" / "v_a.avi", frames=12)
    with pytest.raises(DataError, match=r"v_b\.avi: 4 frames, shorter than the clip length 10"):
        video.video_set(str(root), "train", size=16, min_frames=10, check=True)
    with open(root / "ucfTrainTestlist" / "trainlist01.txt", "a") as f:
        f.write("Bowling/v_missing.avi 2\n")
    with pytest.raises(DataError, match=r"trainlist01\.txt: names Bowling/v_missing\.avi, which is not in"):
        video.video_set(str(root), "train", size=16)
    with pytest.raises(DataError, match="not a UCF-101 folder|not an HMDB-51 folder"):
        video.video_set(str(tmp_path), "train")
    with pytest.raises(DataError, match="no such folder"):
        video.video_set(str(tmp_path / "nowhere"), "train")


def test_tfds_ucf101_reader():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        videos = video.video_set("tfds:ucf101", "train", size=16, min_frames=2)
    assert len(videos) == 3 and len(videos.class_names) == 101 and videos.labels.max() < 101
    frames = videos.load(0)
    assert frames.shape[0] >= 2 and frames.shape[1:] == (16, 16, 3) and frames.dtype == np.uint8


def test_a_tfds_split_too_large_for_memory_is_prepared_streaming_instead(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    from suite.data import prepare

    monkeypatch.setattr(prepare, "MEMORY_BYTES", 2000)  # less than one mock video at 16x16
    with tfds.testing.mock_data(num_examples=3):
        with pytest.raises(DataError, match=r"tfds:ucf101 train: more than [0-9.e-]+ GiB decoded, too much to hold in "
                                            r"memory; prepare it once \(python -m suite.data.prepare video --data "
                                            r"tfds:ucf101 --out DIR\) and train on --data tfrecord:DIR"):
            video.video_set("tfds:ucf101", "train", size=16)
        out = prepare.prepare_video("tfds:ucf101", str(tmp_path / "ucf"), splits=("train",), size=16, progress=False)
        whole = video.tfds_videos("ucf101", "train", 16)[2]
        ready = video.video_set(f"tfrecord:{out}", "train", size=16)
        assert len(ready) == 3 and len(ready.class_names) == 101
        for i, (frames, label, _) in enumerate(whole):
            np.testing.assert_array_equal(ready.load(i), frames)
            assert ready.labels[i] == label
