"""GPT fine-tuning (Radford et al. 2018, section 3.3): the pre-trained network plus one linear layer,
with the paper's task-specific input transformations and its auxiliary language-model loss.

* Input transformations (figure 1, right): every input is one token sequence, ``start text extract``
  for a single sentence and ``start first delimiter second extract`` for a pair; the linear layer
  reads the last block's state at the extract token. The three tokens are the lexicon's reserved
  ones: ``[SEP]`` starts (as every sentence of pre-training), ``[MASK]`` delimits and ``[CLS]``
  extracts (neither was seen in pre-training: GPT-1's delimiter and extract tokens were new too).
* Similarity has no inherent order: both orders are read and their extract states summed before the
  linear layer. Ranking (question and candidates, the paper's multiple choice) reads one sequence per
  candidate and takes a softmax over each group's scores.
* The loss is the task's plus ``lm_weight`` (0.5) times the language-model loss on the task's own
  sequences (L3 = L2 + lambda L1).
"""
import dataclasses
import os

import keras
import tensorflow as tf

from suite.training.task import SupervisedTask

KEYS = ("token_ids", "padding_mask", "extract_mask")


@dataclasses.dataclass(frozen=True)
class FineTuningConfig:
    optimizer: str = "adamw"
    learning_rate: float = 6.25e-5  # GPT-1's
    weight_decay: float = 0.01
    schedule: str = "linear"
    warmup: float = 0.002  # 0.2% of the steps
    global_clipnorm: float | None = 1.0
    lm_weight: float = 0.5  # lambda
    classifier_dropout: float = 0.1  # (GPT-1: 3 epochs of batch 32, the recipe's presets)

    def __post_init__(self):
        if self.lm_weight < 0:
            raise ValueError(f"lm_weight must be >= 0, got {self.lm_weight}")


PRESETS = {
    "tiny": FineTuningConfig(learning_rate=1e-3, warmup=0.05, classifier_dropout=0.0),
    "small": FineTuningConfig(learning_rate=2.5e-4, warmup=0.02),
    "paper": FineTuningConfig(),
}


def get_config(preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def transform(lexicon, length, first, second=None):
    """Strings [n] (and [n]) -> {"token_ids", "padding_mask", "extract_mask"} int32 [n, length]:
    ``[SEP] first [MASK] second [CLS]`` (or ``[SEP] first [CLS]``), the segments trimmed one token from
    each in turn so that they fit, in TensorFlow ops (it runs in the export)."""
    a = lexicon.tokenize(tf.reshape(first, [-1]))
    n = tf.shape(a.row_splits)[0] - 1
    start, extract = tf.fill([n, 1], lexicon.sep_id), tf.fill([n, 1], lexicon.cls_id)
    len_a = tf.cast(a.row_lengths(), tf.int32)
    if second is None:
        a = tf.gather(a, tf.ragged.range(tf.minimum(len_a, length - 2)), batch_dims=1)
        seq = tf.concat([start, a, extract], axis=1)
    else:
        b = lexicon.tokenize(tf.reshape(second, [-1]))
        len_b, budget = tf.cast(b.row_lengths(), tf.int32), length - 3
        take_a = tf.minimum(len_a, tf.maximum((budget + 1) // 2, budget - len_b))
        take_b = tf.minimum(len_b, budget - take_a)
        a = tf.gather(a, tf.ragged.range(take_a), batch_dims=1)
        b = tf.gather(b, tf.ragged.range(take_b), batch_dims=1)
        seq = tf.concat([start, a, tf.fill([n, 1], lexicon.mask_id), b, extract], axis=1)
    ids = seq.to_tensor(lexicon.pad_id, shape=[None, length])
    return {"token_ids": ids, "padding_mask": tf.cast(tf.not_equal(ids, lexicon.pad_id), tf.int32),
            "extract_mask": tf.cast(tf.equal(ids, lexicon.cls_id), tf.int32)}


def encoder_for(spec, lexicon, length):
    """``encode(first, second)`` for ``suite.data.glue.task_dataset``: the transformation of the task's
    kind (similarity: both orders, the second under ``*_reversed`` keys)."""
    if spec.kind == "similarity":
        def both(first, second):
            ab, ba = transform(lexicon, length, first, second), transform(lexicon, length, second, first)
            return {**ab, **{f"{k}_reversed": v for k, v in ba.items()}}

        return both
    if spec.kind == "classification":
        return lambda first, second=None: transform(lexicon, length, first)
    return lambda first, second: transform(lexicon, length, first, second)


class GPTFineTuning(SupervisedTask):
    """The pre-trained network (``suite.lm.gpt.build_network``) and a linear head on its extract state,
    for one task of ``suite.data.glue`` (``spec``); the loss is the task's plus the auxiliary LM loss."""

    def __init__(self, net, spec, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net, self.spec, self.task = net, spec, spec.name
        self.specs = {spec.name: spec}  # what suite.nlu.mtdnn's evaluation reads
        hidden = net.output["hidden"].shape[-1]
        features = keras.Input((hidden,), name="extract_state")
        x = keras.layers.Dropout(config.classifier_dropout)(features)
        out = keras.layers.Dense(spec.num_outputs, kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                                 dtype="float32", name=f"head_{spec.name}")(x)
        self.head = keras.Model(features, out, name=f"head_{spec.name}")

    def networks(self):
        return {"net": self.net, "head": self.head}

    def _read(self, x, training, suffix=""):
        """(extract states [n, H], per-sequence LM loss [n], real predicted tokens [n]) of sequences ``x``."""
        ids, mask = x["token_ids" + suffix], x["padding_mask" + suffix]
        out = self.net({"token_ids": ids, "padding_mask": mask}, training=training)
        hidden = tf.cast(out["hidden"], tf.float32)
        state = tf.reduce_sum(hidden * tf.cast(x["extract_mask" + suffix], tf.float32)[..., None], axis=1)
        weights = tf.cast(mask[:, 1:], tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(ids[:, 1:], tf.cast(out["logits"][:, :-1], tf.float32))
        count = tf.reduce_sum(weights, -1)
        return state, tf.math.divide_no_nan(tf.reduce_sum(ce * weights, -1), count), count

    def _outputs(self, inputs, training):
        """(the head's output: logits [B, C], scores [B] or group logits [B, G]; LM loss [B], tokens [B])."""
        kind = self.spec.kind
        if kind == "ranking":
            shape = tf.shape(inputs["token_ids"])
            flat = {k: tf.reshape(inputs[k], [-1, shape[-1]]) for k in KEYS}
            state, lm, count = self._read(flat, training)
            scores = tf.reshape(self.head(state, training=training)[:, 0], shape[:2])
            lm = tf.reduce_mean(tf.reshape(lm, shape[:2]), -1)
            return scores, lm, tf.reduce_sum(tf.reshape(count, shape[:2]), -1)
        state, lm, count = self._read(inputs, training)
        if kind == "similarity":
            reversed_state = self._read(inputs, training, "_reversed")[0]
            return self.head(state + reversed_state, training=training)[:, 0], lm, count
        return self.head(state, training=training), lm, count

    def head_output(self, task, inputs, training=False):
        return self._outputs(inputs, training)[0]

    def loss_terms(self, batch, training, seeds, task=None):
        inputs, targets = batch
        out, lm, count = self._outputs(inputs, training)
        kind = self.spec.kind
        if kind == "similarity":
            loss = tf.square(out - tf.cast(targets, tf.float32))
        elif kind == "ranking":
            out = tf.where(tf.cast(inputs["candidate_mask"], tf.bool), out, -1e9)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(targets, tf.int32), out)
        else:
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(targets, tf.int32), out)
        return {"loss/task": loss, "loss/lm_auxiliary": (self.config.lm_weight * lm, count)}, {}


# ------------------------------------------------------------------ the pre-trained model on disk
WEIGHTS = "gpt.weights.h5"


def save_pretrained(directory, net, config, vocabulary):
    """Writes the pre-trained GPT for ``--init-from`` (``suite.nlu.pretrained``: ``config.json``,
    ``vocabulary.txt``, ``gpt.weights.h5``, never half-written)."""
    from suite.nlu import pretrained as on_disk

    return on_disk.save(directory, config, vocabulary, net, WEIGHTS)


def pretrained(net, config, text, logdir=None):
    """The pre-training run's figures ({"parameters", "training_tokens"}, and "pretrained": the folder),
    and with ``logdir`` (the chief's) the pre-trained model saved in ``logdir/gpt`` for ``--init-from``."""
    out = {"parameters": int(net.count_params()), "training_tokens": int(len(text["ids"]))}
    if logdir:
        out["pretrained"] = save_pretrained(os.path.join(logdir, "gpt"), net, config, text["lexicon"].vocabulary)
    return out


def read_pretrained(path):
    """(config, vocabulary, weights file) of ``save_pretrained``'s folder, or of a ``recipes.gpt`` log
    directory holding one in ``gpt/``, checked without building the network."""
    from suite.lm.gpt import GPTConfig
    from suite.nlu import pretrained as on_disk

    return on_disk.read(path, GPTConfig, WEIGHTS, "gpt", "a pre-trained GPT",
                        "give the log directory of a recipes.gpt pre-training run (or its gpt/ folder)")


def load_pretrained(path):
    """(config, vocabulary, network with its weights) of ``read_pretrained``'s folder (build it under the
    strategy's scope)."""
    from suite.lm.gpt import build_network

    config, vocabulary, weights = read_pretrained(path)
    net = build_network(config)
    net.load_weights(weights)
    return config, vocabulary, net


# ------------------------------------------------------------------ serving
def task_endpoint(model, lexicon, length):
    """The fine-tuned task's signature on raw strings (``sentence``; ``sentence1``, ``sentence2``;
    ``question``, ``candidate``): ``label``, ``label_id`` and ``probabilities`` for classes, ``score``
    for similarity (0-5) and ranking (relevance in (0, 1) by a sigmoid; rank a question's candidates
    by it)."""
    spec = model.spec
    encode = encoder_for(spec, lexicon, length)

    def strings(*names):
        return [tf.TensorSpec([None], tf.string, name=n) for n in names]

    def same_size(a, b, names):
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.size(a), tf.size(b), message=f"{names[0]} and {names[1]} must hold the same number of strings")]):
            return tf.identity(a), tf.identity(b)

    def classify(x):
        probs = tf.nn.softmax(tf.cast(model.head_output(spec.name, x), tf.float32), axis=-1)
        ids = tf.argmax(probs, axis=-1)
        return {"label": tf.gather(tf.constant(list(spec.labels)), ids), "label_id": ids, "probabilities": probs}

    if spec.kind == "classification":
        return (lambda sentence: classify(encode(sentence))), strings("sentence")
    if spec.kind == "pairwise":
        return (lambda sentence1, sentence2: classify(encode(*same_size(sentence1, sentence2, ("sentence1", "sentence2"))))
                ), strings("sentence1", "sentence2")
    if spec.kind == "similarity":
        def similarity(sentence1, sentence2):
            x = encode(*same_size(sentence1, sentence2, ("sentence1", "sentence2")))
            return {"score": tf.cast(model.head_output(spec.name, x), tf.float32)}

        return similarity, strings("sentence1", "sentence2")

    def relevance(question, candidate):
        x = {k: v[:, None] for k, v in encode(*same_size(question, candidate, ("question", "candidate"))).items()}
        return {"score": tf.sigmoid(tf.cast(model.head_output(spec.name, x), tf.float32))[:, 0]}

    return relevance, strings("question", "candidate")
