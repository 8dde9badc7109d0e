"""The one GAN training mechanism of the suite (GAN, DCGAN, WGAN, PGGAN share it).

``GAN`` is a ``keras.Model`` holding a functional generator and
discriminator, with pluggable per-example losses (``suite.gan.losses``), a
number of discriminator steps per generator step, an optional hook after
each discriminator step (weight clipping), and an optional moving average of
the generator's weights. Its ``train_step`` follows the contract of
``suite.training.driver``: it runs in one replica, scales losses by the
global batch, and returns local means to log. Its latents and WGAN-GP's
interpolation points are drawn per example from the step and the example's
place in the global batch (``suite.training.randomness``), so one replica
or several train the same networks.
"""
import keras
import tensorflow as tf

from suite.training import randomness


class _Nets:
    """Untracked holder of the current functional networks (they change as PGGAN grows;
    checkpoints go through ``checkpoint_objects`` so that paths stay stable)."""

    def __init__(self, generator, discriminator, ema_generator=None):
        self.generator, self.discriminator, self.ema_generator = generator, discriminator, ema_generator


class GAN(keras.Model):
    """Generator/discriminator pair trained by alternating gradient steps.

    Args:
      generator, discriminator: functional models; D returns raw scores [N, 1].
      latent_dim: size of the latent vector.
      d_loss, g_loss: per-example losses (see ``suite.gan.losses``).
      d_steps: discriminator steps per generator step; each takes its own
        slice of the real batch, so the pipeline batch is d_steps times larger.
      ema_generator: a functional copy of G whose weights track G's with
        ``ema_decay`` after every step (used for samples and export).
      clip_value: if set, every discriminator weight is clipped to
        [-clip_value, clip_value] after each discriminator step (WGAN).
      seed: seed of the latents and interpolation points (with the step and the
        example's place in the global batch).
    """

    def __init__(self, generator, discriminator, *, latent_dim, d_loss, g_loss, d_steps=1,
                 ema_generator=None, ema_decay=0.999, clip_value=None, seed=0, name="gan", **kwargs):
        super().__init__(name=name, **kwargs)
        self._nets = _Nets(generator, discriminator, ema_generator)
        self.latent_dim = int(latent_dim)
        self.d_loss_fn, self.g_loss_fn = d_loss, g_loss
        self.d_steps = int(d_steps)
        self.ema_decay = float(ema_decay)
        self.clip_value = None if clip_value is None else float(clip_value)
        self.seed = int(seed)
        if ema_generator is not None:
            self.copy_weights(generator, ema_generator)

    # ------------------------------------------------------------ networks
    @property
    def generator(self):
        return self._nets.generator

    @property
    def discriminator(self):
        return self._nets.discriminator

    @property
    def ema_generator(self):
        return self._nets.ema_generator

    @property
    def sampler(self):
        """The generator to draw samples and export from: the moving average if any."""
        return self.ema_generator or self.generator

    def call(self, latents, training=False):
        return self.sampler(latents, training=training)

    @staticmethod
    def copy_weights(src, dst):
        for s, d in zip(src.weights, dst.weights):
            d.assign(s)

    def generator_variables(self):
        return self.generator.trainable_variables

    def discriminator_variables(self):
        return self.discriminator.trainable_variables

    def ema_pairs(self):
        """(ema variable, generator variable) pairs."""
        if self.ema_generator is None:
            return []
        return list(zip(self.ema_generator.trainable_variables, self.generator.trainable_variables))

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        """Sets and builds both optimizers (call under the strategy scope)."""
        super().compile(**kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self.generator_variables())
        d_optimizer.build(self.discriminator_variables())

    def checkpoint_objects(self):
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            **({"ema_generator": self.ema_generator} if self.ema_generator is not None else {}),
            "g_optimizer": self.g_optimizer,
            "d_optimizer": self.d_optimizer,
        }

    # ------------------------------------------------------------ training
    def latents(self, seeds, salt):
        """One latent vector per seed [N, 2] (``salt``: which draw of the step)."""
        return randomness.normal(seeds, [self.latent_dim], salt)

    def prepare_reals(self, reals, **step_args):
        """Hook: what the discriminator sees as real (PGGAN resizes and fades here)."""
        return reals

    def after_d_step(self):
        """Runs after every discriminator update: WGAN's weight clipping when ``clip_value``."""
        if self.clip_value is not None:
            c = self.clip_value
            for v in self.discriminator_variables():
                v.assign(tf.clip_by_value(v, -c, c))

    @staticmethod
    def _apply(optimizer, loss, tape, variables):
        """Applies the gradients that exist: variables of blocks a level does not use
        (PGGAN) get none, and are left alone instead of warned about."""
        pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    @staticmethod
    def _loss_scale(optimizer):
        scale = getattr(optimizer, "dynamic_scale", None)
        return None if scale is None else tf.cast(scale, tf.float32)

    def train_step(self, reals, step=0, **step_args):
        G, D = self.generator, self.discriminator
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        reals = self.prepare_reals(tf.cast(reals, tf.float32), **step_args)
        seeds = randomness.example_seeds(self.seed, step, tf.shape(reals)[0])
        # critic minibatch k takes every d_steps-th example from the k-th: a replica's share of the
        # global batch (a multiple of d_steps long) splits into its share of each global minibatch
        d = self.d_steps
        chunks = [(reals[k::d], seeds[k::d]) for k in range(d)]
        d_losses = []
        for k, (chunk, chunk_seeds) in enumerate(chunks):
            n = tf.shape(chunk)[0]
            z = self.latents(chunk_seeds, k)
            with tf.GradientTape() as tape:
                fakes = G(z, training=True)
                real_scores = D(chunk, training=True)
                fake_scores = D(fakes, training=True)
                per_example = self.d_loss_fn(D, chunk, fakes, real_scores, fake_scores,
                                             self._loss_scale(self.d_optimizer), seeds=chunk_seeds, step=step)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=n * replicas)
                scaled = self.d_optimizer.scale_loss(loss)
            self._apply(self.d_optimizer, scaled, tape, self.discriminator_variables())
            self.after_d_step()
            d_losses.append(tf.reduce_mean(per_example))
        chunk, chunk_seeds = chunks[0]
        n = tf.shape(chunk)[0]
        z = self.latents(chunk_seeds, d)
        with tf.GradientTape() as tape:
            fake_scores = D(G(z, training=True), training=True)
            per_example = self.g_loss_fn(fake_scores)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=n * replicas)
            scaled = self.g_optimizer.scale_loss(loss)
        self._apply(self.g_optimizer, scaled, tape, self.generator_variables())
        return {
            "d_loss": tf.add_n(d_losses) / len(d_losses),
            "g_loss": tf.reduce_mean(per_example),
            "real_score": tf.reduce_mean(tf.cast(real_scores, tf.float32)),
            "fake_score": tf.reduce_mean(tf.cast(fake_scores, tf.float32)),
        }

    def after_step(self):
        """Moving average of the generator weights (cross-replica context); batch-norm statistics
        are copied, not averaged: they describe the generator as it is now."""
        d = self.ema_decay
        for e, v in self.ema_pairs():
            e.assign(d * e + (1.0 - d) * tf.cast(v, e.dtype))
        if self.ema_generator is not None:
            for e, v in zip(self.ema_generator.non_trainable_variables, self.generator.non_trainable_variables):
                e.assign(tf.cast(v, e.dtype))
