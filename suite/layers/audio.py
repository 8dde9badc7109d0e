"""Custom layers of the speech topic (Hannun et al. 2014; Amodei et al. 2016; Park et al. 2019).

Why these are written here: the features must be computed inside the served
graph from a batch of padded waveforms with their lengths, and the export
must load where only TensorFlow is installed, so ``LogMelSpectrogram`` uses
``tf.signal`` (tensorflow-io's ``spectrogram``/``melscale`` ops would need
tensorflow-io on the server) and normalises each utterance over its own
frames only. tensorflow-io's ``freq_mask``/``time_mask`` draw one mask for a
whole 2-D spectrogram and ignore padding; ``SpecAugment`` draws masks per
utterance inside its true length. Keras has no layer that stacks each frame
with its neighbours (DeepSpeech's context window).
"""
import keras
import tensorflow as tf

PACKAGE = "suite.speech"


def frame_lengths(lengths, frame_step):
    """Frames of ``tf.signal.stft(..., pad_end=True)`` for waveforms of ``lengths`` samples."""
    lengths = tf.cast(lengths, tf.int32)
    return (lengths + frame_step - 1) // frame_step


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogMelSpectrogram(keras.layers.Layer):
    """[waveforms float32 [N, T], lengths int [N]] -> (features [N, frames, bins], frames [N]).

    Short-time Fourier transform (Hann window of ``frame_length`` samples every
    ``frame_step``, ``fft_length`` bins), power, then ``mel_bins`` triangular
    mel filters (or the linear spectrogram with ``mel_bins=0``), log(x + 1e-6),
    and per-utterance normalisation over the utterance's valid frames:
    ``normalization='bin'`` brings each bin to zero mean and unit variance
    (cepstral mean and variance normalisation: a channel's colouring goes),
    ``'utterance'`` the whole utterance (the spectral shape stays), ``'none'``
    leaves the log power. Padding frames are zero.
    """

    def __init__(self, sample_rate=16000, frame_length=400, frame_step=160, fft_length=512, mel_bins=40,
                 lower_hz=20.0, upper_hz=None, normalization="bin", **kwargs):
        super().__init__(**kwargs)
        if normalization not in ("bin", "utterance", "none"):
            raise ValueError(f"normalization must be 'bin', 'utterance' or 'none', got {normalization!r}")
        self.normalization = normalization
        self.sample_rate, self.frame_length, self.frame_step = sample_rate, frame_length, frame_step
        self.fft_length, self.mel_bins, self.lower_hz, self.upper_hz = fft_length, mel_bins, lower_hz, upper_hz

    @property
    def bins(self):
        return self.mel_bins or self.fft_length // 2 + 1

    def call(self, inputs):
        waveforms, lengths = inputs
        waveforms = tf.cast(waveforms, tf.float32)
        stft = tf.signal.stft(waveforms, self.frame_length, self.frame_step, self.fft_length, pad_end=True)
        power = tf.math.square(tf.abs(stft))
        if self.mel_bins:
            matrix = tf.signal.linear_to_mel_weight_matrix(self.mel_bins, self.fft_length // 2 + 1,
                                                           self.sample_rate, self.lower_hz,
                                                           self.upper_hz or self.sample_rate / 2)
            power = tf.tensordot(power, matrix, 1)
        logs = tf.math.log(power + 1e-6)
        frames = frame_lengths(lengths, self.frame_step)
        mask = tf.cast(tf.sequence_mask(frames, tf.shape(logs)[1]), tf.float32)[..., None]
        if self.normalization == "none":
            return logs * mask, frames
        axes = [1] if self.normalization == "bin" else [1, 2]
        count = tf.maximum(tf.reduce_sum(mask * tf.ones_like(logs), axes, keepdims=True), 1.0)
        mean = tf.reduce_sum(logs * mask, axes, keepdims=True) / count
        var = tf.reduce_sum(tf.square(logs - mean) * mask, axes, keepdims=True) / count
        features = (logs - mean) * tf.math.rsqrt(var + 1e-5) * mask
        return features, frames

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], None, self.bins), (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "mel_bins": self.mel_bins,
                "lower_hz": self.lower_hz, "upper_hz": self.upper_hz, "normalization": self.normalization}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpecAugment(keras.layers.Layer):
    """SpecAugment's masks (Park et al. 2019), in training only: per utterance, ``freq_masks``
    bands of up to ``freq_width`` bins and ``time_masks`` spans of up to ``time_width`` frames
    (and at most ``max_time_fraction`` of the utterance's frames) set to zero (the mean of the
    normalised features). Inputs: [features [N, T, F], frames [N]]."""

    def __init__(self, freq_masks=2, freq_width=8, time_masks=2, time_width=20, max_time_fraction=0.2,
                 **kwargs):
        super().__init__(**kwargs)
        self.freq_masks, self.freq_width, self.time_masks = freq_masks, freq_width, time_masks
        self.time_width, self.max_time_fraction = time_width, max_time_fraction

    def _spans(self, n, count, width, limit):
        """[N, count] (start, size) with size < min(width, limit) and start + size <= limit."""
        limit = tf.cast(limit, tf.float32)[:, None]
        size = tf.floor(tf.random.uniform([n, count]) * tf.minimum(float(width), limit))
        start = tf.floor(tf.random.uniform([n, count]) * tf.maximum(limit - size, 1.0))
        return start, size

    def _mask(self, positions, start, size):  # positions [L] -> keep [N, L]
        p = tf.cast(positions, tf.float32)[None, None, :]
        inside = (p >= start[..., None]) & (p < (start + size)[..., None])
        return ~tf.reduce_any(inside, axis=1)

    def call(self, inputs, training=False):
        features, frames = inputs
        if not training:
            return features
        n, t, f = tf.shape(features)[0], tf.shape(features)[1], features.shape[-1]
        keep = tf.ones_like(features, tf.bool)
        if self.freq_masks:
            start, size = self._spans(n, self.freq_masks, self.freq_width, tf.fill([n], f))
            keep &= self._mask(tf.range(f), start, size)[:, None, :]
        if self.time_masks:
            limit = tf.cast(frames, tf.float32)
            start, size = self._spans(n, self.time_masks, self.time_width, limit)
            size = tf.minimum(size, tf.floor(self.max_time_fraction * limit[:, None] / self.time_masks))
            keep &= self._mask(tf.range(t), start, size)[:, :, None]
        return tf.where(keep, features, tf.zeros_like(features))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "freq_masks": self.freq_masks, "freq_width": self.freq_width,
                "time_masks": self.time_masks, "time_width": self.time_width,
                "max_time_fraction": self.max_time_fraction}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ContextWindow(keras.layers.Layer):
    """DeepSpeech's input: each frame concatenated with its ``context`` neighbours on each side
    (zeros beyond the ends): [N, T, F] -> [N, T, (2 * context + 1) * F]."""

    def __init__(self, context=5, **kwargs):
        super().__init__(**kwargs)
        self.context = context

    def call(self, x):
        c = self.context
        padded = tf.pad(x, [[0, 0], [c, c], [0, 0]])
        t = tf.shape(x)[1]
        return tf.concat([padded[:, i:i + t] for i in range(2 * c + 1)], axis=-1)

    def compute_output_shape(self, input_shape):
        last = None if input_shape[-1] is None else input_shape[-1] * (2 * self.context + 1)
        return (*input_shape[:-1], last)

    def get_config(self):
        return {**super().get_config(), "context": self.context}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SequenceMask(keras.layers.Layer):
    """[sequences [N, T, ...], lengths int [N]] -> the mask of each sequence's first ``lengths``
    steps, bool [N, T] (what the recurrent layers skip past an utterance's end)."""

    def call(self, inputs):
        x, lengths = inputs
        return tf.sequence_mask(lengths, tf.shape(x)[1])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2])


@keras.saving.register_keras_serializable(package=PACKAGE)
class StridedLengths(keras.layers.Layer):
    """Lengths int [N] -> the lengths after convolutions of ``strides`` with 'same' padding (each a
    ceiling division)."""

    def __init__(self, strides=(), **kwargs):
        super().__init__(**kwargs)
        self.strides = tuple(int(s) for s in strides)

    def call(self, lengths):
        lengths = tf.cast(lengths, tf.int32)
        for s in self.strides:
            lengths = (lengths + s - 1) // s
        return lengths

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "strides": list(self.strides)}
