"""GPT (Radford et al. 2018): a decoder-only transformer trained as a left-to-right language model,
and text generation from it in the serving graph.

* The network: keras-hub's ``ReversibleEmbedding`` (the token embedding, reused transposed as the
  output layer: GPT ties them) plus a learnt ``PositionEmbedding``, dropout, then ``num_layers``
  keras-hub ``TransformerDecoder`` blocks without cross-attention (masked self-attention, so a
  position reads only the positions before it), post-layer-norm as GPT-1 (``normalize_first=False``),
  GELU, weights drawn from N(0, 0.02). ``paper``: 12 layers, 768 wide, 12 heads, 3,072 inner, 512
  positions, GPT-1's 40,478-token vocabulary: 116.5M parameters.
* Pre-training: P(u_i | u_1 .. u_i-1) over windows of the corpus, each window starting at a sentence
  (the text stream holds ``[SEP]`` before every sentence: ``[SEP]`` is GPT's start and end token);
  the loss is the mean cross-entropy per token, its exponent the perplexity. Adam with decoupled
  weight decay 0.01 (the paper's "modified L2", not on biases and gains), linear warm-up, cosine
  decay to 0.
* Generation: keras-hub's samplers (greedy, top-k, top-p) over a key/value cache (each step runs the
  new token only), stopping at ``[SEP]``. A prompt is ``[SEP]`` then its WordPieces (``suite.nlu.
  lexicon``, tokenised in the graph), cut from the left to leave room for the new tokens.
"""
import copy
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from suite.training.evaluator import Evaluator
from suite.training.optimizers import OptimizerSpec
from suite.training.task import SupervisedTask


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    num_layers: int = 12
    hidden_dim: int = 768
    num_heads: int = 12
    intermediate_dim: int = 3072
    dropout: float = 0.1  # residual, embedding and attention dropout
    sequence_length: int = 512
    vocabulary_size: int = 40478
    optimizer: str = "adamw"
    learning_rate: float = 2.5e-4  # the peak of the schedule
    weight_decay: float = 0.01
    warmup: float = 0.002  # 2,000 of GPT-1's ~1M updates
    schedule: str = "cosine"
    global_clipnorm: float | None = 1.0
    # the kernels' initial standard deviation (None: GPT-1's 0.02 at its width 768, scaled by sqrt(768 / hidden_dim)
    # below it, as BERT's: suite.nlu.bert.kernel_stddev); the embeddings keep 0.02
    initializer_range: float | None = None

    def __post_init__(self):
        for name in ("num_layers", "hidden_dim", "num_heads", "intermediate_dim", "vocabulary_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not a multiple of num_heads {self.num_heads}")
        if self.sequence_length < 4:
            raise ValueError(f"sequence_length must be at least 4, got {self.sequence_length}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


PRESETS = {
    # tests and the tiny run: a minute on a CPU
    "tiny": GPTConfig(num_layers=2, hidden_dim=64, num_heads=2, intermediate_dim=256, dropout=0.0, sequence_length=32,
                      vocabulary_size=256, learning_rate=3e-3, warmup=0.05),
    "small": GPTConfig(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024, sequence_length=128,
                       vocabulary_size=2048, learning_rate=1e-3, warmup=0.02),
    # GPT-1: 12 x 768, 12 heads, 3,072 inner, 512 positions, 40,478 tokens
    "paper": GPTConfig(),
}


def get_config(preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def build_network(config, vocabulary_size=None, name="gpt"):
    """{"token_ids", "padding_mask"} int32 [B, T] -> {"logits" [B, T, V], "hidden" [B, T, H]}."""
    import keras_hub

    from suite.nlu.bert import kernel_stddev

    init = keras.initializers.RandomNormal(stddev=0.02)
    kernels = keras.initializers.RandomNormal(stddev=kernel_stddev(config.hidden_dim, config.initializer_range))
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    embedding = keras_hub.layers.ReversibleEmbedding(vocabulary_size or config.vocabulary_size, config.hidden_dim,
                                                     embeddings_initializer=init, name="token_embedding")
    tokens = embedding(token_ids)
    positions = keras_hub.layers.PositionEmbedding(config.sequence_length, initializer=init,
                                                   name="position_embedding")(tokens)
    x = keras.layers.Add(name="embeddings")([tokens, positions])
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for i in range(config.num_layers):
        x = keras_hub.layers.TransformerDecoder(
            config.intermediate_dim, config.num_heads, dropout=config.dropout, activation="gelu",
            layer_norm_epsilon=1e-5, kernel_initializer=kernels, normalize_first=False,
            name=f"transformer_layer_{i}")(x, decoder_padding_mask=padding_mask)
    logits = embedding(x, reverse=True)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask}, {"logits": logits, "hidden": x},
                       name=name)


def call_with_cache(net, num_layers, token_ids, cache, index):
    """The logits of ``token_ids`` [B, S] placed at positions ``index``.. ``index + S - 1``, with the
    keys and values of the positions before them read from ``cache`` [B, layers, 2, T, heads, size]
    and theirs written into it; returns (logits [B, S, V], cache)."""
    embedding = net.get_layer("token_embedding")
    x = embedding(token_ids)
    x = x + net.get_layer("position_embedding")(x, start_index=index)
    caches = []
    for i in range(num_layers):
        x, layer_cache = net.get_layer(f"transformer_layer_{i}")(
            x, self_attention_cache=cache[:, i], self_attention_cache_update_index=index)
        caches.append(layer_cache)
    return embedding(x, reverse=True), tf.stack(caches, axis=1)


def empty_cache(config, batch, length, dtype="float32"):
    """Zeros [batch, layers, 2, length, heads, size] of the blocks' compute ``dtype`` (bfloat16 under
    the mixed policy)."""
    size = config.hidden_dim // config.num_heads
    return tf.zeros([batch, config.num_layers, 2, length, config.num_heads, size], dtype)


# ------------------------------------------------------------------ the language model
class GPTLanguageModel(SupervisedTask):
    """The causal language model for the task base: each window [B, T + 1] is read as T inputs and the
    T tokens after them; the loss is the mean cross-entropy over the batch's real tokens."""

    def __init__(self, config, vocabulary_size, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_network(config, vocabulary_size)

    def optimizer_spec(self):
        return OptimizerSpec.from_config(self.config, exclude_from_weight_decay=("bias", "gamma", "beta"))

    def loss_terms(self, batch, training, seeds):
        ids, mask = batch["token_ids"], batch["padding_mask"]
        out = self.net({"token_ids": ids[:, :-1], "padding_mask": mask[:, :-1]}, training=training)
        targets, weights = ids[:, 1:], tf.cast(mask[:, 1:], tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, tf.cast(out["logits"], tf.float32))
        count = tf.reduce_sum(weights, -1)
        hits = tf.cast(tf.equal(tf.argmax(out["logits"], -1, output_type=tf.int32), targets), tf.float32)
        return ({"loss/lm": (tf.math.divide_no_nan(tf.reduce_sum(ce * weights, -1), count), count)},
                {"accuracy/next_token": (tf.math.divide_no_nan(tf.reduce_sum(hits * weights, -1), count), count)})


# ------------------------------------------------------------------ the text stream
def token_stream(lexicon, sentences, chunk=4096):
    """Sentences (strings) -> (ids int32 [N]: ``[SEP]`` before each sentence's WordPieces, starts int64
    [S]: the position of each sentence's ``[SEP]``), tokenised by the serving graph's tokenizer."""
    pieces, starts, at = [], [], 0
    for i in range(0, len(sentences), chunk):
        ragged = lexicon.tokenize(tf.constant(list(sentences[i:i + chunk])))
        for row in ragged.to_list():
            row = np.asarray(row, np.int32)
            starts.append(at)
            pieces += [np.array([lexicon.sep_id], np.int32), row]
            at += 1 + len(row)
    if not pieces:
        raise ValueError("no sentence to make a token stream of")
    return np.concatenate(pieces), np.asarray(starts, np.int64)


def window_starts(ids, starts, length):
    """The sentence starts with a whole window of ``length`` + 1 tokens after them."""
    ok = starts[starts + length + 1 <= len(ids)]
    if not len(ok):
        raise ValueError(f"the text holds {len(ids)} tokens: too few for one window of {length + 1}")
    return ok


def windows(ids, starts, length):
    """The windows [S, length + 1] at ``starts`` (numpy)."""
    return np.stack([ids[s:s + length + 1] for s in starts]) if len(starts) else np.zeros((0, length + 1), np.int32)


def lm_dataset(ids, starts, length, batch_size, seed=0, shard=None, start=0):
    """Endless tf.data of {"token_ids", "padding_mask"} int32 [B, length + 1]: windows at the sentence
    starts (``window_starts``), in a random order from the ``start``-th batch; ``shard`` = (count, index)."""
    from suite.data.order import order_dataset

    usable = window_starts(ids, starts, length)
    if shard is not None:
        usable = usable[shard[1]::shard[0]]
    stream = tf.constant(ids)

    def example(s):
        window = stream[s:s + length + 1]
        return {"token_ids": tf.ensure_shape(window, [length + 1]), "padding_mask": tf.ones([length + 1], tf.int32)}

    order = order_dataset(usable, [seed, 89, 0 if shard is None else shard[1]], start * batch_size)
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


PROMPTS = ("alice gave bob", "the red book was", "in the park ,")  # the evaluator's default prompts
EMBEDDED_SENTENCES = {"tiny": (20000, 1000), "small": (100000, 5000), "paper": (100000, 5000)}  # train, held out


def load_text(data, config, logdir, seed=0, preset="small", num_sentences=None, bad=None):
    """A run's text: the embedded stories or a file's or folder's sentences (``suite.data.text_corpus``,
    which names a bad file), a WordPiece vocabulary learnt from the training ones (or the one in
    ``logdir`` when resuming) and both token streams. Returns {"lexicon", "ids", "starts", "held_windows",
    "save"} (``save()`` writes the vocabulary into ``logdir``)."""
    import sys

    from suite.data.text_corpus import corpus_sentences
    from suite.nlu.lexicon import Lexicon, vocabulary_for_run

    count, held_count = EMBEDDED_SENTENCES[preset]
    train = [" ".join(s) for s in corpus_sentences(data, "train", seed, num_sentences or count, bad)]
    held = [" ".join(s) for s in corpus_sentences(data, "validation", seed, held_count, bad)]
    vocabulary, save = vocabulary_for_run(logdir, lambda: train, config.vocabulary_size)
    lexicon = Lexicon(vocabulary, config.sequence_length)
    ids, starts = token_stream(lexicon, train)
    window_starts(ids, starts, config.sequence_length)  # refuses a text too short for one window
    held_ids, held_starts = token_stream(lexicon, held)
    held_windows = windows(held_ids, window_starts(held_ids, held_starts, config.sequence_length),
                           config.sequence_length)
    print(f"{data}: {len(ids):,} training tokens, {len(vocabulary):,} WordPieces", file=sys.stderr)
    return {"lexicon": lexicon, "ids": ids, "starts": starts, "held_windows": held_windows, "save": save}


def unigram_perplexity(train_ids, held_windows, vocabulary_size):
    """The perplexity of the unigram model (add-one counts of the training stream) on the tokens the
    language model predicts in ``held_windows`` (every token after the first): the bar it must clear."""
    counts = np.bincount(train_ids, minlength=vocabulary_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    targets = held_windows[:, 1:].reshape(-1)
    return float(np.exp(-np.mean(logp[targets])))


def evaluate_lm(net, held_windows, batch_size=64):
    """(perplexity, next-token accuracy) of ``net`` on ``held_windows`` [S, T + 1]."""
    total = hits = count = 0.0
    for i in range(0, len(held_windows), batch_size):
        w = tf.constant(held_windows[i:i + batch_size])
        out = net({"token_ids": w[:, :-1], "padding_mask": tf.ones_like(w[:, :-1])}, training=False)
        logits = tf.cast(out["logits"], tf.float32)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(w[:, 1:], logits)))
        hits += float(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), w[:, 1:]),
                                            tf.float32)))
        count += float(tf.size(w[:, 1:]))
    return float(np.exp(total / max(count, 1.0))), hits / max(count, 1.0)


# ------------------------------------------------------------------ generation
def detokenize(vocabulary, ids):
    """Ragged ids [N, (k)] -> strings [N]: WordPieces joined (``##`` pieces onto the one before),
    words by spaces."""
    pieces = tf.gather(vocabulary, ids)
    joined = tf.ragged.map_flat_values(
        lambda p: tf.where(tf.strings.regex_full_match(p, "##.*"), tf.strings.regex_replace(p, "^##", ""), " " + p),
        pieces)
    return tf.strings.strip(tf.strings.reduce_join(joined, axis=-1))


def generate(net, config, lexicon, prompts, max_new_tokens, sampler):
    """Completions of ``prompts`` (strings [N]) of at most ``max_new_tokens`` (clipped to 1 ..
    sequence_length - 1) tokens by ``sampler`` (a keras-hub sampler), each ending before the first
    ``[SEP]`` it draws. Returns {"completion": string [N], "num_tokens": int32 [N]}."""
    length = config.sequence_length
    new = tf.clip_by_value(tf.cast(max_new_tokens, tf.int32), 1, length - 1)
    words = lexicon.tokenize(tf.reshape(prompts, [-1]))
    n = tf.shape(words.row_splits)[0] - 1
    words = tf.concat([tf.fill([n, 1], lexicon.sep_id), words], axis=1)  # every prompt starts at [SEP]
    full = tf.cast(words.row_lengths(), tf.int32)
    kept = tf.minimum(full, length - new)  # the prompt's last tokens, so that ``new`` more fit
    tail = tf.ragged.range(full - kept, full)
    prompt = tf.gather(words, tail, batch_dims=1)
    width = tf.minimum(length, tf.reduce_max(tf.concat([kept, [1]], 0)) + new)
    token_ids = prompt.to_tensor(lexicon.pad_id)
    token_ids = tf.pad(token_ids, [[0, 0], [0, width - tf.shape(token_ids)[1]]], constant_values=lexicon.pad_id)
    mask = tf.sequence_mask(kept, width)
    index = tf.reduce_min(tf.concat([kept, [width]], 0))
    # the cache of every prompt position (positions past a shorter prompt are written again as it grows)
    dtype = net.get_layer("transformer_layer_0").compute_dtype
    _, cache = call_with_cache(net, config.num_layers, token_ids, empty_cache(config, n, width, dtype), 0)

    def next_logits(ids, cache, index):
        logits, cache = call_with_cache(net, config.num_layers, ids[:, index - 1:index], cache, index - 1)
        return tf.cast(logits[:, 0], tf.float32), None, cache

    out = sampler(next_logits, token_ids, cache=cache, index=index, mask=mask, stop_token_ids=[lexicon.sep_id])
    position = tf.range(width)[tf.newaxis, :]
    drawn = (position >= kept[:, tf.newaxis]) & (position < (kept + new)[:, tf.newaxis])
    ended = tf.cumsum(tf.cast(drawn & tf.equal(out, lexicon.sep_id), tf.int32), axis=1) > 0
    keep = drawn & ~ended
    completion = tf.ragged.boolean_mask(out, keep)
    return {"completion": detokenize(tf.constant(lexicon.vocabulary), completion),
            "num_tokens": tf.cast(completion.row_lengths(), tf.int32)}


class Samplers(keras.layers.Layer):
    """keras-hub's samplers sharing one seed generator, held by a layer so that an export tracks (and
    TensorFlow Serving advances) its state; ``top_k(k, temperature)`` and ``top_p(p, temperature)``
    give a sampler with those settings (tensors, so that a client sets them per request)."""

    def __init__(self, seed=0, **kwargs):
        super().__init__(**kwargs)
        import keras_hub

        self.seed_generator = keras.random.SeedGenerator(seed)
        self.greedy = keras_hub.samplers.GreedySampler()
        self._top_k = keras_hub.samplers.TopKSampler(k=1, seed=seed)
        self._top_p = keras_hub.samplers.TopPSampler(p=0.9, seed=seed)
        self._top_k.seed_generator = self._top_p.seed_generator = self.seed_generator
        self.built = True  # nothing to build: its one state is the seed generator's

    def top_k(self, k, temperature):
        sampler = copy.copy(self._top_k)  # the settings of one request; the seed generator stays shared
        sampler.k, sampler.temperature = k, temperature
        return sampler

    def top_p(self, p, temperature):
        sampler = copy.copy(self._top_p)
        sampler.p, sampler.temperature = p, temperature
        return sampler


def export(net, config, lexicon, seed=0):
    """(endpoints, objects to track) of a GPT export (``serving_endpoints`` with a seeded ``Samplers``)."""
    samplers = Samplers(seed)
    return serving_endpoints(net, config, lexicon, samplers), [net, lexicon.lookup, samplers]


def warmup_requests(prompts):
    """One TF Serving warm-up request per signature of ``export``: ``prompts`` with 8 new tokens."""
    prompts = [p.encode() for p in prompts]
    return {"serving_default": [prompts, 8], "top_k": [prompts, 8, 5, 1.0], "top_p": [prompts, 8, 0.9, 1.0]}


def serving_endpoints(net, config, lexicon, samplers):
    """``serving_default`` (greedy): ``prompts`` string [N], ``max_new_tokens`` int32 [] ->
    ``completion`` string [N] (the text after each prompt, up to the end of its sentence) and
    ``num_tokens`` int32 [N]; ``top_k`` adds ``k`` int32 [] and ``temperature`` float32 [];
    ``top_p`` adds ``p`` float32 [] (the nucleus' probability mass) and ``temperature``."""
    vocab = lexicon.vocabulary_size

    def checked(name, value, ok, what):
        with tf.control_dependencies([tf.debugging.Assert(ok, [f"{name} must be {what}, got", value])]):
            return tf.identity(value)

    def new_tokens(value):
        return checked("max_new_tokens", value, value >= 1, "at least 1")

    def temperature_of(value):
        return checked("temperature", value, value > 0, "above 0")

    def greedy(prompts, max_new_tokens):
        return generate(net, config, lexicon, prompts, new_tokens(max_new_tokens), samplers.greedy)

    def top_k(prompts, max_new_tokens, k, temperature):
        k = tf.minimum(checked("k", k, k >= 1, "at least 1"), vocab)
        return generate(net, config, lexicon, prompts, new_tokens(max_new_tokens),
                        samplers.top_k(k, temperature_of(temperature)))

    def top_p(prompts, max_new_tokens, p, temperature):
        p = checked("p", p, (p > 0) & (p <= 1), "in (0, 1]")
        return generate(net, config, lexicon, prompts, new_tokens(max_new_tokens),
                        samplers.top_p(p, temperature_of(temperature)))

    prompts = tf.TensorSpec([None], tf.string, name="prompts")
    new = tf.TensorSpec([], tf.int32, name="max_new_tokens")
    temperature = tf.TensorSpec([], tf.float32, name="temperature")
    return {"serving_default": (greedy, [prompts, new]),
            "top_k": (top_k, [prompts, new, tf.TensorSpec([], tf.int32, name="k"), temperature]),
            "top_p": (top_p, [prompts, new, tf.TensorSpec([], tf.float32, name="p"), temperature])}


# ------------------------------------------------------------------ evaluation
class GPTEvaluator(Evaluator):
    """At the end of every epoch (chief only): the held-out perplexity per WordPiece beside the
    unigram model's (the bar), the next-token accuracy, and greedy completions of ``prompts`` in
    TensorBoard (``eval/samples``); with ``probe`` (the embedded stories), the polysemy probe's
    accuracy and its sense neighbours (``suite.lm.polysemy``)."""

    @classmethod
    def of(cls, model, config, text, prompts=(), probe=False):
        """The evaluator of a run's ``text`` (``load_text``), the unigram bar counted from its stream."""
        unigram = unigram_perplexity(text["ids"], text["held_windows"], text["lexicon"].vocabulary_size)
        return cls(model, config, text["lexicon"], text["held_windows"], unigram, prompts, probe=probe)

    def __init__(self, model, config, lexicon, held_windows, unigram, prompts=(), max_new_tokens=12, probe=False):
        from suite.lm.polysemy import Probe

        super().__init__()
        self.model, self.config, self.lexicon = model, config, lexicon
        self.held_windows, self.unigram, self.prompts = held_windows, unigram, list(prompts)
        self.max_new_tokens = max_new_tokens
        self._generate = None
        self.probe = Probe() if probe else None

    def samples(self):
        if not self.prompts:
            return []
        if self._generate is None:
            import keras_hub

            greedy = keras_hub.samplers.GreedySampler()
            self._generate = tf.function(lambda p, k: generate(self.model.net, self.config, self.lexicon, p, k, greedy))
        out = self._generate(tf.constant(self.prompts), tf.constant(self.max_new_tokens))
        return [(p, c.decode("utf-8")) for p, c in zip(self.prompts, out["completion"].numpy())]

    def evaluate(self):
        from suite.lm import polysemy

        perplexity, accuracy = evaluate_lm(self.model.net, self.held_windows)
        scores, table = {"perplexity": perplexity, "unigram_perplexity": self.unigram,
                         "next_token_accuracy": accuracy}, None
        if self.probe:
            scores["polysemy_probe"], table = self.probe(
                polysemy.gpt(self.model.net, self.lexicon, self.config.sequence_length))
        return scores, (self.samples(), table)

    def log_media(self, media, step):
        from suite.lm.polysemy import Probe

        samples, table = media
        Probe.log(table, step)
        if samples:
            rows = "\n".join(f"| {p} | {c} |" for p, c in samples)
            tf.summary.text("eval/samples", "| prompt | greedy completion |\n|---|---|\n" + rows, step=step)

    def describe(self, scores):
        return (f"perplexity {scores['perplexity']:.2f} (unigram {scores['unigram_perplexity']:.2f})  "
                f"next-token accuracy {scores['next_token_accuracy']:.3f}")
