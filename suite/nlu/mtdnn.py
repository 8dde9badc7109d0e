"""MT-DNN (Liu et al. 2019): one shared BERT encoder, one output layer per task, multi-task training.

Task-specific layers (section 3), on the encoder's outputs:

* single-sentence classification: dropout and a softmax layer on the [CLS]
  vector (its contextual embedding, as section 3.1 has it: not the
  pre-training pooler, whose shared tanh the confident classification tasks
  saturate, starving the regression and ranking tasks of gradient),
* text similarity: a linear regression of the score on the [CLS] vector
  (mean squared error),
* pairwise classification: the stochastic answer network (``SAN``, K = 5
  steps) over the premise and hypothesis, or a softmax layer on [CLS],
* relevance ranking: a sigmoid relevance score ``g(w . [CLS])`` per
  (question, candidate); the loss is the cross-entropy of the softmax of
  ``gamma * score`` over each question's candidate group (equation 6).

Training (section 4): every mini-batch comes from one task; tasks are drawn
in proportion to their sizes (``task_schedule``); each step updates the
shared encoder and that task's layer only (no other head sees a gradient or
an optimizer update); Adamax with linear warm-up and decay, gradients
clipped to norm 1.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from suite.layers.nlu import StochasticAnswerNetwork
from suite.nlu import bert
from suite.training.evaluator import Evaluator
from suite.training.optimizers import OptimizerSpec
from suite.training.task import SupervisedTask

BERT_INPUTS = ("token_ids", "segment_ids", "padding_mask")


@dataclasses.dataclass(frozen=True)
class MTDNNConfig:
    encoder: bert.BertConfig
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    epochs: int = 5
    steps_per_epoch: int = 0  # 0: one pass over every task's training data
    head_dropout: float = 0.1
    san: bool = True
    san_steps: int = 5
    san_prediction_dropout: float = 0.1
    ranking_gamma: float = 10.0
    global_clipnorm: float = 1.0

    def __post_init__(self):
        for name in ("batch_size", "epochs", "san_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.learning_rate <= 0 or not 0 <= self.warmup < 1:
            raise ValueError(f"learning_rate must be > 0 and warmup in [0, 1), got {self.learning_rate}, "
                             f"{self.warmup}")


PRESETS = {
    # a from-scratch tiny encoder: a larger learning rate than fine-tuning BERT (at 1e-3 the
    # single-sentence tasks sit on a plateau for 2,000+ steps; 3e-3 leaves it within ~700); the
    # cross-segment tasks (sts, qnli) match words across segments, which 4 heads of 16 dimensions learn
    # sooner and more surely than tiny BERT's 2 of 32 at the same cost (8,000 steps: sts Pearson 0.55
    # against 0.33, qnli MRR 0.71 against 0.67; sts alone: 0.27 against 0.06 after 1,000 steps)
    # 4 epochs of 2,000 steps: whether sts takes off within 3 epochs depends on the seed and the CPU's
    # rounding (with each task padded to its longest example, seeds 0/1/2: sts Pearson 0.11/0.50/0.19 after
    # 6,000 steps, 0.56/-/0.55 after 8,000; qnli MRR 0.59/0.58/0.56, then 0.67/-/0.55)
    "tiny": MTDNNConfig(dataclasses.replace(bert.PRESETS["tiny"], num_heads=4), batch_size=32, learning_rate=3e-3,
                        epochs=4, steps_per_epoch=2000, san_steps=3),
    "small": MTDNNConfig(bert.PRESETS["small"], batch_size=32, learning_rate=5e-4, epochs=5),
    # the paper: BERT-base, Adamax 5e-5, batch 32, 5 epochs, warm-up over 10% of the steps
    "paper": MTDNNConfig(bert.PRESETS["paper"], batch_size=32, learning_rate=5e-5, epochs=5),
}


def get_config(preset="small", encoder=None, **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    config = dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(config, encoder=encoder) if encoder is not None else config


# ------------------------------------------------------------------ heads
def build_head(spec, backbone, config, seed=None):
    """Functional model: the encoder's inputs [n, L] -> this task's output, through the shared
    ``backbone``: logits [n, classes] (classification, pairwise without SAN), probabilities
    [n, classes] (SAN), a score [n] (similarity) or a relevance logit [n] (ranking)."""
    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in BERT_INPUTS}
    encoded = backbone(inputs)
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    name = f"head_{spec.name}"
    if spec.kind == "pairwise" and config.san:
        out = StochasticAnswerNetwork(spec.num_outputs, steps=config.san_steps, dropout=config.head_dropout,
                                      prediction_dropout=config.san_prediction_dropout, seed=seed, name=name)(
            [encoded["sequence_output"], inputs["segment_ids"], inputs["padding_mask"]])
    else:
        # x = the contextual embedding of [CLS] (section 3.1), not the pre-training pooler: its
        # tanh, shared by every task, saturates under confident classification tasks and then
        # passes the regression and ranking tasks no gradient
        cls = encoded["sequence_output"][:, 0, :]
        pooled = keras.layers.Dropout(config.head_dropout, seed=seed)(cls)
        out = keras.layers.Dense(spec.num_outputs, kernel_initializer=init, dtype="float32", name=name)(pooled)
        if spec.num_outputs == 1:
            out = keras.layers.Reshape(())(out)
    return keras.Model(inputs, out, name=f"task_{spec.name}")


def outputs_probabilities(spec, config):
    """Whether the head of ``spec`` answers probabilities (SAN's averaged softmax) rather than logits;
    a config without ``san`` (GPT's fine-tuning) answers logits."""
    return spec.kind == "pairwise" and getattr(config, "san", False)


def ranking_loss(logits, answers, mask, gamma):
    """Equation 6: -log softmax(gamma * sigmoid(logits)) at each group's answer; ``logits`` and
    ``mask`` [B, G], ``answers`` [B]; padded candidates take no part. Returns [B]."""
    scores = gamma * tf.sigmoid(tf.cast(logits, tf.float32))
    scores = tf.where(tf.cast(mask, tf.bool), scores, -1e9)
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(answers, tf.int32), logits=scores)


def task_losses(spec, config, output, targets, mask=None):
    """Per-example losses [B] of one task's head output."""
    if spec.kind == "similarity":
        return tf.square(tf.cast(output, tf.float32) - tf.cast(targets, tf.float32))
    if spec.kind == "ranking":
        return ranking_loss(output, targets, mask, config.ranking_gamma)
    if outputs_probabilities(spec, config):
        probs = tf.clip_by_value(tf.cast(output, tf.float32), 1e-7, 1.0)
        return -tf.math.log(tf.gather(probs, tf.cast(targets, tf.int32), batch_dims=1))
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(targets, tf.int32),
                                                          logits=tf.cast(output, tf.float32))


def flatten_groups(inputs):
    """Ranking inputs [B, G, L] -> [B * G, L] (other tasks' pass through)."""
    return {k: tf.reshape(inputs[k], [-1, tf.shape(inputs[k])[-1]]) for k in BERT_INPUTS}


# ------------------------------------------------------------------ the model
class MTDNN(SupervisedTask):
    """The shared encoder and the task heads, trained by the task base (``suite.training.task``)
    with one task's batch per step: ``train_step(batch, task=NAME)`` updates the encoder and that
    task's head only."""

    def __init__(self, backbone, specs, config, seed=None, **kwargs):
        super().__init__(config, seed=seed or 0, **kwargs)
        self.backbone = backbone
        self.specs = {s.name: s for s in specs}
        if not self.specs:
            raise ValueError("MT-DNN needs at least one task")
        self.heads = {name: build_head(s, backbone, config, seed=seed) for name, s in self.specs.items()}
        # a smoothed loss per task for the logs (one task per step: the step's loss alone is noisy)
        self.task_loss = {name: tf.Variable(0.0, trainable=False, name=f"loss_{name}",
                                            synchronization=tf.VariableSynchronization.ON_READ,
                                            aggregation=tf.VariableAggregation.MEAN) for name in self.specs}

    def networks(self):
        return {"backbone": self.backbone, **{f"head_{name}": head for name, head in self.heads.items()}}

    def optimizer_spec(self):
        """Adamax, linear warm-up and decay, gradients clipped to global norm 1 (section 4)."""
        c = self.config
        return OptimizerSpec("adamax", c.learning_rate, global_clipnorm=c.global_clipnorm, schedule="linear",
                             warmup=c.warmup)

    def call(self, inputs, task=None, training=False):
        name = task or next(iter(self.specs))
        return self.heads[name]({k: inputs[k] for k in BERT_INPUTS}, training=training)

    def build_all(self, sequence_length):
        dummy = {k: tf.zeros([2, sequence_length], tf.int32) for k in BERT_INPUTS}
        for head in self.heads.values():
            head(dummy)

    def trainable_for(self, task=None):
        return self.heads[task].trainable_variables  # the shared encoder's and this head's

    def head_output(self, task, inputs, training=False):
        """The head's output; ranking inputs [B, G, L] give logits [B, G]."""
        spec = self.specs[task]
        if spec.kind == "ranking":
            flat = self.heads[task](flatten_groups(inputs), training=training)
            return tf.reshape(flat, tf.shape(inputs["candidate_mask"]))
        return self.heads[task]({k: inputs[k] for k in BERT_INPUTS}, training=training)

    def loss_terms(self, batch, training, seeds, task):
        inputs, targets = batch
        output = self.head_output(task, inputs, training=training)
        return {"loss/task": task_losses(self.specs[task], self.config, output, targets,
                                         inputs.get("candidate_mask"))}, {}

    def train_step(self, batch, step=0, task=None):
        loss = super().train_step(batch, step, task)["loss"]
        smoothed = self.task_loss[task]
        smoothed.assign(tf.where(tf.equal(smoothed, 0.0), loss, 0.95 * smoothed + 0.05 * loss))
        return {"loss": loss, **{f"loss/{name}": v.read_value() for name, v in self.task_loss.items()}}


def task_schedule(sizes, steps, seed=0):
    """The task of each of ``steps`` training steps: drawn with probability proportional to the
    task's size (``sizes``: {task: examples}), deterministic from ``seed``."""
    names = list(sizes)
    weights = np.array([sizes[n] for n in names], np.float64)
    if (weights <= 0).any():
        raise ValueError(f"every task needs examples, got {sizes}")
    rng = np.random.default_rng([seed, 11])
    return [names[i] for i in rng.choice(len(names), size=steps, p=weights / weights.sum())]


def epoch_steps(sizes, batch_size):
    """Steps of one pass over every task's data (MT-DNN's epoch)."""
    return int(sum(-(-n // batch_size) for n in sizes.values()))


# ------------------------------------------------------------------ inference
def predict(model, task, dataset):
    """Predictions of ``task`` over ``dataset`` (batches of (inputs, targets)) -> (outputs, targets):
    classes' probabilities [N, C], scores [N] or ranking logits [N, G] (with the mask)."""
    spec = model.specs[task]
    forward = model.__dict__.setdefault("_predict_fns", {})  # one traced forward pass per task
    if task not in forward:
        softmax = spec.kind in ("classification", "pairwise") and not outputs_probabilities(spec, model.config)
        forward[task] = tf.function(lambda x: (tf.nn.softmax if softmax else tf.identity)(
            model.head_output(task, x, training=False)), reduce_retracing=True)
    outputs, targets, masks = [], [], []
    for inputs, y in dataset:
        out = forward[task](inputs)
        outputs.append(out.numpy())
        targets.append(y.numpy())
        if spec.kind == "ranking":
            masks.append(inputs["candidate_mask"].numpy())
    return np.concatenate(outputs), np.concatenate(targets), (np.concatenate(masks) if masks else None)


def evaluate(model, task, dataset):
    """The task's GLUE scores ({metric: value}) over ``dataset``."""
    from suite.nlu import metrics

    spec = model.specs[task]
    out, y, mask = predict(model, task, dataset)
    if spec.kind == "ranking":
        return metrics.ranking_scores(out, y, mask)
    predictions = out if spec.kind == "similarity" else np.argmax(out, axis=-1)
    return {m: metrics.SCORERS[m](y, predictions) for m in spec.metrics}


class TaskEvaluator(Evaluator):
    """At the end of every stage (chief only): each task's GLUE scores on its development data,
    logged to TensorBoard as ``dev/<task>/<metric>``; ``history`` keeps (step, {task: scores})."""

    prefix = "dev"

    def __init__(self, model, datasets):
        super().__init__()
        self.model, self.datasets = model, datasets  # {task: finite dataset of (inputs, targets)}

    def evaluate(self):
        return {task: evaluate(self.model, task, ds) for task, ds in self.datasets.items()}, None

    def describe(self, scores):
        return "  ".join(f"{t} {next(iter(v))} {next(iter(v.values())):.3f}" for t, v in scores.items())
