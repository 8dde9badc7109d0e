"""A GAN quality score that needs no download: a small classifier trained once on the data's own
labels (Heusel et al.'s FID with InceptionV3 needs ImageNet weights this machine cannot fetch).

For the embedded shapes scenes the labels are what each scene shows (which of circle, square
and triangle are on show, which background: stripes, checkers or rings; ``suite.data.images.
shapes_labels``). The classifier also sees negatives it must not call scenes: the same scenes
blurred (sigma 1.2 to 3 px: a blurry blob is not a crisp shape) and smooth random noise, whose
background target is a fourth class, "none". It gives

- ``fid``: the Frechet distance between its penultimate features of samples and held-out reals
  (an embedded FID: 0 within noise for reals against reals, large for noise), and
- ``found``: the fraction of images in which it finds a shape and a background kind, each with
  probability at least ``confidence``; the reals' own fraction is the reference.

Trained weights are cached by seed like the embedded corpora (``$SUITE_CACHE`` or
``~/.cache/suite``, written whole and renamed into place). A labelled folder (one subfolder
per class) or TFDS set trains a classifier on its own labels the same way (``found`` is then a
class predicted with confidence); an unlabelled one has no score.
"""
import os
import sys
import tempfile

import numpy as np

from suite.gan.metrics import feature_statistics, frechet_distance

VERSION = 1
RESOLUTION = 32  # the largest classifier; images of other sizes are resized to its (area down, bilinear up)
NONE = 3  # the background class of negatives
WIDTH = 32
SCENE_HEADS = {"shapes": (3, "sigmoid"), "background": (4, "softmax")}


def classifier(outputs, resolution=RESOLUTION, width=WIDTH, features=128):
    """A VGG-style CNN (three stages of two 3x3 convolutions with batch norm, ``width``, 2 and 4 x
    ``width`` filters, max pooling between),
    global mean and max pooling, a ``features``-d penultimate layer named ``features``, and one head
    per entry of ``outputs`` (name -> (units, activation))."""
    import keras
    from keras import layers

    x = inputs = keras.Input((resolution, resolution, 3), name="images")
    for stage in range(3):
        for _ in range(2):
            x = layers.Conv2D(width * 2 ** stage, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        if stage < 2:
            x = layers.MaxPooling2D()(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling2D()(x), layers.GlobalMaxPooling2D()(x)])
    f = layers.Dense(features, activation="relu", name="features")(x)
    heads = {name: layers.Dense(units, activation=act, name=name)(f) for name, (units, act) in outputs.items()}
    return keras.Model(inputs, {"features": f, **heads}, name="quality_classifier")


def to_resolution(images, resolution=RESOLUTION):
    """float [N, H, W, C] in [-1, 1] -> [N, resolution, resolution, 3]."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[-1] == 1:
        images = tf.image.grayscale_to_rgb(images)
    size = int(images.shape[1])
    if size > resolution and size % resolution == 0:
        return tf.nn.avg_pool2d(images, size // resolution, size // resolution, "VALID")
    if size != resolution:
        method = "area" if size > resolution else "bilinear"
        return tf.image.resize(images, (resolution, resolution), method=method)
    return images


def _gaussian_blur(image, sigma):
    import tensorflow as tf

    x = tf.range(-6, 7, dtype=tf.float32)
    k = tf.exp(-0.5 * (x / sigma) ** 2)
    k = k / tf.reduce_sum(k)
    kernel = tf.tile((k[:, None] * k[None, :])[:, :, None, None], [1, 1, 3, 1])
    padded = tf.pad(image[None], [[0, 0], [6, 6], [6, 6], [0, 0]], mode="SYMMETRIC")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0]


def _negative(image, seed):
    """A blurred copy of ``image`` (half), or coloured noise, smooth at a random scale or per pixel
    (a quarter each); float in [-1, 1]."""
    import tensorflow as tf

    r = tf.random.stateless_uniform([3], seed)
    size = int(image.shape[0])
    coarse = tf.where(r[2] < 0.5, 2 + tf.cast(r[2] * 16, tf.int32), size)
    noise = tf.random.stateless_normal([coarse, coarse, 3], seed + 1) * 0.6
    noise = tf.clip_by_value(tf.image.resize(noise[None], (size, size), method="bicubic")[0], -1.0, 1.0)
    return tf.cond(r[0] < 0.5, lambda: _gaussian_blur(image, 1.5 + 1.5 * r[1]), lambda: noise)


def scene_training_data(seed, count, batch_size=64, negatives=0.25, resolution=RESOLUTION):
    """Embedded scenes (seed ``seed``) with their labels, flipped and transposed at random, and
    ``negatives`` of each batch replaced by blurred scenes or noise (no shape, background "none")."""
    import tensorflow as tf

    from suite.data.images import shapes_labels, to_float

    def scene(i):
        image, kind, shapes = shapes_labels(i, resolution, seed)
        return to_float(image), kind, shapes

    base = tf.data.Dataset.range(count).map(scene, num_parallel_calls=tf.data.AUTOTUNE).cache()

    def augment(i, example):
        image, kind, shapes = example
        s = tf.stack([tf.cast(seed, tf.int64), i])
        r = tf.random.stateless_uniform([4], s)
        image = tf.cond(r[0] < 0.5, lambda: image[:, ::-1], lambda: image)
        image = tf.cond(r[1] < 0.5, lambda: image[::-1], lambda: image)
        image = tf.cond(r[2] < 0.5, lambda: tf.transpose(image, [1, 0, 2]), lambda: image)
        negative = r[3] < negatives
        image = tf.cond(negative, lambda: _negative(image, s + 7), lambda: image)
        kind = tf.where(negative, NONE, kind)
        shapes = tf.where(negative, tf.zeros_like(shapes), shapes)
        return image, {"shapes": shapes, "background": kind}

    return (base.shuffle(count, seed=seed).repeat().enumerate()
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def train_scene_classifier(seed=0, steps=1500, count=20000, batch_size=64, width=WIDTH, resolution=RESOLUTION,
                           progress=True):
    """Trains the embedded scenes' classifier (Adam 1e-3, cosine decay to 0) and returns it."""
    import keras

    keras.utils.set_random_seed(seed)
    model = classifier(SCENE_HEADS, resolution, width=width)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps)
    model.compile(keras.optimizers.Adam(schedule),
                  loss={"shapes": "binary_crossentropy", "background": "sparse_categorical_crossentropy"},
                  metrics={"shapes": "binary_accuracy", "background": "accuracy"})
    data = scene_training_data(seed, count, batch_size, resolution=resolution)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=1 if progress else 0)
    return model


class Scorer:
    """Embedded FID and found-rate of image sets (float [N, H, W, C] in [-1, 1]) with ``model``
    (a ``classifier`` whose heads are ``shapes``/``background`` or ``classes``)."""

    def __init__(self, model, confidence=0.8, batch_size=256):
        self.model, self.confidence, self.batch_size = model, float(confidence), int(batch_size)
        self.resolution = int(model.input_shape[1])

    def outputs(self, images):
        x = to_resolution(images, self.resolution)
        parts = [self.model(x[i:i + self.batch_size], training=False) for i in range(0, int(x.shape[0]),
                                                                                      self.batch_size)]
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]).astype(np.float64) for k in parts[0]}

    def found(self, outputs):
        """Per image: a shape and a background kind (or, with labels, a class) found with confidence."""
        c = self.confidence
        if "classes" in outputs:
            return outputs["classes"].max(axis=1) >= c
        return (outputs["shapes"].max(axis=1) >= c) & (outputs["background"][:, :NONE].max(axis=1) >= c)

    def statistics(self, images):
        """(features' mean, covariance, found rate) of an image set."""
        out = self.outputs(images)
        mu, sigma = feature_statistics(out["features"])
        return mu, sigma, float(np.mean(self.found(out)))

    def score(self, reference, images):
        """{"fid": embedded FID against ``reference`` (statistics or images), "found": rate}."""
        mu1, s1, _ = reference if isinstance(reference, tuple) else self.statistics(reference)
        mu2, s2, rate = self.statistics(images)
        return {"fid": frechet_distance(mu1, s1, mu2, s2), "found": rate}


def _cache_path(key):
    from suite.data.files import cache_root

    return os.path.join(cache_root(), "gan_quality", f"{key}.weights.h5")


def embedded_scorer(seed=0, resolution=RESOLUTION, progress=True, **train):
    """The embedded scenes' scorer for ``seed`` at ``resolution`` (a GAN's final resolution, at most
    ``RESOLUTION``): trained on scenes of its own seed stream (not the GAN's training or held-out
    scenes) once, then read from the cache. Processes asking at once wait for the first one's
    training (a file lock) instead of training again."""
    import fcntl

    resolution = min(int(resolution), RESOLUTION)
    key = f"scenes-v{VERSION}-seed{seed}-r{resolution}"
    path = _cache_path(key)
    model = classifier(SCENE_HEADS, resolution)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(path):
            model.load_weights(path)
            return Scorer(model)
        if progress:
            print(f"[quality] training the embedded scenes' classifier once (cached in {path})", file=sys.stderr)
        model = train_scene_classifier(seed=1_000_003 + seed, resolution=resolution, progress=progress, **train)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}-", suffix=".weights.h5", dir=os.path.dirname(path))
        os.close(fd)
        try:
            model.save_weights(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
    return Scorer(model)
