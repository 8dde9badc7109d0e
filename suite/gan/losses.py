"""GAN losses, per example (float32), for ``GAN.train_step``.

A discriminator loss is ``fn(critic, reals, fakes, real_scores, fake_scores,
scale=None, seeds=None, step=None) -> [N]``; a generator loss is
``fn(fake_scores) -> [N]``. Scores are the critic's raw outputs [N, 1]
(logits, no sigmoid); ``seeds`` [N, 2] key what a loss samples per example
(``suite.training.randomness``); ``step`` (the global step, int64 scalar) is
for terms taken every few steps (lazy R1).
"""
import tensorflow as tf

from suite.training import randomness

GP_SALT = 1000  # the interpolation points' draw (``suite.training.randomness`` salts)


def _flat(scores):
    return tf.reshape(tf.cast(scores, tf.float32), [-1])


def gradient_penalty(critic, reals, fakes, scale=None, target=1.0, seeds=None):
    """(||grad_x D(x_hat)||_2 - target)^2 per example, x_hat uniform between real and fake
    (the point drawn from the example's seed when ``seeds`` [N, 2] are given).

    ``scale`` (a float32 scalar or None) multiplies the inner objective before
    differentiation and divides the gradient after, so that under float16 a
    loss scale keeps small gradients from underflowing.
    """
    n = tf.shape(reals)[0]
    if seeds is None:
        u = tf.random.uniform([n, 1, 1, 1], dtype=reals.dtype)
    else:
        u = tf.cast(randomness.uniform(seeds, [1, 1, 1], GP_SALT), reals.dtype)
    mixed = reals + u * (tf.cast(fakes, reals.dtype) - reals)
    norms = tf.sqrt(_squared_input_gradient(critic, mixed, scale) + 1e-12)
    return tf.square(norms - target)


def _squared_input_gradient(critic, points, scale=None):
    """``||grad_x D(x)||^2`` per example at ``points``; ``scale`` multiplies the objective before
    differentiation and divides the gradient after (a float16 loss scale)."""
    with tf.GradientTape() as tape:
        tape.watch(points)
        objective = tf.reduce_sum(_flat(critic(points, training=True)))
        if scale is not None:
            objective = objective * scale
    grads = tf.cast(tape.gradient(objective, points), tf.float32)
    if scale is not None:
        grads = grads / scale
    return tf.reduce_sum(tf.square(grads), axis=[1, 2, 3])


def wgan_gp_discriminator_loss(gp_weight=10.0, drift=0.0):
    """WGAN-GP critic loss (Gulrajani et al. 2017) with PGGAN's drift term (Karras et al. 2018).

    ``D(fake) - D(real) + gp_weight * GP + drift * D(real)^2``.
    """

    def loss(critic, reals, fakes, real_scores, fake_scores, scale=None, seeds=None, step=None):
        real, fake = _flat(real_scores), _flat(fake_scores)
        out = fake - real + gp_weight * gradient_penalty(critic, reals, fakes, scale, seeds=seeds)
        if drift:
            out = out + drift * tf.square(real)
        return out

    return loss


def wgan_generator_loss(fake_scores):
    """``-D(G(z))``."""
    return -_flat(fake_scores)


# ---------------------------------------------------------------- Goodfellow et al. 2014
def minimax_discriminator_loss(critic, reals, fakes, real_scores, fake_scores, scale=None, seeds=None, step=None):
    """``-log D(x) - log(1 - D(G(z)))`` with D = sigmoid(score), computed stably."""
    return tf.nn.softplus(-_flat(real_scores)) + tf.nn.softplus(_flat(fake_scores))


def minimax_generator_loss(fake_scores):
    """The original (saturating) ``log(1 - D(G(z)))``: its gradient vanishes while D wins."""
    return -tf.nn.softplus(_flat(fake_scores))


def nonsaturating_generator_loss(fake_scores):
    """``-log D(G(z))``: the same fixed point, strong gradients early in training."""
    return tf.nn.softplus(-_flat(fake_scores))


# ---------------------------------------------------------------- Mescheder et al. 2018 (StyleGAN's)
def r1_penalty(critic, reals, scale=None):
    """``||grad_x D(x)||^2`` per example at the real images (R1: the critic is flat on the data).
    ``scale`` as in ``gradient_penalty``."""
    return _squared_input_gradient(critic, reals, scale)


def logistic_r1_discriminator_loss(gamma=10.0, interval=1):
    """The non-saturating logistic loss with the R1 penalty (Mescheder et al. 2018; StyleGAN's, by
    PGGAN's authors): ``softplus(-D(x)) + softplus(D(G(z))) + gamma / 2 * R1``; with
    ``nonsaturating_generator_loss``.

    ``interval`` > 1 is StyleGAN2's lazy regularisation (Karras et al. 2020): the penalty, the
    costly part (a second backpropagation), is taken only on steps divisible by ``interval`` and
    weighted by ``interval``, so its expected size is unchanged (the loss needs ``step`` then).
    """
    interval = int(interval)
    if interval < 1:
        raise ValueError(f"the R1 interval must be a positive integer, got {interval}")

    def loss(critic, reals, fakes, real_scores, fake_scores, scale=None, seeds=None, step=None):
        out = tf.nn.softplus(-_flat(real_scores)) + tf.nn.softplus(_flat(fake_scores))
        if interval == 1:
            return out + 0.5 * gamma * r1_penalty(critic, reals, scale)
        if step is None:
            raise ValueError("lazy R1 (interval > 1) needs the global step")
        penalty = tf.cond(tf.equal(tf.math.floormod(tf.cast(step, tf.int64), interval), 0),
                          lambda: r1_penalty(critic, reals, scale), lambda: tf.zeros_like(out))
        return out + 0.5 * gamma * interval * penalty

    return loss


# ---------------------------------------------------------------- Arjovsky et al. 2017
def wasserstein_discriminator_loss(critic, reals, fakes, real_scores, fake_scores, scale=None, seeds=None, step=None):
    """``D(G(z)) - D(x)``; the Lipschitz constraint comes from weight clipping (``GAN(clip_value=)``)."""
    return _flat(fake_scores) - _flat(real_scores)
