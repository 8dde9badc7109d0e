"""Static word vectors: word2vec's skip-gram and CBOW with negative sampling (Mikolov et al. 2013) and
the feed-forward neural language model (Bengio et al. 2003); their evaluation (word similarity,
analogies, nearest neighbours, perplexity) and their serving signatures.

* ``skipgram``: each centre word's input vector v_c predicts each word o of its window against
  ``negatives`` noise words n drawn from the unigram distribution raised to 0.75:
  -log s(u_o . v_c) - sum_n log s(-u_n . v_c), s the logistic function; ``cbow``: the mean of the
  window's input vectors predicts the centre word the same way. Windows shrink at random
  (1..``window``) and frequent words are subsampled (``suite.data.text_corpus``).
* ``nnlm``: the ``order`` - 1 preceding words' feature vectors C(w), concatenated, through a tanh
  hidden layer of ``hidden`` units, and with the paper's direct connections from the features to
  the output, give a softmax over the vocabulary: P(w_t | w_t-n+1 .. w_t-1); the loss is the
  cross-entropy, its exponent the perplexity. The word vectors are C.

The word vectors every model leaves are the rows of its input embedding; the export looks words up
in the graph (lower-cased, as the corpus was), flags unknown words rather than answering a zero, and
finds neighbours by cosine similarity.
"""
import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from suite.training import randomness
from suite.training.evaluator import Evaluator
from suite.training.task import SupervisedTask

MODELS = ("skipgram", "cbow", "nnlm")


@dataclasses.dataclass(frozen=True)
class WordVectorConfig:
    model: str = "skipgram"
    dim: int = 300  # the papers' 300 (word2vec) and 60-100 (NNLM: ``paper`` uses 100)
    window: int = 5
    negatives: int = 5
    noise_power: float = 0.75
    subsample: float = 1e-5
    order: int = 5  # NNLM: n, the words seen are the n - 1 before
    hidden: int = 100  # NNLM's tanh units
    direct: bool = True  # NNLM's direct connections from the features to the output
    vocab_size: int | None = None
    min_count: int = 5
    optimizer: str = "sgd"
    learning_rate: float = 0.025  # word2vec's starting rate for skip-gram, decayed linearly to 0
    momentum: float = 0.0
    schedule: str = "linear"

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        for name in ("dim", "window", "negatives", "order", "hidden", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.model == "nnlm" and self.order < 2:
            raise ValueError(f"the neural language model needs order 2 or more (it sees order - 1 words), got {self.order}")


PAPER = {"skipgram": dict(dim=300), "cbow": dict(dim=300, learning_rate=0.05),
         "nnlm": dict(dim=100, hidden=100, order=5, optimizer="sgd", learning_rate=1e-3, schedule="constant")}
PRESETS = {
    # the embedded stories: 82 words, ~190,000 tokens, each more frequent than 1e-3: subsampling at 1e-2 (at 1e-3
    # nine pairs in ten would be dropped)
    "tiny": dict(dim=32, window=3, negatives=5, subsample=1e-2, hidden=64, order=4, min_count=1, optimizer="adam",
                 learning_rate=3e-3, schedule="constant"),
    "small": dict(dim=100, window=5, negatives=5, subsample=1e-3, hidden=100, min_count=2, optimizer="adam",
                  learning_rate=1e-3, schedule="constant"),
    "paper": {},
}


def get_config(preset="tiny", model="skipgram", **overrides):
    """The ``preset``'s config of ``model``; ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    values = {**(PAPER.get(model, {}) if preset == "paper" else PRESETS[preset]), "model": model}
    return WordVectorConfig(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


def build_networks(config, vocab_size):
    """{"embedding": the word vectors (input), and for word2vec "context" (the output vectors u), for
    the NNLM "lm" (contexts [B, n-1] -> logits [B, V])}."""
    c = config
    embedding = keras.layers.Embedding(vocab_size, c.dim, embeddings_initializer=keras.initializers.RandomUniform(
        -0.5 / c.dim, 0.5 / c.dim), name="word_vectors")  # word2vec's initialisation
    words = keras.Input((None,), dtype="int32", name="words")
    nets = {"embedding": keras.Model(words, embedding(words), name="embedding")}
    if c.model == "nnlm":
        contexts = keras.Input((c.order - 1,), dtype="int32", name="contexts")
        x = keras.layers.Flatten(name="features")(nets["embedding"](contexts))
        h = keras.layers.Dense(c.hidden, activation="tanh", name="hidden")(x)
        logits = keras.layers.Dense(vocab_size, name="output")(h)
        if c.direct:
            logits = keras.layers.Add(name="with_direct")([logits, keras.layers.Dense(
                vocab_size, use_bias=False, name="direct")(x)])
        nets["lm"] = keras.Model(contexts, logits, name="nnlm")
    else:  # word2vec's output vectors start at zero
        nets["context"] = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(
            vocab_size, c.dim, embeddings_initializer="zeros", name="context_vectors")], name="context")
    return nets


def sample_noise(cdf, seeds, shape, salt=0):
    """Per example, ``shape`` noise word ids drawn from the distribution whose cumulative sums are
    ``cdf`` [V] (inverse-CDF sampling of keyed uniforms)."""
    u = randomness.uniform(seeds, shape, salt)
    flat = tf.searchsorted(cdf, tf.reshape(u, [-1]), side="right")
    return tf.reshape(tf.minimum(flat, tf.shape(cdf)[0] - 1), tf.shape(u))


class WordVectors(SupervisedTask):
    """Skip-gram, CBOW or the NNLM on a ``vocabulary`` (``suite.data.text_corpus.Vocabulary``)."""

    def __init__(self, config, vocabulary, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.words = list(vocabulary.words)
        self.nets = build_networks(config, len(self.words))
        self.noise_cdf = tf.constant(np.cumsum(vocabulary.noise(config.noise_power)), tf.float32)

    def networks(self):
        return dict(self.nets)

    def call(self, inputs, training=False):
        return self.nets["embedding"](inputs)

    @property
    def vectors(self):
        return self.nets["embedding"].get_layer("word_vectors").embeddings

    def loss_terms(self, batch, training, seeds):
        if self.config.model == "nnlm":
            logits = tf.cast(self.nets["lm"](batch["contexts"], training=training), tf.float32)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(batch["targets"], logits)
            right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), batch["targets"]), tf.float32)
            return {"loss/cross_entropy": loss}, {"accuracy": right}
        k, mask = self.config.negatives, batch["mask"]
        v = tf.cast(self.nets["embedding"](batch["centre"][:, None], training=training), tf.float32)  # [B, 1, D]
        contexts = tf.cast(self.nets["embedding"](batch["contexts"], training=training), tf.float32)  # [B, 2W, D]
        if self.config.model == "skipgram":  # the centre predicts each context word against k noise words
            targets = batch["contexts"]
            noise = sample_noise(self.noise_cdf, seeds, [targets.shape[1], k])
            source = v  # [B, 1, D] against [B, 2W, D] and [B, 2W, k, D]
            weights = mask
        else:  # CBOW: the window's mean predicts the centre
            count = tf.reduce_sum(mask, 1, keepdims=True)
            source = tf.math.divide_no_nan(tf.reduce_sum(contexts * mask[..., None], 1, keepdims=True),
                                           count[..., None])
            targets = batch["centre"][:, None]
            noise = sample_noise(self.noise_cdf, seeds, [1, k])
            weights = tf.cast(count > 0, tf.float32)
        u = tf.cast(self.nets["context"](targets, training=training), tf.float32)
        u_noise = tf.cast(self.nets["context"](tf.reshape(noise, [tf.shape(noise)[0], -1]), training=training),
                          tf.float32)
        u_noise = tf.reshape(u_noise, [tf.shape(noise)[0], noise.shape[1], k, -1])
        positive = tf.reduce_sum(u * source, -1)  # [B, T]
        negative = tf.einsum("btkd,bsd->btk", u_noise, source)  # [B, T, k] (s = 1)
        loss = -tf.math.log_sigmoid(positive) - tf.reduce_sum(tf.math.log_sigmoid(-negative), -1)
        per_example = tf.reduce_sum(loss * weights, 1)
        pairs = tf.reduce_sum(weights, 1)
        # at SGNS's optimum u . v is the pair's PMI - log k (Levy and Goldberg 2014), below 0 in a small
        # vocabulary: a pair is ranked right when the true word outscores each of its noise words
        ranked = tf.cast(tf.reduce_all(positive[..., None] > negative, -1), tf.float32)
        return ({"loss/negative_sampling": (tf.math.divide_no_nan(per_example, pairs), pairs)},
                {"pair_ranking": (tf.math.divide_no_nan(tf.reduce_sum(ranked * weights, 1), pairs), pairs)})


# ------------------------------------------------------------------ a run's text
EMBEDDED_SENTENCES = {"tiny": (20000, 2000), "small": (100000, 5000), "paper": (100000, 5000)}  # train, held out
PROBES = ("alice", "ball", "red", "park", "gave", "given")  # the neighbours shown for the embedded stories


def load_text(data, config, seed=0, preset="tiny", num_sentences=None, similarity=(), analogies=(), bad=None):
    """A run's text: the corpus (``suite.data.text_corpus``, which names a bad file), its vocabulary,
    and every evaluation file read before training. Returns {"train", "held": ``Corpus``,
    "vocabulary", "similarity": [(name, pairs)] (the embedded set first on the embedded corpus),
    "analogies": [(name, questions)]}."""
    import sys

    from suite.data import text_corpus as tc

    count, held_count = EMBEDDED_SENTENCES[preset]
    train = tc.corpus_sentences(data, "train", seed, num_sentences or count, bad)
    held = tc.corpus_sentences(data, "validation", seed, held_count, bad)
    vocabulary = tc.build_vocabulary(train, config.vocab_size, config.min_count, source=data)
    sets = [(path, tc.read_similarity(path).pairs) for path in similarity]
    if data == tc.EMBEDDED:
        sets.insert(0, ("embedded", tc.embedded_similarity().pairs))
    print(f"{data}: {sum(map(len, train)):,} training tokens, {len(vocabulary):,} words", file=sys.stderr)
    return {"train": tc.Corpus.of(train, vocabulary), "held": tc.Corpus.of(held, vocabulary),
            "vocabulary": vocabulary, "similarity": sets,
            "analogies": [(path, tc.read_analogies(path).questions) for path in analogies]}


def dataset(config, text, batch_size, seed=0, shard=None, start=0):
    """The model's training batches: n-gram windows (NNLM) or word2vec's windows (``suite.data.text_corpus``)."""
    from suite.data import text_corpus as tc

    if config.model == "nnlm":
        return tc.ngram_dataset(text["train"], batch_size, config.order, seed=seed, shard=shard, start=start)
    return tc.window_dataset(text["train"], text["vocabulary"], batch_size, config.window, config.subsample,
                             seed=seed, shard=shard, start=start)


# ------------------------------------------------------------------ evaluation
def normalized(vectors):
    v = np.asarray(vectors, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def spearman(x, y):
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(a):
        a = np.asarray(a, np.float64)
        order = np.argsort(a, kind="mergesort")
        r = np.empty(len(a))
        r[order] = np.arange(len(a))
        for value in np.unique(a):  # ties share their mean rank
            tied = a == value
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def similarity_score(vectors, words, pairs):
    """{'spearman', 'coverage'}: the rank correlation of cosine similarity with the human scores over
    the pairs whose two words are known, and the share of pairs that are."""
    index = {w: i for i, w in enumerate(words)}
    known = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    if len(known) < 2:
        return {"spearman": 0.0, "coverage": len(known) / max(len(pairs), 1)}
    v = normalized(vectors)
    cosine = [float(v[a] @ v[b]) for a, b, _ in known]
    return {"spearman": spearman(cosine, [s for _, _, s in known]), "coverage": len(known) / len(pairs)}


def analogy_score(vectors, words, questions, first=2):
    """{'accuracy', 'coverage', per section}: 3CosAdd (Mikolov et al.): for 'a b c d', the word
    nearest (cosine) to b - a + c, a, b and c excluded, must be d; over the questions whose four
    words are known (``first``: the special tokens, never an answer)."""
    index = {w: i for i, w in enumerate(words)}
    v = normalized(vectors)
    right, sections = [], {}
    for section, a, b, c, d in questions:
        if not all(w in index for w in (a, b, c, d)):
            continue
        target = v[index[b]] - v[index[a]] + v[index[c]]
        scores = v @ target
        scores[:first] = -np.inf
        scores[[index[a], index[b], index[c]]] = -np.inf
        ok = int(np.argmax(scores)) == index[d]
        right.append(ok)
        sections.setdefault(section, []).append(ok)
    out = {"accuracy": float(np.mean(right)) if right else 0.0, "coverage": len(right) / max(len(questions), 1)}
    out.update({f"section/{s}": float(np.mean(r)) for s, r in sections.items()})
    return out


def neighbours(vectors, words, queries, k=5, first=2):
    """{query: [(word, cosine)]} of the known ``queries`` (the special tokens never neighbours)."""
    index = {w: i for i, w in enumerate(words)}
    v = normalized(vectors)
    out = {}
    for q in queries:
        if q not in index:
            continue
        scores = v @ v[index[q]]
        scores[:first] = -np.inf
        scores[index[q]] = -np.inf
        best = np.argsort(-scores)[:k]
        out[q] = [(words[i], float(scores[i])) for i in best]
    return out


def perplexity(model, contexts, targets, batch=1024):
    """exp of the NNLM's mean cross-entropy on held-out (contexts, targets)."""
    total = 0.0
    for s in range(0, len(targets), batch):
        logits = model.nets["lm"](tf.constant(contexts[s:s + batch]), training=False)
        total += float(tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(targets[s:s + batch], logits)))
    return float(np.exp(total / max(len(targets), 1)))


def unigram_perplexity(vocabulary, targets):
    """The perplexity of the training counts' unigram distribution on held-out ``targets``."""
    p = vocabulary.counts / vocabulary.counts.sum()
    return float(np.exp(-np.mean(np.log(np.maximum(p[targets], 1e-12)))))


class WordVectorEvaluator(Evaluator):
    """At the end of every epoch (chief only): the Spearman correlation on each similarity set, the
    3CosAdd accuracy on each analogy set, for the NNLM the held-out perplexity (and the unigram
    model's, the bar it must clear), in TensorBoard with a table of ``probes``' nearest neighbours
    and the embedding projector (the vectors with their words as metadata, under ``projector/``)."""

    @classmethod
    def of(cls, model, text, logdir=None):
        """The evaluator of a run's ``text`` (``load_text``): its sets, for the NNLM the held-out
        n-grams and the unigram bar, ``PROBES``' neighbours (or the first words of another corpus)."""
        from suite.data.text_corpus import ngram_windows

        vocabulary, held_out, unigram = text["vocabulary"], None, None
        if model.config.model == "nnlm":
            held_out = ngram_windows(text["held"], model.config.order)
            unigram = unigram_perplexity(vocabulary, held_out[1])
        probes = [w for w in PROBES if w in vocabulary.index] or vocabulary.words[2:8]
        return cls(model, text["similarity"], text["analogies"], held_out, unigram, probes, logdir)

    def __init__(self, model, similarity=(), analogies=(), held_out=None, unigram=None, probes=(), logdir=None):
        super().__init__()
        self.model, self.similarity, self.analogies = model, list(similarity), list(analogies)
        self.held_out, self.unigram, self.probes, self.logdir = held_out, unigram, list(probes), logdir

    def evaluate(self):
        vectors = self.model.vectors.numpy()
        words = self.model.words
        scores = {}
        for name, pairs in self.similarity:
            scores[f"similarity/{name}"] = similarity_score(vectors, words, pairs)
        for name, questions in self.analogies:
            scores[f"analogy/{name}"] = analogy_score(vectors, words, questions)
        if self.held_out is not None:
            scores["perplexity"] = perplexity(self.model, *self.held_out)
            scores["unigram_perplexity"] = self.unigram
        return scores, neighbours(vectors, words, self.probes)

    def log_media(self, found, step):
        rows = [f"| {q} | " + ", ".join(f"{w} ({c:.2f})" for w, c in near) + " |" for q, near in found.items()]
        tf.summary.text("eval/neighbours", "| word | nearest (cosine) |\n|---|---|\n" + "\n".join(rows), step=step)
        if self.logdir:
            write_projector(os.path.join(self.logdir, "projector"), self.model.vectors.numpy(), self.model.words)

    def describe(self, scores):
        parts = [f"{k} {v['spearman']:.3f}" for k, v in scores.items() if k.startswith("similarity/")]
        parts += [f"{k} {v['accuracy']:.3f}" for k, v in scores.items() if k.startswith("analogy/")]
        if "perplexity" in scores:
            parts.append(f"perplexity {scores['perplexity']:.2f} (unigram {scores['unigram_perplexity']:.2f})")
        return "  ".join(parts)


def write_projector(directory, vectors, words):
    """TensorBoard's embedding projector: the vectors in a checkpoint, their words as metadata, the
    config tying them (each file written whole, then renamed into place)."""
    from tensorboard.plugins import projector

    os.makedirs(directory, exist_ok=True)
    metadata = os.path.join(directory, "metadata.tsv")
    with open(metadata + ".tmp", "w", encoding="utf-8") as f:
        f.write("".join(w.replace("\t", " ").replace("\n", " ") + "\n" for w in words))
    os.replace(metadata + ".tmp", metadata)
    checkpoint = tf.train.Checkpoint(embedding=tf.Variable(vectors))
    checkpoint.write(os.path.join(directory, "embedding.ckpt"))
    config = projector.ProjectorConfig()
    entry = config.embeddings.add()
    entry.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
    entry.metadata_path = "metadata.tsv"
    projector.visualize_embeddings(directory, config)


# ------------------------------------------------------------------ serving
def serving_endpoints(model, k=10):
    """``serving_default``: ``words`` string [N] (any text; lower-cased and stripped as the corpus was)
    -> ``vectors`` float32 [N, D] (zeros for an unknown word), ``in_vocabulary`` bool [N] (False: no
    vector, not a zero one). ``neighbours``: ``words`` string [N] -> ``neighbours`` string [N, k]
    (the known words nearest by cosine, the word itself left out; '' for an unknown word),
    ``similarities`` float32 [N, k], ``in_vocabulary``."""
    lookup = keras.layers.StringLookup(vocabulary=model.words[1:], num_oov_indices=1, name="vocabulary")
    lookup(tf.constant([""]))  # built, so the export can track its table
    vocab = tf.constant(model.words)
    first = 2  # <unk> and <s>: never a neighbour

    def ids_of(words):
        return tf.cast(lookup(tf.strings.strip(tf.strings.lower(words, encoding="utf-8"))), tf.int32)

    @tf.function
    def vectors(words):
        ids = ids_of(words)
        known = ids >= first
        v = tf.where(known[:, None], tf.cast(tf.gather(model.vectors, ids), tf.float32), 0.0)
        return {"vectors": v, "in_vocabulary": known}

    @tf.function
    def nearest(words):
        ids = ids_of(words)
        known = ids >= first
        table = tf.math.l2_normalize(tf.cast(model.vectors, tf.float32), -1)
        scores = tf.matmul(tf.gather(table, ids), table, transpose_b=True)
        banned = tf.one_hot(ids, len(model.words), on_value=True, off_value=False) | (
            tf.range(len(model.words)) < first)[None]
        top = tf.math.top_k(tf.where(banned, -2.0, scores), k=min(k, len(model.words) - first - 1))
        names = tf.where(known[:, None], tf.gather(vocab, top.indices), "")
        return {"neighbours": names, "similarities": tf.where(known[:, None], top.values, 0.0), "in_vocabulary": known}

    spec = [tf.TensorSpec([None], tf.string, name="words")]
    return {"serving_default": (vectors, spec), "neighbours": (nearest, spec)}, lookup


def warmup_requests(model):
    """A request of each of ``serving_endpoints``' signatures: a known word and an unknown one."""
    words = [[model.words[2].encode(), b"unknown-word"]]
    return {"serving_default": words, "neighbours": words}
