"""BERT pre-training data and objective: next-sentence pairs and masked-LM targets.

Next-sentence prediction: for each pair of consecutive sentences of a
document, half the time the true next sentence (label 1), half the time a
sentence of another document (label 0). Masked LM: 15% of the tokens (never
[CLS], [SEP] or padding), of which 80% become [MASK], 10% a random token and
10% stay, chosen by keras-hub's ``MaskedLMMaskGenerator`` in the input
pipeline, so each epoch masks afresh (dynamic masking, Liu et al. 2019;
BERT masked each sequence 10 ways offline to the same effect).
"""
import numpy as np
import tensorflow as tf

from suite.training.evaluator import Evaluator
from suite.training.optimizers import OptimizerSpec
from suite.training.task import SupervisedTask


def next_sentence_pairs(documents, seed=0):
    """[(first, second, is_next)] from documents (lists of sentences), half of them random."""
    rng = np.random.default_rng([seed, 7])
    if len(documents) < 2:
        raise ValueError(f"next-sentence pairs need at least 2 documents, got {len(documents)}")
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 1))
            else:
                other = int(rng.integers(len(documents) - 1))
                other += other >= d
                pairs.append((doc[i], documents[other][int(rng.integers(len(documents[other])))], 0))
    return pairs


def mask_generator(lexicon, config):
    import keras_hub

    return keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=lexicon.vocabulary_size, mask_selection_rate=config.mask_rate,
        mask_token_id=lexicon.mask_id, mask_selection_length=config.max_predictions,
        unselectable_token_ids=[lexicon.pad_id, lexicon.cls_id, lexicon.sep_id],
        mask_token_rate=0.8, random_token_rate=0.1)


def pretraining_dataset(lexicon, pairs, config, batch_size, seed=0, repeat=True, shard=None, start=0):
    """Batches of (inputs, targets, sample weights) for ``build_pretraining_model``: shuffled and
    repeated (``repeat``, from the ``start``-th batch of that seeded order), or each pair once."""
    first, second, labels = (list(x) for x in zip(*pairs))
    ds = tf.data.Dataset.from_tensor_slices((first, second, np.asarray(labels, np.int32)))
    if shard is not None and shard[0] > 1:
        ds = ds.shard(*shard)
    ds = ds.cache()
    if repeat:
        ds = ds.shuffle(min(len(pairs), 20000), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.skip(start * batch_size)
    masker = mask_generator(lexicon, config)

    def encode(a, b, label):
        x = lexicon.encode(a, b)
        masked = masker(x["token_ids"])
        inputs = {**x, "token_ids": masked["token_ids"], "mask_positions": tf.cast(masked["mask_positions"], tf.int32)}
        targets = {"mlm": masked["mask_ids"], "nsp": label}
        weights = {"mlm": tf.cast(masked["mask_weights"], tf.float32), "nsp": tf.ones_like(label, tf.float32)}
        return inputs, targets, weights

    # training: full batches only; once over (held out): the last batch too, so a small set is never empty
    ds = ds.batch(batch_size, drop_remainder=repeat).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class BertPretraining(SupervisedTask):
    """Masked LM + next sentence on the shared encoder, for the task base (``suite.training.task``):
    the masked-LM loss is the mean over the masked tokens of the global batch (BERT), not over every
    prediction slot; AdamW (decoupled weight decay 0.01, not on biases and layer norms, epsilon
    1e-6), global gradient norm clipped at 1, linear warm-up then decay (Devlin et al., A.2)."""

    def __init__(self, backbone, config, seed=0, **kwargs):
        """``config``: a ``suite.nlu.bert.PretrainingConfig``."""
        super().__init__(config, seed=seed, **kwargs)
        from suite.nlu.bert import build_pretraining_model

        self.backbone = backbone
        self.net = build_pretraining_model(backbone, config.encoder)

    def optimizer_spec(self):
        c = self.config
        return OptimizerSpec("adamw", c.learning_rate, weight_decay=0.01, epsilon=1e-6, global_clipnorm=1.0,
                             schedule="linear", warmup=min(c.warmup_steps / max(c.total_steps, 1), 0.99),
                             exclude_from_weight_decay=("bias", "gamma", "beta"))

    def compile(self, optimizer=None, total_steps=None):
        super().compile(optimizer, total_steps or self.config.total_steps)

    def loss_terms(self, batch, training, seeds):
        inputs, targets, weights = batch
        out = self.net(inputs, training=training)
        w = tf.cast(weights["mlm"], tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(targets["mlm"], tf.int32), out["mlm"])
        masked = tf.reduce_sum(w, -1)  # the example's masked tokens: its weight in the mean
        mlm = tf.math.divide_no_nan(tf.reduce_sum(ce * w, -1), masked)
        hits = tf.cast(tf.equal(tf.argmax(out["mlm"], -1, output_type=tf.int32), tf.cast(targets["mlm"], tf.int32)),
                       tf.float32)
        nsp = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(targets["nsp"], tf.int32), out["nsp"])
        nsp_hits = tf.equal(tf.argmax(out["nsp"], -1, output_type=tf.int32), tf.cast(targets["nsp"], tf.int32))
        return ({"loss/mlm": (mlm, masked), "loss/nsp": nsp},
                {"accuracy/mlm": (tf.math.divide_no_nan(tf.reduce_sum(hits * w, -1), masked), masked),
                 "accuracy/nsp": nsp_hits})


def evaluate_pretraining(model, dataset):
    """Masked-LM accuracy over the masked tokens and next-sentence accuracy over the pairs."""
    mlm_hits = mlm_count = nsp_hits = nsp_count = 0.0
    for inputs, targets, weights in dataset:
        out = model(inputs, training=False)
        w = weights["mlm"].numpy()
        mlm_hits += float(np.sum((np.argmax(out["mlm"], -1) == targets["mlm"].numpy()) * w))
        mlm_count += float(np.sum(w))
        nsp_hits += float(np.sum(np.argmax(out["nsp"], -1) == targets["nsp"].numpy()))
        nsp_count += len(targets["nsp"])
    return {"mlm_accuracy": mlm_hits / max(mlm_count, 1.0), "nsp_accuracy": nsp_hits / max(nsp_count, 1.0)}


class PretrainingMonitor(Evaluator):
    """At the end of every stage (chief only): masked-LM and next-sentence accuracy on held-out
    documents (``eval/...`` in TensorBoard) and, in the text tab, a held-out sentence with its masked
    words and the model's guesses; with ``probe`` (the embedded stories), the polysemy probe's
    accuracy and its sense neighbours (``suite.lm.polysemy``)."""

    def __init__(self, model, lexicon, held_out, probe=False):
        from suite.lm.polysemy import Probe

        super().__init__()
        self.model, self.lexicon, self.held_out = model, lexicon, held_out
        self.probe = Probe() if probe else None

    def example(self):
        inputs, targets, weights = next(iter(self.held_out))
        out = self.model(inputs, training=False)
        vocab = self.lexicon.vocabulary
        ids, pos = inputs["token_ids"][0].numpy(), inputs["mask_positions"][0].numpy()
        guesses = np.argmax(out["mlm"][0].numpy(), -1)
        shown = [vocab[i] for i in ids[inputs["padding_mask"][0].numpy() == 1]]
        rows = [f"{vocab[t]} -> {vocab[g]}" for p, t, g, w in zip(pos, targets["mlm"][0].numpy(), guesses,
                                                                 weights["mlm"][0].numpy()) if w]
        return " ".join(shown) + "\n\n" + "; ".join(rows)

    def evaluate(self):
        from suite.lm import polysemy

        scores, table = evaluate_pretraining(self.model, self.held_out), None
        if self.probe:
            scores["polysemy_probe"], table = self.probe(polysemy.bert(self.model.backbone, self.lexicon))
        return scores, (self.example(), table)

    def log_media(self, media, step):
        from suite.lm.polysemy import Probe

        example, table = media
        tf.summary.text("masked_words", example)
        Probe.log(table, step)
