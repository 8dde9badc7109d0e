"""Backbones with an output stride: VGG16 (FCN, DeepLab v1), ResNet-50/101 (DeepLab v2, v3, v3+) and
aligned Xception (DeepLab v3+), as functional builders of configurable width and depth.

Hand-written: ``keras.applications`` and keras-hub's backbones take no dilation, so they cannot run
at output stride 16 or 8. The DeepLab rule (Chen et al. 2017, section 3.1): once the feature map has
reached ``output_stride``, every later stride becomes 1 and multiplies the atrous rate of the
layers after it instead, so the receptive field stays what it was at stride 32 while the map
keeps its resolution. ResNet's last block also takes DeepLab v3's multi-grid rates (1, 2, 4): its
three units' 3x3 convolutions at ``rate x grid``.

Each builder returns a functional model from float images in 0..255 to a dict of endpoints
{name: feature map} (images scaled to -1..1 first); ``"out"`` is the deepest, ``"low"`` the stride-4 features v3+'s decoder
reads, ``"pool3"``/``"pool4"`` the stride-8 and -16 maps FCN's skips read.
"""
import keras

from suite.layers.detection import ImagePreprocessing

OUTPUT_STRIDES = (8, 16, 32)


class StrideTracker:
    """The DeepLab rule: ``step(stride)`` -> (the stride to use, the atrous rate to use)."""

    def __init__(self, output_stride):
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output stride must be one of {OUTPUT_STRIDES}, got {output_stride}")
        self.output_stride, self.current, self.rate = output_stride, 1, 1

    def step(self, stride):
        if self.current * stride > self.output_stride:
            rate, self.rate = self.rate, self.rate * stride
            return 1, rate  # this layer keeps its rate; the layers after it dilate by the skipped stride
        self.current *= stride
        return stride, self.rate


def _bn_relu(x, name, sync=False, relu=True):
    x = keras.layers.BatchNormalization(synchronized=sync, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


# ------------------------------------------------------------------ VGG16
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg(image_size, output_stride=32, blocks=VGG16_BLOCKS, pool=2, name="vgg", batch_norm=False, sync=False,
        conv_endpoints=False):
    """VGG (Simonyan and Zisserman 2015): 3x3 convolutions with ReLU, each block ending in max
    pooling (``pool`` 2: 2x2 stride 2, FCN's; 3: 3x3 stride 2 'same', DeepLab v1's). Past
    ``output_stride`` the pools keep stride 1 and the later convolutions dilate (DeepLab v1: pool4
    and pool5 at stride 1, conv5 at rate 2). Endpoints pool3, pool4, out (pool5); with
    ``conv_endpoints`` also each block's last convolution, conv1 .. conv5 (conv3_3 ... as PixelLink
    reads them). ``batch_norm``: each convolution's output normalised before its ReLU (for training
    from scratch; the paper's VGG has none)."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = ImagePreprocessing("tf", name="preprocess")(images)
    tracker, rate, ends = StrideTracker(output_stride), 1, {}
    for b, (filters, convs) in enumerate(blocks):
        for c in range(convs):
            x = keras.layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, use_bias=not batch_norm,
                                    activation=None if batch_norm else "relu", name=f"conv{b + 1}_{c + 1}")(x)
            if batch_norm:
                x = _bn_relu(x, f"conv{b + 1}_{c + 1}", sync)
        ends[f"conv{b + 1}"] = x
        stride, _ = tracker.step(2)
        rate = tracker.rate  # the convolutions after a pool that keeps stride 1 dilate by its stride
        x = (keras.layers.MaxPooling2D(2, stride, padding="same", name=f"pool{b + 1}") if pool == 2 and stride == 2
             else keras.layers.MaxPooling2D(3, stride, padding="same", name=f"pool{b + 1}"))(x)
        ends[f"pool{b + 1}"] = x
    outputs = {"pool3": ends["pool3"], "pool4": ends["pool4"], "out": x}
    if conv_endpoints:
        outputs.update({f"conv{b + 1}": ends[f"conv{b + 1}"] for b in range(len(blocks))})
    return keras.Model(images, outputs, name=name)


# ------------------------------------------------------------------ ResNet
RESNET_UNITS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}


def _bottleneck(x, filters, stride, rate, name, sync, project):
    """He et al. 2016's bottleneck (1x1, 3x3, 1x1 x4), the stride in the 3x3 as DeepLab's ResNets."""
    shortcut = x
    if project:
        shortcut = keras.layers.Conv2D(4 * filters, 1, stride, use_bias=False, name=f"{name}_0_conv")(x)
        shortcut = _bn_relu(shortcut, f"{name}_0", sync, relu=False)
    y = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(x)
    y = _bn_relu(y, f"{name}_1", sync)
    y = keras.layers.Conv2D(filters, 3, stride, padding="same", dilation_rate=rate, use_bias=False,
                            name=f"{name}_2_conv")(y)
    y = _bn_relu(y, f"{name}_2", sync)
    y = keras.layers.Conv2D(4 * filters, 1, use_bias=False, name=f"{name}_3_conv")(y)
    y = _bn_relu(y, f"{name}_3", sync, relu=False)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([shortcut, y]))


def resnet(image_size, output_stride=16, units=RESNET_UNITS["resnet101"], width=64, multi_grid=(1, 2, 4),
           sync_batch_norm=False, name="resnet"):
    """ResNet v1 (``units`` bottlenecks per stage conv2..conv5, base ``width``): the 7x7 stem, 3x3 max
    pooling, four stages; at ``output_stride`` 16 or 8 the last stages dilate, and conv5's units take
    the rates ``rate x multi_grid`` (DeepLab v3; (1, 1, 1) for v2). Endpoints low (conv2, stride 4),
    pool3 (conv3), pool4 (conv4), out (conv5)."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = ImagePreprocessing("tf", name="preprocess")(images)
    tracker = StrideTracker(output_stride)
    stride, _ = tracker.step(2)
    x = keras.layers.Conv2D(width, 7, stride, padding="same", use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1", sync_batch_norm)
    stride, _ = tracker.step(2)
    x = keras.layers.MaxPooling2D(3, stride, padding="same", name="pool1")(x)
    ends = {}
    for s, count in enumerate(units):
        stride, first_rate = tracker.step(1 if s == 0 else 2)  # a stage's first unit holds its stride
        for u in range(count):
            if s == len(units) - 1:  # conv5: multi-grid over the stage's rate
                rate = tracker.rate * multi_grid[u % len(multi_grid)]
            else:  # the first unit at the rate it had before a stride it no longer takes, the others after
                rate = first_rate if u == 0 else tracker.rate
            x = _bottleneck(x, width * 2 ** s, stride if u == 0 else 1, rate, f"conv{s + 2}_block{u + 1}",
                            sync_batch_norm, project=u == 0)
        ends[("low", "pool3", "pool4", "out")[s]] = x
    return keras.Model(images, ends, name=name)


# ------------------------------------------------------------------ aligned Xception
def separable(x, filters, stride, rate, name, sync, relu_inside=True):
    """DeepLab's separable convolution: 3x3 depthwise (stride or rate), batch norm, ReLU, 1x1
    pointwise, batch norm, ReLU."""
    x = keras.layers.DepthwiseConv2D(3, stride, padding="same", dilation_rate=rate, use_bias=False,
                                     name=f"{name}_depthwise")(x)
    x = _bn_relu(x, f"{name}_depthwise", sync, relu=relu_inside)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pointwise")(x)
    return _bn_relu(x, f"{name}_pointwise", sync)


def _xception_block(x, filters, stride, tracker, name, sync, residual="conv"):
    """Three separable convolutions, the last with the block's stride (aligned Xception replaces
    max pooling by it), and a shortcut: a strided 1x1 convolution, the identity, or none."""
    use_stride, rate = tracker.step(stride)  # every convolution of the block comes before its stride
    y, taps = x, []
    for i, f in enumerate(filters):
        y = separable(y, f, use_stride if i == 2 else 1, rate, f"{name}_sep{i + 1}", sync)
        taps.append(y)
    if residual == "conv":
        s = keras.layers.Conv2D(filters[-1], 1, use_stride, use_bias=False, name=f"{name}_shortcut")(x)
        y = keras.layers.Add(name=f"{name}_add")([_bn_relu(s, f"{name}_shortcut", sync, relu=False), y])
    elif residual == "identity":
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y, taps[1]


def xception(image_size, output_stride=16, width=32, middle_blocks=16, sync_batch_norm=False, name="xception"):
    """Aligned Xception (Chen et al. 2018, figure 4; Xception-65 at ``width`` 32 and 16 middle
    blocks): entry flow (two 3x3 convolutions, blocks of 4w, 8w and 22.75w channels at stride 2),
    ``middle_blocks`` identity blocks, exit flow (a 22.75w-32w-32w block at stride 2, then separable
    48w, 48w, 64w). Endpoints low (entry block 2's second convolution, stride 4), out."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = ImagePreprocessing("tf", name="preprocess")(images)
    w = lambda k: max(1, int(round(k * width)))  # noqa: E731 - channels as multiples of the base width
    tracker = StrideTracker(output_stride)
    stride, _ = tracker.step(2)
    x = keras.layers.Conv2D(w(1), 3, stride, padding="same", use_bias=False, name="entry_conv1")(x)
    x = _bn_relu(x, "entry_conv1", sync_batch_norm)
    x = keras.layers.Conv2D(w(2), 3, padding="same", use_bias=False, name="entry_conv2")(x)
    x = _bn_relu(x, "entry_conv2", sync_batch_norm)
    x, _ = _xception_block(x, (w(4),) * 3, 2, tracker, "entry_block1", sync_batch_norm)
    x, low = _xception_block(x, (w(8),) * 3, 2, tracker, "entry_block2", sync_batch_norm)  # low: stride 4
    x, _ = _xception_block(x, (w(22.75),) * 3, 2, tracker, "entry_block3", sync_batch_norm)
    for m in range(middle_blocks):
        x, _ = _xception_block(x, (w(22.75),) * 3, 1, tracker, f"middle_block{m + 1}", sync_batch_norm, "identity")
    x, _ = _xception_block(x, (w(22.75), w(32), w(32)), 2, tracker, "exit_block1", sync_batch_norm)
    rate = tracker.rate
    for i, f in enumerate((w(48), w(48), w(64))):
        x = separable(x, f, 1, rate, f"exit_sep{i + 1}", sync_batch_norm)
    return keras.Model(images, {"low": low, "out": x}, name=name)
