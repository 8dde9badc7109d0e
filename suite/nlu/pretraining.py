"""BERT pre-training data and objective: next-sentence pairs and masked-LM targets.

Next-sentence prediction: for each pair of consecutive sentences of a
document, half the time the true next sentence (label 1), half the time a
sentence of another document (label 0). Masked LM: 15% of the tokens (never
[CLS], [SEP] or padding), of which 80% become [MASK], 10% a random token and
10% stay, chosen by keras-hub's ``MaskedLMMaskGenerator`` in the input
pipeline, so each epoch masks afresh (dynamic masking, Liu et al. 2019;
BERT masked each sequence 10 ways offline to the same effect).
"""
import keras
import numpy as np
import tensorflow as tf

from suite.training import Callback


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


def pretraining_dataset(lexicon, pairs, config, batch_size, seed=0, repeat=True, shard=None):
    """Batches of (inputs, targets, sample weights) for ``build_pretraining_model``."""
    first, second, labels = (list(x) for x in zip(*pairs))
    ds = tf.data.Dataset.from_tensor_slices((first, second, np.asarray(labels, np.int32)))
    if shard is not None and shard[0] > 1:
        ds = ds.shard(*shard)
    ds = ds.cache()
    if repeat:
        ds = ds.shuffle(min(len(pairs), 20000), seed=seed, reshuffle_each_iteration=True).repeat()
    masker = mask_generator(lexicon, config)

    def encode(a, b, label):
        x = lexicon.encode(a, b)
        masked = masker(x["token_ids"])
        inputs = {**x, "token_ids": masked["token_ids"], "mask_positions": tf.cast(masked["mask_positions"], tf.int32)}
        targets = {"mlm": masked["mask_ids"], "nsp": label}
        weights = {"mlm": tf.cast(masked["mask_weights"], tf.float32), "nsp": tf.ones_like(label, tf.float32)}
        return inputs, targets, weights

    ds = ds.batch(batch_size, drop_remainder=True).map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def compile_pretraining(model, learning_rate=1e-4, warmup_steps=100, total_steps=10000, weight_decay=0.01):
    """Adam with decoupled weight decay (BERT's optimizer) and a linear warm-up then decay."""
    schedule = WarmupLinearDecay(learning_rate, warmup_steps, total_steps)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                                       global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    # the masked-LM loss is the mean over the masked tokens (BERT), not over every prediction slot
    mlm_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
    nsp_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer, loss={"mlm": mlm_loss, "nsp": nsp_loss},
                  weighted_metrics={"mlm": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                                    "nsp": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]})
    return model


@keras.saving.register_keras_serializable(package="suite.nlu")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear decay to 0 at ``total_steps``
    (BERT and MT-DNN)."""

    def __init__(self, peak, warmup_steps, total_steps):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.clip_by_value(tf.minimum(warm, decay), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


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


class PretrainingMonitor(Callback):
    """At the end of every stage (chief only): masked-LM and next-sentence accuracy on held-out
    documents (``eval/...`` in TensorBoard) and, in the text tab, a held-out sentence with its masked
    words and the model's guesses."""

    def __init__(self, model, lexicon, held_out):
        self.model, self.lexicon, self.held_out = model, lexicon, held_out
        self.history, self.seconds = [], 0.0

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

    def on_stage_end(self, driver, stage):
        if not driver.chief:
            return
        import time

        started = time.perf_counter()
        scores = evaluate_pretraining(self.model, self.held_out)
        self.history.append({"step": driver.step, **scores})
        with driver.writer.as_default(step=driver.step):
            for k, v in scores.items():
                tf.summary.scalar(f"eval/{k}", v)
            tf.summary.text("masked_words", self.example())
        driver.writer.flush()
        print(f"step {driver.step}: held-out masked-LM accuracy {scores['mlm_accuracy']:.3f}, next sentence "
              f"{scores['nsp_accuracy']:.3f}", flush=True)
        self.seconds += time.perf_counter() - started
