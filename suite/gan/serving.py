"""The generator's serving signatures: from latents a client draws itself, or from a count and a seed
(no random-number library on the client: the same seed gives the same images)."""
import tensorflow as tf

from suite.data.images import to_uint8


def generator_endpoints(generator, latent_dim):
    """``serving_default``: ``latents`` float32 [N, latent_dim] -> ``images`` uint8 [N, R, R, C] (NaN or
    infinite latents refused with an InvalidArgumentError, not drawn as blank images); ``generate``:
    ``count`` int32 and ``seed`` int64 -> ``images`` of ``count`` standard-normal latents drawn from
    ``seed``."""

    def draw(latents):
        from suite.export import answer_empty_batch

        with tf.control_dependencies([tf.debugging.assert_all_finite(latents, "latents must be finite")]):
            # (no latents: no images; PGGAN's convolutions refuse an empty batch)
            return answer_empty_batch(lambda z: {"images": to_uint8(generator(z, training=False))},
                                      tf.identity(latents))

    @tf.function
    def serve(latents):
        return draw(latents)

    @tf.function
    def generate(count, seed):
        with tf.control_dependencies([tf.debugging.assert_non_negative(count, message="count must be >= 0")]):
            shape = tf.stack([tf.maximum(count, 0), latent_dim])
        return draw(tf.random.stateless_normal(shape, seed=tf.stack([seed, tf.constant(0, tf.int64)])))

    return {"serving_default": (serve, [tf.TensorSpec([None, latent_dim], tf.float32, name="latents")]),
            "generate": (generate, [tf.TensorSpec([], tf.int32, name="count"),
                                    tf.TensorSpec([], tf.int64, name="seed")])}
