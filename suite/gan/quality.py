"""A GAN quality score that needs no download: a small classifier trained once on the data's own
labels (Heusel et al.'s FID with InceptionV3 needs ImageNet weights this machine cannot fetch).

For the embedded shapes scenes the labels are what each scene shows (which of circle, square
and triangle are on show, which background: stripes, checkers or rings; ``suite.data.images.
shapes_labels``). The classifier also sees what it must not call a crisp shape or a background
kind: scenes with soft-edged shapes, scenes on murky colour blotches, and blurred scenes,
shuffled tiles and noise (``scene_training_data``). It gives

- ``fid``: the Frechet distance between its penultimate features of samples and held-out reals
  (an embedded FID: 0 within noise for reals against reals, large for noise), and
- ``found``: the fraction of images in which it finds a shape and a background kind, each with
  probability at least ``confidence``, and whose features lie on the reals' manifold (see
  ``Scorer``); the reals' own fraction is the reference.

On a folder with a sub-folder per class, or a TFDS set with a ``label`` class feature, the same
classifier with one softmax head learns those labels (``train_label_classifier``): an image is
found when one class has probability at least ``confidence`` and it lies on the reals' manifold.
Data without labels has no score (the recipes say so).

The embedded scenes' classifiers ship with the suite (``suite/gan/classifiers/``, one per
resolution: 8, 16 and 32), so that every run on every machine and seed is scored by the same judge,
as FID's InceptionV3 is one network for everyone, and no run spends minutes training it; ``python -m
suite.gan.quality --resolution R --ship`` trains one anew (one thread: the same weights on a
machine). A resolution without a shipped file, and a labelled dataset's classifier, are trained
once and cached by resolution and data (a folder's file list, sizes and times) like the embedded
corpora (``$SUITE_CACHE`` or ``~/.cache/suite``, written whole and renamed into place).
"""
import os
import sys
import tempfile

import numpy as np

from suite.gan.metrics import feature_statistics, frechet_distance

VERSION = 3
RESOLUTION = 32  # the largest classifier; images of other sizes are resized to its (area down, bilinear up)
NONE = 3  # the background class of negatives
WIDTH = 32
SCENE_HEADS = {"shapes": (3, "sigmoid"), "background": (4, "softmax")}
LABEL = "label"  # the one head of a classifier of a dataset's own labels
SHIPPED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "classifiers")
SCENES_SEED = 1_000_003  # the scene stream the embedded classifiers learn from (a GAN's --seed S uses streams S, S+1)


def label_heads(num_classes):
    """The head of a classifier of ``num_classes`` classes and one more, the last: not an image of
    the data (``_negative``)."""
    return {LABEL: (int(num_classes) + 1, "softmax")}


def classifier(outputs, resolution=RESOLUTION, width=WIDTH, features=128):
    """A VGG-style CNN (three stages of two 3x3 convolutions with batch norm, ``width``, 2 and 4 x
    ``width`` filters, max pooling between), global mean and max pooling, a ``features``-d
    penultimate layer named ``features``, and one head per entry of ``outputs`` (name -> (units,
    activation))."""
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


def _noise(size, seed):
    """Coloured noise summed over scales (1 to 8 random octaves' weights) at a random amplitude."""
    import tensorflow as tf

    r = tf.random.stateless_uniform([6], seed)
    out = tf.zeros([size, size, 3])
    for k, cells in enumerate((2, 4, 8, size)):
        n = tf.random.stateless_normal([min(cells, size), min(cells, size), 3], seed + 10 + k)
        out += r[k] * tf.image.resize(n[None], (size, size), method="bicubic")[0]
    out = out / tf.maximum(tf.math.reduce_std(out), 1e-3) * (0.3 + 1.7 * r[4]) + (r[5] - 0.5)
    return tf.clip_by_value(out, -1.0, 1.0)


def _shuffled_tiles(image, seed):
    """The scene cut into an 8 x 8 grid of tiles in random order: its colours and edges, no shape."""
    import tensorflow as tf

    size = int(image.shape[0])
    g = 8 if size >= 8 else size
    t = size // g
    tiles = tf.reshape(tf.transpose(tf.reshape(image, [g, t, g, t, 3]), [0, 2, 1, 3, 4]), [g * g, t, t, 3])
    tiles = tf.gather(tiles, tf.argsort(tf.random.stateless_uniform([g * g], seed)))
    return tf.reshape(tf.transpose(tf.reshape(tiles, [g, g, t, t, 3]), [0, 2, 1, 3, 4]), [size, size, 3])


def _negative(image, seed):
    """What is not a scene: the scene blurred (sigma 1.5 to 3 px), its tiles shuffled, coloured noise
    at random scales and amplitudes, or the scene under noise (a blend or added per-pixel noise:
    the speckled half-formed scenes of an early generator); float in [-1, 1]."""
    import tensorflow as tf

    r = tf.random.stateless_uniform([3], seed)
    size = int(image.shape[0])

    def noisy():
        noise = _noise(size, seed + 3)
        blend = (0.3 + 0.5 * r[2]) * image + (0.7 - 0.5 * r[2]) * noise
        speckled = image + (0.15 + 0.35 * r[2]) * tf.random.stateless_normal(image.shape, seed + 4)
        return tf.clip_by_value(tf.where(r[1] < 0.5, blend, speckled), -1.0, 1.0)

    return tf.case([(r[0] < 0.25, lambda: _gaussian_blur(image, 1.5 + 1.5 * r[1])),
                    (r[0] < 0.5, lambda: _shuffled_tiles(image, seed + 1)),
                    (r[0] < 0.75, noisy)],
                   default=lambda: _noise(size, seed + 2))


def scene_training_data(seed, count, batch_size=64, resolution=RESOLUTION):
    """Embedded scenes (seed ``seed``) with their labels, flipped and transposed at random. Of the
    scenes, 15% have soft-edged shapes (0.8 to 2.5 px: no crisp shape, background kind kept), 15% a
    murky background of colour blotches (shapes kept, background "none"), and 15% are replaced by
    a blurred scene, its shuffled tiles or noise (nothing)."""
    import tensorflow as tf

    from suite.data.images import shapes_labels, to_float

    def scene(i):
        r = tf.random.stateless_uniform([2], tf.stack([tf.cast(seed, tf.int64) + 1, i]))
        soft = tf.where((r[0] >= 0.55) & (r[0] < 0.7), 0.8 + 1.7 * r[1], 0.0)
        murky = (r[0] >= 0.7) & (r[0] < 0.85)
        image, kind, shapes = shapes_labels(i, resolution, seed, soft=soft, murky=murky)
        shapes = tf.where(soft > 0, tf.zeros_like(shapes), shapes)
        return to_float(image), tf.where(murky, NONE, kind), shapes, r[0] >= 0.85

    base = tf.data.Dataset.range(count).map(scene, num_parallel_calls=tf.data.AUTOTUNE).cache()

    def augment(i, example):
        image, kind, shapes, negative = example
        s = tf.stack([tf.cast(seed, tf.int64), i])
        r = tf.random.stateless_uniform([3], s)
        image = tf.cond(r[0] < 0.5, lambda: image[:, ::-1], lambda: image)
        image = tf.cond(r[1] < 0.5, lambda: image[::-1], lambda: image)
        image = tf.cond(r[2] < 0.5, lambda: tf.transpose(image, [1, 0, 2]), lambda: image)
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


def label_steps(count, batch_size=64):
    """Training steps for ``count`` labelled images: 20 epochs, at least 600 (at 300 the batch norm's
    moving statistics had not settled: 0.56 of its own training images right in inference, 1.0 in
    training mode) and at most 1,500 (the scenes' classifier's)."""
    return int(min(1500, max(600, 20 * (count or 0) // batch_size)))


def train_label_classifier(data, seed=0, resolution=RESOLUTION, steps=None, batch_size=64, progress=True):
    """Trains a classifier of ``data``'s own labels (``images.labelled_images``: class sub-folders or
    a TFDS ``label``), Adam 1e-3 with cosine decay, random left-right flips; a quarter of its
    images are replaced by what is not an image of the data (``_negative``: blurred, shuffled
    tiles, noise, noisy blends), labelled with an extra last class: without them noise lands on the
    reals' features, confidently (measured: found in all of it). Returns the model, the class names
    and the data's cache key. Raises ValueError when the data has no labels."""
    import keras
    import tensorflow as tf

    from suite.data.images import labelled_images, to_float

    labelled = labelled_images(data, resolution)
    if labelled is None:
        raise ValueError(f"--data {data}: no labels (class sub-folders or a TFDS 'label') to train a classifier on")
    ds, names, key, count = labelled
    keras.utils.set_random_seed(seed)
    steps = steps or label_steps(count, batch_size)
    model = classifier(label_heads(len(names)), resolution)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  loss={LABEL: "sparse_categorical_crossentropy"}, metrics={LABEL: "accuracy"})

    def example(i, pair):
        image, label = pair
        s = tf.stack([tf.cast(seed, tf.int64), i])
        r = tf.random.stateless_uniform([2], s)
        image = to_float(image)
        image = tf.cond(r[0] < 0.5, lambda: image[:, ::-1], lambda: image)
        negative = r[1] < 0.25
        image = tf.cond(negative, lambda: _negative(image, s + 7), lambda: image)
        return image, {LABEL: tf.where(negative, len(names), label)}

    train = (ds.cache().shuffle(min(count or 10000, 10000), seed=seed).repeat().enumerate()
             .map(example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE))
    model.fit(train, steps_per_epoch=steps, epochs=1, verbose=1 if progress else 0)
    return model, names, key


class Scorer:
    """Embedded FID and found-rate of image sets (float [N, H, W, C] in [-1, 1]) with ``model``
    (a ``classifier`` with ``SCENE_HEADS``).

    An image counts as found when the classifier is confident (a shape and a background kind,
    each at probability >= ``confidence``) and its features lie on the reals' manifold: within the
    distance of some real image to that image's ``k``-th nearest real neighbour (Kynkaenniemi et
    al. 2019's improved precision). Confidence alone is fooled by what no training negative
    resembled (the blurry blobs of a half-trained generator); the manifold test is not.
    """

    def __init__(self, model, confidence=0.8, k=5, batch_size=256):
        self.model, self.confidence, self.k, self.batch_size = model, float(confidence), int(k), int(batch_size)
        self.resolution = int(model.input_shape[1])

    def outputs(self, images):
        x = to_resolution(images, self.resolution)
        parts = [self.model(x[i:i + self.batch_size], training=False) for i in range(0, int(x.shape[0]),
                                                                                      self.batch_size)]
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]).astype(np.float64) for k in parts[0]}

    def criteria(self, outputs):
        """Per image, each test of confidence: {"class"} (a labelled dataset's classifier), or
        {"shape", "background"} (the scenes': a shape, a background kind)."""
        c = self.confidence
        if LABEL in outputs:  # (its last class: not an image of the data)
            return {"class": outputs[LABEL][:, :-1].max(axis=1) >= c}
        return {"shape": outputs["shapes"].max(axis=1) >= c,
                "background": outputs["background"][:, :NONE].max(axis=1) >= c}

    def confident(self, outputs):
        """Per image: every test of ``criteria`` passed."""
        return np.logical_and.reduce(list(self.criteria(outputs).values()))

    def rates(self, outputs, on_manifold):
        """{"found": the rate of images found, "parts": the rate of each test alone (each criterion's,
        and "manifold"): which of them a generator fails}."""
        parts = {**self.criteria(outputs), "manifold": on_manifold}
        return {"found": float(np.mean(self.confident(outputs) & on_manifold)),
                "parts": {k: float(np.mean(v)) for k, v in parts.items()}}

    def reference(self, reals):
        """What samples are compared with: the reals' feature statistics, their manifold (features
        and k-NN radii) and their own found-rate (each real tested against the others)."""
        out = self.outputs(reals)
        f = out["features"]
        if len(f) <= self.k:
            raise ValueError(f"the quality score needs more than k={self.k} real images, got {len(f)}")
        d = _distances(f, f)
        radii = np.sort(d, axis=1)[:, self.k]  # column 0 is the image itself
        np.fill_diagonal(d, np.inf)
        on_manifold = (d <= radii[None]).any(axis=1)
        mu, sigma = feature_statistics(f)
        return {"mu": mu, "sigma": sigma, "features": f, "radii": radii, **self.rates(out, on_manifold)}

    def score(self, reference, images):
        """{"fid": embedded FID against ``reference`` (``reference(reals)``), "found": rate, "parts":
        each test's rate}."""
        out = self.outputs(images)
        mu, sigma = feature_statistics(out["features"])
        on_manifold = (_distances(out["features"], reference["features"]) <= reference["radii"][None]).any(axis=1)
        return {"fid": frechet_distance(reference["mu"], reference["sigma"], mu, sigma), **self.rates(out, on_manifold)}


def _distances(a, b):  # (hand-written, as the manifold test: no package of the stack has improved precision)
    sq = np.sum(a * a, axis=1)[:, None] + np.sum(b * b, axis=1)[None] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def _cache_path(seed, resolution, key="scenes"):
    from suite.data.files import cache_root

    return os.path.join(cache_root(), "gan_quality", f"{key}-v{VERSION}-seed{seed}-r{resolution}.weights.h5")


def shipped_path(resolution):
    """Where the embedded scenes' classifier at ``resolution`` ships (it may not: see ``embedded_scorer``)."""
    return os.path.join(SHIPPED, f"scenes-v{VERSION}-r{int(resolution)}.weights.h5")


def embedded_scorer(resolution=RESOLUTION, progress=True):
    """The embedded scenes' scorer at ``resolution`` (a GAN's final resolution, at most ``RESOLUTION``):
    the shipped classifier (the same for every run and seed), or, at a resolution none ships for,
    one trained once (``_cached_classifier``). Either learnt from scenes of stream ``SCENES_SEED``,
    not a GAN's training or held-out scenes."""
    resolution = min(int(resolution), RESOLUTION)
    path = shipped_path(resolution)
    if os.path.isfile(path):
        return Scorer(_load(SCENE_HEADS, resolution, path))
    return Scorer(_cached_classifier(None, 0, resolution, "scenes", SCENE_HEADS, progress))


def _load(heads, resolution, path):
    model = classifier(heads, resolution)
    model.load_weights(path)
    return model


def labelled_scorer(data, seed=0, resolution=RESOLUTION, progress=True, files=None):
    """(scorer, class names) of a classifier of ``data``'s own labels (``train_label_classifier``),
    trained once per data, seed and resolution (at most ``RESOLUTION``) and cached; None when the data
    has no labels. ``files``: a folder's files as the run checked them."""
    from suite.data.images import labelled_images

    resolution = min(int(resolution), RESOLUTION)
    labelled = labelled_images(data, resolution, files)
    if labelled is None:
        return None
    _, names, key, _ = labelled
    model = _cached_classifier(data, seed, resolution, f"labels-{key}", label_heads(len(names)), progress)
    return Scorer(model), names


def _cached_classifier(data, seed, resolution, key, heads, progress):
    """The classifier cached at ``_cache_path(seed, resolution, key)``, trained first if it is not
    there. Training runs in a child process (``python -m suite.gan.quality``), so that the caller's
    random state, and so its run, is the same whether the cache was there or not; processes asking
    at once wait for the first one's training (a file lock) instead of training again."""
    import fcntl
    import subprocess

    path = _cache_path(seed, resolution, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.isfile(path):
            if progress:
                print(f"[quality] training the quality classifier once (cached in {path})", file=sys.stderr)
            # (its progress bar on stderr: a recipe's stdout is its result)
            subprocess.run([sys.executable, "-m", "suite.gan.quality", "--seed", str(seed), "--resolution",
                            str(resolution), *(["--data", str(data)] if data is not None else []),
                            *([] if progress else ["--no-progress"])], check=True,
                           stdout=sys.stderr if progress else subprocess.DEVNULL)
    return _load(heads, resolution, path)


def _train_and_cache(seed, resolution, progress, data=None, path=None):
    """Trains a classifier and writes its weights (not its optimizer's state) whole to ``path``
    (default: its cache path)."""
    if data is None:
        model, key, heads = (train_scene_classifier(seed=SCENES_SEED + seed, resolution=resolution,
                                                    progress=progress), "scenes", SCENE_HEADS)
    else:  # (the data listed and checked once)
        model, names, key = train_label_classifier(data, seed=SCENES_SEED + seed, resolution=resolution,
                                                   progress=progress)
        key, heads = f"labels-{key}", label_heads(len(names))
    bare = classifier(heads, resolution)
    bare.set_weights(model.get_weights())
    path = path or _cache_path(seed, resolution, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".weights.h5", dir=os.path.dirname(path))
    os.close(fd)
    try:
        bare.save_weights(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m suite.gan.quality",
                                     description="Train and cache a GAN quality classifier: the embedded "
                                                 "scenes', or one of a labelled dataset's classes.")
    parser.add_argument("--seed", type=int, default=0,
                        help="with --data, the GAN run's --seed; the embedded scenes' classifier, one judge for "
                             "every run, is always seed 0's")
    parser.add_argument("--resolution", type=int, default=RESOLUTION, help="scene resolution (at most 32)")
    parser.add_argument("--data", default=None,
                        help="a folder with a sub-folder per class, or tfds:NAME with a 'label' feature "
                             "(default: the embedded scenes)")
    parser.add_argument("--no-progress", action="store_true", help="no Keras progress bar")
    parser.add_argument("--ship", action="store_true",
                        help=f"write the embedded scenes' classifier where the suite ships it ({SHIPPED}), not "
                             "to the cache: run with TF_NUM_INTRAOP_THREADS=1 for the same weights each time")
    args = parser.parse_args()
    resolution = min(args.resolution, RESOLUTION)
    if args.ship and (args.data is not None or args.seed != 0):
        parser.error("--ship writes the embedded scenes' classifier, seed 0's: leave out --data and --seed")
    print(_train_and_cache(args.seed, resolution, not args.no_progress, args.data,
                           path=shipped_path(resolution) if args.ship else None))
