"""Serving signatures of the NLU models: raw strings in, tokenization and packing inside the graph
(core TensorFlow ops only, see ``suite.nlu.lexicon``), so a TensorFlow-only process or TensorFlow
Serving answers them. Strings longer than the sequence length are truncated; empty and blank strings,
words longer than WordPiece's 100 characters (one [UNK]) and a batch of none are valid input; the two
inputs of a pair must hold as many strings.
"""
import tensorflow as tf

from suite.nlu import mtdnn


def lexicon_resources(lexicon):
    """What an export must track for the lexicon: its vocabulary lookup layer."""
    return lexicon.lookup


def _strings(*names):
    return [tf.TensorSpec([None], tf.string, name=n) for n in names]


def _encode_pair(lexicon, a, b, names):
    """The packed pair, refused (InvalidArgumentError naming both inputs) unless they hold as many strings."""
    with tf.control_dependencies([tf.debugging.assert_equal(
            tf.size(a), tf.size(b), message=f"{names[0]} and {names[1]} must hold the same number of strings")]):
        return lexicon.encode(tf.identity(a), tf.identity(b))


def text_embedder_endpoints(lexicon, backbone):
    """The pre-trained encoder as a text embedder: ``serving_default(text)`` and ``pair(text_a, text_b)``
    -> ``pooled_output`` [N, H], ``sequence_output`` [N, L, H] and ``padding_mask`` [N, L]."""

    def run(x):
        out = backbone({k: x[k] for k in mtdnn.BERT_INPUTS}, training=False)
        return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
                "sequence_output": tf.cast(out["sequence_output"], tf.float32), "padding_mask": x["padding_mask"]}

    def embed(text):
        return run(lexicon.encode(text))

    def embed_pair(text_a, text_b):
        return run(_encode_pair(lexicon, text_a, text_b, ("text_a", "text_b")))

    return {"serving_default": (embed, _strings("text")), "pair": (embed_pair, _strings("text_a", "text_b"))}


def mtdnn_endpoints(lexicon, model):
    """One signature per task, named after it (the first is also ``serving_default``):

    * classification: ``sentence`` -> ``label`` (name), ``label_id``, ``probabilities`` [N, C],
    * pairwise: ``sentence1``, ``sentence2`` -> the same,
    * similarity: ``sentence1``, ``sentence2`` -> ``score`` [N],
    * ranking: ``question``, ``candidate`` -> ``score`` [N], the relevance in (0, 1)
      (rank a question's candidates by it).
    """
    endpoints = {}
    for name, spec in model.specs.items():
        endpoints[name] = _task_endpoint(lexicon, model, name, spec)
    return endpoints


def _task_endpoint(lexicon, model, name, spec):
    head = model.heads[name]
    probabilities = mtdnn.outputs_probabilities(spec, model.config)

    def classify(x):
        out = tf.cast(head(x, training=False), tf.float32)
        probs = out if probabilities else tf.nn.softmax(out, axis=-1)
        ids = tf.argmax(probs, axis=-1)
        return {"label": tf.gather(tf.constant(list(spec.labels)), ids), "label_id": ids, "probabilities": probs}

    def score(x):
        out = tf.cast(head(x, training=False), tf.float32)
        return {"score": tf.sigmoid(out) if spec.kind == "ranking" else out}

    if spec.kind == "classification":
        def single(sentence):
            return classify(lexicon.encode(sentence))

        return single, _strings("sentence")
    if spec.kind == "pairwise":
        def pairwise(sentence1, sentence2):
            return classify(_encode_pair(lexicon, sentence1, sentence2, ("sentence1", "sentence2")))

        return pairwise, _strings("sentence1", "sentence2")
    if spec.kind == "similarity":
        def similarity(sentence1, sentence2):
            return score(_encode_pair(lexicon, sentence1, sentence2, ("sentence1", "sentence2")))

        return similarity, _strings("sentence1", "sentence2")

    def relevance(question, candidate):
        return score(_encode_pair(lexicon, question, candidate, ("question", "candidate")))

    return relevance, _strings("question", "candidate")
