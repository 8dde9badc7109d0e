"""CTC for every sequence recognizer of the suite (speech: ``suite.speech``; scene text: ``suite.ocr``).

Functions, not layers: TensorFlow has the loss and both decoders
(``tf.nn.ctc_loss``, ``tf.nn.ctc_greedy_decoder``,
``tf.nn.ctc_beam_search_decoder``); what is written here is the glue the two
topics share -- batch-major logits, the blank as the last class (where the
beam decoder expects it), dense -1-padded ids, ids to strings inside a graph
(servable), and error rates with ``tf.edit_distance``.
"""
import numpy as np
import tensorflow as tf


def ctc_loss(logits, logit_lengths, labels, label_lengths):
    """Per-sequence negative log-likelihood of ``labels`` [N, L] (padding beyond ``label_lengths``
    ignored) under the CTC model of ``logits`` [N, T, K] (blank = K - 1)."""
    blank = logits.shape[-1] - 1
    return tf.nn.ctc_loss(tf.cast(labels, tf.int32), tf.cast(logits, tf.float32), tf.cast(label_lengths, tf.int32),
                          tf.cast(logit_lengths, tf.int32), logits_time_major=False, blank_index=blank)


def _dense(sparse, n):
    dense = tf.sparse.to_dense(sparse, default_value=-1)
    return tf.pad(dense, [[0, n - tf.shape(dense)[0]], [0, 0]], constant_values=-1)


def greedy_decode(logits, logit_lengths):
    """Best-path decoding of ``logits`` [N, T, K] (blank = K - 1): ids [N, L] padded with -1, and
    each path's log-probability [N]."""
    # the decoder sums the chosen scores: of log-probabilities, that is the path's log-probability
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    decoded, neg_sum = tf.nn.ctc_greedy_decoder(tf.transpose(log_probs, [1, 0, 2]),
                                                tf.cast(logit_lengths, tf.int32), merge_repeated=True,
                                                blank_index=logits.shape[-1] - 1)
    return _dense(decoded[0], tf.shape(logits)[0]), -neg_sum[:, 0]


def beam_decode(logits, logit_lengths, beam_width=8):
    """Beam-search decoding (the most probable labelling found): ids [N, L] padded with -1, and its
    log-probability [N]."""
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(tf.transpose(tf.cast(logits, tf.float32), [1, 0, 2]),
                                                       tf.cast(logit_lengths, tf.int32), beam_width=beam_width,
                                                       top_paths=1)
    return _dense(decoded[0], tf.shape(logits)[0]), log_probs[:, 0]


def ids_to_strings(ids, characters):
    """ids [N, L] (-1 padding; ids >= len(characters), the blank, dropped) -> strings [N], inside the
    graph; ``characters``: the vocabulary, a string or a list of strings."""
    table = tf.constant(list(characters))
    valid = (ids >= 0) & (ids < len(characters))
    chars = tf.gather(table, tf.where(valid, ids, 0))
    return tf.strings.reduce_join(tf.where(valid, chars, ""), axis=-1)


def _sparse_tokens(strings, words):
    tokens = tf.strings.split(strings) if words else tf.strings.unicode_split(strings, "UTF-8")
    return tokens.to_sparse()


def error_rates(hypotheses, references):
    """(CER, WER, per-sequence CER) of strings: edit distances summed over the sequences, divided by
    the references' characters (words)."""
    hypotheses, references = tf.constant(list(hypotheses)), tf.constant(list(references))
    out = []
    for words in (False, True):
        distance = tf.edit_distance(_sparse_tokens(hypotheses, words), _sparse_tokens(references, words),
                                    normalize=False).numpy()
        text = [r.decode() for r in references.numpy()]
        lengths = np.array([len(r.split()) if words else len(r) for r in text])
        out.append((float(distance.sum() / max(lengths.sum(), 1)), distance / np.maximum(lengths, 1)))
    return out[0][0], out[1][0], out[0][1]
