import math

import keras
import numpy as np
import pytest

from suite.layers import EqualizedConv2D, EqualizedDense, Maxout, MinibatchStdDev, PixelNormalization, WeightedSum


def roundtrip(layer, x):
    """Same config -> same layer: rebuilt from get_config, given the weights, gives the same output."""
    y = np.asarray(layer(x))
    config = keras.layers.serialize(layer)
    clone = keras.layers.deserialize(config)
    assert type(clone) is type(layer)
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), y, rtol=1e-5, atol=1e-6)


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = np.random.default_rng(0).normal(0, 3, (2, 5, 5, 8)).astype("float32")
    y = np.asarray(PixelNormalization()(x))
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-4)
    # the direction of each feature vector is kept
    np.testing.assert_allclose(y[0, 0, 0] / np.linalg.norm(y[0, 0, 0]), x[0, 0, 0] / np.linalg.norm(x[0, 0, 0]), rtol=1e-5)
    roundtrip(PixelNormalization(epsilon=1e-6), x)


def test_minibatch_stddev_adds_one_channel_with_group_std():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 3, 2)).astype("float32")
    y = np.asarray(MinibatchStdDev(group_size=4)(x))
    assert y.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(y[..., :2], x)
    # groups are consecutive samples: group m holds samples 4m .. 4m+3
    for m in range(2):
        members = x[4 * m:4 * m + 4]
        expected = np.mean(np.sqrt(np.var(members, axis=0) + 1e-8))
        for n in range(4 * m, 4 * m + 4):
            np.testing.assert_allclose(y[n, ..., 2], expected, rtol=1e-5)
    # so a batch split in two (two replicas) gives each half what the whole batch gives it
    np.testing.assert_array_equal(np.asarray(MinibatchStdDev(group_size=4)(x[4:]))[..., 2], y[4:, ..., 2])
    # a batch of identical samples has zero spread
    same = np.repeat(x[:1], 4, axis=0)
    np.testing.assert_allclose(np.asarray(MinibatchStdDev(4)(same))[..., 2], 1e-4, atol=1e-4)
    roundtrip(MinibatchStdDev(group_size=2), x)


def test_minibatch_stddev_smaller_batch_than_group():
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype("float32")
    y = np.asarray(MinibatchStdDev(group_size=4)(x))
    expected = np.mean(np.sqrt(np.var(x, axis=0) + 1e-8))
    np.testing.assert_allclose(y[..., 3], expected, rtol=1e-5)


def test_equalized_dense_scales_by_he_constant():
    layer = EqualizedDense(3, gain=math.sqrt(2.0))
    x = np.random.default_rng(3).normal(size=(4, 10)).astype("float32")
    y = np.asarray(layer(x))
    w, b = layer.get_weights()
    np.testing.assert_allclose(y, x @ (w * math.sqrt(2.0 / 10)) + b, rtol=1e-5, atol=1e-6)
    assert abs(w.std() - 1.0) < 0.5  # stored N(0, 1), not pre-scaled
    roundtrip(layer, x)


def test_equalized_dense_stores_unit_normal_weights():
    layer = EqualizedDense(256)
    layer.build((None, 512))
    w = layer.get_weights()[0]
    assert abs(w.std() - 1.0) < 0.01 and abs(w.mean()) < 0.01


def test_equalized_conv_scales_by_he_constant():
    layer = EqualizedConv2D(4, 3, gain=1.0)
    x = np.random.default_rng(4).normal(size=(2, 6, 6, 5)).astype("float32")
    y = np.asarray(layer(x))
    w, b = layer.get_weights()
    ref = keras.layers.Conv2D(4, 3, padding="same")
    ref.build(x.shape)
    ref.set_weights([w / math.sqrt(3 * 3 * 5), b])
    np.testing.assert_allclose(y, np.asarray(ref(x)), rtol=1e-4, atol=1e-5)
    valid = EqualizedConv2D(2, 4, padding="valid")
    assert valid(np.zeros((1, 4, 4, 3), "float32")).shape == (1, 1, 1, 2)
    roundtrip(layer, x)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_weighted_sum_blends_old_and_new(alpha):
    old = np.full((2, 2, 2, 3), 2.0, "float32")
    new = np.full((2, 2, 2, 3), 6.0, "float32")
    layer = WeightedSum()
    layer([old, new])
    layer.alpha.assign(alpha)
    np.testing.assert_allclose(np.asarray(layer([old, new])), 2.0 + alpha * 4.0)
    roundtrip(layer, [old, new])


def test_maxout_takes_the_max_of_its_pieces():
    layer = Maxout(3, 4)
    x = np.random.default_rng(5).normal(size=(5, 7)).astype("float32")
    y = np.asarray(layer(x))
    w, b = layer.get_weights()
    assert w.shape == (7, 12) and y.shape == (5, 3)
    affine = (x @ w + b).reshape(5, 3, 4)
    np.testing.assert_allclose(y, affine.max(axis=-1), rtol=1e-5, atol=1e-6)
    roundtrip(layer, x)
    with pytest.raises(ValueError, match="pieces >= 1"):
        Maxout(3, 0)
