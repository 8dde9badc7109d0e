"""Action recognition networks: single frame, late, early and slow fusion (Karpathy et al. 2014,
"Large-scale Video Classification with Convolutional Neural Networks") and two-stream (Simonyan
and Zisserman 2014, "Two-Stream Convolutional Networks for Action Recognition in Videos").

Every network takes a clip of uint8 frames ``frames`` [N, T, H, W, 3] with T
= ``config.clip_frames`` and returns {"probabilities": [N, classes]}
(two-stream also each stream's). Two-stream computes its optical flow from
the clip's L + 1 frames in the graph (``flow="graph"``, the default), or
takes OpenCV's Farneback flow as a second input ``flow`` [N, H, W, 2L] of
bytes (``flow="farneback"``, see ``suite.data.video.quantize_flow``).

The shared convolutional body is the paper's (Karpathy, Fig. 1 and 3.1):
C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-FC(4096)-FC(4096)
-- conv layers with ReLU, N a normalization (the paper's local response
normalization, or batch normalization in the small presets, which learns in
fewer steps), P non-overlapping 2x2 max pooling. The fusions differ in where
time enters:

* single frame: the clip's middle frame only (T = 1);
* late fusion: two single-frame towers with shared weights on frames
  ``late_gap`` = 15 apart, merged at the first fully connected layer;
* early fusion: the first layer's filters extend over ``early_frames`` = 10
  frames (11x11x3xT), the rest is the single-frame network;
* slow fusion: 10 frames; the first three conv layers are 3-D with temporal
  extents/strides (4, 2), (2, 2), (2, 2): 10 -> 4 -> 2 -> 1 responses, so
  higher layers see progressively more time.

Two-stream's streams are the CNN-M-2048 body (Simonyan, Fig. 1: C(96,7,2)-N-P
-C(256,5,2)-N-P-C(512,3,1)-C(512,3,1)-C(512,3,1)-P-FC(4096)-FC(2048)), the
spatial one on the clip's middle RGB frame, the temporal one on L = 10 stacked
flow fields (no second normalization); their softmax scores are averaged, or
combined by a learned layer (``fusion="learned"``).
"""
import dataclasses

import keras

from suite.layers.video import FlowInput, FrameInput, LocalResponseNormalization, OpticalFlow, TemporalConvolution

MODELS = ("single_frame", "late", "early", "slow", "two_stream")


@dataclasses.dataclass(frozen=True)
class ActionConfig:
    model: str = "slow"
    num_classes: int = 8
    image_size: int = 32
    filters: tuple = (16, 32, 48, 48, 32)
    kernels: tuple = (5, 3, 3, 3, 3)
    strides: tuple = (1, 1)  # of the first two conv layers
    pools: tuple = (True, True, False, False, True)  # 2x2 max pooling after each conv layer
    fc: tuple = (64, 64)
    dropout: float = 0.5
    normalization: str = "batch"  # "lrn" (the papers), "batch" or "none"; after the first two conv layers
    sync_batch_norm: bool = False  # batch statistics over the global batch, not each replica's share
    late_gap: int = 15
    early_frames: int = 10
    slow_frames: int = 10
    slow_time: tuple = ((4, 2), (2, 2), (2, 2))  # (temporal extent, stride) of slow fusion's conv 1-3
    flow_frames: int = 10  # L
    fusion: str = "average"  # two-stream: "average" or "learned"
    flow: str = "graph"  # two-stream: "graph" (computed in the network from the frames) or "farneback" (an input)
    flow_bound: float = 20.0  # pixels: the flow is clipped to +-bound and divided by it (the paper's quantisation)
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9, as the papers)
    learning_rate: float = 1e-3
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.normalization not in ("lrn", "batch", "none"):
            raise ValueError(f"normalization must be lrn, batch or none, got {self.normalization!r}")
        if self.fusion not in ("average", "learned"):
            raise ValueError(f"fusion must be average or learned, got {self.fusion!r}")
        if self.flow not in ("graph", "farneback"):
            raise ValueError(f"flow must be graph or farneback, got {self.flow!r}")
        if not len(self.filters) == len(self.kernels) == len(self.pools) == 5:
            raise ValueError("filters, kernels and pools need one entry per conv layer (5)")
        frames = self.slow_frames
        for extent, stride in self.slow_time:
            frames = (frames - extent) // stride + 1
        if self.model == "slow" and frames != 1:
            raise ValueError(f"slow fusion's temporal extents {self.slow_time} leave {frames} responses of "
                             f"{self.slow_frames} frames, not 1")

    @property
    def clip_frames(self):
        """T, the frames of the clip the network reads."""
        two_stream = self.flow_frames + 1 if self.flow == "graph" else 1
        return {"single_frame": 1, "late": self.late_gap + 1, "early": self.early_frames,
                "slow": self.slow_frames, "two_stream": two_stream}[self.model]

    @property
    def uses_flow(self):
        """Two-stream: a spatial and a temporal stream."""
        return self.model == "two_stream"

    @property
    def flow_input(self):
        """The network takes the stacked flow as an input (``flow="farneback"``), not only frames."""
        return self.uses_flow and self.flow == "farneback"

    @property
    def input_flow_frames(self):
        """Flow fields the input pipeline computes (Farneback) per clip: none when the network does."""
        return self.flow_frames if self.flow_input else 0


_KARPATHY = {  # the body of Karpathy et al. (170x170 inputs after cropping)
    "paper": dict(image_size=170, filters=(96, 256, 384, 384, 256), kernels=(11, 5, 3, 3, 3), strides=(3, 1),
                  fc=(4096, 4096), normalization="lrn", optimizer="sgd", learning_rate=1e-3, weight_decay=5e-4),
}
_CNN_M_2048 = {  # the streams of Simonyan and Zisserman (224x224)
    "paper": dict(image_size=224, filters=(96, 256, 512, 512, 512), kernels=(7, 5, 3, 3, 3), strides=(2, 2),
                  fc=(4096, 2048), normalization="lrn", optimizer="sgd", learning_rate=1e-2, weight_decay=5e-4),
}
# Measured on the embedded videos, where only motion tells the classes apart, with tiny slow fusion:
# dropout -- the papers' 0.5 keeps a small network from starting to learn motion within a short run
# (at 0.3 early and slow fusion stay at chance for 1,000+ steps, at 0 they leave it within ~500);
# Adam's learning rate -- at 3e-4 slow fusion reaches video top-1 0.74 in 1,000 steps and 0.83 in
# 2,000 (benchmarks action); on the videos without their static clutter, which only makes it harder,
# 3e-4 reached 0.78 / 0.94, while at 1e-3 it stayed at chance for 1,500 steps (0.33 at 2,000) and at
# 3e-3 it never left it.
PRESETS = {
    # the first layer strides 2, as the papers' do (3 at 170 px, 2 at 224): at stride 1 tiny slow fusion
    # trained at 1.8 steps/s and reached video top-1 0.69 in 800 steps; at 2, 8.4 steps/s and 0.76 in
    # 1,200 (two-stream: 0.69 against 0.72 after 300 steps)
    "tiny": dict(image_size=32, filters=(16, 32, 48, 48, 32), kernels=(5, 3, 3, 3, 3), strides=(2, 1),
                 fc=(64, 64), dropout=0.0, learning_rate=3e-4),
    "small": dict(image_size=64, filters=(32, 64, 96, 96, 64), kernels=(7, 5, 3, 3, 3), strides=(2, 1),
                  fc=(256, 256), dropout=0.2, learning_rate=3e-4),
}


def get_config(model="slow", preset="small", **overrides):
    if preset == "paper":
        base = (_CNN_M_2048 if model == "two_stream" else _KARPATHY)["paper"]
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"unknown preset {preset!r}: choose one of tiny, small, paper")
    return ActionConfig(model=model, **{**base, **{k: v for k, v in overrides.items() if v is not None}})


# ------------------------------------------------------------------ pieces
def _norm(config, name):
    if config.normalization == "lrn":
        return LocalResponseNormalization(name=name)
    if config.normalization == "batch":
        return keras.layers.BatchNormalization(synchronized=config.sync_batch_norm, name=name)
    return keras.layers.Identity(name=name)


def _conv2d(config, i, name, stride=1):
    return keras.layers.Conv2D(config.filters[i], config.kernels[i], strides=stride, padding="same",
                               activation="relu", kernel_regularizer=_regularizer(config), name=name)


def _regularizer(config):
    return keras.regularizers.L2(config.weight_decay) if config.weight_decay else None


def _after_conv(x, config, i, prefix, normalize=True):
    if i < 2 and normalize:
        x = _norm(config, f"{prefix}norm{i + 1}")(x)
    if config.pools[i]:
        x = keras.layers.MaxPooling2D(2, name=f"{prefix}pool{i + 1}")(x) if len(x.shape) == 4 else \
            keras.layers.MaxPooling3D((1, 2, 2), name=f"{prefix}pool{i + 1}")(x)
    return x


def _conv_body(x, config, prefix="", first=0, second_norm=True):
    """Conv layers ``first``..5 of the 2-D body on [N, H, W, C], flattened."""
    for i in range(first, 5):
        stride = config.strides[i] if i < 2 else 1
        x = _conv2d(config, i, f"{prefix}conv{i + 1}", stride)(x)
        x = _after_conv(x, config, i, prefix, normalize=second_norm or i != 1)
    return keras.layers.Flatten(name=f"{prefix}flatten")(x)


def _classifier(x, config, prefix=""):
    """FC-FC (ReLU, dropout) and the softmax; returns (logits, probabilities)."""
    for j, units in enumerate(config.fc):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=_regularizer(config),
                               name=f"{prefix}fc{j + 6}")(x)
        x = keras.layers.Dropout(config.dropout, name=f"{prefix}dropout{j + 6}")(x)
    logits = keras.layers.Dense(config.num_classes, dtype="float32", name=f"{prefix}logits")(x)
    return logits, keras.layers.Softmax(dtype="float32", name=f"{prefix}probabilities")(logits)


def _frames_input(config):
    s = config.image_size
    frames = keras.Input((config.clip_frames, s, s, 3), dtype="uint8", name="frames")
    return frames, FrameInput(name="to_float")(frames)


# ------------------------------------------------------------------ builders
def build_single_frame(config):
    frames, x = _frames_input(config)
    x = x[:, config.clip_frames // 2]
    _, probs = _classifier(_conv_body(x, config), config)
    return keras.Model(frames, {"probabilities": probs}, name="single_frame")


def build_late_fusion(config):
    frames, x = _frames_input(config)
    s = config.image_size
    tower_in = keras.Input((s, s, 3), name="frame")
    tower = keras.Model(tower_in, _conv_body(tower_in, config), name="tower")  # shared weights
    merged = keras.layers.Concatenate(name="late_merge")([tower(x[:, 0]), tower(x[:, config.late_gap])])
    _, probs = _classifier(merged, config)
    return keras.Model(frames, {"probabilities": probs}, name="late_fusion")


def build_early_fusion(config):
    frames, x = _frames_input(config)
    # one 3-D convolution whose temporal extent is the whole clip: T x 11 x 11 x 3 filters
    x = TemporalConvolution(config.filters[0], config.early_frames, config.kernels[0], strides=config.strides[0],
                            activation="relu", kernel_regularizer=_regularizer(config), name="conv1")(x)
    x = keras.layers.Reshape(tuple(x.shape[2:]), name="drop_time")(x)
    x = _after_conv(x, config, 0, "")
    _, probs = _classifier(_conv_body(x, config, first=1), config)
    return keras.Model(frames, {"probabilities": probs}, name="early_fusion")


def build_slow_fusion(config):
    frames, x = _frames_input(config)
    for i, (extent, tstride) in enumerate(config.slow_time):
        stride = config.strides[i] if i < 2 else 1
        x = TemporalConvolution(config.filters[i], extent, config.kernels[i], temporal_stride=tstride, strides=stride,
                                activation="relu", kernel_regularizer=_regularizer(config), name=f"conv{i + 1}")(x)
        x = _after_conv(x, config, i, "")
    x = keras.layers.Reshape(tuple(x.shape[2:]), name="drop_time")(x)  # one response left in time
    _, probs = _classifier(_conv_body(x, config, first=3), config)
    return keras.Model(frames, {"probabilities": probs}, name="slow_fusion")


def build_two_stream(config):
    """``flow="graph"``: frames [N, L + 1, H, W, 3] alone, the spatial stream on the middle one (the
    L // 2-th) and the temporal stream on the L fields between them (``OpticalFlow``, pyramidal
    Lucas-Kanade in the graph, so training and serving see the same flow); ``"farneback"``: one frame
    [N, 1, H, W, 3] and the L fields as bytes [N, H, W, 2L] (``suite.data.video.quantize_flow``)."""
    frames, x = _frames_input(config)
    s, channels = config.image_size, 2 * config.flow_frames
    if config.flow_input:
        flow = keras.Input((s, s, channels), dtype="uint8", name="flow")
        inputs, f, rgb = {"frames": frames, "flow": flow}, FlowInput(name="flow_to_float")(flow), x[:, 0]
    else:
        displacements = OpticalFlow(name="optical_flow")(frames)
        inputs = frames
        f = FlowInput(bound=config.flow_bound, name="flow_to_float")(displacements)
        rgb = x[:, config.flow_frames // 2]
    spatial_logits, spatial = _classifier(_conv_body(rgb, config, prefix="spatial_"), config, "spatial_")
    temporal_logits, temporal = _classifier(_conv_body(f, config, prefix="temporal_", second_norm=False), config,
                                            "temporal_")
    if config.fusion == "average":
        fused = keras.layers.Average(name="probabilities")([spatial, temporal])
    else:
        scores = keras.layers.Concatenate(name="scores")([spatial_logits, temporal_logits])
        fused = keras.layers.Dense(config.num_classes, activation="softmax", dtype="float32",
                                   name="probabilities")(scores)
    return keras.Model(inputs, {"probabilities": fused, "spatial": spatial, "temporal": temporal}, name="two_stream")


BUILDERS = {"single_frame": build_single_frame, "late": build_late_fusion, "early": build_early_fusion,
            "slow": build_slow_fusion, "two_stream": build_two_stream}


def build_model(config):
    return BUILDERS[config.model](config)
