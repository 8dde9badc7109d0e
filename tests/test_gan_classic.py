"""GAN, DCGAN, WGAN and WGAN-GP: the papers' architectures and hyper-parameters, and the one
training step they share with PGGAN."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.gan import classic
from suite.gan.gan import GAN
from suite.gan.losses import minimax_discriminator_loss, nonsaturating_generator_loss, wgan_gp_discriminator_loss
from suite.layers import Maxout


def _layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("variant", classic.VARIANTS)
@pytest.mark.parametrize("preset, resolution", [("tiny", 16), ("small", 32), ("paper", 64)])
def test_every_variant_builds_at_every_preset(variant, preset, resolution):
    c = classic.get_config(variant, preset)
    g, d = classic.build_generator(c), classic.build_discriminator(c)
    z = tf.random.normal([2, c.latent_dim])
    images = g(z)
    assert images.shape == (2, resolution, resolution, 3) and images.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0  # tanh output
    assert d(images).shape == (2, 1)


def test_dcgan_is_all_convolutional_with_the_papers_layers():
    c = classic.get_config("dcgan", "paper")
    g, d = classic.build_generator(c), classic.build_discriminator(c)
    # G: one projection (a matrix multiply, reshaped to 4x4x1024), then 5x5 stride-2 transposed convolutions
    assert _layer_types(g).count("Dense") == 1 and g.get_layer("project").output.shape[-1] == 4 * 4 * 1024
    deconvs = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.filters for layer in deconvs] == [512, 256, 128, 3]
    assert all(layer.kernel_size == (5, 5) and layer.strides == (2, 2) for layer in deconvs)
    assert _layer_types(g).count("BatchNormalization") == 4  # every layer but the output
    assert _layer_types(g).count("ReLU") == 4 and g.layers[-1].activation.__name__ == "tanh"
    # D: strided convolutions, no pooling, no hidden fully connected layer, BN except on the first layer
    convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [128, 256, 512, 1024]
    assert all(layer.strides == (2, 2) for layer in convs)
    assert not any("Pooling" in t for t in _layer_types(d))
    assert _layer_types(d).count("Dense") == 1 and _layer_types(d).count("BatchNormalization") == 3
    assert _layer_types(d).count("LeakyReLU") == 4
    assert all(layer.negative_slope == pytest.approx(0.2) for layer in d.layers
               if isinstance(layer, keras.layers.LeakyReLU))
    # paper sizes: 64x64 images, about 18.9M + 17.2M parameters with these widths
    assert g.count_params() == 18_858_883 and d.count_params() == 17_236_481


def test_wgan_gp_critic_has_no_batch_norm_and_wgan_keeps_dcgan_networks():
    gp = classic.get_config("wgan_gp", "small")
    assert "BatchNormalization" not in _layer_types(classic.build_discriminator(gp))
    layer_norm = classic.get_config("wgan_gp", "small", critic_norm="layer")
    assert "LayerNormalization" in _layer_types(classic.build_discriminator(layer_norm))
    w = classic.get_config("wgan", "small")
    assert _layer_types(classic.build_discriminator(w)) == _layer_types(
        classic.build_discriminator(classic.get_config("dcgan", "small")))


def test_mlp_gan_has_maxout_discriminator_and_relu_generator():
    c = classic.get_config("gan", "paper")
    g, d = classic.build_generator(c), classic.build_discriminator(c)
    assert [layer.units for layer in g.layers if isinstance(layer, keras.layers.Dense)] == [1200, 1200, 64 * 64 * 3]
    assert [(layer.units, layer.pieces) for layer in d.layers if isinstance(layer, Maxout)] == [(240, 5), (240, 5)]
    assert _layer_types(d).count("Dropout") == 3
    assert not any(isinstance(layer, keras.layers.Conv2D) for layer in g.layers + d.layers)


def test_each_variant_has_its_papers_training_hyper_parameters():
    """Read back from the optimizers the recipes build, not from the configs that name them."""
    built = {v: classic.make_optimizers(classic.get_config(v)) for v in classic.VARIANTS}

    def read(opt):
        out = {"kind": type(opt).__name__, "lr": float(opt.learning_rate)}
        for name in ("beta_1", "beta_2", "rho"):
            if hasattr(opt, name):
                out[name] = float(getattr(opt, name))
        return out

    for variant, (g_opt, d_opt) in built.items():
        assert g_opt is not d_opt and read(g_opt) == read(d_opt), variant
    assert read(built["gan"][0]) == read(built["dcgan"][0]) == pytest.approx(
        {"kind": "Adam", "lr": 2e-4, "beta_1": 0.5, "beta_2": 0.999})
    assert read(built["wgan"][0]) == pytest.approx({"kind": "RMSprop", "lr": 5e-5, "rho": 0.9})
    assert read(built["wgan_gp"][0]) == pytest.approx({"kind": "Adam", "lr": 1e-4, "beta_1": 0.0, "beta_2": 0.9})
    dcgan, wgan, gp = (classic.get_config(v) for v in ("dcgan", "wgan", "wgan_gp"))
    assert (dcgan.d_steps, wgan.d_steps, wgan.clip_value, gp.d_steps, gp.gp_weight, gp.clip_value) == (
        1, 5, 0.01, 5, 10.0, None)
    assert classic.get_config("gan").g_loss == dcgan.g_loss == "nonsaturating"
    assert wgan.g_loss == gp.g_loss == "wasserstein"
    assert classic.discriminator_loss(dcgan) is minimax_discriminator_loss
    assert classic.G_LOSSES[dcgan.g_loss] is nonsaturating_generator_loss
    g_opt, _ = classic.make_optimizers(gp, "mixed_float16")
    assert isinstance(g_opt, keras.optimizers.LossScaleOptimizer)
    assert float(g_opt.inner_optimizer.beta_2) == pytest.approx(0.9)
    assert classic.get_config("dcgan", "paper").batch_size == 128 and classic.get_config("wgan", "paper").batch_size == 64


@pytest.mark.parametrize("overrides, message", [
    (dict(gp_weight=-1.0), "gradient penalty weight must be >= 0"),
    (dict(resolution=12), "not a power of two"),
    (dict(resolution=4), "not a power of two >= 8"),
    (dict(critic_norm="group"), "unknown critic normalisation"),
    (dict(clip_value=0.0), "clip value must be > 0"),
    (dict(latent_dim=0), "latent_dim must be a positive integer"),
])
def test_config_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        classic.get_config("wgan_gp" if "gp_weight" in overrides else "wgan", "tiny", **overrides)


def test_gradient_penalty_refuses_a_batch_normalised_critic():
    with pytest.raises(ValueError, match="must not use batch normalisation"):
        classic.get_config("wgan", "tiny", gp_weight=10.0)
    with pytest.raises(ValueError, match="unknown GAN variant 'bigan'"):
        classic.get_config("bigan")
    with pytest.raises(ValueError, match="unknown preset"):
        classic.get_config("gan", "huge")


def test_wgan_gp_loss_adds_the_penalty_of_a_linear_critic():
    # D(x) = <w, x> with |w| = 3: gradient norm 3 everywhere, penalty (3 - 1)^2 = 4 per example
    w = np.zeros((2, 2, 1), "float32")
    w[0, 0, 0] = 3.0

    def critic(x, training=False):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]

    reals, fakes = tf.random.normal([4, 2, 2, 1]), tf.random.normal([4, 2, 2, 1])
    real, fake = critic(reals), critic(fakes)
    loss = wgan_gp_discriminator_loss(10.0)(critic, reals, fakes, real, fake)
    np.testing.assert_allclose(loss, (fake - real)[:, 0] + 10.0 * 4.0, rtol=1e-5)


def test_critic_steps_use_their_own_slices_of_the_batch():
    seen = []

    class Recorder(keras.layers.Layer):
        def call(self, x):
            return x

    z = keras.Input((2,))
    g = keras.Model(z, keras.layers.Reshape((1, 1, 2))(keras.layers.Dense(2)(z)))
    x = keras.Input((1, 1, 2))
    d = keras.Model(x, keras.layers.Dense(1)(keras.layers.Flatten()(Recorder()(x))))

    def d_loss(critic, reals, fakes, real_scores, fake_scores, scale=None, seeds=None, step=None):
        seen.append(reals)
        return tf.reshape(fake_scores - real_scores, [-1])

    gan = GAN(g, d, latent_dim=2, d_loss=d_loss, g_loss=lambda s: -tf.reshape(s, [-1]), d_steps=3)
    gan.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    reals = tf.reshape(tf.range(12, dtype=tf.float32), [6, 1, 1, 2])
    logs = gan.train_step(reals)
    # critic step k takes examples k, k + 3 (every d_steps-th): two replicas holding examples 0-2 and
    # 3-5 each give step k one example of the same pair
    assert len(seen) == 3 and [int(r.shape[0]) for r in seen] == [2, 2, 2]
    for k in range(3):
        np.testing.assert_array_equal(seen[k], tf.gather(reals, [k, k + 3]))
    assert set(logs) == {"d_loss", "g_loss", "real_score", "fake_score"}


def test_epochs_are_stages_of_the_presets_length():
    stages = classic.epochs(classic.get_config("dcgan", "tiny"))
    assert [s.name for s in stages] == [f"epoch {i}" for i in range(1, 5)]
    assert {s.steps for s in stages} == {50}
    assert len(classic.epochs(classic.get_config("dcgan", "tiny"), steps_per_epoch=7, count=2)) == 2


def test_the_moving_average_generator_copies_batch_norm_statistics():
    """The EMA generator samples in inference mode, so it needs the generator's batch-norm
    statistics (copied every step), not the ones it was built with (mean 0, variance 1)."""
    config = classic.get_config("dcgan", "tiny")
    gan = classic.build_gan(config)
    gan.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4))
    reals = tf.random.stateless_uniform([8, 16, 16, 3], [1, 2], -1.0, 1.0)
    for step in range(2):
        gan.train_step(reals, step)
        gan.after_step()
    moving = [v for v in gan.ema_generator.non_trainable_variables if "moving_mean" in v.path]
    assert moving and all(np.any(v.numpy() != 0) for v in moving)
    for e, v in zip(gan.ema_generator.non_trainable_variables, gan.generator.non_trainable_variables):
        np.testing.assert_array_equal(e.numpy(), v.numpy())
