"""The polysemy probe: can a word's vector tell which of its senses a sentence uses?

The embedded stories use three words in two senses each (``suite.data.nlu.POLYSEMOUS``: a person's
name and an object). ``suite.data.nlu.polysemy_probe`` gives held-out (sentence, word index, word,
sense) examples whose train and test halves use disjoint adjectives, verbs and places. A linear probe
(ridge-regularised least squares on standardised features, one output per sense: a linear classifier
with a closed form, so it is deterministic) is fitted on each generation's vector of the word in the
train half and scored on the test half. A static vector is the same for both senses, so its probe
can only guess; a contextual one (ELMo, GPT, BERT) can separate them, and the same network untrained
says how much of that the architecture alone gives.

Each generation is a ``contextual(sentences) -> [per-word vectors [words, D]]`` function: the vector
of each whitespace word (of a WordPiece model: its first piece's).
"""
import numpy as np
import tensorflow as tf


# ------------------------------------------------------------------ each generation's word vectors
def static(words, vectors):
    """A static embedding's words ({word: row} by ``words``; an unknown word: row 0, ``<unk>``)."""
    index = {w: i for i, w in enumerate(words)}
    vectors = np.asarray(vectors, np.float32)

    def contextual(sentences):
        return [vectors[[index.get(w, 0) for w in s.split()]] for s in sentences]

    return contextual


def elmo(net, config, batch=256):
    """ELMo's vectors: the mean of its layers (the token layer and each biLM layer, as the export's
    ``vectors``) at each word."""
    from suite.lm.elmo import sentence_inputs

    def contextual(sentences):
        out = []
        for i in range(0, len(sentences), batch):
            chunk = list(sentences[i:i + batch])
            _, inputs = sentence_inputs(tf.constant(chunk), config.max_characters)
            layers = net(inputs, training=False)["layers"]
            mean = tf.reduce_mean(tf.stack([tf.cast(h, tf.float32) for h in layers], 2), 2).numpy()
            out += [mean[k, 1:len(s.split()) + 1] for k, s in enumerate(chunk)]  # <s> first
        return out

    return contextual


def first_pieces(lexicon, sentences):
    """Per sentence, the position of each word's first WordPiece among the sentence's pieces (each
    distinct word tokenised once)."""
    words = sorted({w for s in sentences for w in s.split()})
    count = dict(zip(words, (len(p) for p in lexicon.tokenize(tf.constant(words)).to_list()))) if words else {}
    return [np.cumsum([0] + [count[w] for w in s.split()][:-1]) for s in sentences]


def wordpiece(lexicon, encode, hidden, batch=256):
    """A WordPiece model's vectors: ``encode(sentences)`` -> (its inputs, the offset of the first
    piece), ``hidden(inputs)`` -> [B, L, H]."""

    def contextual(sentences):
        out = []
        for i in range(0, len(sentences), batch):
            chunk = list(sentences[i:i + batch])
            inputs, offset = encode(chunk)
            states = np.asarray(hidden(inputs), np.float32)
            for k, at in enumerate(first_pieces(lexicon, chunk)):
                out.append(states[k, np.minimum(offset + at, states.shape[1] - 1)])
        return out

    return contextual


def gpt(net, lexicon, length=64):
    """GPT's vectors: its last layer at each word, which has read only the words before it (and
    the word)."""
    def encode(sentences):
        ids = lexicon.tokenize(tf.constant(sentences))
        ids = tf.concat([tf.fill([ids.nrows(), 1], lexicon.sep_id), ids], 1)[:, :length]  # [SEP] starts a sentence
        return {"token_ids": ids.to_tensor(lexicon.pad_id), "padding_mask": tf.ones_like(ids).to_tensor(0)}, 1

    return wordpiece(lexicon, encode, lambda x: net(x, training=False)["hidden"])


def bert(backbone, lexicon):
    """BERT's vectors: its last layer (``sequence_output``) at each word, which has read the whole
    sentence."""
    def encode(sentences):
        return lexicon.encode(tf.constant(sentences)), 1  # [CLS] first

    return wordpiece(lexicon, encode, lambda x: backbone(x, training=False)["sequence_output"])


# ------------------------------------------------------------------ from the runs' folders
def static_of_run(logdir):
    """A ``recipes.word2vec`` run's vectors (its TensorBoard projector's words and embedding)."""
    import os

    projector = os.path.join(logdir, "projector")
    with open(os.path.join(projector, "metadata.tsv"), encoding="utf-8") as f:
        words = [line.rstrip("\n") for line in f]
    return words, tf.train.load_variable(os.path.join(projector, "embedding.ckpt"),
                                         "embedding/.ATTRIBUTES/VARIABLE_VALUE")


def of_runs(word2vec=None, elmo_run=None, gpt_run=None, bert_run=None, untrained=False):
    """{generation: contextual} of the runs' log directories given (``untrained``: also each
    contextual network as built, before training, with the same configuration and vocabulary)."""
    from suite.lm import elmo as elmo_lm
    from suite.lm import gpt as gpt_lm
    from suite.lm import gpt_tasks
    from suite.nlu import bert as bert_lm
    from suite.nlu.lexicon import Lexicon

    out = {}
    if word2vec:
        out["word2vec"] = static(*static_of_run(word2vec))
    if elmo_run:
        config, _, net = elmo_lm.load_pretrained(elmo_run)
        out["ELMo"] = elmo(net, config)
        if untrained:
            out["ELMo untrained"] = elmo(elmo_lm.build_network(config), config)
    if gpt_run:
        config, vocabulary, net = gpt_tasks.load_pretrained(gpt_run)
        lexicon = Lexicon(vocabulary, config.sequence_length)
        out["GPT"] = gpt(net, lexicon, config.sequence_length)
        if untrained:
            out["GPT untrained"] = gpt(gpt_lm.build_network(config), lexicon, config.sequence_length)
    if bert_run:
        config, vocabulary, backbone = bert_lm.load_encoder(bert_run)
        lexicon = Lexicon(vocabulary, config.sequence_length)
        out["BERT"] = bert(backbone, lexicon)
        if untrained:
            out["BERT untrained"] = bert(bert_lm.build_backbone(config), lexicon)
    return out


# ------------------------------------------------------------------ the probe
def features(contextual, examples, rows=None):
    """The vectors [N, D] of each example's word (``examples``: ``polysemy_probe``'s; ``rows``: the
    sentences' per-word vectors, if already computed)."""
    rows = contextual([s for s, *_ in examples]) if rows is None else rows
    return np.stack([r[i] for r, (_, i, *_) in zip(rows, examples)])


def linear_probe(train_x, train_y, test_x, classes, l2=1.0):
    """Ridge least squares on standardised features to one-hot targets; the test's predicted classes."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a = (train_x - mean) / std
    a = np.concatenate([a, np.ones((len(a), 1))], 1)
    targets = np.eye(classes)[train_y]
    w = np.linalg.solve(a.T @ a + l2 * np.eye(a.shape[1]), a.T @ targets)
    b = np.concatenate([(test_x - mean) / std, np.ones((len(test_x), 1))], 1)
    return np.argmax(b @ w, 1)


def probe_accuracy(contextual, train, test, test_rows=None):
    """The probe's accuracy on ``test`` after fitting on ``train``, overall and per word."""
    from suite.data.nlu import SENSES

    sense = {s: i for i, s in enumerate(SENSES)}
    predicted = linear_probe(features(contextual, train), np.array([sense[e[3]] for e in train]),
                             features(contextual, test, test_rows), len(SENSES))
    right = predicted == np.array([sense[e[3]] for e in test])
    words = np.array([e[2] for e in test])
    return {"accuracy": float(right.mean()),
            **{f"accuracy/{w}": float(right[words == w].mean()) for w in sorted(set(words))}}


def sense_neighbours(contextual, examples, k=5, rows=None):
    """[(word, sense, [the k nearest places and adjectives])]: each polysemous word's own direction in
    each sense (its mean vector in that sense minus its mean over both) against the probe sentences'
    places and adjectives (their mean vectors, centred; cosine). In a model that tells the senses
    apart, the word at home points to the home's places and adjectives, at work to work's."""
    from suite.data.nlu import ADJECTIVES, PLACES

    rows = contextual([s for s, *_ in examples]) if rows is None else rows
    sums, counts = {}, {}
    for row, (sentence, at, word, sense) in zip(rows, examples):
        for j, w in enumerate(sentence.split()):
            key = (word, sense) if j == at else w
            sums[key] = sums.get(key, 0.0) + row[j]
            counts[key] = counts.get(key, 0) + 1
    cues = sorted(w for w in sums if isinstance(w, str) and w in set(PLACES + ADJECTIVES))
    table = np.stack([sums[w] / counts[w] for w in cues])
    table -= table.mean(0)
    table /= np.linalg.norm(table, axis=1, keepdims=True) + 1e-9
    senses = sorted(key for key in sums if not isinstance(key, str))
    out = []
    for word, sense in senses:
        both = [key for key in senses if key[0] == word]
        direction = sums[word, sense] / counts[word, sense] - sum(sums[b] for b in both) / sum(counts[b] for b in both)
        near = np.argsort(-(table @ (direction / (np.linalg.norm(direction) + 1e-9))))[:k]
        out.append((word, sense, [cues[i] for i in near]))
    return out


def neighbours_markdown(rows):
    """``sense_neighbours`` as a Markdown table (TensorBoard's text tab)."""
    lines = ["| word | sense | nearest places and adjectives |", "|---|---|---|"]
    return "\n".join(lines + [f"| {w} | {s} | {', '.join(near)} |" for w, s, near in rows])


class Probe:
    """The embedded probe inside a language model's evaluator: ``probe(contextual)`` -> (the probe's
    accuracy, the sense neighbours as a Markdown table); ``log(table, step)`` writes the table to
    TensorBoard's text tab (``eval/polysemy_neighbours``)."""

    def __init__(self, count=300, seed=0):
        from suite.data.nlu import polysemy_probe

        self.train, self.test = polysemy_probe(count, seed, "train"), polysemy_probe(count, seed, "test")

    def __call__(self, contextual):
        rows = contextual([s for s, *_ in self.test])
        accuracy = probe_accuracy(contextual, self.train, self.test, rows)["accuracy"]
        return accuracy, neighbours_markdown(sense_neighbours(contextual, self.test, rows=rows))

    @staticmethod
    def log(table, step):
        if table:
            tf.summary.text("eval/polysemy_neighbours", table, step=step)
