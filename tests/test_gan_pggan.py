import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf

from suite.data import DataError
from suite.gan import pggan
from suite.gan.losses import gradient_penalty, wgan_generator_loss, wgan_gp_discriminator_loss
from suite.gan.metrics import laplacian_pyramid, sliced_wasserstein_distance


@pytest.fixture(scope="module")
def tiny():
    return pggan.get_config("tiny", resolution=16)


def test_builders_shapes_at_every_phase(tiny):
    nets = pggan.PGGANNetworks(tiny)
    z = np.random.default_rng(0).normal(size=(4, tiny.latent_dim)).astype("float32")
    for level in range(tiny.levels):
        r = 4 * 2**level
        for fade in (False, True):
            g = pggan.build_generator(tiny, level, fade, nets)
            d = pggan.build_discriminator(tiny, level, fade, nets)
            assert g.output_shape == (None, r, r, 3)
            images = g(z)
            assert images.shape == (4, r, r, 3) and images.dtype == tf.float32
            assert d(images).shape == (4, 1)


def test_levels_share_weights(tiny):
    nets = pggan.PGGANNetworks(tiny)
    g8 = pggan.build_generator(tiny, 1, False, nets)
    g16 = pggan.build_generator(tiny, 2, True, nets)
    ids8 = {id(v) for v in g8.trainable_variables}
    assert ids8 <= {id(v) for v in g16.trainable_variables}


def test_a_wider_discriminator_changes_only_the_discriminator(tiny):
    wide = dataclasses.replace(tiny, d_fmap_base=2 * tiny.fmap_base)  # tiny: 256 -> 512, at most 128 maps
    assert [wide.nf(s, discriminator=True) for s in range(5)] == [128, 128, 128, 64, 32]
    assert [wide.nf(s) for s in range(5)] == [tiny.nf(s) for s in range(5)] == [128, 128, 64, 32, 16]
    same, wider = pggan.PGGANNetworks(tiny), pggan.PGGANNetworks(wide)
    for level in range(tiny.levels):
        assert wider.from_rgb[level].output_shape[-1] == wide.nf(level + 1, discriminator=True)
        assert [v.shape for v in wider.g_blocks[level].weights] == [v.shape for v in same.g_blocks[level].weights]
    d = pggan.build_discriminator(wide, tiny.levels - 1, True, wider)
    assert d(tf.zeros([4, 16, 16, 3])).shape == (4, 1)
    assert d.count_params() > pggan.build_discriminator(tiny, tiny.levels - 1, True, same).count_params()


def test_paper_preset_has_the_paper_parameter_counts():
    config = pggan.get_config("paper")
    assert config.resolution == 1024 and config.latent_dim == 512
    nets = pggan.PGGANNetworks(config)
    g = pggan.build_generator(config, networks=nets)
    d = pggan.build_discriminator(config, networks=nets)
    # Karras et al. 2018, Table 2: 23.1M trainable parameters in each network
    assert round(g.count_params() / 1e6, 1) == 23.1
    assert round(d.count_params() / 1e6, 1) == 23.1
    assert g.output_shape == (None, 1024, 1024, 3)
    assert [config.nf(s) for s in range(1, 10)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_config_errors():
    with pytest.raises(DataError, match="power of two"):
        pggan.get_config("tiny", resolution=48)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        pggan.get_config("huge")
    with pytest.raises(ValueError, match="unknown PGGAN loss 'hinge'"):
        pggan.get_config("tiny", loss="hinge")


@pytest.mark.parametrize("interval", [1, 4])
def test_the_logistic_r1_loss_trains_a_step(tiny, interval):
    config = pggan.get_config("tiny", resolution=16, loss="logistic-r1", r1_interval=interval)
    gan = pggan.ProgressiveGAN(config)
    gan.compile(*pggan.make_optimizers(config))
    gan.set_level(1, reset=True)
    step = tf.function(gan.train_step)
    for i in range(2):  # step 0 takes the penalty, step 1 (lazily) does not
        logs = step(tf.random.uniform([4, 16, 16, 3], -1, 1, seed=i), step=tf.constant(i, tf.int64), alpha=0.5)
        assert all(np.isfinite(float(v)) for v in logs.values()) and float(logs["d_loss"]) > 0


def test_fade_in_blends_previous_resolution(tiny):
    nets = pggan.PGGANNetworks(tiny)
    g = pggan.build_generator(tiny, 1, True, nets)
    old = pggan.build_generator(tiny, 0, False, nets)
    new = pggan.build_generator(tiny, 1, False, nets)
    z = np.random.default_rng(1).normal(size=(2, tiny.latent_dim)).astype("float32")
    fade = [l for l in g.layers if l.name == "fade_in"][0]
    fade.alpha.assign(0.0)
    np.testing.assert_allclose(g(z), pggan.upscale(old(z), 2), atol=1e-5)
    fade.alpha.assign(1.0)
    np.testing.assert_allclose(g(z), new(z), atol=1e-5)


def test_schedule_and_real_image_fade(tiny):
    phases = pggan.phases(tiny, batch_size=16)
    assert [p[0] for p in phases] == ["4x4 stabilize", "8x8 fade-in", "8x8 stabilize",
                                      "16x16 fade-in", "16x16 stabilize"]
    assert all(p[3] == 200 for p in phases)  # 3200 images / 16
    # the last stabilisation can run longer (the small preset's 80,000 images at 32x32)
    small = pggan.phases(pggan.get_config("small"), batch_size=32)
    assert [p[3] for p in small] == [500] * 6 + [2500] and small[-1][0] == "32x32 stabilize"
    gan = pggan.ProgressiveGAN(tiny)
    gan.set_level(1)
    reals = tf.random.uniform([2, 16, 16, 3], -1, 1)
    low = pggan.upscale(pggan.downscale(pggan.downscale(reals, 2), 2), 2)
    np.testing.assert_allclose(gan.prepare_reals(reals, alpha=0.0), low, atol=1e-6)
    np.testing.assert_allclose(gan.prepare_reals(reals, alpha=1.0), pggan.downscale(reals, 2), atol=1e-6)


def test_optimizer_reset_on_growth_keeps_learning_rate(tiny):
    gan = pggan.ProgressiveGAN(tiny)
    gan.compile(*pggan.make_optimizers(dataclasses.replace(tiny, d_learning_rate_factor=2.0)))
    gan.set_level(0, reset=True)
    gan.train_step(tf.random.uniform([4, 16, 16, 3], -1, 1), alpha=1.0)
    assert int(gan.d_optimizer.iterations) == 1
    gan.set_level(1, reset=True)
    assert int(gan.d_optimizer.iterations) == 0 and int(gan.g_optimizer.iterations) == 0
    assert all(float(tf.reduce_max(tf.abs(v))) == 0 for v in gan.g_optimizer.variables[2:])
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(tiny.learning_rate)
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(2 * tiny.learning_rate)


def test_the_discriminators_rate_is_the_generators_times_its_factor():
    from recipes.pggan import recipe

    assert pggan.get_config("small").d_learning_rate_factor == 2.0  # the two time-scale rule (README, PGGAN)
    assert pggan.get_config("tiny").d_learning_rate_factor == pggan.get_config("paper").d_learning_rate_factor == 1.0
    for flags, rates in (([], (5e-4, 5e-4)), (["--learning-rate", "3e-4", "--d-learning-rate-factor", "4"], (3e-4, 1.2e-3))):
        args = recipe.parse_args(["--preset", "tiny", *flags])
        g, d = pggan.make_optimizers(recipe.configure(types.SimpleNamespace(args=args)))
        assert (float(g.learning_rate), float(d.learning_rate)) == pytest.approx(rates)


class _Linear(tf.Module):
    """A critic with gradient w everywhere: D(x) = <x, w>."""

    def __init__(self, w):
        self.w = tf.constant(w)

    def __call__(self, x, training=False):
        return tf.reduce_sum(x * self.w, axis=[1, 2, 3])[:, None]


def test_gradient_penalty_is_zero_for_unit_gradient_norm():
    w = np.zeros((2, 2, 1), "float32")
    w[0, 0, 0], w[1, 1, 0] = 0.6, 0.8  # |w| = 1
    reals, fakes = tf.random.normal([5, 2, 2, 1]), tf.random.normal([5, 2, 2, 1])
    np.testing.assert_allclose(gradient_penalty(_Linear(w), reals, fakes), 0.0, atol=1e-6)
    np.testing.assert_allclose(gradient_penalty(_Linear(3 * w), reals, fakes), 4.0, rtol=1e-5)


def test_wgan_gp_loss_formula():
    w = np.full((1, 1, 1), 2.0, "float32")  # gradient norm 2 -> penalty 1
    critic = _Linear(w)
    reals, fakes = tf.constant([[[[1.0]]]]), tf.constant([[[[0.5]]]])
    loss = wgan_gp_discriminator_loss(gp_weight=10.0, drift=0.001)(critic, reals, fakes, critic(reals), critic(fakes))
    # D(fake) - D(real) + 10 * 1 + 0.001 * D(real)^2 = 1 - 2 + 10 + 0.004
    np.testing.assert_allclose(loss, [9.004], rtol=1e-6)
    np.testing.assert_allclose(wgan_generator_loss(tf.constant([[1.5], [-2.0]])), [-1.5, 2.0])


def test_laplacian_pyramid_reconstructs():
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    levels = laplacian_pyramid(x, 16)
    assert [l.shape[1] for l in levels] == [32, 16]
    from suite.gan.metrics import _pyr_up

    np.testing.assert_allclose(levels[0] + _pyr_up(levels[1]), x, atol=1e-4)


def test_swd_orders_distributions():
    from suite.data import sample_images

    a = sample_images("shapes", 32, 128, seed=1).numpy()
    b = sample_images("shapes", 32, 128, seed=2).numpy()
    noise = np.random.default_rng(0).uniform(-1, 1, a.shape).astype("float32")
    flat = np.repeat(a[:1], len(a), axis=0)  # mode collapse: one image
    same = sliced_wasserstein_distance(a, b)
    assert set(same["levels"]) == {32, 16}
    assert same["mean"] < 0.5 * sliced_wasserstein_distance(a, noise)["mean"]
    assert same["mean"] < 0.5 * sliced_wasserstein_distance(a, flat)["mean"]
    assert sliced_wasserstein_distance(a, a)["mean"] < same["mean"]  # patches differ, images do not


def test_export_generator_keeps_the_fade_it_reached(tiny):
    gan = pggan.ProgressiveGAN(tiny)
    z = np.random.default_rng(2).normal(size=(2, tiny.latent_dim)).astype("float32")
    gan.set_level(1)
    gan.set_alpha(0.3)
    exported = gan.export_generator()
    np.testing.assert_allclose(exported(z), gan.ema_generator(z), atol=1e-5)
    gan.set_alpha(1.0)
    stable = gan.export_generator()
    assert not [l for l in stable.layers if l.name == "fade_in"]
    np.testing.assert_allclose(stable(z), gan.ema_generator(z), atol=1e-5)
