"""Custom layers of the video topic (Karpathy et al. 2014; Simonyan and Zisserman 2014).

Keras 3 has no local response normalization (the "N" layers of both papers'
networks; ``tf.nn.local_response_normalization`` has no Keras layer), and no
layer that turns the two-stream paper's byte-quantised optical flow back into
displacements with its mean subtracted (the paper's camera-motion
compensation). Neither Keras nor TensorFlow computes optical flow (OpenCV's
Farneback cannot go into a serving graph): ``optical_flow`` is dense
pyramidal Lucas-Kanade in TensorFlow ops, and ``OpticalFlow`` the layer that
gives a clip's stacked flow fields, so the two-stream network trains and
serves on frames alone. ``TemporalConvolution`` is the 3-D convolution of early and
slow fusion computed as a 2-D one: Keras' ``Conv3D`` is the same maths but
TensorFlow's CPU kernels for it are slow (measured on the tiny slow-fusion
network: see the layer).
"""
import math

import keras
import tensorflow as tf
from keras import ops

PACKAGE = "suite.action"


@keras.saving.register_keras_serializable(package=PACKAGE)
class LocalResponseNormalization(keras.layers.Layer):
    """AlexNet's local response normalization across channels:
    ``b = a / (bias + alpha * sum_{n neighbours} a^2) ** beta`` (``depth_radius`` channels each side).
    Defaults are AlexNet's (n = 5, k = 2, alpha = 1e-4, beta = 0.75), which both papers use."""

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x):
        shape = tf.shape(x)
        flat = tf.reshape(x, tf.concat([[-1], shape[-3:]], 0)) if len(x.shape) != 4 else x  # [N, T, ...] too
        y = tf.nn.local_response_normalization(flat, depth_radius=self.depth_radius, bias=self.bias,
                                               alpha=self.alpha, beta=self.beta)
        return tf.reshape(y, shape) if len(x.shape) != 4 else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FlowInput(keras.layers.Layer):
    """The temporal stream's input: stacked flow as bytes (``suite.data.video.quantize_flow``: 127.5
    is no motion) or, with ``bound``, in pixels (``OpticalFlow``'s) clipped to +-``bound`` -> float
    displacements in units of the bound, each field's mean subtracted (the paper's mean flow
    subtraction, a cheap compensation of camera motion)."""

    def __init__(self, bound=None, **kwargs):
        super().__init__(**kwargs)
        self.bound = bound

    def call(self, flow):
        if self.bound is None:
            flow = (ops.cast(flow, "float32") - 127.5) / 127.5
        else:
            flow = ops.clip(ops.cast(flow, "float32") / self.bound, -1.0, 1.0)
        return flow - ops.mean(flow, axis=(1, 2), keepdims=True)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


# ------------------------------------------------------------------ optical flow in TensorFlow ops
def _gaussian(sigma):
    radius = max(1, int(math.ceil(2.5 * sigma)))
    taps = [math.exp(-0.5 * (i / sigma) ** 2) for i in range(-radius, radius + 1)]
    return tf.constant([t / sum(taps) for t in taps], tf.float32)


def _blur(images, kernel):
    """Separable Gaussian blur of each channel of [B, H, W, C], normalised at the borders (each pixel a
    weighted mean of the pixels inside the image), so any size works, however small."""
    k, c = int(kernel.shape[0]), images.shape[-1]

    def separable(x, channels):
        x = tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(kernel, [k, 1, 1, 1]), [1, 1, channels, 1]), [1] * 4, "SAME")
        return tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(kernel, [1, k, 1, 1]), [1, 1, channels, 1]), [1] * 4,
                                      "SAME")

    return separable(images, c) / separable(tf.ones_like(images[:1, ..., :1]), 1)


def _gradients(images):
    """Central differences (replicated border) of [B, H, W, 1]: (d/dx, d/dy)."""
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC")
    dx = (padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]) / 2.0
    dy = (padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]) / 2.0
    return dx, dy


def _warp(images, flow):
    """``images`` [B, H, W, 1] sampled bilinearly at each pixel plus ``flow`` [B, H, W, 2] (x right, y
    down; clamped at the border)."""
    shape = tf.shape(images)
    h, w = shape[1], shape[2]
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
    x = tf.clip_by_value(xs + flow[..., 0], 0.0, tf.cast(w - 1, tf.float32))
    y = tf.clip_by_value(ys + flow[..., 1], 0.0, tf.cast(h - 1, tf.float32))
    x0, y0 = tf.floor(x), tf.floor(y)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
    x1, y1 = tf.minimum(x0 + 1, w - 1), tf.minimum(y0 + 1, h - 1)
    flat = tf.reshape(images, [shape[0], h * w, 1])

    def at(yy, xx):
        return tf.gather(flat, yy * w + xx, batch_dims=1)

    return ((1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1))
            + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1)))


def optical_flow(first, second, levels=3, iterations=4, window=2.5, presmooth=1.0, regularization=1024.0):
    """Dense optical flow from ``first`` to ``second`` (grey float [B, H, W, 1], 0-255): pyramidal
    Lucas-Kanade (Lucas and Kanade 1981; coarse to fine as Bouguet 2000) at every pixel, in TensorFlow
    ops. Returns float32 [B, H, W, 2], (dx, dy) in pixels, x to the right, y down, as OpenCV's.

    Each of ``levels`` pyramid levels (halved, down to 8 pixels) refines the coarser level's flow,
    upsampled with each axis's displacements scaled by that axis's own ratio, by ``iterations``
    Gauss-Newton steps: warp ``second`` by the flow, solve the 2x2 normal equations of the brightness
    constancy over a Gaussian window (sigma ``window``) at each pixel. ``regularization`` (grey
    levels squared per pixel) is added to the equations' diagonal, so where the window has no texture
    (a flat background, camera noise) the flow stays near zero instead of following the noise.

    The defaults were chosen on the embedded motion videos against their true flow (``python -m
    benchmarks flow``): there they err less than OpenCV's Farneback over the whole frame and about as
    much on the moving object; a smaller ``regularization`` follows the object a little better and the
    camera noise far more, and tiny two-stream learnt more slowly on it."""
    first, second = tf.cast(first, tf.float32), tf.cast(second, tf.float32)
    smooth, win = _gaussian(presmooth), _gaussian(window)
    small = min(d for d in first.shape[1:3] if d is not None) if None not in first.shape[1:3] else None
    if small is not None:  # no level below 8 pixels
        levels = max(1, min(levels, int(math.floor(math.log2(max(small, 8) / 8))) + 1))
    pair = _blur(tf.concat([first, second], -1), smooth)  # both images as two channels
    pyramid = [pair]
    for _ in range(levels - 1):  # halved by 2x2 means of the blurred level (XLA has no area resize)
        pyramid.append(tf.nn.avg_pool2d(_blur(pyramid[-1], smooth), 2, 2, "SAME"))
    flow = None
    for pair in reversed(pyramid):
        a, b = pair[..., :1], pair[..., 1:]
        size = tf.shape(a)[1:3]
        if flow is None:
            flow = tf.zeros(tf.concat([tf.shape(a)[:3], [2]], 0))
        else:  # each axis's displacements scale with that axis's ratio (frames need not be square)
            ratio = tf.cast(size, tf.float32) / tf.cast(tf.shape(flow)[1:3], tf.float32)
            flow = tf.image.resize(flow, size, method="bilinear") * tf.stack([ratio[1], ratio[0]])
        for _ in range(iterations):
            warped = _warp(b, flow)
            ix, iy = _gradients((a + warped) / 2.0)  # both images' gradient: converges where one's misleads
            it = warped - a
            sums = _blur(tf.concat([ix * ix, ix * iy, iy * iy, ix * it, iy * it], -1), win)
            sxx, sxy, syy, bx, by = tf.split(sums, 5, axis=-1)
            sxx, syy = sxx + regularization, syy + regularization
            det = sxx * syy - sxy * sxy
            du = tf.clip_by_value(-(syy * bx - sxy * by) / det, -1.0, 1.0)  # at most a pixel a step
            dv = tf.clip_by_value(-(sxx * by - sxy * bx) / det, -1.0, 1.0)
            flow = flow + tf.concat([du, dv], -1)
        flow = _median3(flow)  # outliers out before they spread to the finer level
    return flow


def _median3(flow):
    """3x3 median of each channel of [B, H, W, C] (replicated border)."""
    padded = tf.pad(flow, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC")
    shape = tf.shape(flow)
    p = [padded[:, i:i + shape[1], j:j + shape[2]] for i in range(3) for j in range(3)]
    # the 19 compare-exchanges of the classic median-of-9 network (Paeth): elementwise, ~20x top_k's speed
    for i, j in ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
                 (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)):
        p[i], p[j] = tf.minimum(p[i], p[j]), tf.maximum(p[i], p[j])
    return p[4]


@keras.saving.register_keras_serializable(package=PACKAGE)
class OpticalFlow(keras.layers.Layer):
    """A clip's optical flow: frames [N, L + 1, H, W, 3] (uint8 or 0-255) -> the L fields between
    consecutive frames stacked as (dx_1, dy_1, ..., dx_L, dy_L), float32 [N, H, W, 2L] in pixels
    (``optical_flow``: pyramidal Lucas-Kanade). Nothing is learnt and no gradient flows through it; it
    computes in float32 under any precision policy."""

    def __init__(self, levels=3, iterations=4, window=2.5, regularization=1024.0, **kwargs):
        kwargs["dtype"] = "float32"
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.levels, self.iterations, self.window, self.regularization = levels, iterations, window, regularization

    def call(self, frames):
        frames = tf.cast(frames, tf.float32)
        grey = tf.tensordot(frames, tf.constant([0.299, 0.587, 0.114]), [[4], [0]])[..., None]  # OpenCV's grey
        shape = tf.shape(grey)
        n, t = shape[0], shape[1]
        first = tf.reshape(grey[:, :-1], tf.concat([[-1], shape[2:]], 0))
        second = tf.reshape(grey[:, 1:], tf.concat([[-1], shape[2:]], 0))
        if grey.shape[2] is not None and grey.shape[3] is not None:
            first = tf.ensure_shape(first, [None, grey.shape[2], grey.shape[3], 1])
            second = tf.ensure_shape(second, [None, grey.shape[2], grey.shape[3], 1])
        flow = optical_flow(first, second, self.levels, self.iterations, self.window,
                            regularization=self.regularization)  # [N (L), H, W, 2]
        flow = tf.reshape(flow, tf.concat([[n, t - 1], shape[2:4], [2]], 0))
        flow = tf.transpose(flow, [0, 2, 3, 1, 4])  # [N, H, W, L, 2]
        return tf.stop_gradient(tf.reshape(flow, tf.concat([[n], shape[2:4], [2 * (t - 1)]], 0)))

    def compute_output_shape(self, input_shape):
        t = input_shape[1]
        return (input_shape[0], input_shape[2], input_shape[3], None if t is None else 2 * (t - 1))

    def get_config(self):
        return {**super().get_config(), "levels": self.levels, "iterations": self.iterations, "window": self.window,
                "regularization": self.regularization}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrameInput(keras.layers.Layer):
    """uint8 frames -> float in [-1, 1]."""

    def call(self, frames):
        return ops.cast(frames, "float32") / 127.5 - 1.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class TemporalConvolution(keras.layers.Layer):
    """The convolution of early and slow fusion (Karpathy et al. 2014, 3.1): filters of temporal
    extent ``extent`` and spatial size ``kernel_size`` moved over time with ``temporal_stride``
    (no padding in time) and over space with ``strides`` (symmetric zero padding of
    ``(kernel_size - 1) // 2``): [N, T, H, W, C] -> [N, T', H', W', filters], T' = (T - extent) //
    temporal_stride + 1.

    The same maths as ``keras.layers.Conv3D`` (the same number of weights, an extent x k x k x C
    filter per output map), computed as one ``Conv2D`` over the clip's T' time windows, each with
    its ``extent`` frames stacked in the channels: on a CPU TensorFlow's Conv3D kernels took 3-10
    times as long for the tiny early and slow fusion networks' training steps.
    """

    def __init__(self, filters, extent, kernel_size, temporal_stride=1, strides=1, activation=None,
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.extent, self.kernel_size = int(filters), int(extent), int(kernel_size)
        self.temporal_stride, self.strides = int(temporal_stride), int(strides)
        self.activation = keras.activations.get(activation)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, strides=self.strides, padding="valid",
                                        activation=self.activation, kernel_regularizer=self.kernel_regularizer,
                                        dtype=self.dtype_policy, name="conv")

    def _windows(self, time):
        return (time - self.extent) // self.temporal_stride + 1

    def build(self, input_shape):
        t, h, w, c = input_shape[1:]
        if t is None or t < self.extent:
            raise ValueError(f"{self.name}: {t} frames, fewer than the temporal extent {self.extent}")
        pad = 2 * ((self.kernel_size - 1) // 2)
        self.conv.build((None, h + pad, w + pad, self.extent * c))

    def call(self, x):
        t, h, w, c = x.shape[1:]
        n, k = self._windows(t), self.extent
        # [N, T', extent, H, W, C] -> [N * T', H, W, extent * C]
        windows = ops.stack([x[:, j * self.temporal_stride:j * self.temporal_stride + k] for j in range(n)], axis=1)
        windows = ops.transpose(windows, (0, 1, 3, 4, 2, 5))
        windows = ops.reshape(windows, (-1, h, w, k * c))
        p = (self.kernel_size - 1) // 2
        if p:
            windows = ops.pad(windows, ((0, 0), (p, p), (p, p), (0, 0)))
        y = self.conv(windows)
        return ops.reshape(y, (-1, n, *y.shape[1:]))

    def compute_output_shape(self, input_shape):
        t, h, w, _ = input_shape[1:]
        p = (self.kernel_size - 1) // 2
        out = [None if d is None else (d + 2 * p - self.kernel_size) // self.strides + 1 for d in (h, w)]
        return (input_shape[0], self._windows(t), *out, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "extent": self.extent,
                "kernel_size": self.kernel_size, "temporal_stride": self.temporal_stride, "strides": self.strides,
                "activation": keras.activations.serialize(self.activation),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}
