"""RMDL's configuration, the features of each modality, and one Keras functional model per member spec.

Features (computed once per batch in the input pipeline, and in the serving
graph from raw inputs):

* text: ``tfidf`` [V] (Keras ``TextVectorization`` in ``tf_idf`` mode) for
  DNNs, ``tokens`` [L] (word indices) for CNNs and RNNs, whose embedding is
  trained, or initialised from a GloVe/word2vec text file;
* image: ``pixels`` [S, S, 3], each image standardised to mean 0 and
  variance 1 (any input size resized; shape, not colour, tells): a DNN
  reads them flattened, a CNN in 2-D, an RNN row by row;
* points: ``points`` [P, 7], centred on their centroid, scaled into the
  unit sphere and put in a canonical order (by distance from the centroid,
  which no pose changes), resampled to P at evenly spaced ranks, with that
  distance as a seventh channel: a DNN reads them flattened, a CNN in 1-D
  along that order, an RNN shell by shell (16 steps of P / 16 consecutive
  points, or point by point when P is no multiple of 16).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from suite.rmdl.specs import Ranges

RNN_STEPS = 16  # an RNN reads a point cloud as 16 shells of P / 16 points (P a multiple of 16; else point by point)
FEATURE = {("text", "dnn"): "tfidf", ("text", "cnn"): "tokens", ("text", "rnn"): "tokens"}


@dataclasses.dataclass(frozen=True)
class RMDLConfig:
    modality: str = "image"
    num_classes: int = 5
    dnn: int = 3
    cnn: int = 3
    rnn: int = 3
    ranges: Ranges = Ranges()
    image_size: int = 32
    num_points: int = 128
    max_tokens: int = 2000
    sequence_length: int = 48
    embedding_dim: int = 32
    vote: str = "majority"
    batch_size: int = 64
    epochs: int = 5
    steps_per_epoch: int = 40
    train_examples: int = 3000
    test_examples: int = 600

    @property
    def counts(self):
        return {"dnn": self.dnn, "cnn": self.cnn, "rnn": self.rnn}


PRESETS = {
    # seconds on a CPU: small members, a few hundred steps
    "tiny": RMDLConfig(ranges=Ranges(dnn_layers=(1, 3), dnn_units=(64, 256), cnn_layers=(2, 4), cnn_filters=(16, 32),
                                     rnn_layers=(1, 2), rnn_units=(16, 32), dropout=(0.1, 0.3),
                                     optimizers=("adam", "rmsprop"), learning_rate_scale=3.0),
                       sequence_length=32, epochs=6, steps_per_epoch=50),
    # minutes on a laptop CPU
    "small": RMDLConfig(ranges=Ranges(dnn_layers=(1, 4), dnn_units=(128, 512), cnn_layers=(3, 6),
                                      cnn_filters=(32, 128), rnn_layers=(1, 3), rnn_units=(32, 64)),
                        max_tokens=10000, sequence_length=64, embedding_dim=50, batch_size=128, epochs=20,
                        steps_per_epoch=100, train_examples=20000, test_examples=2000),
    # the paper's ranges (Kowsari et al. 2018, section 3): DNN 1-8 x 128-1024, CNN 3-10 x 128-512, RNN 1-5 x 32-128
    "paper": RMDLConfig(ranges=Ranges(), max_tokens=75000, sequence_length=500, embedding_dim=100, batch_size=128,
                        epochs=100, steps_per_epoch=500, train_examples=20000, test_examples=5000),
}


def get_config(preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def feature_of(modality, kind):
    return FEATURE.get((modality, kind), {"image": "pixels", "points": "points"}.get(modality))


# ------------------------------------------------------------------ features
def normalize_points(points, num_points):
    """[N, n, 6] (any n >= 1) -> [N, num_points, 7]: centred, scaled into the unit sphere, ordered by
    distance from the centroid, resampled at evenly spaced ranks, that distance appended (the one
    feature no pose changes); in TensorFlow ops: it serves."""
    points = tf.cast(points, tf.float32)
    xyz, rgb = points[..., :3], points[..., 3:]
    xyz = xyz - tf.reduce_mean(xyz, axis=1, keepdims=True)
    radius = tf.norm(xyz, axis=-1)
    xyz = xyz / tf.maximum(tf.reduce_max(radius, axis=1, keepdims=True), 1e-6)[..., None]
    order = tf.argsort(radius, axis=1, stable=True)
    n = tf.shape(points)[1]
    ranks = tf.cast((tf.range(num_points, dtype=tf.float32) + 0.5) * tf.cast(n, tf.float32) / num_points, tf.int32)
    pick = tf.gather(order, tf.minimum(ranks, n - 1), axis=1)
    radius = tf.norm(xyz, axis=-1, keepdims=True)
    return tf.gather(tf.concat([xyz, rgb, radius], -1), pick, axis=1, batch_dims=1)


class Featurizer(tf.Module):
    """Raw inputs of a batch -> the features its members read (see the module docstring)."""

    def __init__(self, config, texts=None):
        super().__init__(name="featurizer")
        self.config = config
        if config.modality == "text":
            if texts is None:
                raise ValueError("the text featurizer is adapted on the training texts")
            self.tfidf = keras.layers.TextVectorization(max_tokens=config.max_tokens, output_mode="tf_idf")
            self.tokens = keras.layers.TextVectorization(max_tokens=config.max_tokens,
                                                         output_sequence_length=config.sequence_length)
            corpus = tf.data.Dataset.from_tensor_slices(np.asarray(texts, str)).batch(512)
            self.tfidf.adapt(corpus)
            self.tokens.adapt(corpus)

    @property
    def vocabulary(self):
        return self.tokens.get_vocabulary() if self.config.modality == "text" else None

    def shapes(self):
        """{feature: (shape, dtype)} of one example."""
        c = self.config
        if c.modality == "text":
            return {"tfidf": ((self.tfidf.vocabulary_size(),), "float32"), "tokens": ((c.sequence_length,), "int64")}
        if c.modality == "image":
            return {"pixels": ((c.image_size, c.image_size, 3), "float32")}
        return {"points": ((c.num_points, 7), "float32")}

    def __call__(self, raw):
        c = self.config
        if c.modality == "text":
            return {"tfidf": tf.cast(self.tfidf(raw), tf.float32), "tokens": tf.cast(self.tokens(raw), tf.int64)}
        if c.modality == "image":
            images = tf.cast(raw, tf.float32)
            if raw.shape[1] != c.image_size or raw.shape[2] != c.image_size:
                images = tf.image.resize(images, [c.image_size, c.image_size], antialias=True)
            return {"pixels": tf.image.per_image_standardization(tf.clip_by_value(images, 0.0, 255.0))}
        return {"points": normalize_points(raw, c.num_points)}


# ------------------------------------------------------------------ word vectors
def read_word_vectors(path, vocabulary, dim=None):
    """A GloVe / word2vec text file (``word v1 v2 ...`` per line; a word2vec ``count dim`` first line
    is skipped) -> (matrix [len(vocabulary), D] for ``vocabulary``, words found). Words the file
    lacks get small random vectors."""
    from suite.data.errors import DataError

    index = {w: i for i, w in enumerate(vocabulary)}
    found, matrix = 0, None
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                parts = line.rstrip().split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue
                if len(parts) < 2:
                    raise DataError(f"--embeddings {path}: line {number} holds no vector")
                if matrix is None:
                    dim = len(parts) - 1
                    rng = np.random.default_rng(31)
                    matrix = rng.normal(0, 0.1, (len(vocabulary), dim)).astype(np.float32)
                if len(parts) - 1 != dim:
                    raise DataError(f"--embeddings {path}: line {number} has {len(parts) - 1} numbers, "
                                    f"the first had {dim}")
                if parts[0] in index:
                    try:
                        matrix[index[parts[0]]] = np.array(parts[1:], np.float32)
                    except ValueError:
                        raise DataError(f"--embeddings {path}: line {number} holds something that is not a number") \
                            from None
                    found += 1
    except FileNotFoundError:
        raise DataError(f"--embeddings {path}: no such file") from None
    except UnicodeDecodeError:
        raise DataError(f"--embeddings {path}: not a UTF-8 text file of word vectors") from None
    if matrix is None:
        raise DataError(f"--embeddings {path}: no word vectors in the file")
    return matrix, found


# ------------------------------------------------------------------ members
def _head(x, spec, num_classes, name):
    x = keras.layers.Dropout(spec.dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name=f"{name}_probabilities")(x)


def _embedded(x, config, vocabulary_size, embeddings, name):
    dim = config.embedding_dim if embeddings is None else embeddings.shape[1]
    init = "uniform" if embeddings is None else keras.initializers.Constant(embeddings)
    return keras.layers.Embedding(vocabulary_size, dim, embeddings_initializer=init, mask_zero=False,
                                  name=f"{name}_embedding")(x)


def build_member(spec, config, featurizer, embeddings=None, name="member"):
    """The functional model of one member: its feature (``feature_of``) -> class probabilities."""
    shape, dtype = featurizer.shapes()[feature_of(config.modality, spec.kind)]
    inputs = keras.Input(shape=shape, dtype=dtype, name=f"{name}_{feature_of(config.modality, spec.kind)}")
    modality, x = config.modality, inputs
    if spec.kind == "dnn":
        x = keras.layers.Flatten(name=f"{name}_flatten")(x) if len(shape) > 1 else x
        for i, width in enumerate(spec.widths):
            x = keras.layers.Dense(width, activation="relu", name=f"{name}_dense{i + 1}")(x)
            x = keras.layers.Dropout(spec.dropout, name=f"{name}_dropout{i + 1}")(x)
        return keras.Model(inputs, _head(x, spec, config.num_classes, name), name=name)
    if modality == "text":
        vocabulary_size = featurizer.tokens.vocabulary_size()
        x = _embedded(x, config, vocabulary_size, embeddings, name)
    elif modality == "image" and spec.kind == "rnn":  # rows as time steps
        x = keras.layers.Reshape((shape[0], shape[1] * shape[2]), name=f"{name}_rows")(x)
    elif modality == "points" and spec.kind == "rnn" and shape[0] % RNN_STEPS == 0:
        # shells of consecutive points (in the order of distance from the centroid) as time steps
        x = keras.layers.Reshape((RNN_STEPS, shape[0] // RNN_STEPS * shape[1]), name=f"{name}_shells")(x)
    if spec.kind == "cnn":
        two_d = modality == "image"
        conv = keras.layers.Conv2D if two_d else keras.layers.Conv1D
        pool = keras.layers.MaxPooling2D if two_d else keras.layers.MaxPooling1D
        length = shape[0] if modality != "text" else config.sequence_length
        pools = max(1, int(np.log2(max(length, 2))) - 1)  # down to 2-4 positions at most
        every = max(1, -(-len(spec.widths) // pools))  # pool after every few layers, deep CNNs too
        for i, width in enumerate(spec.widths):
            x = conv(width, 3, padding="same", activation="relu", name=f"{name}_conv{i + 1}")(x)
            if (i + 1) % every == 0 and length > 2:
                x = pool(2, name=f"{name}_pool{i + 1}")(x)
                length //= 2
        x = (keras.layers.GlobalMaxPooling2D if two_d else keras.layers.GlobalMaxPooling1D)(name=f"{name}_global")(x)
        return keras.Model(inputs, _head(x, spec, config.num_classes, name), name=name)
    cell = keras.layers.LSTM if spec.cell == "lstm" else keras.layers.GRU
    for i, width in enumerate(spec.widths):
        last = i == len(spec.widths) - 1
        x = cell(width, return_sequences=not last, name=f"{name}_{spec.cell}{i + 1}")(x)
    return keras.Model(inputs, _head(x, spec, config.num_classes, name), name=name)
