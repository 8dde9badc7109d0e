"""Custom layers of the video topic (Karpathy et al. 2014; Simonyan and Zisserman 2014).

Keras 3 has no local response normalization (the "N" layers of both papers'
networks; ``tf.nn.local_response_normalization`` has no Keras layer), and no
layer that turns the two-stream paper's byte-quantised optical flow back into
displacements with its mean subtracted (the paper's camera-motion
compensation).
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
