"""CTC training, decoding, error rates and serving of the speech models.

``SpeechRecognizer`` gives the task base a network of ``suite.speech.models``
and its loss: ``tf.nn.ctc_loss`` (blank last, ``suite.speech.text.BLANK``) over the
logit frames left after the convolutions' striding, averaged over the
utterances; the CTC functions are ``suite.layers.ctc``'s, shared with the
text recognizer. ``greedy_decode`` (best path: repeats collapsed, blanks removed)
and ``beam_decode`` wrap TensorFlow's CTC decoders. ``error_rates`` gives the
character and word error rates with ``tf.edit_distance`` (edits summed over
the utterances, divided by the reference characters or words).
``SpeechEvaluator`` logs them, and audio clips with their reference and
decoded transcripts, at the end of every epoch.
"""
import numpy as np
import tensorflow as tf

from suite.layers import ctc
from suite.layers.ctc import ctc_loss, error_rates  # noqa: F401 (the speech topic's names)
from suite.speech import text as T
from suite.speech.models import build_model
from suite.speech.wav import decode_wav
from suite.training.evaluator import Evaluator
from suite.training.task import SupervisedTask


def greedy_decode(logits, logit_lengths):
    """Best-path decoding: ids [N, L] padded with -1."""
    return ctc.greedy_decode(logits, logit_lengths)[0]


def beam_decode(logits, logit_lengths, beam_width=8):
    """Beam-search decoding (the most probable labelling found): ids [N, L] padded with -1."""
    return ctc.beam_decode(logits, logit_lengths, beam_width)[0]


def ids_to_strings(ids):
    """ids [N, L] (-1 padding) -> transcripts string [N], inside the graph."""
    return ctc.ids_to_strings(ids, T.CHARACTERS)


class SpeechRecognizer(SupervisedTask):
    """The acoustic model and its CTC loss for the task base (``suite.training.task``: Adam at the
    config's ``learning_rate``, gradients clipped to ``clipnorm``); decoding for evaluation and
    serving."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net = build_model(config)

    def loss_terms(self, batch, training, seeds):
        out = self.net([batch["waveforms"], batch["lengths"]], training=training)
        ctc = ctc_loss(out["logits"], out["logit_lengths"], batch["labels"], batch["label_lengths"])
        frames = tf.cast(out["logit_lengths"], tf.float32)
        seconds = tf.cast(batch["lengths"], tf.float32) / self.config.sample_rate
        return {"loss/ctc": ctc}, {"loss/ctc_per_frame": (ctc / frames, frames), "audio_seconds": seconds}

    def decoder(self, beam_width=0):
        """A traced ``transcribe`` for any batch and length (one per beam width)."""
        cache = self.__dict__.setdefault("_decoders", {})
        if beam_width not in cache:
            cache[beam_width] = tf.function(
                lambda w, n: self.transcribe(w, n, beam_width)[0],
                input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None], tf.int32)])
        return cache[beam_width]

    def transcribe(self, waveforms, lengths, beam_width=0):
        out = self.net([waveforms, lengths], training=False)
        ids = (beam_decode(out["logits"], out["logit_lengths"], beam_width) if beam_width
               else greedy_decode(out["logits"], out["logit_lengths"]))
        return ids_to_strings(ids), out


# ------------------------------------------------------------------ evaluation
def evaluate(model, speech, batch_size=16, beam_width=0):
    """{'cer', 'wer'} on a SpeechSet, and [(index, reference, hypothesis, utterance CER)]."""
    hypotheses, references, order = [], [], []
    decode = model.decoder(beam_width)
    lengths = np.asarray(speech.lengths)
    index = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
    for s in range(0, len(index), batch_size):
        chunk = index[s:s + batch_size]
        waves = [speech.load(int(i)) for i in chunk]
        padded = np.zeros([len(waves), max(len(w) for w in waves)], np.float32)
        for j, w in enumerate(waves):
            padded[j, :len(w)] = w
        texts = decode(tf.constant(padded), tf.constant([len(w) for w in waves], tf.int32)).numpy()
        hypotheses += [t.decode() for t in texts]
        references += [speech.texts[int(i)] for i in chunk]
        order += [int(i) for i in chunk]
    cer, wer, per = error_rates(hypotheses, references)
    examples = sorted(zip(order, references, hypotheses, per))
    return {"cer": cer, "wer": wer}, examples


class SpeechEvaluator(Evaluator):
    """At the end of every epoch (chief only): CER and WER on the held-out utterances (greedy
    decoding; with ``beam_width`` also beam search, ``eval/cer_beam`` ...), and ``samples``
    utterances as audio with their reference and decoded transcripts in TensorBoard."""

    def __init__(self, model, speech, beam_width=0, samples=3, sample_rate=16000):
        super().__init__()
        self.model, self.speech, self.beam_width = model, speech, beam_width
        self.samples, self.sample_rate = samples, sample_rate

    def evaluate(self):
        scores, examples = evaluate(self.model, self.speech)
        if self.beam_width:
            beam, _ = evaluate(self.model, self.speech, beam_width=self.beam_width)
            scores.update({f"{k}_beam": v for k, v in beam.items()})
        return scores, examples

    def log_media(self, examples, step):
        rows = []
        for i, (index, ref, hyp, cer) in enumerate(examples[:self.samples]):
            audio = self.speech.load(index)
            tf.summary.audio(f"eval/utterance_{i}", audio[None, :, None], self.sample_rate, step=step)
            rows.append(f"| {i} | {ref} | {hyp} | {cer:.2f} |")
        tf.summary.text("eval/transcripts", "| utterance | reference | decoded | CER |\n|---|---|---|---|\n"
                        + "\n".join(rows))


# ------------------------------------------------------------------ serving
def resample_in_graph(waveform, rate, target=16000):
    """FFT resampling of float32 [T] from ``rate`` (a scalar tensor) to ``target``, in TensorFlow
    ops only (the same method as ``suite.data.speech.resample``)."""
    n = tf.shape(waveform)[0]
    m = tf.maximum(1, tf.cast(tf.round(tf.cast(n, tf.float64) * target / tf.cast(rate, tf.float64)), tf.int32))

    def convert():
        spectrum = tf.signal.rfft(waveform)
        bins = m // 2 + 1
        spectrum = tf.cond(tf.shape(spectrum)[0] >= bins, lambda: spectrum[:bins],
                           lambda: tf.pad(spectrum, [[0, bins - tf.shape(spectrum)[0]]]))
        return tf.signal.irfft(spectrum, [m]) * tf.cast(m, tf.float32) / tf.cast(n, tf.float32)

    return tf.cond(tf.equal(tf.cast(rate, tf.int32), target), lambda: waveform, convert)


def serving_endpoints(model, beam_width=0):
    """``serving_default``: ``waveforms`` float32 [N, T] at 16 kHz (padded) and ``lengths`` int32
    [N] -> ``transcripts`` string [N] and ``log_probabilities`` float32 [N, frames, 29] (the
    characters of ``suite.speech.text.CHARACTERS`` then the blank) with ``frames`` int32 [N];
    ``transcribe_wav``: ``wav`` string [N] (WAV files' bytes: integer PCM of 8, 16, 24 or 32 bits or
    32-bit float, any rate, any channels; decoded in TensorFlow ops by ``suite.speech.wav``) -> the same;
    a file it cannot read is refused naming its element.
    Lengths outside (0, T], or not one per waveform, are refused with an InvalidArgumentError naming them."""
    rate = model.config.sample_rate

    def transcribed(waveforms, lengths):
        transcripts, out = model.transcribe(waveforms, lengths, beam_width)
        mask = tf.sequence_mask(out["logit_lengths"], tf.shape(out["logits"])[1])[..., None]
        log_probs = tf.where(mask, tf.nn.log_softmax(out["logits"]), 0.0)
        return {"transcripts": transcripts, "log_probabilities": log_probs,
                "frames": tf.cast(out["logit_lengths"], tf.int32)}

    def outputs(waveforms, lengths):  # no waveform: no transcript (the features refuse an empty batch)
        def none():
            return {"transcripts": tf.zeros([0], tf.string),
                    "log_probabilities": tf.zeros([0, 0, len(T.CHARACTERS) + 1]), "frames": tf.zeros([0], tf.int32)}

        return tf.cond(tf.shape(waveforms)[0] > 0, lambda: transcribed(waveforms, lengths), none)

    @tf.function
    def serve(waveforms, lengths):
        checks = [tf.debugging.assert_equal(tf.size(lengths), tf.shape(waveforms)[0],
                                            message="lengths must hold one length per waveform"),
                  tf.debugging.assert_positive(lengths, message="lengths must be > 0"),
                  tf.debugging.assert_less_equal(lengths, tf.shape(waveforms)[1],
                                                 message="lengths must be at most the padded length T of the "
                                                         "waveforms")]
        with tf.control_dependencies(checks):
            return outputs(tf.identity(waveforms), tf.identity(lengths))

    @tf.function
    def serve_wav(wav):
        def one(i):
            audio, sample_rate = decode_wav(wav[i], tf.strings.join(["wav element ", tf.strings.as_string(i)]))
            return resample_in_graph(audio, sample_rate, rate)

        waves = tf.map_fn(one, tf.range(tf.shape(wav)[0]),
                          fn_output_signature=tf.RaggedTensorSpec([None], tf.float32, ragged_rank=0))
        lengths = tf.cast(waves.row_lengths(), tf.int32)
        return outputs(waves.to_tensor(), lengths)

    return {"serving_default": (serve, [tf.TensorSpec([None, None], tf.float32, name="waveforms"),
                                        tf.TensorSpec([None], tf.int32, name="lengths")]),
            "transcribe_wav": (serve_wav, [tf.TensorSpec([None], tf.string, name="wav")])}


def warmup_requests(waveform, sample_rate):
    """One request per signature of ``serving_endpoints`` from one utterance (float32 [T]): the
    waveform with its length, and the same as WAV bytes."""
    wav = tf.audio.encode_wav(waveform[:, None], sample_rate).numpy()
    return {"serving_default": [waveform[None], np.array([len(waveform)], np.int32)], "transcribe_wav": [[wav]]}
