"""Recurrent and mixing layers of the language-model lineage (ELMo, Peters et al. 2018).

Keras has LSTMs but none with a projection of its output (Sak et al. 2014's LSTMP, the cell ELMo's
biLM uses, with its cell and projection clipping), no highway layer (Srivastava et al. 2015, after
ELMo's character CNN), no masked sequence reversal for a backward language model over padded
batches, and no scalar mix of a network's layers (ELMo's task-specific weighting): they are written
here, each from its paper.
"""
import keras
import tensorflow as tf
from keras import ops

PACKAGE = "suite.lm"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Highway(keras.layers.Layer):
    """y = t * relu(x W_h + b_h) + (1 - t) * x with the transform gate t = sigmoid(x W_t + b_t);
    ``gate_bias`` (-2, as Srivastava et al. and ELMo's character encoder) starts it carrying x
    through."""

    def __init__(self, gate_bias=-2.0, **kwargs):
        super().__init__(**kwargs)
        self.gate_bias = float(gate_bias)

    def build(self, input_shape):
        dim = input_shape[-1]
        self.transform = keras.layers.Dense(dim, activation="relu", dtype=self.dtype_policy, name="transform")
        self.gate = keras.layers.Dense(dim, activation="sigmoid", dtype=self.dtype_policy, name="gate",
                                       bias_initializer=keras.initializers.Constant(self.gate_bias))
        self.transform.build(input_shape)
        self.gate.build(input_shape)

    def call(self, x):
        t = self.gate(x)
        return t * self.transform(x) + (1.0 - t) * x

    def get_config(self):
        return {**super().get_config(), "gate_bias": self.gate_bias}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMPCell(keras.layers.Layer):
    """An LSTM cell whose output is projected (Sak et al. 2014): gates from [x; r_{t-1}], the memory
    c_t = f * c_{t-1} + i * g clipped to +-``cell_clip``, r_t = (o * tanh(c_t)) W_p clipped to
    +-``projection_clip``; the state is (r, c) and the output r. ELMo's biLM: 4,096 units projected
    to 512, both clips 3. The forget gate's bias starts at 1. For ``keras.layers.RNN``."""

    def __init__(self, units, projection, cell_clip=None, projection_clip=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.projection = int(units), int(projection)
        self.cell_clip, self.projection_clip = cell_clip, projection_clip
        self.state_size = [self.projection, self.units]
        self.output_size = self.projection

    def build(self, input_shape):
        dim = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(dim + self.projection, 4 * self.units),
                                      initializer="glorot_uniform")
        forget = keras.initializers.Constant(
            [0.0] * self.units + [1.0] * self.units + [0.0] * 2 * self.units)  # gates i, f, g, o
        self.bias = self.add_weight(name="bias", shape=(4 * self.units,), initializer=forget)
        self.projection_kernel = self.add_weight(name="projection_kernel", shape=(self.units, self.projection),
                                                 initializer="glorot_uniform")

    def call(self, inputs, states, training=False):
        r, c = states
        z = ops.matmul(ops.concatenate([inputs, r], -1), ops.cast(self.kernel, inputs.dtype))
        i, f, g, o = ops.split(z + ops.cast(self.bias, inputs.dtype), 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        if self.cell_clip:
            c = ops.clip(c, -self.cell_clip, self.cell_clip)
        r = ops.matmul(ops.sigmoid(o) * ops.tanh(c), ops.cast(self.projection_kernel, inputs.dtype))
        if self.projection_clip:
            r = ops.clip(r, -self.projection_clip, self.projection_clip)
        return r, [r, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "projection": self.projection,
                "cell_clip": self.cell_clip, "projection_clip": self.projection_clip}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReverseSequence(keras.layers.Layer):
    """(x [B, T, ...], mask [B, T]) -> x with each row's first ``sum(mask)`` steps reversed and its
    padding left at the end (``tf.reverse_sequence``): a backward language model reads a padded batch
    right to left from each sentence's last token. Applied twice it is the identity."""

    def call(self, x, mask):
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        return tf.reverse_sequence(x, lengths, seq_axis=1, batch_axis=0)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScalarMix(keras.layers.Layer):
    """ELMo's task-specific combination of a network's L layers (Peters et al. 2018, eq. 1):
    [B, T, L, D] -> gamma * sum_j softmax(s)_j h_j [B, T, D]; s starts at zero (the mean of the
    layers) and gamma at 1."""

    def build(self, input_shape):
        self.scalars = self.add_weight(name="scalars", shape=(input_shape[-2],), initializer="zeros")
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="ones")

    def call(self, layers):
        w = ops.cast(ops.softmax(self.scalars), layers.dtype)
        return ops.cast(self.gamma, layers.dtype) * ops.einsum("btld,l->btd", layers, w)
