"""Custom layers of the video topic (Karpathy et al. 2014; Simonyan and Zisserman 2014).

Keras 3 has no local response normalization (the "N" layers of both papers'
networks; ``tf.nn.local_response_normalization`` has no Keras layer), and no
layer that turns the two-stream paper's byte-quantised optical flow back into
displacements with its mean subtracted (the paper's camera-motion
compensation). ``TemporalConvolution`` is the 3-D convolution of early and
slow fusion computed as a 2-D one: Keras' ``Conv3D`` is the same maths but
TensorFlow's CPU kernels for it are slow (measured on the tiny slow-fusion
network: see the layer).
"""
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
    """Stacked flow as bytes (``suite.data.video.quantize_flow``: 127.5 is no motion) -> float
    displacements in units of the quantisation bound, each field's mean subtracted (the paper's
    mean flow subtraction, a cheap compensation of camera motion)."""

    def call(self, q):
        flow = (ops.cast(q, "float32") - 127.5) / 127.5
        return flow - ops.mean(flow, axis=(1, 2), keepdims=True)


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
