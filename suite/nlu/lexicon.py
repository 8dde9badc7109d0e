"""The lexicon encoder's text side: a WordPiece vocabulary learnt from a corpus, the tokenizer,
and the packing of one or two segments with [CLS]/[SEP] and segment ids.

The vocabulary is learnt with keras-hub's ``compute_word_piece_vocabulary``.
Tokenizing and packing are written here in core TensorFlow ops because they
run inside the exported serving graph: keras-hub's ``WordPieceTokenizer`` and
``MultiSegmentPacker`` call tensorflow-text kernels (FastWordpieceTokenize,
RegexSplitWithOffsets, the round-robin trimmer) that a TensorFlow-only
process -- and TensorFlow Serving builds without those kernels -- cannot
load. They reproduce keras-hub's results exactly on lower-cased, unaccented
text (tests compare them token for token); two differences remain: accents
are stripped only when they come as combining marks (no NFD normalisation
in core TensorFlow), and lower-casing is Unicode ``lower`` rather than case
folding.

The embedding side (token + position + segment embeddings) is keras-hub's
``BertBackbone``; see ``suite.nlu.bert``.
"""
import os

import numpy as np

import tensorflow as tf

RESERVED = ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")
MAX_CHARS_PER_WORD = 100  # longer words are [UNK], as in BERT

# keras-hub's (and BERT's) word splitting: whitespace and control characters separate
# words; ASCII non-alphanumerics, Unicode punctuation and CJK ideographs are words of their own.
_WHITESPACE = r"\s|\p{Cc}|\p{Cf}"
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|[\p{P}]"
_CJK = (r"[\x{4E00}-\x{9FFF}]|[\x{3400}-\x{4DBF}]|[\x{20000}-\x{2A6DF}]|[\x{2A700}-\x{2B73F}]|"
        r"[\x{2B740}-\x{2B81F}]|[\x{2B820}-\x{2CEAF}]|[\x{F900}-\x{FAFF}]|[\x{2F800}-\x{2FA1F}]")


def train_vocabulary(texts, size, path=None):
    """A WordPiece vocabulary of at most ``size`` entries (the reserved tokens first) learnt from
    ``texts`` (an iterable of strings) with ``keras_hub.tokenizers.compute_word_piece_vocabulary``;
    written to ``path`` (one token per line, atomically) when given."""
    import keras_hub

    texts = list(texts)
    if not texts:
        raise ValueError("cannot learn a vocabulary from an empty corpus")
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(1024), vocabulary_size=size, lowercase=True,
        strip_accents=False, reserved_tokens=list(RESERVED))
    if path:
        write_vocabulary(vocabulary, path)
    return vocabulary


def write_vocabulary(vocabulary, path):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")
    os.replace(tmp, path)


def read_vocabulary(path, reserved=RESERVED):
    """A vocabulary file (one token per line) with the ``reserved`` tokens checked."""
    if not os.path.isfile(path):
        raise ValueError(f"vocabulary {path}: no such file")
    with open(path, encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f if line.rstrip("\n")]
    missing = [t for t in reserved if t not in vocabulary]
    if missing:
        raise ValueError(f"vocabulary {path}: lacks the reserved tokens {missing}")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError(f"vocabulary {path}: holds a token twice")
    return vocabulary


def split_words(text):
    """Strings [N] -> words, ragged [N, (words)]: lower-cased, combining accents removed, split on
    whitespace, punctuation kept as words."""
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    text = tf.strings.regex_replace(text, _PUNCTUATION + "|" + _CJK, r" \0 ")
    text = tf.strings.regex_replace(text, _WHITESPACE, " ")
    return tf.strings.split(text)


class Lexicon:
    """Tokenizer and packer for one vocabulary and sequence length, in core TensorFlow ops.

    ``tokenize(text)``: strings [N] -> WordPiece ids, ragged [N, (pieces)] (greedy
    longest-match-first, continuation pieces prefixed ``##``, a word without a
    segmentation is one [UNK]). ``encode(first, second=None)``: strings [N] ->
    the BERT inputs ``token_ids``, ``segment_ids`` and ``padding_mask``, each
    int32 [N, sequence_length]: [CLS] first [SEP] (second [SEP]), the segments
    truncated round-robin (one token from each in turn) so that they fit.
    """

    def __init__(self, vocabulary, sequence_length):
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        if self.sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3 ([CLS] x [SEP]), got {sequence_length}")
        ids = {t: i for i, t in enumerate(self.vocabulary)}
        missing = [t for t in RESERVED if t not in ids]
        if missing:
            raise ValueError(f"the vocabulary lacks the reserved tokens {missing}")
        self.pad_id, self.cls_id, self.sep_id, self.unk_id, self.mask_id = (ids[t] for t in RESERVED)
        # a Keras lookup layer (not a bare tf.lookup table) so that a SavedModel export tracks and saves it;
        # its one OOV slot is index 0, so ``lookup(x) - 1`` is the vocabulary index or -1
        import keras

        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, num_oov_indices=1, mask_token=None,
                                                output_mode="int", name="wordpiece_lookup")
        longest = max(len(t[2:]) if t.startswith("##") else len(t) for t in self.vocabulary)
        self.max_piece = min(max(longest, 1), MAX_CHARS_PER_WORD)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    # ------------------------------------------------------------ WordPiece
    def _word_pieces(self, words):
        """Words [W] -> (piece ids [W, S], valid [W, S]) with S the most pieces any word needs."""
        chars = tf.strings.length(words, unit="UTF8_CHAR")
        count = tf.shape(words)[0]
        lengths = tf.range(1, self.max_piece + 1)[tf.newaxis, :]  # candidate piece lengths
        done = tf.equal(chars, 0)
        unk = chars > MAX_CHARS_PER_WORD
        pos = tf.zeros_like(chars)
        pieces = tf.TensorArray(tf.int32, size=0, dynamic_size=True)
        valid = tf.TensorArray(tf.bool, size=0, dynamic_size=True)

        def step(i, pos, done, unk, pieces, valid):
            left = chars - pos
            shape = [count, self.max_piece]
            subs = tf.strings.substr(tf.broadcast_to(words[:, tf.newaxis], shape),
                                     tf.broadcast_to(pos[:, tf.newaxis], shape), tf.broadcast_to(lengths, shape),
                                     unit="UTF8_CHAR")
            subs = tf.where((pos > 0)[:, tf.newaxis], "##" + subs, subs)
            ids = tf.cast(self.lookup(subs), tf.int32) - 1
            ok = (ids >= 0) & (lengths <= left[:, tf.newaxis])
            best = tf.reduce_max(tf.where(ok, lengths, 0), axis=1)  # longest known piece, 0: none
            active = ~done & ~unk
            unk = unk | (active & tf.equal(best, 0))
            take = active & (best > 0)
            piece = tf.gather(ids, tf.maximum(best - 1, 0), batch_dims=1)
            pieces = pieces.write(i, tf.where(take, piece, self.pad_id))
            valid = valid.write(i, take)
            pos = tf.where(take, pos + best, pos)
            done = done | (take & tf.equal(pos, chars))
            return i + 1, pos, done, unk, pieces, valid

        # at least one step, so that the arrays are never empty (no words, or only empty or over-long ones)
        _, _, done, unk, pieces, valid = tf.while_loop(
            lambda i, pos, done, unk, *_: tf.equal(i, 0) | tf.reduce_any(~done & ~unk), step,
            (tf.constant(0), pos, done, unk, pieces, valid))
        pieces = tf.transpose(pieces.stack())  # [W, steps]
        valid = tf.transpose(valid.stack())
        # a word with no full segmentation is one [UNK] (what was matched of it is dropped)
        pieces = tf.concat([tf.fill([count, 1], self.unk_id), pieces], axis=1)
        valid = tf.concat([unk[:, tf.newaxis], valid & ~unk[:, tf.newaxis]], axis=1)
        return pieces, valid

    def tokenize(self, text):
        text = tf.convert_to_tensor(text, tf.string)
        scalar = text.shape.rank == 0
        words = split_words(tf.reshape(text, [-1]))
        pieces, valid = self._word_pieces(words.flat_values)
        per_word = tf.ragged.boolean_mask(pieces, valid)  # [W, (pieces)]
        out = tf.RaggedTensor.from_row_splits(per_word.values, tf.gather(per_word.row_splits, words.row_splits))
        return out[0] if scalar else out

    # ------------------------------------------------------------ packing
    def pack(self, first, second=None):
        """Ragged ids [N, (a)] (and [N, (b)]) -> the BERT inputs, truncated round-robin."""
        a = tf.cast(first.row_lengths(), tf.int32)
        n = tf.shape(a)[0]
        cls, sep = tf.fill([n, 1], self.cls_id), tf.fill([n, 1], self.sep_id)
        if second is None:
            take_a = tf.minimum(a, self.sequence_length - 2)
            seq = tf.concat([cls, tf.gather(first, tf.ragged.range(take_a), batch_dims=1), sep], axis=1)
            segments = tf.zeros_like(seq)
        else:
            b = tf.cast(second.row_lengths(), tf.int32)
            budget = self.sequence_length - 3
            # one token from each segment in turn, the first segment first (keras-hub's RoundRobinTrimmer)
            take_a = tf.minimum(a, tf.maximum((budget + 1) // 2, budget - b))
            take_b = tf.minimum(b, budget - take_a)
            seq_a = tf.concat([cls, tf.gather(first, tf.ragged.range(take_a), batch_dims=1), sep], axis=1)
            seq_b = tf.concat([tf.gather(second, tf.ragged.range(take_b), batch_dims=1), sep], axis=1)
            seq = tf.concat([seq_a, seq_b], axis=1)
            segments = tf.concat([tf.zeros_like(seq_a), tf.ones_like(seq_b)], axis=1)
        token_ids = seq.to_tensor(self.pad_id, shape=[None, self.sequence_length])
        segment_ids = segments.to_tensor(0, shape=[None, self.sequence_length])
        return {"token_ids": token_ids, "segment_ids": segment_ids,
                "padding_mask": tf.cast(tf.not_equal(token_ids, self.pad_id), tf.int32)}

    def encode(self, first, second=None):
        """Strings [N] (or scalars) -> the BERT inputs [N, sequence_length] (or [sequence_length])."""
        first = tf.convert_to_tensor(first, tf.string)
        scalar = first.shape.rank == 0
        tokens_a = self.tokenize(tf.reshape(first, [-1]))
        tokens_b = None if second is None else self.tokenize(tf.reshape(tf.convert_to_tensor(second, tf.string), [-1]))
        out = self.pack(tokens_a, tokens_b)
        return {k: v[0] for k, v in out.items()} if scalar else out

    def fitted_length(self, first, second=None, multiple=8, chunk=4096):
        """The shortest padded length, a multiple of ``multiple`` up to ``sequence_length``, that holds
        every packed example of ``first`` (and ``second``; string arrays [N] or [N, G]) whole: a task
        of short sentences trains at it instead of ``sequence_length`` (the padding is masked, so the
        encoder's outputs are the same, at a fraction of the cost)."""
        first = np.asarray(first, dtype=object)
        if second is not None:
            second = np.asarray(second, dtype=object)
            first = np.broadcast_to(first.reshape(first.shape + (1,) * (second.ndim - first.ndim)), second.shape)
            second = second.reshape(-1)
        first = first.reshape(-1)
        longest = 0
        for i in range(0, len(first), chunk):
            x = self.encode(first[i:i + chunk].tolist(), None if second is None else second[i:i + chunk].tolist())
            longest = max(longest, int(np.max(np.sum(x["padding_mask"].numpy(), axis=1), initial=0)))
        return min(self.sequence_length, -(-max(longest, 1) // multiple) * multiple)


def vocabulary_for_run(logdir, texts, size):
    """The vocabulary of a recipe run: ``logdir/vocabulary.txt`` when resuming, else one learnt from
    ``texts()`` (called only then). Returns (vocabulary, save) where ``save()`` writes a new one
    into ``logdir`` (call it after the run's settings are checked, with the first writes)."""
    path = os.path.join(logdir, "vocabulary.txt")
    if os.path.isfile(path):
        return read_vocabulary(path), lambda: None
    vocabulary = train_vocabulary(texts(), size)
    return vocabulary, lambda: write_vocabulary(vocabulary, path)
