"""Plain-text corpora for the language-model lineage (word vectors, neural language models): the
embedded stories, text files and folders, the vocabulary, the word-similarity and analogy sets in
their standard layouts, and the training pipelines.

A corpus is a list of sentences, each a list of words: lower-cased, split on white space, the
punctuation at either end of a word split off as its own token (``tokenize``; the exports do the
same in TensorFlow ops). ``--data corpus`` is the NLU topic's embedded stories
(``suite.data.nlu.documents``), whose words fall in semantic classes (people, objects, adjectives,
places, verbs in the past or present, and as participles), so that word vectors can be checked against them:
the embedded similarity set scores word pairs by class. A file holds one sentence (or paragraph) per line; a folder, ``.txt``
files. An empty or binary file, or one that is not UTF-8, is refused naming it.

Similarity sets are tab-separated ``word1 word2 score`` lines (WordSim-353's layout; SimLex-999's
too, whose header names the ``SimLex999`` column); analogy sets are Google's ``questions-words.txt``
(``: section`` lines, then ``a b c d`` lines). A malformed line is refused naming file and line.
"""
import collections
import dataclasses
import math
import os
import re

import numpy as np

from suite.data.errors import DataError

EMBEDDED = "corpus"
DATA_HELP = ("'corpus' (the embedded stories of people passing objects in places, generated from --seed), a UTF-8 "
             "text file (one sentence or paragraph per line; every tenth held out), a folder of .txt files, or a "
             "TFDS text set prepared in TFDS_DATA_DIR ('tfds:lm1b', 'tfds:wikipedia/20230601.en': its 'text' "
             "feature, one line a sentence or paragraph; held out: its test or validation split, else every tenth)")
UNK, BOS = "<unk>", "<s>"
SPECIALS = (UNK, BOS)
_PUNCTUATION = re.compile(r"^(\W*)(.*?)(\W*)$", re.UNICODE)


def tokenize(text):
    """Lower case, split on white space, leading and trailing punctuation split off as tokens."""
    out = []
    for word in text.lower().split():
        lead, core, trail = _PUNCTUATION.match(word).groups()
        out += [t for t in (lead, core, trail) if t]
    return out


def tokenize_in_graph(text):
    """``tokenize`` in TensorFlow ops for a serving graph: strings [N] -> ragged tokens [N, (T)]
    (Unicode lower case; RE2's letter and number classes stand for Python's word characters)."""
    import tensorflow as tf

    words = tf.strings.split(tf.strings.lower(tf.reshape(text, [-1]), encoding="utf-8"))
    parts = tf.strings.regex_replace(words.flat_values, r"^([^\pL\pN_]*)(.*?)([^\pL\pN_]*)$", r"\1 \2 \3")
    return words.with_flat_values(tf.strings.split(parts)).merge_dims(1, 2)


# ------------------------------------------------------------------ reading
def _read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    if b"\x00" in raw:
        raise DataError(f"{path}: a binary file, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def read_sentences(path, bad=None):
    """The sentences of a text file (one per non-empty line) or of a folder's ``.txt`` files; a
    folder's bad file (unreadable, binary, not UTF-8, no words) is refused or, by ``bad`` (a
    ``suite.data.files.BadFiles`` of ``--skip-bad-files``), left out and named."""
    path = os.path.expanduser(path)
    if os.path.isdir(path):
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.lower().endswith(".txt"))
        if not files:
            raise DataError(f"{path}: no .txt file in the folder")
    elif os.path.isfile(path):
        files = [path]
    else:
        raise DataError(f"{path}: no such file or folder")
    def sentences_of(f):
        found = [s for s in (tokenize(line) for line in _read_text(f).splitlines()) if s]
        if not found:
            raise DataError(f"{f}: no words in it")
        return found

    if len(files) == 1 or bad is None:
        return [s for f in files for s in sentences_of(f)]
    sentences = [s for f in files for s in (bad.check(sentences_of, f) or [])]
    if not sentences:
        raise DataError(f"{path}: no readable .txt file with words ({len(files)} skipped)")
    return sentences


def embedded_sentences(count, seed=0, split="train"):
    """``count`` sentences of the embedded stories (documents drawn until there are enough)."""
    from suite.data.nlu import documents

    offset = {"train": 0, "validation": 1000003, "test": 2000003}[split]
    docs = documents(max(1, count // 3), seed=seed + offset)
    sentences = [tokenize(s) for d in docs for s in d]
    while len(sentences) < count:
        docs = documents(max(1, count // 3), seed=seed + offset + len(sentences))
        sentences += [tokenize(s) for d in docs for s in d]
    return sentences[:count]


TFDS_LIMIT = 1_000_000  # sentences read from a TFDS set when the run asks for no count (lm1b has 30 million)


def tfds_text(name, split="train"):
    """(strings dataset of the ``text`` feature, info) of a TFDS text set already prepared in
    TFDS_DATA_DIR (nothing is downloaded); a DataError of one line naming the set otherwise."""
    import tensorflow_datasets as tfds

    try:
        ds, info = tfds.load(name, split=split, with_info=True, shuffle_files=False, download=False)
    except Exception as e:  # DatasetNotFoundError, an unprepared set, an unknown split ...
        first = (str(e).strip().splitlines() or [""])[0]  # not TFDS's list of every dataset it knows
        raise DataError(f"--data tfds:{name}: cannot load split {split!r} ({type(e).__name__}: {first}). Nothing is "
                        "downloaded at run time here: prepare it into TFDS_DATA_DIR first") from None
    if "text" not in info.features:
        raise DataError(f"--data tfds:{name}: the dataset has no 'text' feature (has: {', '.join(info.features)})")
    return ds.map(lambda ex: ex["text"]), info


def tfds_sentences(name, split="train", count=None):
    """Sentences of a TFDS text set (``tfds_text``): each example's text, one sentence per non-empty line
    (an article's paragraphs). Held out: the set's ``test`` or ``validation`` split when it has one, else
    every tenth sentence read."""
    ds, info = tfds_text(name, "train")
    held_split = next((s for s in ("test", "validation") if s in info.splits), None)
    if split != "train" and held_split:
        ds, _ = tfds_text(name, held_split)
    limit, held_out, k = count or TFDS_LIMIT, split != "train", 0
    sentences = []
    for text in ds.as_numpy_iterator():
        for line in text.decode("utf-8", "replace").splitlines():
            tokens = tokenize(line)
            if tokens and (held_split or (k % 10 == 9) == held_out):
                sentences.append(tokens)
            k += bool(tokens)
        if len(sentences) >= limit:
            break
    if not sentences:
        raise DataError(f"--data tfds:{name}: no words in its {split if held_split or split == 'train' else 'held-out'}"
                        " text")
    return sentences[:count] if count else sentences


def corpus_sentences(data, split="train", seed=0, count=None, bad=None):
    """The embedded stories (``count`` sentences), a file's or folder's sentences (every tenth sentence
    held out; ``bad``: see ``read_sentences``) or a TFDS text set's (``tfds_sentences``)."""
    if data == EMBEDDED:
        return embedded_sentences(count or 20000, seed, split)
    if str(data).startswith("tfds:"):
        return tfds_sentences(data[len("tfds:"):], split, count)
    sentences = read_sentences(data, bad)
    held = [s for k, s in enumerate(sentences) if k % 10 == 9]
    if split != "train":
        if not held:
            raise DataError(f"{data}: too few sentences to hold a tenth out (has {len(sentences)})")
        return held[:count] if count else held
    train = [s for k, s in enumerate(sentences) if k % 10 != 9] or sentences
    return train[:count] if count else train


# ------------------------------------------------------------------ vocabulary
@dataclasses.dataclass
class Vocabulary:
    words: list  # SPECIALS first, then by falling count
    counts: np.ndarray  # int64 per word (0 for the specials)

    def __len__(self):
        return len(self.words)

    @property
    def index(self):
        if not hasattr(self, "_index"):
            self._index = {w: i for i, w in enumerate(self.words)}
        return self._index

    def ids(self, words):
        return np.array([self.index.get(w, 0) for w in words], np.int32)

    def noise(self, power=0.75):
        """Negative sampling's distribution: unigram counts ** ``power``, normalised (specials 0)."""
        p = self.counts.astype(np.float64) ** power
        return p / p.sum()


def build_vocabulary(sentences, size=None, min_count=1, source="the corpus"):
    """The words of ``sentences`` seen ``min_count`` times or more, the ``size`` - 2 most frequent
    (ties by first appearance), after ``<unk>`` and ``<s>``."""
    if size is not None and size <= len(SPECIALS):
        raise DataError(f"a vocabulary of {size} words holds nothing but the special tokens {list(SPECIALS)}: "
                        f"give more than {len(SPECIALS)}")
    counts = collections.Counter(w for s in sentences for w in s)
    kept = [(w, c) for w, c in counts.most_common() if c >= min_count and w not in SPECIALS]
    if size is not None:
        kept = kept[:size - len(SPECIALS)]
    if not kept:
        raise DataError(f"{source}: no word is seen {min_count} times or more")
    return Vocabulary(list(SPECIALS) + [w for w, _ in kept], np.array([0, 0] + [c for _, c in kept], np.int64))


@dataclasses.dataclass
class Corpus:
    """Token ids of every sentence, flat (``ids`` int32 [T]), and each token's sentence (``sentence``
    int32 [T]); out-of-vocabulary words are ``<unk>`` (0)."""

    ids: np.ndarray
    sentence: np.ndarray

    @classmethod
    def of(cls, sentences, vocabulary):
        ids = vocabulary.ids([w for s in sentences for w in s])
        sentence = np.repeat(np.arange(len(sentences), dtype=np.int32), [len(s) for s in sentences])
        return cls(ids, sentence)

    def __len__(self):
        return len(self.ids)


def keep_probability(vocabulary, threshold):
    """Mikolov et al.'s subsampling: a word of frequency f is kept with probability min(1, sqrt(t / f))
    (discarded with 1 - sqrt(t / f)); ``threshold`` t (0: keep every word)."""
    f = vocabulary.counts / max(vocabulary.counts.sum(), 1)
    if not threshold:
        return np.ones(len(vocabulary), np.float32)
    with np.errstate(divide="ignore"):
        return np.where(f > 0, np.minimum(1.0, np.sqrt(threshold / np.maximum(f, 1e-30))), 1.0).astype(np.float32)


# ------------------------------------------------------------------ evaluation sets
@dataclasses.dataclass
class SimilaritySet:
    pairs: list  # [(word1, word2, score)]
    source: str = ""


@dataclasses.dataclass
class AnalogySet:
    questions: list  # [(section, a, b, c, d)]
    source: str = ""


def read_similarity(path):
    """A word-similarity file (see the module docstring)."""
    lines = _read_text(os.path.expanduser(path)).splitlines()
    column, pairs = 2, []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")] if "\t" in line else line.split()
        if number == 1 and len(parts) >= 3 and not _is_number(parts[2]):  # a header
            column = parts.index("SimLex999") if "SimLex999" in parts else 2
            continue
        if len(parts) <= column or not _is_number(parts[column]):
            raise DataError(f"{path}:{number}: expected 'word1<TAB>word2<TAB>score', got {line!r}")
        pairs.append((parts[0].lower(), parts[1].lower(), float(parts[column])))
    if not pairs:
        raise DataError(f"{path}: no word pair in it")
    return SimilaritySet(pairs, path)


def read_analogies(path):
    """An analogy file in ``questions-words.txt``'s layout (see the module docstring)."""
    lines = _read_text(os.path.expanduser(path)).splitlines()
    section, questions = "", []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        parts = line.lower().split()
        if len(parts) != 4:
            raise DataError(f"{path}:{number}: expected ': section' or four words 'a b c d', got {line!r}")
        questions.append((section, *parts))
    if not questions:
        raise DataError(f"{path}: no analogy question in it")
    return AnalogySet(questions, path)


def _is_number(text):
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def embedded_similarity():
    """Word pairs of the embedded stories scored by class and setting: two words of one class 7 (people,
    objects, adjectives, places, verbs in the past or present (the stories use them in one slot), verbs'
    participles), 5 if the two belong to different settings (objects, adjectives and places of the stories
    at home against those at work), of different classes 1 (the stories hold no relation an analogy
    could rest on: a person gives any object of the setting)."""
    from suite.data import nlu

    classes = {"person": nlu.NAMES, "object": nlu.NOUNS, "adjective": nlu.ADJECTIVES, "place": nlu.PLACES,
               "finite": tuple(v[0] for v in nlu.VERBS) + tuple(nlu.present(v[2]) for v in nlu.VERBS),
               "participle": tuple(v[1] for v in nlu.VERBS if v[1] != v[0])}
    setting = {w: name for name, kinds in nlu.SETTINGS.items() for words in kinds.values() for w in words}
    rng = np.random.default_rng(7)
    pairs = set()
    names = sorted(classes)
    for name in names:
        words = classes[name]
        for _ in range(12):
            a, b = rng.choice(len(words), 2, replace=False)
            pairs.add((words[a], words[b], 7.0 if setting.get(words[a]) == setting.get(words[b]) else 5.0))
            other = classes[names[(names.index(name) + 1 + int(rng.integers(len(names) - 1))) % len(names)]]
            if other[int(rng.integers(len(other)))] not in words:
                pairs.add((words[a], other[int(rng.integers(len(other)))], 1.0))
    return SimilaritySet(sorted(pairs), "the embedded similarity set")


# ------------------------------------------------------------------ pipelines
def window_dataset(corpus, vocabulary, batch_size, window, subsample=0.0, seed=0, shard=None, start=0):
    """Endless tf.data for word2vec: per example a centre word and its window, {"centre": int32 [B],
    "contexts": int32 [B, 2 window], "mask": float32 [B, 2 window]}. Each centre's window is shrunk
    to a random b in 1..``window`` (the paper's weighting of nearer words), stops at the sentence's
    ends, leaves out ``<unk>``; with ``subsample`` each token is dropped with the paper's probability
    (a dropped centre's window and a dropped context are masked, so that a batch is always the same
    positions and a resumed run goes on where it stopped), drawn anew each epoch."""
    import tensorflow as tf

    from suite.data.order import order_dataset

    positions = np.flatnonzero(corpus.ids > 0)
    if shard is not None:
        positions = positions[shard[1]::shard[0]]
    if not len(positions):
        raise DataError("no in-vocabulary word to train on")
    ids, sentence = tf.constant(corpus.ids), tf.constant(corpus.sentence)
    keep = tf.constant(keep_probability(vocabulary, subsample))
    offsets = tf.constant([o for o in range(-window, window + 1) if o], tf.int32)
    n = len(corpus)

    def example(epoch, i):
        i = tf.cast(i, tf.int32)
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64) * 1000003 + tf.cast(i, tf.int64)])
        shrink = tf.random.stateless_uniform([], key, 1, window + 1, dtype=tf.int32)
        where = tf.clip_by_value(i + offsets, 0, n - 1)
        context = tf.gather(ids, where)
        draws = tf.random.stateless_uniform([2 * window + 1], key + [0, 7])
        kept = draws[1:] < tf.gather(keep, context)
        valid = (tf.abs(offsets) <= shrink) & (i + offsets >= 0) & (i + offsets < n) & kept
        valid &= tf.equal(tf.gather(sentence, where), sentence[i]) & (context > 0)
        valid &= draws[0] < keep[ids[i]]  # a dropped centre: no pair (masked, so a batch is its positions)
        return {"centre": ids[i], "contexts": context, "mask": tf.cast(valid, tf.float32)}

    order = order_dataset(positions, [seed, 89, 0 if shard is None else shard[1]], start * batch_size,
                          with_epoch=True)
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def ngram_windows(corpus, order):
    """Every token's ``order`` - 1 preceding tokens in its sentence (``<s>`` before its start) and the
    token: (contexts int32 [T, order - 1], targets int32 [T]), ``<unk>`` targets left out."""
    n = len(corpus)
    t = np.arange(n)
    contexts = np.full((n, order - 1), SPECIALS.index(BOS), np.int32)
    for k in range(1, order):
        back = t - k
        same = (back >= 0) & (corpus.sentence[np.maximum(back, 0)] == corpus.sentence)
        contexts[:, order - 1 - k] = np.where(same, corpus.ids[np.maximum(back, 0)], SPECIALS.index(BOS))
    keep = corpus.ids > 0
    return contexts[keep], corpus.ids[keep]


def ngram_dataset(corpus, batch_size, order, seed=0, shard=None, start=0):
    """Endless tf.data for the neural language model: {"contexts": int32 [B, order - 1], "targets":
    int32 [B]} in a random order from its ``start``-th batch."""
    import tensorflow as tf

    from suite.data.order import order_dataset

    contexts, targets = ngram_windows(corpus, order)
    indices = np.arange(len(targets))
    if shard is not None:
        indices = indices[shard[1]::shard[0]]
    if not len(indices):
        raise DataError("no in-vocabulary word to train on")
    contexts, targets = tf.constant(contexts), tf.constant(targets)
    order_ds = order_dataset(indices, [seed, 97, 0 if shard is None else shard[1]], start * batch_size)
    ds = order_ds.map(lambda i: {"contexts": contexts[i], "targets": targets[i]},
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
