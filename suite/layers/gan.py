"""Custom layers of the GAN topic (Karras et al. 2018, "Progressive Growing of GANs").

Keras, keras-hub and keras-cv have none of these: equalized learning rate
needs the weight scaled at run time (not at initialisation), pixelwise
feature normalization is not LayerNormalization (no centring, over channels
only, no learned scale), minibatch standard deviation and the fade-in blend
have no counterpart at all.
"""
import math

import keras
from keras import ops

PACKAGE = "suite.gan"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelNormalization(keras.layers.Layer):
    """Normalizes each pixel's feature vector to unit mean square (paper, 4.2).

    ``b = a / sqrt(mean_j(a_j^2) + epsilon)`` over the last (channel) axis.
    """

    def __init__(self, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x):
        return x * ops.rsqrt(ops.mean(ops.square(x), axis=-1, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchStdDev(keras.layers.Layer):
    """Appends one feature map holding the minibatch standard deviation (paper, 3).

    The batch is split into groups of ``group_size`` (the batch size must be
    divisible by it, or smaller); within each group the standard deviation of
    every feature at every position is computed, averaged to one number per
    group, and that number is broadcast as an extra channel to the group's
    members. Groups are consecutive samples (the official implementation takes
    them with a stride, which is the same statistic over a shuffled batch): a
    batch split over replicas in multiples of the group keeps every group
    whole, so the statistic is the same on any number of replicas.
    """

    def __init__(self, group_size=4, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        self.group_size = group_size
        self.epsilon = epsilon

    def call(self, x):
        shape = ops.shape(x)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        g = ops.minimum(self.group_size, n)
        y = ops.reshape(x, (-1, g, h, w, c))  # [M, G, H, W, C]
        y = ops.cast(y, "float32")
        y = y - ops.mean(y, axis=1, keepdims=True)
        y = ops.sqrt(ops.mean(ops.square(y), axis=1) + self.epsilon)  # [M, H, W, C]
        y = ops.mean(y, axis=(1, 2, 3))  # [M]
        y = ops.cast(y, x.dtype)
        y = ops.repeat(ops.reshape(y, (-1, 1, 1, 1)), g, axis=0)  # each group's members, in order
        y = ops.tile(y, (1, h, w, 1))  # [N, H, W, 1]
        return ops.concatenate([x, y], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "epsilon": self.epsilon}


class _Equalized(keras.layers.Layer):
    """Weights drawn N(0, 1) and multiplied at run time by ``gain / sqrt(fan_in)``.

    With the He constant applied in the forward pass rather than at
    initialisation, every weight has the same dynamic range, so Adam's
    per-parameter normalisation gives every layer the same learning speed
    (paper, 4.1).
    """

    def __init__(self, gain=math.sqrt(2.0), use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.gain = float(gain)
        self.use_bias = use_bias

    def _make(self, kernel_shape, fan_in, units):
        self.kernel = self.add_weight(
            shape=kernel_shape, initializer=keras.initializers.RandomNormal(0.0, 1.0), name="kernel"
        )
        self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias") if self.use_bias else None
        self.scale = self.gain / math.sqrt(fan_in)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain, "use_bias": self.use_bias}


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedDense(_Equalized):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self._make((fan_in, self.units), fan_in, self.units)

    def call(self, x):
        y = ops.matmul(x, self.kernel * self.scale)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package=PACKAGE)
class EqualizedConv2D(_Equalized):
    def __init__(self, filters, kernel_size, padding="same", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = int(kernel_size)
        self.padding = padding

    def build(self, input_shape):
        cin = int(input_shape[-1])
        k = self.kernel_size
        self._make((k, k, cin, self.filters), k * k * cin, self.filters)

    def call(self, x):
        y = ops.conv(x, self.kernel * self.scale, strides=1, padding=self.padding)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if self.padding == "valid" and h is not None:
            h, w = h - self.kernel_size + 1, w - self.kernel_size + 1
        return (n, h, w, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "padding": self.padding,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class WeightedSum(keras.layers.Layer):
    """Fade-in: ``(1 - alpha) * old + alpha * new`` (paper, Figure 2).

    ``alpha`` is a non-trainable scalar weight that the trainer sets as the
    phase progresses (``set_alpha``); it is saved with the model, and its
    aggregation is ``only_first_replica`` so that it can be assigned inside a
    replica under any ``tf.distribute`` strategy.
    """

    def __init__(self, alpha=0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_alpha = float(alpha)

    def build(self, input_shape):
        self.alpha = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_alpha),
            trainable=False,
            aggregation="only_first_replica",
            name="alpha",
        )

    def call(self, inputs):
        old, new = inputs
        a = ops.cast(self.alpha, old.dtype)
        return old + a * (new - old)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "alpha": self.initial_alpha}


@keras.saving.register_keras_serializable(package=PACKAGE)
class Maxout(keras.layers.Layer):
    """A maxout unit layer (Goodfellow et al. 2013), the discriminator units of the original GAN.

    ``h_i = max_j (x W_ij + b_ij)`` over ``pieces`` affine maps per unit.
    Keras has no maxout (TensorFlow Addons, which had one, is discontinued);
    this is one Dense of ``units * pieces`` outputs and a max over the pieces.
    """

    def __init__(self, units, pieces, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if units < 1 or pieces < 1:
            raise ValueError(f"Maxout needs units >= 1 and pieces >= 1, got {units} and {pieces}")
        self.units, self.pieces = int(units), int(pieces)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.dense = keras.layers.Dense(self.units * self.pieces, kernel_initializer=self.kernel_initializer,
                                        dtype=self.dtype_policy, name="affine")
        self.dense.build(input_shape)

    def call(self, x):
        y = self.dense(x)
        y = ops.reshape(y, (-1, self.units, self.pieces))
        return ops.max(y, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
