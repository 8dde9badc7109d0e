"""Text recognition as a task: CRNN's CTC training, decoding (greedy, beam, lexicon), word accuracy
and CER, and the serving signatures.

``Recognizer`` gives the task base (``suite.training.task``) the network of
``suite.ocr.crnn`` and its loss, ``tf.nn.ctc_loss`` over every frame of the
crop (``suite.layers.ctc``, shared with speech). Decoding is lexicon-free
(best path, or beam search) or, given a lexicon, the paper's
lexicon-constrained rule: the word of the lexicon with the highest CTC
probability under the frames (every word scored; the paper's BK-tree only
prunes this search). ``RecognitionEvaluator`` reports word accuracy
(case-insensitive sets compare lower-cased words) and CER on held-out crops,
and draws a few with their decoded words.
"""
import numpy as np
import tensorflow as tf

from suite.data.images import decode_images
from suite.data.ocr import fit_crop
from suite.layers import ctc
from suite.ocr.charset import Charset
from suite.ocr.crnn import build_crnn
from suite.training.evaluator import Evaluator
from suite.training.task import SupervisedTask


class Recognizer(SupervisedTask):
    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_crnn(config)
        self.charset = Charset(config.charset)

    def frames(self, logits):
        return tf.fill([tf.shape(logits)[0]], self.config.sequence_length)

    def loss_terms(self, batch, training, seeds):
        logits = self.net(batch["images"], training=training)["logits"]
        loss = ctc.ctc_loss(logits, self.frames(logits), batch["labels"], batch["label_lengths"])
        characters = tf.cast(batch["label_lengths"], tf.float32)
        return {"loss/ctc": loss}, {"ctc_per_character": (loss / characters, characters)}

    def read(self, images, beam_width=0, lexicon=None):
        """uint8 [N, 32, width, 1] -> (words string [N], log-probability [N]): the best path, the beam
        search's best labelling, or the most probable word of ``lexicon`` (string [V])."""
        logits = self.net(images, training=False)["logits"]
        if lexicon is not None:
            return lexicon_decode(logits, lexicon, self.charset)
        ids, log_prob = (ctc.beam_decode(logits, self.frames(logits), beam_width) if beam_width
                         else ctc.greedy_decode(logits, self.frames(logits)))
        return ctc.ids_to_strings(ids, self.charset.characters), log_prob

    def reader(self, beam_width=0, lexicon=None):
        """A traced ``read`` for any batch (one per decoding)."""
        key = (beam_width, None if lexicon is None else tuple(lexicon))
        cache = self.__dict__.setdefault("_readers", {})
        if key not in cache:
            words = None if lexicon is None else tf.constant(list(lexicon))
            spec = tf.TensorSpec([None, self.config.height, self.config.width, 1], tf.uint8)
            cache[key] = tf.function(lambda images: self.read(images, beam_width, words), input_signature=[spec])
        return cache[key]


def lexicon_decode(logits, lexicon, charset):
    """The word of ``lexicon`` (string [V], encodable in ``charset``) with the highest CTC probability
    under each crop's ``logits`` [N, T, K]: (words [N], their log-probabilities [N])."""
    n, v = tf.shape(logits)[0], tf.shape(lexicon)[0]
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(charset.characters)), tf.range(len(charset.characters))), -1)
    chars = tf.strings.unicode_split(lexicon, "UTF-8")
    ids = table.lookup(chars).to_tensor(default_value=0)
    lengths = tf.cast(chars.row_lengths(), tf.int32)
    frames = logits.shape[1] or tf.shape(logits)[1]
    tiled = tf.reshape(tf.repeat(logits[:, None], v, axis=1), [n * v, frames, logits.shape[-1]])
    nll = ctc.ctc_loss(tiled, tf.fill([n * v], frames), tf.tile(ids, [n, 1]), tf.tile(lengths, [n]))
    log_prob = -tf.reshape(nll, [n, v])
    best = tf.argmax(log_prob, axis=1, output_type=tf.int32)
    return tf.gather(lexicon, best), tf.gather(log_prob, best, batch_dims=1)


# ------------------------------------------------------------------ evaluation
def prepare(examples, config):
    """[(uint8 image, text)] -> (uint8 [N, 32, width, 1] crops, texts)."""
    crops = [fit_crop(image, config.height, config.width).numpy() for image, _ in examples]
    return np.stack(crops), [text for _, text in examples]


def evaluate(model, crops, texts, beam_width=0, lexicon=None, batch_size=64):
    """{'word_accuracy', 'cer'} of a decoding on prepared crops, and the words read."""
    read = model.reader(beam_width, lexicon)
    words = []
    for s in range(0, len(crops), batch_size):
        words += [w.decode() for w in read(tf.constant(crops[s:s + batch_size]))[0].numpy()]
    truth = [model.charset.normalize(t) for t in texts]
    cer, _, _ = ctc.error_rates(words, truth)
    return {"word_accuracy": float(np.mean([w == t for w, t in zip(words, truth)])), "cer": cer}, words


class RecognitionEvaluator(Evaluator):
    """At the end of every epoch (chief only): word accuracy and CER of best-path decoding on the
    held-out crops (with ``beam_width``, of beam search too: ``*_beam``; with a ``lexicon``, of
    lexicon-constrained decoding on the held-out words that are in it: ``lexicon/*``), and
    ``samples`` crops with their truth and decoded words in TensorBoard."""

    def __init__(self, model, examples, beam_width=0, lexicon=None, samples=8):
        super().__init__()
        self.model, self.beam_width, self.samples = model, beam_width, samples
        self.crops, self.texts = prepare(examples, model.config)
        # the lexicon's words the character set can spell
        self.lexicon = sorted({model.charset.normalize(w) for w in lexicon or () if not model.charset.outside(w)})
        if self.lexicon:
            known = set(self.lexicon)
            self.in_lexicon = [i for i, t in enumerate(self.texts) if model.charset.normalize(t) in known]

    def evaluate(self):
        scores, words = evaluate(self.model, self.crops, self.texts)
        if self.beam_width:
            beam, _ = evaluate(self.model, self.crops, self.texts, beam_width=self.beam_width)
            scores.update({f"{k}_beam": v for k, v in beam.items()})
        if self.lexicon and self.in_lexicon:
            pick = self.in_lexicon
            scores["lexicon"], _ = evaluate(self.model, self.crops[pick], [self.texts[i] for i in pick],
                                            lexicon=self.lexicon)
        return scores, words

    def log_media(self, words, step):
        n = min(self.samples, len(words))
        tf.summary.image("eval/crops", self.crops[:n], max_outputs=n)
        rows = [f"| {i} | {self.texts[i]} | {words[i]} |" for i in range(n)]
        tf.summary.text("eval/words", "| crop | truth | read |\n|---|---|---|\n" + "\n".join(rows))


# ------------------------------------------------------------------ serving
def serving_endpoints(model, beam_width=0):
    """``serving_default``: ``images`` uint8 [N, H, W, 3] (word crops of any one size) and
    ``image_bytes``: string [N] (JPEG, PNG, GIF or BMP crops, each of its own size; an element that is
    no image is refused naming it) -> ``words`` string [N] (lower case for a case-insensitive set) and
    ``log_probability`` float32 [N] (of the best path, or of beam search's labelling)."""
    c = model.config

    def outputs(crops):
        # an empty batch answers empty (batch normalisation's fused kernels refuse a batch of 0)
        words, log_prob = tf.cond(tf.shape(crops)[0] > 0, lambda: model.read(crops, beam_width),
                                  lambda: (tf.zeros([0], tf.string), tf.zeros([0], tf.float32)))
        return {"words": words, "log_probability": log_prob}

    @tf.function
    def serve(images):
        crops = tf.map_fn(lambda image: fit_crop(image, c.height, c.width), images,
                          fn_output_signature=tf.TensorSpec([c.height, c.width, 1], tf.uint8))
        return outputs(crops)

    @tf.function
    def serve_bytes(image_bytes):
        crops, _ = decode_images(image_bytes, lambda image: fit_crop(image[0], c.height, c.width)[None])
        return outputs(crops)

    return {"serving_default": (serve, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
            "image_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])}
