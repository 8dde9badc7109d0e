"""ELMo (Peters et al. 2018): a bidirectional language model over characters whose layers give every
word a vector that depends on its sentence, and those vectors in the serving graph.

* Token representation: each word's UTF-8 bytes between begin- and end-of-word markers (at most
  ``max_characters``), embedded (16), convolved by filters of widths 1..7 (ELMo's 2,048: 32, 32, 64,
  128, 256, 512, 1,024) with ReLU and max-pooled over the characters, ``highway_layers`` highway
  layers (``suite.layers.sequence.Highway``), a linear projection to ``projection`` (512).
* The biLM: a forward and a backward stack of ``num_layers`` LSTMs with projection (``LSTMPCell``:
  4,096 units projected to 512, cell and projection clipped at 3), a residual connection around
  every layer but the first, dropout between layers. The forward LM predicts each next word, the
  backward LM each previous word, through one softmax over the word vocabulary shared by both
  directions (as is the token representation); the loss is the sum of the two directions' mean
  cross-entropies, their exponents the two perplexities. A vocabulary larger than ``negatives`` is
  trained with the sampled softmax (ELMo: 8,192 of 793,471 words), evaluated with the full one.
  ``paper``: 93.6M parameters without the softmax, as the original ELMo.
* Windows of ``sequence_length`` (ELMo: 20) words start at sentences (``<s>`` between sentences);
  each window starts from zero states (ELMo carried the states from batch to batch).
* Features: layer 0 is the token representation (twice, to the biLM's width), layers 1..L the two
  directions' outputs side by side; ``ScalarMix`` weights them for a task (softmax(s) * gamma).

The export tokenises sentences in the graph (``suite.data.text_corpus.tokenize_in_graph``, the
training tokenizer's twin) and answers each token's contextual vector.
"""
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from suite.layers.sequence import Highway, LSTMPCell, ReverseSequence, ScalarMix
from suite.training.evaluator import Evaluator
from suite.training.optimizers import OptimizerSpec
from suite.training.task import SupervisedTask

BOUNDARY = "<s>"  # between sentences (text_corpus.BOS): a word no text tokenises to
PAD, BOW, EOW, BOUNDARY_CHAR = 0, 257, 258, 259  # character ids; a byte b is b + 1
CHARACTERS = 260


@dataclasses.dataclass(frozen=True)
class ElmoConfig:
    char_dim: int = 16
    filters: tuple = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024))  # (width, count)
    highway_layers: int = 2
    max_characters: int = 50  # per word, the two markers included
    projection: int = 512
    units: int = 4096
    num_layers: int = 2
    cell_clip: float | None = 3.0
    projection_clip: float | None = 3.0
    dropout: float = 0.1
    sequence_length: int = 20  # words per window (ELMo's unrolled steps)
    vocabulary_size: int | None = None  # the softmax's words; None: every training word
    negatives: int = 8192  # sampled softmax's noise words (when the vocabulary is larger)
    optimizer: str = "adagrad"  # ELMo's Adagrad at 0.2, gradients clipped to a global norm of 10
    learning_rate: float = 0.2
    schedule: str = "constant"
    warmup: float = 0.0
    global_clipnorm: float | None = 10.0

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple(tuple(int(v) for v in f) for f in self.filters))
        for name in ("char_dim", "projection", "units", "num_layers", "negatives"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not self.filters or any(w < 1 or n < 1 for w, n in self.filters):
            raise ValueError(f"filters must be (width, count) pairs of positive integers, got {self.filters}")
        widest = max(w for w, _ in self.filters)
        if self.max_characters < widest:
            raise ValueError(f"max_characters {self.max_characters} is narrower than the widest filter ({widest})")
        if self.sequence_length < 2:
            raise ValueError(f"sequence_length must be at least 2, got {self.sequence_length}")
        if self.vocabulary_size is not None and self.vocabulary_size <= 2:
            raise ValueError(f"a vocabulary of {self.vocabulary_size} words holds nothing but <unk> and <s>")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


PRESETS = {
    # tests and the tiny run: a minute on a CPU
    "tiny": ElmoConfig(filters=((1, 16), (2, 16), (3, 32), (4, 32), (5, 32)), max_characters=16, projection=64,
                       units=256, dropout=0.0, optimizer="adam", learning_rate=3e-3),
    "small": ElmoConfig(filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256)), max_characters=24, projection=128,
                        units=512, optimizer="adam", learning_rate=1e-3),
    # ELMo's original model: 2,048 filters, 2 highway layers, LSTMs of 4,096 projected to 512, 93.6M parameters
    "paper": ElmoConfig(),
}


def get_config(preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


# ------------------------------------------------------------------ characters, in TensorFlow ops
def character_ids(tokens, max_characters):
    """Ragged tokens (strings) [N, (T)] -> ragged character ids [N, (T), max_characters]: each word's
    UTF-8 bytes (+1) cut to ``max_characters`` - 2, between ``BOW`` and ``EOW``, padded with 0;
    ``BOUNDARY`` is [BOW, BOUNDARY_CHAR, EOW]."""
    flat = tokens.flat_values
    pieces = tf.strings.bytes_split(flat)
    codes = tf.reshape(tf.io.decode_raw(pieces.flat_values, tf.uint8), [-1])  # one byte per piece
    ids = pieces.with_flat_values(tf.cast(codes, tf.int32) + 1)[:, :max_characters - 2]
    count = tf.shape(flat)[0]
    ids = tf.concat([tf.fill([count, 1], BOW), ids, tf.fill([count, 1], EOW)], axis=1)
    dense = ids.to_tensor(PAD, shape=[None, max_characters])
    boundary = tf.constant([BOW, BOUNDARY_CHAR, EOW] + [PAD] * (max_characters - 3), tf.int32)
    dense = tf.where(tf.equal(flat, BOUNDARY)[:, None], boundary[None], dense)
    return tokens.with_flat_values(dense)


def sentence_inputs(sentences, max_characters):
    """Strings [N] -> (tokens ragged [N, (T)], the network's inputs for ``<s>`` + tokens + ``<s>``:
    {"characters" int32 [N, T + 2, C], "mask" int32 [N, T + 2]})."""
    from suite.data.text_corpus import tokenize_in_graph

    tokens = tokenize_in_graph(sentences)
    n = tokens.nrows()
    bounded = tf.concat([tf.fill([n, 1], BOUNDARY), tokens, tf.fill([n, 1], BOUNDARY)], axis=1)
    chars = character_ids(bounded, max_characters).to_tensor(PAD)
    mask = tf.sequence_mask(bounded.row_lengths(), tf.shape(chars)[1], tf.int32)
    return tokens, {"characters": chars, "mask": mask}


# ------------------------------------------------------------------ the network
def build_network(config, name="elmo"):
    """{"characters" int32 [B, T, C], "mask" int32 [B, T]} -> {"forward", "backward": each direction's
    top layer [B, T, P] (the softmax reads them), "layers": [token, 1, .., L], each [B, T, 2P]}."""
    c = config
    characters = keras.Input((None, c.max_characters), dtype="int32", name="characters")
    mask = keras.Input((None,), dtype="int32", name="mask")
    x = keras.layers.Embedding(CHARACTERS, c.char_dim, name="char_embedding")(characters)  # [B, T, C, E]
    pooled = []
    for width, count in c.filters:  # a (1, w) convolution reads each word's characters alone
        y = keras.layers.Conv2D(count, (1, width), activation="relu", name=f"char_conv_{width}")(x)
        pooled.append(keras.layers.MaxPooling2D((1, c.max_characters - width + 1), name=f"char_pool_{width}")(y))
    x = keras.layers.Concatenate(name="char_cnn")(pooled) if len(pooled) > 1 else pooled[0]  # [B, T, 1, F]
    x = keras.layers.Reshape((-1, sum(n for _, n in c.filters)), name="word_features")(x)
    for i in range(c.highway_layers):
        x = Highway(name=f"highway_{i}")(x)
    token = keras.layers.Dense(c.projection, name="token_projection")(x)
    dropped = keras.layers.Dropout(c.dropout, name="token_dropout")(token)

    def stack(h, direction):
        outs = []
        for i in range(c.num_layers):
            cell = LSTMPCell(c.units, c.projection, c.cell_clip, c.projection_clip, name=f"{direction}_cell_{i}")
            out = keras.layers.RNN(cell, return_sequences=True, name=f"{direction}_lstm_{i}")(h)
            if i:  # ELMo's residual connection around the upper layers
                out = keras.layers.Add(name=f"{direction}_residual_{i}")([out, h])
            outs.append(out)
            h = keras.layers.Dropout(c.dropout, name=f"{direction}_dropout_{i}")(out)
        return outs

    forward = stack(dropped, "forward")
    reverse = ReverseSequence(name="reverse")
    backward = [ReverseSequence(name=f"unreverse_{i}")(h, mask)
                for i, h in enumerate(stack(reverse(dropped, mask), "backward"))]
    layers = [keras.layers.Concatenate(name="layer_0")([token, token])]
    layers += [keras.layers.Concatenate(name=f"layer_{i + 1}")([f, b]) for i, (f, b) in enumerate(zip(forward, backward))]
    return keras.Model({"characters": characters, "mask": mask},
                       {"forward": forward[-1], "backward": backward[-1], "layers": layers}, name=name)


def build_softmax(config, vocabulary_size, name="softmax"):
    """The word softmax both directions share: [.., P] -> logits [.., V] (float32)."""
    hidden = keras.Input((config.projection,), name="hidden")
    return keras.Model(hidden, keras.layers.Dense(vocabulary_size, dtype="float32", name="words")(hidden), name=name)


class ElmoLanguageModel(SupervisedTask):
    """The biLM for the task base: a window's characters [B, T, C] predict its ``next`` words [B, T]
    (forward) and its ``previous`` words [B, T] (backward); terms ``loss/forward``, ``loss/backward``."""

    def __init__(self, config, vocabulary_size, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.net = build_network(config)
        self.softmax = build_softmax(config, self.vocabulary_size)

    def networks(self):
        return {"net": self.net, "softmax": self.softmax}

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def direction_loss(self, hidden, targets, weights, training):
        """Per-example (mean cross-entropy, count, accuracy) of one direction's top layer [B, T, P]; the
        accuracy is None under the sampled softmax (it scores no full distribution to take the argmax of)."""
        flat = tf.cast(tf.reshape(hidden, [-1, self.config.projection]), tf.float32)
        labels = tf.reshape(targets, [-1])
        sampled = training and self.vocabulary_size > self.config.negatives
        if sampled:  # ELMo's sampled softmax (log-uniform noise: the vocabulary is sorted by count)
            dense = self.softmax.get_layer("words")
            ce = tf.nn.sampled_softmax_loss(tf.transpose(dense.kernel), dense.bias, tf.cast(labels[:, None], tf.int64),
                                            flat, self.config.negatives, self.vocabulary_size)
            hits = None
        else:
            logits = self.softmax(flat, training=training)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
            hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32)
        shape = tf.shape(targets)
        count = tf.reduce_sum(weights, -1)

        def mean(x):
            return tf.math.divide_no_nan(tf.reduce_sum(tf.reshape(x, shape) * weights, -1), count)

        return mean(ce), count, None if hits is None else mean(hits)

    def loss_terms(self, batch, training, seeds):
        out = self.net({"characters": batch["characters"], "mask": batch["mask"]}, training=training)
        weights = tf.cast(batch["mask"], tf.float32)
        terms, metrics = {}, {}
        for direction, targets in (("forward", batch["next"]), ("backward", batch["previous"])):
            ce, count, hits = self.direction_loss(out[direction], targets, weights, training)
            terms[f"loss/{direction}"] = (ce, count)
            if hits is not None:
                metrics[f"accuracy/{direction}"] = (hits, count)
        return terms, metrics


def parameter_count(config, vocabulary_size=None):
    """The biLM's parameters (without the softmax), and with it when ``vocabulary_size`` is given."""
    count = build_network(config).count_params()
    return count + (build_softmax(config, vocabulary_size).count_params() if vocabulary_size else 0)


# ------------------------------------------------------------------ the text
PROMPTS = ("alice gave bob", "the red book was", "in the park ,")  # the evaluator's default prompts
EMBEDDED_SENTENCES = {"tiny": (20000, 1000), "small": (100000, 5000), "paper": (100000, 5000)}  # train, held out


def load_text(data, config, seed=0, preset="small", num_sentences=None, bad=None):
    """A run's text: the embedded stories or a file's or folder's sentences (``suite.data.text_corpus``,
    which names a bad file), the softmax's vocabulary (the ``vocabulary_size`` most frequent training
    words after ``<unk>`` and ``<s>``) and both streams. Returns {"vocabulary", "types": every distinct
    word, "type_chars" int32 [U, C], "train", "held": {"types", "words"} int32 [N] streams with
    ``<s>`` before every sentence, "starts" int64 [S]}."""
    import sys

    from suite.data.text_corpus import build_vocabulary, corpus_sentences

    count, held_count = EMBEDDED_SENTENCES[preset]
    train = corpus_sentences(data, "train", seed, num_sentences or count, bad)
    held = corpus_sentences(data, "validation", seed, held_count, bad)
    vocabulary = build_vocabulary(train, config.vocabulary_size, source=str(data))
    types = [BOUNDARY] + sorted({w for s in train + held for w in s} - {BOUNDARY})
    type_index = {w: i for i, w in enumerate(types)}
    chars = character_ids(tf.RaggedTensor.from_tensor(tf.constant(types)[:, None]), config.max_characters)
    out = {"vocabulary": vocabulary, "types": types, "type_chars": chars.flat_values.numpy()}
    for split, sentences in (("train", train), ("held", held)):
        words = [BOUNDARY] + [w for s in sentences for w in [*s, BOUNDARY]]
        starts = np.cumsum([0] + [len(s) + 1 for s in sentences[:-1]]).astype(np.int64)
        out[split] = {"types": np.array([type_index[w] for w in words], np.int32),
                      "words": vocabulary.ids(words), "starts": starts}
    for split in ("train", "held"):  # refuses a text too short for one window
        window_starts(out[split], config.sequence_length, f"{data}'s {'held-out' if split == 'held' else 'training'} text")
    print(f"{data}: {len(out['train']['words']):,} training words, {len(vocabulary):,} in the softmax, "
          f"{len(types):,} distinct", file=sys.stderr)
    return out


def window_starts(stream, length, what="the text"):
    """The sentence starts with a whole window (``length`` + 2 words: the words before and after the
    ``length`` read) after them."""
    starts = stream["starts"]
    ok = starts[starts + length + 2 <= len(stream["words"])]
    if not len(ok):
        raise ValueError(f"{what} holds {len(stream['words'])} words: too few for one window of {length + 2}")
    return ok


def window(stream, type_chars, s, length):
    """The example at stream position ``s`` (works on numpy and tensors): the characters of words
    s+1 .. s+length, the words after each (``next``) and before each (``previous``)."""
    types, words = stream["types"], stream["words"]
    return {"characters": tf.gather(type_chars, types[s + 1:s + length + 1]),
            "mask": tf.ones([length], tf.int32),
            "next": words[s + 2:s + length + 2], "previous": words[s:s + length]}


def lm_dataset(stream, type_chars, length, batch_size, seed=0, shard=None, start=0):
    """Endless tf.data of ``window``s at the sentence starts, in a random order from the ``start``-th
    batch; ``shard`` = (count, index)."""
    from suite.data.order import order_dataset

    usable = window_starts(stream, length)
    if shard is not None:
        usable = usable[shard[1]::shard[0]]
    tensors = {k: tf.constant(stream[k]) for k in ("types", "words")}
    table = tf.constant(type_chars)

    def example(s):
        w = window(tensors, table, s, length)
        return {k: tf.ensure_shape(v, [length, *v.shape[1:]]) for k, v in w.items()}

    order = order_dataset(usable, [seed, 97, 0 if shard is None else shard[1]], start * batch_size)
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def held_windows(text, length, limit=2048):
    """The held-out windows as one batch of numpy arrays (at most ``limit``)."""
    starts = window_starts(text["held"], length)[:limit]
    parts = [window(text["held"], text["type_chars"], int(s), length) for s in starts]
    return {k: np.stack([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def unigram_perplexity(text, held):
    """The perplexity of the training words' add-one unigram counts on the held-out targets."""
    counts = np.bincount(text["train"]["words"], minlength=len(text["vocabulary"])).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(np.exp(-np.mean(logp[held["next"].reshape(-1)])))


def evaluate_lm(model, held, batch_size=256):
    """{direction: (perplexity, accuracy)} of the biLM on ``held`` (full softmax)."""
    sums = {d: [0.0, 0.0, 0.0] for d in ("forward", "backward")}
    for i in range(0, len(held["next"]), batch_size):
        batch = {k: tf.constant(v[i:i + batch_size]) for k, v in held.items()}
        terms, metrics = model.loss_terms(batch, training=False, seeds=None)
        for d in sums:
            ce, count = terms[f"loss/{d}"]
            sums[d][0] += float(tf.reduce_sum(ce * count))
            sums[d][1] += float(tf.reduce_sum(metrics[f"accuracy/{d}"][0] * count))
            sums[d][2] += float(tf.reduce_sum(count))
    return {d: (float(np.exp(s[0] / max(s[2], 1.0))), s[1] / max(s[2], 1.0)) for d, s in sums.items()}


def predictions(model, vocabulary, prompts, k=3):
    """[(prompt, the forward LM's k likeliest next words, the backward LM's k likeliest words before it)]."""
    _, inputs = sentence_inputs(tf.constant(list(prompts)), model.config.max_characters)
    out = model.net(inputs, training=False)
    last = tf.reduce_sum(inputs["mask"], 1) - 2  # the prompt's last word (before the closing <s>)
    forward = tf.gather(out["forward"], last, batch_dims=1)
    backward = out["backward"][:, 1]  # the first word's backward state predicts the word before it
    rows = []
    for p, f, b in zip(prompts, *(tf.math.top_k(model.softmax(h), k).indices.numpy() for h in (forward, backward))):
        rows.append((p, [vocabulary.words[i] for i in f], [vocabulary.words[i] for i in b]))
    return rows


class ElmoEvaluator(Evaluator):
    """At the end of every epoch (chief only): each direction's held-out perplexity beside the unigram
    model's (the bar) and its accuracy, and both language models' likeliest words after and before
    ``prompts`` in TensorBoard (``eval/predictions``); with ``probe`` (the embedded stories), the
    polysemy probe's accuracy and its sense neighbours (``suite.lm.polysemy``)."""

    def __init__(self, model, text, prompts=(), probe=False):
        from suite.lm.polysemy import Probe

        super().__init__()
        self.model, self.text, self.prompts = model, text, list(prompts)
        self.held = held_windows(text, model.config.sequence_length)
        self.unigram = unigram_perplexity(text, self.held)
        self.probe = Probe() if probe else None

    def evaluate(self):
        from suite.lm import polysemy

        found = evaluate_lm(self.model, self.held)
        scores = {"perplexity": float(np.sqrt(found["forward"][0] * found["backward"][0])),
                  "unigram_perplexity": self.unigram}
        for d, (perplexity, accuracy) in found.items():
            scores[f"{d}/perplexity"], scores[f"{d}/accuracy"] = perplexity, accuracy
        table = None
        if self.probe:
            scores["polysemy_probe"], table = self.probe(polysemy.elmo(self.model.net, self.model.config))
        return scores, (predictions(self.model, self.text["vocabulary"], self.prompts) if self.prompts else [], table)

    def log_media(self, media, step):
        from suite.lm.polysemy import Probe

        rows, table = media
        Probe.log(table, step)
        if rows:
            table = "\n".join(f"| {p} | {', '.join(f)} | {', '.join(b)} |" for p, f, b in rows)
            tf.summary.text("eval/predictions", "| text | next word (forward LM) | word before (backward LM) |\n"
                            "|---|---|---|\n" + table, step=step)

    def describe(self, scores):
        return (f"perplexity forward {scores['forward/perplexity']:.2f} backward {scores['backward/perplexity']:.2f} "
                f"(unigram {scores['unigram_perplexity']:.2f})")


# ------------------------------------------------------------------ serving
def serving_endpoints(net, config):
    """``serving_default``: ``sentences`` string [N] (any text, tokenised as the corpus was) ->
    ``tokens`` string [N, T] ('' past a sentence's end), ``mask`` bool [N, T], ``vectors`` float32
    [N, T, 2P] (the mean of the layers: ``ScalarMix`` before a task trains it) and ``layers`` float32
    [N, T, L + 1, 2P] (the token layer, then each biLM layer: for a task's own mix)."""

    @tf.function
    def contextual(sentences):
        n = tf.shape(sentences)[0]
        # one empty sentence more: an empty request still runs the LSTMs over >= 2 steps (<s> <s>)
        tokens, inputs = sentence_inputs(tf.concat([sentences, [""]], 0), config.max_characters)
        out = net(inputs, training=False)
        tokens = tokens[:n]
        dense = tokens.to_tensor("")
        width = tf.shape(dense)[1]
        layers = tf.cast(tf.stack(out["layers"], axis=2), tf.float32)[:n, 1:width + 1]  # the <s> at either end dropped
        mask = tf.sequence_mask(tokens.row_lengths(), width)
        layers = tf.where(mask[:, :, None, None], layers, 0.0)
        return {"tokens": dense, "mask": mask,
                "vectors": tf.reduce_mean(layers, axis=2), "layers": layers}

    return {"serving_default": (contextual, [tf.TensorSpec([None], tf.string, name="sentences")])}


def warmup_requests(prompts):
    return {"serving_default": [[p.encode() for p in prompts]]}


# ------------------------------------------------------------------ the pre-trained biLM
WEIGHTS = "elmo.weights.h5"


def save_pretrained(directory, net, config, vocabulary):
    """The biLM (config, the softmax's vocabulary, weights) in ``directory``, written as a whole."""
    from suite.nlu import pretrained as on_disk

    config = dataclasses.replace(config, vocabulary_size=len(vocabulary.words))
    return on_disk.save(directory, config, list(vocabulary.words), net, WEIGHTS)


def load_pretrained(path):
    """(config, vocabulary words, the biLM with its weights) of ``save_pretrained``'s folder or of a
    ``recipes.elmo`` log directory holding one in ``elmo/``."""
    from suite.data.text_corpus import SPECIALS
    from suite.nlu import pretrained as on_disk

    config, vocabulary, weights = on_disk.read(path, ElmoConfig, WEIGHTS, "elmo", "a pre-trained ELMo",
                                               "give the log directory of a recipes.elmo run (or its elmo/ folder)",
                                               reserved=SPECIALS)
    net = build_network(config)
    net.load_weights(weights)
    return config, vocabulary, net


def features(net, trainable_mix=True, name="elmo_features"):
    """A task's ELMo: the frozen biLM then a ``ScalarMix`` of its layers (Peters et al. eq. 1):
    {"characters", "mask"} -> [B, T, 2P]. Only the mix's s and gamma train."""
    net.trainable = False
    characters = keras.Input((None, net.input["characters"].shape[-1]), dtype="int32", name="characters")
    mask = keras.Input((None,), dtype="int32", name="mask")
    layers = net({"characters": characters, "mask": mask}, training=False)["layers"]
    stacked = keras.layers.Concatenate(axis=2, name="layers")(
        [keras.layers.Reshape((-1, 1, layers[0].shape[-1]), name=f"layer_{i}_of")(h) for i, h in enumerate(layers)])
    mix = ScalarMix(name="scalar_mix", trainable=trainable_mix)(stacked)
    return keras.Model({"characters": characters, "mask": mask}, mix, name=name)


def pretrained(net, config, text, logdir=None):
    """The run's figures ({"parameters", "training_words"}, and "pretrained": the folder), and with
    ``logdir`` (the chief's) the biLM saved in ``logdir/elmo`` for a downstream model."""
    out = {"parameters": int(net.count_params()), "training_words": int(len(text["train"]["words"]))}
    if logdir:
        out["pretrained"] = save_pretrained(os.path.join(logdir, "elmo"), net, config, text["vocabulary"])
    return out
