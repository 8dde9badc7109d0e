"""The fully connected CRF (Krähenbühl and Koltun 2011) as DeepLab uses it, in TensorFlow ops (so it
runs inside an export): mean-field inference over every pair of pixels with a Potts model,

    E(x) = sum_i psi_u(x_i) + sum_{i<j} [x_i != x_j] (w1 exp(-|p_i-p_j|^2 / 2 theta_alpha^2
                                                              - |I_i-I_j|^2 / 2 theta_beta^2)
                                                     + w2 exp(-|p_i-p_j|^2 / 2 theta_gamma^2)),

psi_u = -log P(x_i) from the network. Each iteration: Q~_i(l) = sum_{j != i} k(f_i, f_j) Q_j(l) per
kernel, then Q_i(l) ~ exp(log P_i(l) + sum_m w_m Q~_m,i(l)) (the Potts compatibility reduces to
rewarding the labels the neighbours hold).

Hand-written: no Keras or TensorFlow library has a dense CRF (DeepLab's is C++ outside the graph).
The messages are computed two ways. ``downsample`` 1 is exact: every pair, in chunks of query
pixels (N^2 work: the reference, and fine for small images). ``downsample`` d > 1 is the fast
approximation: the appearance kernel's keys are d x d blocks of pixels (their mean position and
colour, their summed Q) while every pixel stays a query, so the work is N^2 / d^2; the smoothness
kernel (theta_gamma 1 pixel) is an exact separable Gaussian blur. ``auto_downsample`` picks d so
that at most 4,096 keys remain (exact up to 64 x 64 pixels).
"""
import dataclasses
import math

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class CRFParams:
    """DeepLab's settings (v1/v2, cross-validated on VOC val): w1 4, theta_alpha 67, theta_beta 3,
    w2 3, theta_gamma 1, 10 mean-field iterations; ``max_keys``: the appearance keys the fast
    approximation keeps (``auto_downsample``)."""

    w_appearance: float = 4.0
    theta_alpha: float = 67.0
    theta_beta: float = 3.0
    w_smoothness: float = 3.0
    theta_gamma: float = 1.0
    iterations: int = 10
    max_keys: int = 4096

    @classmethod
    def parse(cls, settings):
        """CRFParams from ["theta_beta=10", "iterations=5", ...]; an unknown name or a bad value is a
        ValueError naming it."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        values = {}
        for item in settings or ():
            name, _, value = item.partition("=")
            if name not in fields:
                raise ValueError(f"--crf-settings {item}: unknown setting {name!r} (one of {', '.join(fields)})")
            try:
                values[name] = int(value) if fields[name] in (int, "int") else float(value)
            except ValueError:
                raise ValueError(f"--crf-settings {item}: {value!r} is not a number") from None
            if values[name] <= 0:
                raise ValueError(f"--crf-settings {item}: must be > 0")
        return cls(**values)


def auto_downsample(height, width, keys=4096):  # noqa: D103 - see the module docstring
    """The smallest block side leaving at most ``keys`` appearance keys (1: exact)."""
    return max(1, math.ceil(math.sqrt(height * width / keys)))


def _positions(height, width):
    ys, xs = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    return tf.stack([ys, xs], -1)


def _gaussian_messages(queries, keys, values, chunk=4096):
    """sum_j exp(-|q_i - k_j|^2 / 2) v_j for every query row: queries [N, F], keys [M, F], values [M, C]."""
    n = tf.shape(queries)[0]
    pad = (-n) % chunk
    blocks = tf.reshape(tf.pad(queries, [[0, pad], [0, 0]]), [-1, chunk, queries.shape[-1]])
    key_norms = tf.reduce_sum(tf.square(keys), -1)

    def one(block):
        d2 = tf.reduce_sum(tf.square(block), -1, keepdims=True) + key_norms[tf.newaxis] - 2.0 * tf.matmul(
            block, keys, transpose_b=True)
        return tf.matmul(tf.exp(-0.5 * tf.maximum(d2, 0.0)), values)

    out = tf.map_fn(one, blocks, fn_output_signature=tf.TensorSpec([chunk, values.shape[-1]], tf.float32))
    return tf.reshape(out, [-1, values.shape[-1]])[:n]


def _block_sums(x, d):
    """Sums over d x d blocks of x [H, W, C] (zero-padded up to multiples of d) -> [H/d, W/d, C]."""
    h, w = tf.shape(x)[0], tf.shape(x)[1]
    x = tf.pad(x, [[0, (-h) % d], [0, (-w) % d], [0, 0]])
    return tf.nn.avg_pool2d(x[tf.newaxis], d, d, "VALID")[0] * float(d * d)


def appearance_messages(image, q, theta_alpha, theta_beta, downsample=1):
    """sum_{j != i} exp(-|p_i-p_j|^2 / 2 theta_alpha^2 - |I_i-I_j|^2 / 2 theta_beta^2) Q_j: image [H, W, 3]
    float, q [H, W, C]; exact at ``downsample`` 1, over d x d blocks as keys otherwise."""
    h, w = tf.shape(q)[0], tf.shape(q)[1]
    feats = tf.concat([_positions(h, w) / theta_alpha, tf.cast(image, tf.float32) / theta_beta], -1)
    queries = tf.reshape(feats, [-1, 5])
    if downsample == 1:
        keys, values = queries, tf.reshape(q, [-1, q.shape[-1]])
    else:
        counts = _block_sums(tf.ones([h, w, 1]), downsample)
        keys = tf.reshape(_block_sums(feats, downsample) / tf.maximum(counts, 1.0), [-1, 5])
        values = tf.reshape(_block_sums(q, downsample), [-1, q.shape[-1]])  # empty blocks sum to 0
    messages = _gaussian_messages(queries, keys, values)
    return tf.reshape(messages, tf.shape(q)) - q  # without the pixel itself (k_ii = 1)


def smoothness_messages(q, theta_gamma, exact=False):
    """sum_{j != i} exp(-|p_i-p_j|^2 / 2 theta_gamma^2) Q_j: a separable Gaussian blur (4 sigma wide),
    or every pair (``exact``)."""
    if exact:
        h, w = tf.shape(q)[0], tf.shape(q)[1]
        positions = tf.reshape(_positions(h, w) / theta_gamma, [-1, 2])
        flat = _gaussian_messages(positions, positions, tf.reshape(q, [-1, q.shape[-1]]))
        return tf.reshape(flat, tf.shape(q)) - q
    radius = max(1, int(math.ceil(4 * theta_gamma)))
    taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1, dtype=tf.float32) / theta_gamma))
    channels = q.shape[-1]
    x = q[tf.newaxis]
    x = tf.nn.depthwise_conv2d(x, tf.tile(taps[:, None, None, None], [1, 1, channels, 1]), [1] * 4, "SAME")
    x = tf.nn.depthwise_conv2d(x, tf.tile(taps[None, :, None, None], [1, 1, channels, 1]), [1] * 4, "SAME")
    return x[0] - q


def mean_field(probabilities, image, params=CRFParams(), downsample=None, exact_smoothness=False):
    """(refined probabilities [H, W, C], free energies [iterations + 1]) of one image: the network's
    ``probabilities`` [H, W, C] and the ``image`` [H, W, 3] (0..255). ``downsample``: see the module
    docstring (None: ``auto_downsample``). The free energy is the mean-field objective
    KL(Q || P) up to a constant: sum Q (psi_u + log Q) - 1/2 sum_i Q_i . (w1 Q~1_i + w2 Q~2_i)."""
    probabilities = tf.cast(probabilities, tf.float32)
    if downsample is None:
        if probabilities.shape[0] is None or probabilities.shape[1] is None:
            raise ValueError("the CRF's block size needs the image size known when the graph is built")
        downsample = auto_downsample(probabilities.shape[0], probabilities.shape[1], params.max_keys)
    unary = tf.math.log(tf.maximum(probabilities, 1e-8))
    q = tf.nn.softmax(unary)

    def pairwise(q):
        return (params.w_appearance * appearance_messages(image, q, params.theta_alpha, params.theta_beta, downsample)
                + params.w_smoothness * smoothness_messages(q, params.theta_gamma, exact_smoothness))

    def energy(q, messages):
        return (tf.reduce_sum(q * (tf.math.log(tf.maximum(q, 1e-12)) - unary))
                - 0.5 * tf.reduce_sum(q * messages))

    energies = []
    for _ in range(params.iterations):
        messages = pairwise(q)
        energies.append(energy(q, messages))
        q = tf.nn.softmax(unary + messages)
    energies.append(energy(q, pairwise(q)))
    return q, tf.stack(energies)


def dense_crf(probabilities, images, params=CRFParams(), downsample=None):
    """``mean_field`` over a batch: probabilities [N, H, W, C], images [N, H, W, 3] -> refined [N, H, W, C]."""
    return tf.map_fn(lambda args: mean_field(args[0], args[1], params, downsample)[0],
                     (tf.cast(probabilities, tf.float32), tf.cast(images, tf.float32)),
                     fn_output_signature=tf.TensorSpec(probabilities.shape[1:], tf.float32))
