"""Segmentation layers: bilinear initialisation of transposed convolutions (FCN), resizing to a
reference map or by a factor (DeepLab's image pooling, multi-scale inputs, logits to the input's
size). Hand-written: Keras has no bilinear kernel initializer, and ``keras.layers.Resizing`` takes a
fixed size, not another tensor's (the networks take images of any size)."""
import keras
import numpy as np
import tensorflow as tf


def bilinear_kernel(factor, channels):
    """[2f - f % 2, same, channels, channels] kernel of a transposed convolution (stride ``factor``)
    that upsamples each channel bilinearly and leaves the channels apart (FCN's ``upsample_filt``)."""
    size = 2 * factor - factor % 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size)
    filt = 1 - np.abs(og - centre) / factor
    kernel = np.zeros((size, size, channels, channels), np.float32)
    for c in range(channels):
        kernel[:, :, c, c] = np.outer(filt, filt)
    return kernel


@keras.saving.register_keras_serializable(package="suite.segmentation")
class BilinearUpsampling(keras.initializers.Initializer):
    """The ``bilinear_kernel`` of ``factor`` for a Conv2DTranspose of kernel 2 x factor."""

    def __init__(self, factor):
        self.factor = int(factor)

    def __call__(self, shape, dtype=None):
        if shape[0] != shape[1] or shape[2] != shape[3] or shape[0] != 2 * self.factor - self.factor % 2:
            raise ValueError(f"a bilinear kernel of factor {self.factor} is {2 * self.factor}x{2 * self.factor} with "
                             f"as many input as output channels, not {tuple(shape)}")
        return tf.constant(bilinear_kernel(self.factor, shape[2]), dtype=dtype or "float32")

    def get_config(self):
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="suite.segmentation")
class ResizeLike(keras.layers.Layer):
    """``x`` resized (bilinear, half-pixel centres) to the height and width of ``reference``."""

    def __init__(self, method="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.method = method

    def call(self, x, reference):
        size = tf.shape(reference)[1:3]  # resized in float32: XLA refuses bfloat16 resize gradients
        return tf.cast(tf.image.resize(tf.cast(x, tf.float32), size, method=self.method), x.dtype)

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])

    def get_config(self):
        return {**super().get_config(), "method": self.method}


@keras.saving.register_keras_serializable(package="suite.segmentation")
class Rescale(keras.layers.Layer):
    """Images resized by ``scale`` (bilinear, at least one pixel): DeepLab v2's multi-scale inputs."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        size = tf.maximum(tf.cast(tf.round(tf.cast(tf.shape(x)[1:3], tf.float32) * self.scale), tf.int32), 1)
        return tf.cast(tf.image.resize(tf.cast(x, tf.float32), size, method="bilinear"), x.dtype)

    def compute_output_shape(self, shape):
        return (shape[0], None, None, shape[3])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="suite.segmentation")
class CropLike(keras.layers.Layer):
    """``x`` cropped at its bottom and right to the height and width of ``reference``: FCN's crop. With
    'same' padding a stride-s map of an input that s does not divide has one extra cell at the end,
    so its upsampling is aligned with the finer map from the top left and overhangs only there."""

    def call(self, x, reference):
        size = tf.shape(reference)[1:3]
        return x[:, :size[0], :size[1]]

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])
