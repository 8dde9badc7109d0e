"""The lineage measured on the same tasks: one task model on top of each generation's frozen features.

Static vectors (word2vec, the NNLM) and ELMo are used as their papers used them: frozen features
under a task model of its own; here one BiLSTM task model for every generation (Peters et al.
2018 add ELMo to each task's existing model), so that only the features differ:

* ``scratch``: word embeddings learnt from the task alone (no pre-training), the reference;
* ``static``: a word2vec or NNLM run's vectors, frozen (an unknown word: ``<unk>``'s vector);
* ``elmo``: a pre-trained biLM, frozen, under a trainable ``ScalarMix`` of its layers, beside
  embeddings learnt from the task (the paper's [x_k; ELMo_k]).

The task model: a BiLSTM over each sentence's features, its states averaged over the sentence's
words, then for a pair [u; v; |u - v|; u * v] (Conneau et al. 2017), a ReLU layer and the classes'
softmax, or for similarity (sts) one linear output trained on the squared error. Ranking (qnli) is
scored pointwise: each (question, candidate) pair is classified as the answer or not, and each
question's candidates are ranked by that probability (MT-DNN's listwise softmax needs a group's
candidates in one example, which the task model's flat inputs do not have).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class TaskModelConfig:
    units: int = 64  # each direction of the BiLSTM
    hidden: int = 64
    dropout: float = 0.1
    scratch_dim: int = 64  # the task-only embeddings' width
    learning_rate: float = 2e-3
    batch: int = 32
    epochs: int = 8  # SST learns surely by then (0.95-1.0 over three seeds; at 4: 0.48-0.73)


# ------------------------------------------------------------------ features of sentences
# a generation's features: ``inputs(sentences)`` -> {name: numpy array}, and ``layer(prefix)`` -> (keras
# inputs in that order, features [B, T, D], int mask [B, T])
class WordFeatures:
    """Words looked up in ``words`` (index 0 is ``<unk>``): frozen ``vectors`` [V, D], or embeddings
    of ``dim`` learnt from the task when ``vectors`` is None."""

    def __init__(self, words, vectors=None, dim=64, name="static"):
        self.index = {w: i for i, w in enumerate(words)}
        self.vectors, self.dim, self.name, self.size = vectors, dim, name, len(words)
        self.embedding = None

    def inputs(self, sentences):
        from suite.data.text_corpus import tokenize

        rows = [[self.index.get(w, 0) for w in tokenize(s)] or [0] for s in sentences]
        width = max(len(r) for r in rows)
        ids = np.zeros((len(rows), width), np.int32)
        mask = np.zeros((len(rows), width), np.int32)
        for k, r in enumerate(rows):
            ids[k, :len(r)], mask[k, :len(r)] = r, 1
        return {"ids": ids, "mask": mask}

    def layer(self, prefix):
        if self.embedding is None:  # one table for both sentences of a pair
            frozen = self.vectors is not None
            self.embedding = keras.layers.Embedding(
                self.size, self.dim if not frozen else self.vectors.shape[1], trainable=not frozen,
                embeddings_initializer=keras.initializers.Constant(self.vectors) if frozen else "uniform",
                name=f"{self.name}_vectors")
        ids = keras.Input((None,), dtype="int32", name=f"{prefix}ids")
        mask = keras.Input((None,), dtype="int32", name=f"{prefix}mask")
        return [ids, mask], self.embedding(ids), mask


class ElmoFeatures:
    """A pre-trained biLM, frozen, under a ``ScalarMix`` the task trains (``suite.lm.elmo.features``),
    beside the task's own word embeddings as Peters et al. use it: [x_k; ELMo_k] (``words``: the
    task's words, ``<unk>`` first; None: ELMo alone)."""

    def __init__(self, net, config, words=None, dim=64, name="elmo"):
        from suite.lm import elmo

        self.config, self.mix, self.name = config, elmo.features(net), name
        self.words = WordFeatures(words, None, dim, name=f"{name}_task") if words is not None else None

    def inputs(self, sentences):
        from suite.lm.elmo import sentence_inputs

        _, x = sentence_inputs(tf.constant(list(sentences)), self.config.max_characters)
        out = {"characters": x["characters"].numpy(), "mask": x["mask"].numpy()}
        if self.words is not None:  # the words' ids at ELMo's positions (its <s> at either end: <unk>)
            ids = self.words.inputs(sentences)["ids"]
            out["ids"] = np.zeros(out["mask"].shape, np.int32)
            out["ids"][:, 1:ids.shape[1] + 1] = ids
        return out

    def layer(self, prefix):
        chars = keras.Input((None, self.config.max_characters), dtype="int32", name=f"{prefix}characters")
        mask = keras.Input((None,), dtype="int32", name=f"{prefix}mask")
        x = self.mix({"characters": chars, "mask": mask})
        if self.words is None:
            return [chars, mask], x, mask
        (ids, _), own, _ = self.words.layer(prefix)
        return [chars, mask, ids], keras.layers.Concatenate(name=f"{prefix}with_elmo")([own, x]), mask


# ------------------------------------------------------------------ the task model
def build_task_model(features, num_classes, pair, config=TaskModelConfig(), name="task_model"):
    """inputs (one or two sentences' feature inputs) -> class probabilities [B, C], or with
    ``num_classes`` None a score [B, 1] (similarity)."""
    lstm = keras.layers.Bidirectional(keras.layers.LSTM(config.units, return_sequences=True), name="bilstm")
    pool = keras.layers.GlobalAveragePooling1D(name="mean_over_words")
    inputs, encoded = [], []
    for prefix in (("first_", "second_") if pair else ("first_",)):
        x_in, x, mask = features.layer(prefix)
        on = keras.layers.Identity(name=f"{prefix}on")(mask) > 0  # a bool mask for the LSTM and the mean
        x = keras.layers.Dropout(config.dropout, name=f"{prefix}dropout")(x)
        encoded.append(pool(lstm(x, mask=on), mask=on))
        inputs += x_in
    if pair:
        u, v = encoded
        x = keras.layers.Concatenate(name="pair")([u, v, keras.ops.abs(u - v), u * v])
    else:
        x = encoded[0]
    x = keras.layers.Dense(config.hidden, activation="relu", name="hidden")(x)
    x = keras.layers.Dropout(config.dropout, name="hidden_dropout")(x)
    out = (keras.layers.Dense(1, name="score") if num_classes is None
           else keras.layers.Dense(num_classes, activation="softmax", name="classes"))(x)
    return keras.Model(inputs, out, name=name)


def examples(task):
    """(first, second or None, labels) of the task model's examples: a ranking task's groups become one
    (question, candidate) pair per real candidate, labelled 1 for the answer and 0 for the others."""
    if task.spec.kind != "ranking":
        return task.first, task.second, task.labels
    g, c = np.nonzero(task.mask)
    return task.first[g], task.second[g, c], (c == task.labels[g]).astype(np.int32)


def task_inputs(features, first, second=None):
    """The task model's inputs (a list, in ``build_task_model``'s order) for sentences (or pairs)."""
    out = []
    for sentences in ((first, second) if second is not None else (first,)):
        x = features.inputs(sentences)
        out += [x[k] for k in x]
    return out


def dev_scores(spec, dev, outputs):
    """The task's development scores from the task model's ``outputs`` on ``examples(dev)``."""
    from suite.nlu import metrics

    if spec.kind == "similarity":
        return {m: metrics.SCORERS[m](dev.labels, outputs[:, 0]) for m in spec.metrics}
    if spec.kind == "ranking":
        scores = np.full(dev.mask.shape, -np.inf)
        scores[np.nonzero(dev.mask)] = outputs[:, 1]  # the probability of being the answer
        return metrics.ranking_scores(scores, dev.labels, dev.mask)
    predicted = np.argmax(outputs, -1)
    return {m: metrics.SCORERS[m](dev.labels, predicted) for m in spec.metrics}


def fit_and_score(features, train, dev, config=TaskModelConfig(), seed=0):
    """Trains a task model on ``train`` (a ``suite.data.glue.TaskData`` of any kind) and returns its
    development scores (the task's metrics) and the untrained model's."""
    keras.utils.set_random_seed(seed)
    spec = train.spec
    first, second, labels = examples(train)
    regression = spec.kind == "similarity"
    model = build_task_model(features, None if regression else max(2, len(spec.labels)), second is not None, config)
    model.compile(keras.optimizers.Adam(config.learning_rate),
                  "mean_squared_error" if regression else "sparse_categorical_crossentropy")
    x_train, x_dev = task_inputs(features, first, second), task_inputs(features, *examples(dev)[:2])

    def scores():
        return dev_scores(spec, dev, model.predict(x_dev, batch_size=256, verbose=0))

    initial = scores()
    model.fit(x_train, labels, batch_size=config.batch, epochs=config.epochs, shuffle=True, verbose=0)
    return {"initial": initial, "final": scores(), "trainable": int(sum(np.prod(v.shape)
                                                                          for v in model.trainable_variables))}
