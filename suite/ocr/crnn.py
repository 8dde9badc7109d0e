"""CRNN (Shi, Bai and Yao 2017): a word crop -> convolutions -> a feature sequence -> a deep
bidirectional LSTM -> per-frame character scores, trained with CTC.

The paper's network (Table 1): a grey crop 32 pixels high; seven 3x3
convolutions (64, 128, 256, 256, 512, 512 maps, the last a 2x2 one of 512)
with ReLU, max pooling 2x2 after the first and second, and 2x2 windows with a
vertical stride of 2 and a horizontal one of 1 after the fourth and sixth (so
the sequence stays long: a 100-pixel crop gives 26 frames), batch
normalisation after the fifth and sixth; the map-to-sequence step reads each
column of the height-1 map as a frame; two bidirectional LSTMs of 256 units;
a per-frame softmax over the characters and the CTC blank. The paper trains
with ADADELTA (rho 0.9). ``tiny`` and ``small`` narrow it and train with
Adam.
"""
import dataclasses

import keras

from suite.ocr.charset import NAMED

PRESETS = {
    # batch normalisation after every convolution: CTC's early plateau (blanks everywhere) ends after ~450
    # steps instead of ~800 (tiny, batch 32, Adam 1e-3; 3e-3 is slower still)
    "tiny": dict(filters=(32, 64, 96, 96, 128, 128, 128), lstm_units=96, batch_norm=(1, 2, 3, 4, 5, 6, 7),
                 optimizer="adam", learning_rate=1e-3),
    "small": dict(filters=(64, 128, 256, 256, 256, 256, 256), lstm_units=128, batch_norm=(1, 2, 3, 4, 5, 6, 7),
                  optimizer="adam", learning_rate=1e-3),
    "paper": dict(),
}


@dataclasses.dataclass(frozen=True)
class CRNNConfig:
    charset: str = NAMED["lower"]  # the characters; the CTC blank is added after them
    height: int = 32
    width: int = 100  # the crops' width: words are scaled to the height, then padded or squeezed to it
    filters: tuple = (64, 128, 256, 256, 512, 512, 512)
    lstm_units: int = 256
    lstm_layers: int = 2
    batch_norm: tuple = (5, 6)  # the convolutions (1-based) followed by batch normalisation
    max_label_length: int = 23  # the longest word trained on (the paper's test sets' longest: 23)
    cudnn: bool = True  # the LSTMs may run on cuDNN on a GPU (False: XLA can compile them)
    sync_batch_norm: bool = False
    optimizer: str = "adadelta"
    learning_rate: float = 1.0
    rho: float = 0.9
    clipnorm: float | None = 5.0

    def __post_init__(self):
        if len(self.filters) != 7:
            raise ValueError(f"CRNN has seven convolutions: filters needs 7 values, got {self.filters}")
        if self.height != 32:
            raise ValueError(f"CRNN's convolutions bring a height of 32 to 1: height must be 32, got {self.height}")
        if self.width < 16:
            raise ValueError(f"crops must be at least 16 pixels wide, got {self.width}")
        if not 1 <= self.max_label_length <= self.sequence_length:
            raise ValueError(f"max_label_length must be in [1, {self.sequence_length}] (the frames of a "
                             f"{self.width}-pixel crop), got {self.max_label_length}")

    @property
    def sequence_length(self):
        """Frames per crop: two halvings of the width, two pooling windows padded by one on each side
        with stride 1 (+1 each), the last 2x2 convolution unpadded (-1)."""
        return self.width // 4 + 1

    @property
    def num_classes(self):
        return len(self.charset) + 1


def get_config(preset="tiny", **overrides):
    """The ``preset``'s config; ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return CRNNConfig(**{**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}})


def build_crnn(c):
    """``images`` uint8 [N, 32, width, 1] -> ``logits`` float32 [N, sequence_length, num_classes]."""
    layers = keras.layers
    images = keras.Input((c.height, c.width, 1), dtype="uint8", name="images")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="scale")(images)

    def tall_pool(x, name):  # 2x2 windows, vertical stride 2, horizontal 1, one column of padding each side
        x = layers.ZeroPadding2D(((0, 0), (1, 1)), name=f"{name}_pad")(x)  # after a ReLU: zeros never win
        return layers.MaxPooling2D((2, 2), strides=(2, 1), name=name)(x)

    def conv(x, i, kernel=3, padding="same"):
        normalised = i + 1 in c.batch_norm
        x = layers.Conv2D(c.filters[i], kernel, padding=padding, use_bias=not normalised, name=f"conv{i + 1}")(x)
        if normalised:
            x = layers.BatchNormalization(synchronized=c.sync_batch_norm, name=f"bn{i + 1}")(x)
        return layers.ReLU(name=f"relu{i + 1}")(x)

    x = layers.MaxPooling2D(2, name="pool1")(conv(x, 0))
    x = layers.MaxPooling2D(2, name="pool2")(conv(x, 1))
    x = tall_pool(conv(conv(x, 2), 3), "pool3")
    x = tall_pool(conv(conv(x, 4), 5), "pool4")
    x = conv(x, 6, kernel=2, padding="valid")  # height 1
    x = layers.Reshape((c.sequence_length, c.filters[6]), name="map_to_sequence")(x)
    for i in range(c.lstm_layers):
        x = layers.Bidirectional(layers.LSTM(c.lstm_units, return_sequences=True, use_cudnn="auto" if c.cudnn else False),
                                 name=f"blstm{i + 1}")(x)
    logits = layers.Dense(c.num_classes, dtype="float32", name="transcription")(x)
    return keras.Model(images, {"logits": logits}, name="crnn")
