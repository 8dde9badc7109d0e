"""THE custom-layer module of the suite: every custom Keras layer, by theme.

Each layer is registered serializable and round-trips through ``get_config``.
"""
from suite.layers.audio import (ContextWindow, LogMelSpectrogram, SequenceMask, SpecAugment,  # noqa: F401
                                StridedLengths)
from suite.layers.detection import ImagePreprocessing, RoIPooling  # noqa: F401
from suite.layers.gan import (  # noqa: F401
    EqualizedConv2D,
    EqualizedDense,
    Maxout,
    MinibatchStdDev,
    PixelNormalization,
    WeightedSum,
)
