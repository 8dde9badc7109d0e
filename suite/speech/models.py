"""DeepSpeech (Hannun et al. 2014) and DeepSpeech 2 (Amodei et al. 2016) acoustic models.

Both are functional models [waveforms float32 [N, T], lengths int32 [N]] ->
{"logits": [N, frames', NUM_CLASSES] float32, "logit_lengths": [N]}: the
log-mel features (``suite.layers.LogMelSpectrogram``) are computed inside, so
a served model takes raw audio.

* ``ds1``: each frame with ``context`` frames each side, three dense layers of
  clipped ReLU (min(max(x, 0), 20)) with dropout, one bidirectional recurrent
  layer (clipped-ReLU simple RNN, forward and backward summed, as the paper),
  a dense clipped-ReLU layer, then the characters and the blank.
* ``ds2``: 2-D convolutions over (time, frequency) with batch normalisation
  and clipped ReLU (the first strides time by ``conv_strides[0][0]``),
  a stack of bidirectional GRUs with batch normalisation between them, a
  dense layer, then the characters and the blank.

The model's ``logit_lengths`` output gives the frames after the convolutions'
striding ('same' padding: ceil(frames / stride), ``StridedLengths``); the CTC
loss needs them right.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.layers.audio import ContextWindow, LogMelSpectrogram, SequenceMask, SpecAugment, StridedLengths
from suite.speech import text as T


@dataclasses.dataclass(frozen=True)
class SpeechConfig:
    model: str = "ds2"
    sample_rate: int = 16000
    frame_length: int = 400  # 25 ms
    frame_step: int = 160  # 10 ms
    fft_length: int = 512
    mel_bins: int = 40  # 0: the linear spectrogram (DS1/DS2 papers)
    spec_augment: bool = True
    freq_masks: int = 2
    freq_width: int = 6
    time_masks: int = 2
    time_width: int = 10
    # ds1
    context: int = 5
    hidden: int = 256
    dropout: float = 0.05
    # ds2
    conv_filters: tuple = (32, 32)
    conv_kernels: tuple = ((11, 41), (11, 21))
    conv_strides: tuple = ((2, 2), (1, 2))
    rnn_layers: int = 2
    rnn_units: int = 128
    sync_batch_norm: bool = False  # batch statistics over the global batch, not each replica's share
    # training
    learning_rate: float = 1e-3
    clipnorm: float = 5.0
    beam_width: int = 8

    def __post_init__(self):
        if self.model not in ("ds1", "ds2"):
            raise ValueError(f"model must be 'ds1' or 'ds2', got {self.model!r}")
        if len(self.conv_filters) != len(self.conv_kernels) or len(self.conv_kernels) != len(self.conv_strides):
            raise ValueError("conv_filters, conv_kernels and conv_strides must have the same length")

    @property
    def time_stride(self):
        if self.model == "ds1":
            return 1
        s = 1
        for st in self.conv_strides:
            s *= st[0]
        return s


PRESETS = {
    # tiny DS2 with 16 filters per convolution: the second (11x21 over 16 channels) was 70% of a step's
    # arithmetic at 32; measured at batch 8 on the embedded corpus: half the step time, held-out CER 0.50 and
    # 0.26 after 250 and 500 steps against 0.41 and 0.20 at 32
    "tiny": dict(hidden=256, rnn_units=128, rnn_layers=2, conv_filters=(16, 16), context=5),
    "small": dict(hidden=512, rnn_units=256, rnn_layers=3, conv_filters=(32, 32), context=7),
    # DS1: 2048 units, context 9 (Hannun et al. use C in {5, 7, 9}), linear spectrogram (160 bins);
    # DS2: 3 convolutions (11x41 stride 2x2, 11x21 stride 1x2, 11x21 stride 1x2), 7 bidirectional GRU
    # layers; the paper's English model used 1280-ish units per direction and 161 linear bins
    "paper": dict(mel_bins=0, fft_length=320, frame_length=320, hidden=2048, context=9, dropout=0.1,
                  conv_filters=(32, 32, 96), conv_kernels=((11, 41), (11, 21), (11, 21)),
                  conv_strides=((2, 2), (1, 2), (1, 2)), rnn_layers=7, rnn_units=1280, learning_rate=3e-4,
                  freq_width=27, time_width=100),
}


# per-model adjustments of a preset: the feed-forward DS1 learns several times faster at a higher rate and,
# at the tiny size on the embedded corpus, without dropout (measured: 500 steps of batch 16 reach held-out
# CER 0.20 at 2e-3 without dropout against 0.74 at 1e-3 with 0.05)
MODEL_PRESETS = {
    ("ds1", "tiny"): dict(learning_rate=2e-3, dropout=0.0),
    ("ds1", "small"): dict(learning_rate=2e-3),
}


def get_config(model="ds2", preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return SpeechConfig(**{"model": model, **PRESETS[preset], **MODEL_PRESETS.get((model, preset), {}), **overrides})


def time_strides(config):
    """The strides of the convolutions along time (DS1 has none)."""
    return [st[0] for st in config.conv_strides] if config.model == "ds2" else []


CLIP = 20.0  # both papers' clipped ReLU: min(max(x, 0), 20)


@keras.saving.register_keras_serializable(package="suite.speech")
def clipped_relu(x):
    """min(max(x, 0), 20): the recurrent activation of DS1 (serializable, as Bidirectional copies
    its layer through its config)."""
    return keras.activations.relu(x, max_value=CLIP)


def _clipped_relu():
    return keras.layers.ReLU(max_value=CLIP)


def _features(config, waveforms, lengths):
    features, frames = LogMelSpectrogram(config.sample_rate, config.frame_length, config.frame_step,
                                         config.fft_length, config.mel_bins, name="features")([waveforms, lengths])
    if config.spec_augment:
        features = SpecAugment(config.freq_masks, config.freq_width, config.time_masks, config.time_width,
                               name="spec_augment")([features, frames])
    return features, frames


def _mask(x, lengths):
    return SequenceMask()([x, lengths])


def build_ds1(config):
    c = config
    waveforms = keras.Input([None], name="waveforms")
    lengths = keras.Input([], dtype="int32", name="lengths")
    x, frames = _features(c, waveforms, lengths)
    x = ContextWindow(c.context, name="context")(x)
    for i in range(3):
        x = keras.layers.Dense(c.hidden, name=f"h{i + 1}")(x)
        x = _clipped_relu()(x)
        x = keras.layers.Dropout(c.dropout)(x)
    rnn = keras.layers.SimpleRNN(c.hidden, activation=clipped_relu, return_sequences=True)
    x = keras.layers.Bidirectional(rnn, merge_mode="sum", name="h4")(x, mask=_mask(x, frames))
    x = keras.layers.Dense(c.hidden, name="h5")(x)
    x = _clipped_relu()(x)
    x = keras.layers.Dropout(c.dropout)(x)
    logits = keras.layers.Dense(T.NUM_CLASSES, dtype="float32", name="logits")(x)
    return keras.Model([waveforms, lengths], {"logits": logits, "logit_lengths": frames}, name="deepspeech")


def build_ds2(config):
    c = config
    waveforms = keras.Input([None], name="waveforms")
    lengths = keras.Input([], dtype="int32", name="lengths")
    x, frames = _features(c, waveforms, lengths)
    x = keras.layers.Reshape([-1, x.shape[-1], 1])(x)
    for i, (filters, kernel, stride) in enumerate(zip(c.conv_filters, c.conv_kernels, c.conv_strides)):
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = keras.layers.BatchNormalization(synchronized=c.sync_batch_norm, name=f"conv{i + 1}_bn")(x)
        x = _clipped_relu()(x)
    x = keras.layers.Reshape([-1, x.shape[-2] * x.shape[-1]])(x)
    out_frames = StridedLengths(time_strides(c), name="output_lengths")(frames)
    mask = _mask(x, out_frames)
    for i in range(c.rnn_layers):
        x = keras.layers.Bidirectional(keras.layers.GRU(c.rnn_units, return_sequences=True), merge_mode="sum",
                                       name=f"bigru{i + 1}")(x, mask=mask)
        x = keras.layers.BatchNormalization(synchronized=c.sync_batch_norm, name=f"bigru{i + 1}_bn")(x)
    x = keras.layers.Dense(c.rnn_units, name="fc")(x)
    x = _clipped_relu()(x)
    logits = keras.layers.Dense(T.NUM_CLASSES, dtype="float32", name="logits")(x)
    return keras.Model([waveforms, lengths], {"logits": logits, "logit_lengths": out_frames}, name="deepspeech2")


def build_model(config):
    return build_ds1(config) if config.model == "ds1" else build_ds2(config)
