"""FCN (Long et al. 2015) and DeepLab v1, v2, v3, v3+ (Chen et al. 2015, 2017, 2017, 2018): networks
from images of any size (float 0..255) to per-pixel class logits at the input's resolution, and
the supervised task that trains them with the per-pixel softmax cross-entropy (label 255 ignored).

* ``fcn32s``/``fcn16s``/``fcn8s``: VGG16 with fc6/fc7 as 7x7 and 1x1 convolutions (4096, dropout
  0.5), a 1x1 score layer; the 32s net upsamples the scores x32 with a transposed convolution fixed
  to bilinear upsampling; 16s adds 1x1 scores of pool4 (zero-initialised) to the x2 upsampled
  scores (a transposed convolution initialised to bilinear and learned) and upsamples x16; 8s
  does the same once more with pool3 and upsamples x8. The paper pads the input by 100 pixels and
  crops each upsampled map back into alignment with offsets; here every convolution pads 'same',
  so the maps are aligned at the top left by construction (a 2f-wide bilinear kernel at stride f
  with 'same' padding is half-pixel bilinear upsampling: tested), and each upsampled map is
  cropped at the bottom and right to the finer one's size (the identity for sizes divisible by 32).
* ``deeplab_v1``: DeepLab-LargeFOV: VGG16 with 3x3 pools, pool4 and pool5 at stride 1, conv5 at
  rate 2, fc6 a 3x3 convolution of 1024 at rate 12, fc7 1x1 1024, output stride 8.
* ``deeplab_v2``: ResNet-101 at output stride 8, ASPP-L: four 3x3 classifiers at rates 6, 12, 18,
  24 summed; multi-scale inputs (``scales`` 0.5, 0.75, 1.0 in the paper preset) through the shared
  network, their logits fused by the pixel-wise maximum; trained, as the paper, on the sum of the
  fused logits' loss and each scale's own.
* ``deeplab_v3``: ResNet at output stride 16 with multi-grid (1, 2, 4) in conv5; ASPP of a 1x1 and
  three 3x3 convolutions at rates 6, 12, 18 (doubled at output stride 8) and the image-level
  branch (global average pooling, 1x1, upsampled), each 256 channels with batch norm, concatenated,
  1x1 256, then the classifier.
* ``deeplab_v3plus``: v3's encoder (aligned Xception-65 in the paper preset; ASPP's atrous branches
  depthwise-separable) and the decoder: the
  stride-4 features reduced to 48 channels by a 1x1 convolution, concatenated with the encoder's
  output upsampled x4, two 3x3 separable convolutions of 256, the classifier, upsampled x4.

Every DeepLab's logits are upsampled to the input bilinearly; the networks are fully
convolutional, so a network built at another output stride (``network_at``) takes the same
weights: train at 16, evaluate at 8, as DeepLab v3 does.
"""
import dataclasses

import keras
import tensorflow as tf

from suite.layers.segmentation import BilinearUpsampling, CropLike, Rescale, ResizeLike
from suite.segmentation import backbones as bb
from suite.training.task import SupervisedTask

MODELS = ("fcn32s", "fcn16s", "fcn8s", "deeplab_v1", "deeplab_v2", "deeplab_v3", "deeplab_v3plus")
BACKBONES = ("vgg16", "resnet50", "resnet101", "xception65")
IGNORE = 255  # the label of pixels that count nowhere (VOC's object borders)
# the backbones each model takes; the first is the paper's
MODEL_BACKBONES = {"fcn32s": ("vgg16",), "fcn16s": ("vgg16",), "fcn8s": ("vgg16",), "deeplab_v1": ("vgg16",),
                   "deeplab_v2": ("resnet101", "resnet50"), "deeplab_v3": ("resnet101", "resnet50"),
                   "deeplab_v3plus": ("xception65", "resnet101", "resnet50")}
DEFAULT_OUTPUT_STRIDE = {"fcn32s": 32, "fcn16s": 32, "fcn8s": 32, "deeplab_v1": 8, "deeplab_v2": 8, "deeplab_v3": 16,
                         "deeplab_v3plus": 16}


@dataclasses.dataclass(frozen=True)
class SegmentationConfig:
    model: str = "deeplab_v3plus"
    backbone: str = "xception65"
    num_classes: int = 21
    image_size: int = 513  # the training crop
    output_stride: int = 16
    width: float = 64  # ResNet's base channels; Xception's is width / 2 (32 in Xception-65)
    vgg_blocks: tuple = bb.VGG16_BLOCKS
    resnet_units: tuple | None = None  # None: the backbone's (50: 3 4 6 3, 101: 3 4 23 3)
    middle_blocks: int = 16  # Xception-65's
    multi_grid: tuple = (1, 2, 4)
    fc_filters: int = 4096  # FCN's fc6/fc7 (DeepLab v1: 1024)
    fc6_rate: int = 12  # DeepLab-LargeFOV's fc6 at output stride 8
    dropout: float = 0.5
    aspp_rates: tuple = (6, 12, 18)  # at output stride 16 (v2: 6 12 18 24 at 8)
    aspp_filters: int = 256
    low_level_filters: int = 48
    decoder_filters: int = 256
    scales: tuple = (1.0,)  # DeepLab v2's multi-scale inputs (max fusion)
    scale_range: tuple = (0.5, 2.0)  # training images randomly scaled within (DeepLab's)
    sync_batch_norm: bool = False
    optimizer: str = "sgd"
    learning_rate: float = 7e-3
    momentum: float = 0.9
    schedule: str = "constant"  # the paper presets of DeepLab: "poly" (power 0.9)
    weight_decay: float = 1e-4  # L2 on every convolution kernel (Caffe's weight_decay: lambda/2 ||w||^2)

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}")
        if self.backbone not in MODEL_BACKBONES[self.model]:
            raise ValueError(f"{self.model} is built on {' or '.join(MODEL_BACKBONES[self.model])}, "
                             f"not {self.backbone}")
        if self.model.startswith("fcn") and self.output_stride != 32:
            raise ValueError(f"{self.model} upsamples from stride 32 (its skips sit at 16 and 8): "
                             f"output stride 32, not {self.output_stride}")
        if self.output_stride not in bb.OUTPUT_STRIDES:
            raise ValueError(f"output stride must be one of {bb.OUTPUT_STRIDES}, got {self.output_stride}")
        if self.image_size < 32:
            raise ValueError(f"the training crop must be at least 32 pixels, got {self.image_size}")
        if self.num_classes < 2:
            raise ValueError(f"segmentation needs at least 2 classes, got {self.num_classes}")

    @property
    def rates(self):
        """ASPP's rates at this output stride (they are stated at 16 for v3/v3+, at 8 for v2)."""
        base = 8 if self.model == "deeplab_v2" else 16
        return tuple(r * base // self.output_stride for r in self.aspp_rates)


# the papers' solvers: SGD with momentum (FCN 0.99 at a fixed rate; DeepLab 0.9 with the "poly" decay,
# (1 - step / total) ** 0.9)
PAPER = {
    "fcn32s": dict(fc_filters=4096, learning_rate=1e-4, momentum=0.99, weight_decay=5e-4, image_size=512),
    "deeplab_v1": dict(fc_filters=1024, learning_rate=1e-3, weight_decay=5e-4, image_size=320, schedule="poly"),
    "deeplab_v2": dict(aspp_rates=(6, 12, 18, 24), scales=(0.5, 0.75, 1.0), learning_rate=2.5e-4, multi_grid=(1, 1, 1),
                       weight_decay=5e-4, image_size=321, schedule="poly"),
    "deeplab_v3": dict(learning_rate=7e-3, schedule="poly"),
    "deeplab_v3plus": dict(learning_rate=7e-3, schedule="poly"),
}
# The papers' atrous rates suit 513-pixel crops (33x33 maps at stride 16); an atrous 3x3 wider than its
# map degenerates to a 1x1 (v3, section 3.3) and costs 3-6x the step time on a CPU, so the small presets
# scale the rates to their maps (tiny: 64-pixel crops, 4x4 at stride 16)
SMALL_RATES = {"tiny": dict(aspp_rates=(1, 2, 3), fc6_rate=2), "small": dict(aspp_rates=(2, 4, 6), fc6_rate=4)}
PRESETS = {
    # 64-pixel crops of the embedded scenes; widths an eighth to a sixteenth of the papers'
    "tiny": dict(image_size=64, num_classes=6, width=16, vgg_blocks=((16, 2), (32, 2), (64, 2), (96, 2), (96, 2)),
                 resnet_units=(1, 2, 2, 1), middle_blocks=1, fc_filters=256, aspp_filters=64, low_level_filters=16,
                 decoder_filters=64, dropout=0.1, optimizer="adam", learning_rate=1e-3, weight_decay=1e-5,
                 scale_range=(0.75, 1.25)),  # 0.5-2.0 of a 64-pixel scene leaves too little of it to learn fast
    "small": dict(image_size=128, num_classes=6, width=32, resnet_units=(2, 2, 3, 2), middle_blocks=4,
                  vgg_blocks=((32, 2), (64, 2), (128, 3), (256, 3), (256, 3)), fc_filters=1024, aspp_filters=128,
                  low_level_filters=32, decoder_filters=128, optimizer="adam", learning_rate=1e-3, weight_decay=1e-5),
    "paper": {},
}


def get_config(preset="tiny", model="deeplab_v3plus", backbone=None, **overrides):
    """The ``preset``'s config of ``model`` (``paper``: the paper's sizes and solver, on its backbone);
    ``overrides`` (None values ignored) win."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    values = dict(model=model, backbone=backbone or MODEL_BACKBONES[model][0],
                  output_stride=DEFAULT_OUTPUT_STRIDE[model])
    if preset == "paper":
        values.update(PAPER.get(model, PAPER["fcn32s"] if model.startswith("fcn") else {}))
        if model == "deeplab_v2":
            values["aspp_rates"] = (6, 12, 18, 24)
    else:
        values.update(PRESETS[preset], **SMALL_RATES[preset])
        if model == "deeplab_v2":  # ASPP-L's four rates, v2 has no multi-grid
            values.update(aspp_rates=(*values["aspp_rates"], 2 * values["aspp_rates"][-1] - values["aspp_rates"][-2]),
                          multi_grid=(1, 1, 1))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SegmentationConfig(**values)


# ------------------------------------------------------------------ networks
def build_backbone(c, output_stride=None):
    os_ = output_stride or c.output_stride
    if c.backbone == "vgg16":
        return bb.vgg(None, os_, c.vgg_blocks, pool=2 if c.model.startswith("fcn") else 3)
    if c.backbone == "xception65":
        return bb.xception(None, os_, width=c.width / 2, middle_blocks=c.middle_blocks,
                           sync_batch_norm=c.sync_batch_norm)
    return bb.resnet(None, os_, c.resnet_units or bb.RESNET_UNITS[c.backbone], int(c.width), c.multi_grid,
                     c.sync_batch_norm)


def _conv_bn(x, filters, kernel, name, c, rate=1):
    x = keras.layers.Conv2D(filters, kernel, padding="same", dilation_rate=rate, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(synchronized=c.sync_batch_norm, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _classifier(x, c, name="logits"):
    return keras.layers.Conv2D(c.num_classes, 1, name=name, dtype="float32")(x)


def _fcn(images, ends, c):
    drop = lambda x, n: keras.layers.Dropout(c.dropout, name=n)(x)  # noqa: E731
    x = keras.layers.Conv2D(c.fc_filters, 7, padding="same", activation="relu", name="fc6")(ends["out"])
    x = drop(x, "drop6")
    x = keras.layers.Conv2D(c.fc_filters, 1, activation="relu", name="fc7")(x)
    scores = _classifier(drop(x, "drop7"), c, "score_fr")
    final = 32
    for pool, factor in (("pool4", 16), ("pool3", 8))[: {"fcn32s": 0, "fcn16s": 1, "fcn8s": 2}[c.model]]:
        up = keras.layers.Conv2DTranspose(c.num_classes, 4, 2, padding="same", use_bias=False,
                                          kernel_initializer=BilinearUpsampling(2), name=f"upscore_{pool}",
                                          dtype="float32")(scores)
        skip = keras.layers.Conv2D(c.num_classes, 1, kernel_initializer="zeros", name=f"score_{pool}",
                                   dtype="float32")(ends[pool])
        up = CropLike(name=f"crop_{pool}")(up, skip)
        scores, final = keras.layers.Add(name=f"fuse_{pool}")([up, skip]), factor
    # the last upsampling stays bilinear (the paper fixes it)
    logits = keras.layers.Conv2DTranspose(c.num_classes, 2 * final, final, padding="same", use_bias=False,
                                          kernel_initializer=BilinearUpsampling(final), trainable=False,
                                          name=f"upscore{final}", dtype="float32")(scores)
    return CropLike(name="to_input")(logits, images)


def _aspp_v3(x, c):
    branches = [_conv_bn(x, c.aspp_filters, 1, "aspp_1x1", c)]
    for r in c.rates:  # v3+ makes them depthwise-separable (section 3.2)
        branches.append(bb.separable(x, c.aspp_filters, 1, r, f"aspp_rate{r}", c.sync_batch_norm)
                        if c.model == "deeplab_v3plus" else _conv_bn(x, c.aspp_filters, 3, f"aspp_rate{r}", c, rate=r))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="image_pool")(x)
    pooled = _conv_bn(pooled, c.aspp_filters, 1, "image_pool_conv", c)
    branches.append(ResizeLike(name="image_pool_upsample")(pooled, x))
    x = keras.layers.Concatenate(name="aspp_concat")(branches)
    return _conv_bn(x, c.aspp_filters, 1, "aspp_project", c)


def _decoder(x, low, c):
    low = _conv_bn(low, c.low_level_filters, 1, "decoder_low", c)
    x = ResizeLike(name="decoder_upsample")(x, low)
    x = keras.layers.Concatenate(name="decoder_concat")([x, low])
    for i in range(2):
        x = bb.separable(x, c.decoder_filters, 1, 1, f"decoder_sep{i + 1}", c.sync_batch_norm)
    return x


def _deeplab_logits(images, trunk, c):
    ends = trunk(images)
    x = ends["out"]
    if c.model == "deeplab_v1":
        x = keras.layers.Conv2D(c.fc_filters, 3, padding="same", dilation_rate=max(1, c.fc6_rate * 8 // c.output_stride),
                                activation="relu", name="fc6")(x)
        x = keras.layers.Dropout(c.dropout, name="drop6")(x)
        x = keras.layers.Conv2D(c.fc_filters, 1, activation="relu", name="fc7")(x)
        x = _classifier(keras.layers.Dropout(c.dropout, name="drop7")(x), c, "fc8")
    elif c.model == "deeplab_v2":  # ASPP-L: one classifier per rate, summed
        x = keras.layers.Add(name="aspp_sum")([
            keras.layers.Conv2D(c.num_classes, 3, padding="same", dilation_rate=r, name=f"aspp_rate{r}",
                                dtype="float32")(x) for r in c.rates])
    else:
        x = _aspp_v3(x, c)
        if c.model == "deeplab_v3plus":
            x = _decoder(x, ends["low"], c)
        x = _classifier(keras.layers.Dropout(c.dropout, name="dropout")(x) if c.model == "deeplab_v3" else x, c)
    return x


def build_network(c, output_stride=None, scale_outputs=False):
    """images float [N, H, W, 3] in 0..255 (any H, W) -> logits float32 [N, H, W, classes]; with
    ``per_scale`` also, for training, the network whose outputs are those logits and each scale's
    own (DeepLab v2's multi-scale inputs), at the input's size, sharing the same layers (the network
    itself again when there is one scale): (network, that network)."""
    images = keras.Input((None, None, 3), name="images")
    trunk = build_backbone(c, output_stride)
    if c.model.startswith("fcn"):
        net = keras.Model(images, _fcn(images, trunk(images), c), name=c.model)
        return (net, net) if scale_outputs else net
    head_input = keras.Input((None, None, 3), name="head_images")
    head = keras.Model(head_input, _deeplab_logits(head_input, trunk, c), name="deeplab")
    per_scale = []
    for s in c.scales:
        x = images if s == 1.0 else Rescale(s, name=f"scale_{s:g}")(images)
        per_scale.append(head(x))
    if len(per_scale) > 1:  # v2: every scale's logits at the full scale's resolution, fused by the maximum
        reference = per_scale[list(c.scales).index(max(c.scales))]
        per_scale = [p if p is reference else ResizeLike(name=f"align_{i}")(p, reference) for i, p in
                     enumerate(per_scale)]
        logits = keras.layers.Maximum(name="max_fusion")(per_scale)
    else:
        logits = per_scale[0]
    net = keras.Model(images, ResizeLike(name="to_input")(logits, images), name=c.model)
    if not scale_outputs:
        return net
    if len(per_scale) == 1:
        return net, net
    scales = [ResizeLike(name=f"scale_{i}_to_input")(p, images) for i, p in enumerate(per_scale)]
    return net, keras.Model(images, [net.output, *scales], name=f"{c.model}_per_scale")


def network_at(net, c, output_stride):
    """``net``'s weights in the network built at another ``output_stride`` (the same variables:
    only strides and rates change)."""
    if output_stride == c.output_stride:
        return net
    other = build_network(dataclasses.replace(c, output_stride=output_stride), output_stride)
    other.set_weights(net.get_weights())
    return other


def predict_probabilities(net, images, scales=(1.0,), flip=False):
    """Multi-scale (and left-right flipped) inference: the mean of the softmax probabilities of
    ``images`` (float 0..255) resized by each of ``scales`` (and mirrored), at the input's size."""
    size = tf.shape(images)[1:3]
    probs = []
    for s in scales:
        x = images if s == 1.0 else tf.image.resize(images, tf.cast(tf.round(tf.cast(size, tf.float32) * s), tf.int32))
        for mirrored in ((False, True) if flip else (False,)):
            y = net(tf.reverse(x, [2]) if mirrored else x, training=False)
            y = tf.reverse(y, [2]) if mirrored else y
            probs.append(tf.nn.softmax(tf.image.resize(tf.cast(y, tf.float32), size)))
    return tf.add_n(probs) / len(probs)


# ------------------------------------------------------------------ the task
def pixel_loss(labels, logits):
    """(per-image mean cross-entropy over its labelled pixels [B], labelled pixels per image [B]):
    as a weighted term, the mean over every labelled pixel of the global batch."""
    labels = tf.cast(labels, tf.int32)
    valid = tf.not_equal(labels, IGNORE)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.where(valid, labels, 0), tf.cast(logits, tf.float32))
    ce = tf.where(valid, ce, 0.0)
    counts = tf.reduce_sum(tf.cast(valid, tf.float32), [1, 2])
    return tf.math.divide_no_nan(tf.reduce_sum(ce, [1, 2]), counts), counts


class Segmenter(SupervisedTask):
    """A segmentation network and its per-pixel loss; batches {"images": uint8 [B, S, S, 3],
    "labels": uint8 [B, S, S] (255 ignored)}."""

    def __init__(self, config, seed=0, **kwargs):
        super().__init__(config, seed=seed, **kwargs)
        self.net, self.scales_net = build_network(config, scale_outputs=True)

    def loss_terms(self, batch, training, seeds):
        images = tf.cast(batch["images"], tf.float32)
        extra = {}
        if self.scales_net is self.net:
            logits = self.net(images, training=training)
        else:  # DeepLab v2's multi-scale inputs: the fused logits' loss and each scale's
            logits, *scales = self.scales_net(images, training=training)
            for scale, scale_logits in zip(self.config.scales, scales):
                extra[f"cross_entropy/scale_{scale:g}"] = pixel_loss(batch["labels"], scale_logits)
        loss, counts = pixel_loss(batch["labels"], logits)
        labels = tf.cast(batch["labels"], tf.int32)
        valid = tf.cast(tf.not_equal(labels, IGNORE), tf.float32)
        right = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels), tf.float32) * valid
        accuracy = tf.math.divide_no_nan(tf.reduce_sum(right, [1, 2]), counts)
        return {"cross_entropy": (loss, counts), **extra}, {"pixel_accuracy": (accuracy, counts)}

    def regularization_loss(self):
        """Weight decay on the convolution kernels (the papers' solver setting), beside the base's."""
        return super().regularization_loss() + self.kernel_decay(self.config.weight_decay)

