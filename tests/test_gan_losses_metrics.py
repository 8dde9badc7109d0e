"""Loss maths on hand-made inputs and the diversity / FID metrics shared by every GAN."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from suite.gan.gan import GAN
from suite.gan.losses import (
    logistic_r1_discriminator_loss,
    minimax_discriminator_loss,
    minimax_generator_loss,
    nonsaturating_generator_loss,
    wasserstein_discriminator_loss,
    wgan_generator_loss,
)
from suite.gan.metrics import feature_statistics, frechet_distance, ms_ssim_diversity


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_minimax_and_nonsaturating_losses_match_their_formulas():
    real = np.array([[2.0], [-1.0]], "float32")
    fake = np.array([[0.5], [-3.0]], "float32")
    d = minimax_discriminator_loss(None, None, None, real, fake)
    np.testing.assert_allclose(d, -np.log(_sigmoid(real[:, 0])) - np.log(1 - _sigmoid(fake[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(minimax_generator_loss(fake), np.log(1 - _sigmoid(fake[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(nonsaturating_generator_loss(fake), -np.log(_sigmoid(fake[:, 0])), rtol=1e-5)
    np.testing.assert_allclose(wasserstein_discriminator_loss(None, None, None, real, fake), fake[:, 0] - real[:, 0])


def test_logistic_r1_loss_adds_half_gamma_times_the_squared_gradient_at_the_reals():
    """A linear critic D(x) = sum(w x): its gradient at any x is w, so R1 = ||w||^2; R1 is taken
    at the reals only (the fakes' values never enter it), under a loss scale too."""
    w = tf.constant(np.random.default_rng(0).normal(size=(1, 4, 4, 3)), tf.float32)

    def critic(x, training=True):
        return tf.reduce_sum(w * x, axis=[1, 2, 3])[:, None]

    reals, fakes = tf.ones([2, 4, 4, 3]), tf.zeros([2, 4, 4, 3])
    real_scores, fake_scores = critic(reals), np.array([[0.5], [-3.0]], "float32")
    expected = (np.log1p(np.exp(-real_scores.numpy()[:, 0])) + np.log1p(np.exp(fake_scores[:, 0]))
                + 0.5 * 10.0 * float(tf.reduce_sum(w * w)))
    for scale in (None, tf.constant(1024.0)):
        loss = logistic_r1_discriminator_loss(10.0)(critic, reals, fakes, real_scores, fake_scores, scale=scale)
        np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_lazy_r1_takes_the_penalty_every_interval_steps_weighted_by_the_interval():
    """StyleGAN2's lazy regularisation: at steps 0, 16, 32 the loss is the logistic loss plus
    16 x gamma / 2 x R1, elsewhere the logistic loss alone; inside a compiled function its
    gradient (through the conditional and the inner tape) is the same as the eager formula's."""
    keras.utils.set_random_seed(0)
    critic = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 3, activation="tanh"),
                               keras.layers.Flatten(), keras.layers.Dense(1)])
    reals, fakes = tf.random.uniform([3, 4, 4, 3], -1, 1, seed=1), tf.random.uniform([3, 4, 4, 3], -1, 1, seed=2)
    lazy, every = logistic_r1_discriminator_loss(2.0, interval=16), logistic_r1_discriminator_loss(2.0 * 16)
    plain = logistic_r1_discriminator_loss(0.0)

    def value_and_grads(loss, step):
        with tf.GradientTape() as tape:
            out = loss(critic, reals, fakes, critic(reals), critic(fakes), step=step)
            total = tf.reduce_sum(out)
        return out, tape.gradient(total, critic.trainable_variables)

    compiled = tf.function(lambda step: value_and_grads(lazy, step))
    for step, reference in ((0, every), (16, every), (32, every), (1, plain), (15, plain), (17, plain)):
        want, want_grads = value_and_grads(reference, None)
        got, got_grads = compiled(tf.constant(step, tf.int64))
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"step {step}")
        for g, w in zip(got_grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6, err_msg=f"step {step}")
    assert float(tf.reduce_max(every(critic, reals, fakes, critic(reals), critic(fakes))
                               - plain(critic, reals, fakes, critic(reals), critic(fakes)))) > 0.0
    with pytest.raises(ValueError, match="needs the global step"):
        lazy(critic, reals, fakes, critic(reals), critic(fakes))
    with pytest.raises(ValueError, match="positive integer, got 0"):
        logistic_r1_discriminator_loss(1.0, interval=0)


def test_nonsaturating_loss_keeps_gradient_where_minimax_saturates():
    fake = tf.constant([[-8.0]])  # D is sure the sample is fake
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(fake)
        sat, nonsat = minimax_generator_loss(fake), nonsaturating_generator_loss(fake)
    assert abs(float(tape.gradient(sat, fake)[0, 0])) < 1e-3
    assert abs(float(tape.gradient(nonsat, fake)[0, 0])) > 0.99


def test_weight_clipping_keeps_every_critic_weight_in_range():
    keras.utils.set_random_seed(0)
    z = keras.Input((4,))
    g = keras.Model(z, keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4)(z)))
    x = keras.Input((2, 2, 1))
    d = keras.Model(x, keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(0, 1))(
        keras.layers.Flatten()(x)))
    gan = GAN(g, d, latent_dim=4, d_loss=wasserstein_discriminator_loss, g_loss=wgan_generator_loss,
              clip_value=0.01)
    gan.compile(keras.optimizers.RMSprop(5e-5), keras.optimizers.RMSprop(5e-5))
    assert max(float(tf.reduce_max(tf.abs(v))) for v in d.trainable_variables) > 0.01  # before: not clipped
    gan.train_step(tf.random.normal([8, 2, 2, 1]))
    for v in d.trainable_variables:
        assert float(tf.reduce_max(tf.abs(v))) <= 0.01 + 1e-7


def test_ms_ssim_diversity_known_values():
    """Identical images: MS-SSIM 1 exactly. Independent noise images (no structure in common): about 0
    (0.04 measured: at the coarsest scales the averaged noise keeps a little luminance in common)."""
    rng = np.random.default_rng(0)
    one = np.tanh(rng.normal(0, 0.7, (1, 32, 32, 3))).astype("float32")
    assert ms_ssim_diversity(np.repeat(one, 16, axis=0)) == pytest.approx(1.0, abs=1e-5)
    noise = rng.uniform(-1, 1, (64, 32, 32, 3)).astype("float32")
    assert abs(ms_ssim_diversity(noise)) < 0.06


def test_ms_ssim_diversity_is_high_for_collapse_and_lower_for_varied_images():
    from suite.data import sample_images

    varied = sample_images("shapes", 32, 64, seed=0).numpy()
    collapsed = np.repeat(varied[:1], 64, axis=0) + np.random.default_rng(0).normal(0, 0.01, varied.shape).astype("float32")
    d_varied, d_collapsed = ms_ssim_diversity(varied), ms_ssim_diversity(collapsed)
    assert d_collapsed > 0.9
    assert d_varied < d_collapsed - 0.3
    assert 0.0 <= ms_ssim_diversity(sample_images("shapes", 8, 16, seed=0).numpy()) <= 1.0
    with pytest.raises(ValueError, match="at least 2 images"):
        ms_ssim_diversity(varied[:1])


def test_frechet_distance_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    # diagonal covariances: |mu1-mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2
    expected = 1.0 + 0.0 + 4.0 + (1 - 2) ** 2 + (2 - 2) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    # a full covariance against itself under a rotation of the mean only
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T
    assert frechet_distance(np.zeros(5), cov, np.zeros(5), cov) == pytest.approx(0.0, abs=1e-8)
    feats = rng.normal(size=(20000, 3)) * [1.0, 2.0, 3.0] + [1.0, 0.0, -1.0]
    mu, sigma = feature_statistics(feats)
    assert frechet_distance(mu, sigma, [1.0, 0.0, -1.0], np.diag([1.0, 4.0, 9.0])) < 0.02
    with pytest.raises(ValueError, match="differ in shape"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@pytest.mark.slow  # a recipe run in a subprocess or a large weights file: CI only
def test_inception_features_and_fid_from_a_weights_file(tmp_path):
    import keras

    from suite.data.errors import DataError
    from suite.gan.metrics import InceptionFeatures, frechet_inception_distance

    weights = tmp_path / "inception_notop.weights.h5"
    keras.utils.set_random_seed(0)
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(75, 75, 3)).save_weights(str(weights))
    features = InceptionFeatures(weights, size=75, batch_size=16)
    rng = np.random.default_rng(0)
    a = np.tanh(rng.normal(0, 0.5, (40, 16, 16, 3))).astype("float32")
    b = np.tanh(rng.normal(0, 0.5, (40, 16, 16, 3))).astype("float32")
    assert features(a[:3]).shape == (3, 2048)
    same = frechet_inception_distance(features, a, a)
    assert abs(same) < 1e-6
    stats = features.statistics(a)
    shifted = frechet_inception_distance(features, stats, np.clip(a + 0.8, -1, 1))
    assert shifted > frechet_inception_distance(features, stats, b) > same
    # disjoint sets against a reference computed another way from the same features:
    # tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), square roots of symmetric matrices by eigh
    fa, fb = features(a), features(np.clip(a + 0.8, -1, 1))

    def sqrt_psd(m):
        w, v = np.linalg.eigh(m)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    s1, s2 = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root = sqrt_psd(s1)
    reference = (np.sum((fa.mean(0) - fb.mean(0)) ** 2) + np.trace(s1) + np.trace(s2)
                 - 2 * np.trace(sqrt_psd(root @ s2 @ root)))
    assert shifted == pytest.approx(reference, rel=1e-3)
    gray = features(a[:2, ..., :1])  # one channel is repeated to three
    assert gray.shape == (2, 2048)
    with pytest.raises(DataError, match="no such file"):
        InceptionFeatures(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="junk.h5: not the weights of InceptionV3"):
        InceptionFeatures(tmp_path / "junk.h5", size=75)
