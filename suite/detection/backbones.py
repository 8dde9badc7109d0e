"""Convolutional backbones of the detectors: VGG16 and ResNet-50/101 from ``keras.applications``
(``weights=None`` or a weights file), and a VGG-style stack of configurable width for the small
presets. Each returns a functional model from float images in 0..255 to its feature map."""
import keras

from suite.layers.detection import ImagePreprocessing

# the stride-16 feature map Faster R-CNN uses: VGG16's conv5_3, ResNet's conv4 stage (its conv5 is the
# head in the ResNet paper's detector; here the head is the same FC head for every backbone)
APPLICATIONS = {"vgg16": ("VGG16", "block5_conv3", "caffe"),
                "resnet50": ("ResNet50", "conv4_block6_out", "caffe"),
                "resnet101": ("ResNet101", "conv4_block23_out", "caffe")}


def build_backbone(name, image_size, *, blocks=(), batch_norm=True, weights=None, sync_batch_norm=False):
    """(model, stride). ``name``: 'vgg16', 'resnet50', 'resnet101', or 'vgg' (``blocks``: one
    (filters, convolutions) per block, each block ending in 2x2 max pooling except the last, 3x3
    convolutions with ReLU and batch normalisation when ``batch_norm``). ``weights``: a Keras
    weights file for the application networks (e.g. vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5).
    ``sync_batch_norm``: batch statistics over the global batch (ResNet's layers too)."""
    images = keras.Input((image_size, image_size, 3), name="images")
    if name in APPLICATIONS:
        cls, layer, mode = APPLICATIONS[name]
        x = ImagePreprocessing(mode, name="preprocess")(images)
        net = getattr(keras.applications, cls)(include_top=False, weights=None,
                                               input_shape=(image_size, image_size, 3))
        if weights:
            try:
                net.load_weights(weights)
            except Exception as e:  # noqa: BLE001 - h5py and Keras raise many kinds
                raise ValueError(f"--backbone-weights {weights}: not {cls} weights without the top ({e})") from None
        for bn in net.layers:  # keras.applications builds its own BatchNormalization layers
            if isinstance(bn, keras.layers.BatchNormalization):
                bn.synchronized = sync_batch_norm
        trunk = keras.Model(net.input, net.get_layer(layer).output, name=name)
        return keras.Model(images, trunk(x), name="backbone"), 16
    if name != "vgg":
        raise ValueError(f"unknown backbone {name!r} (vgg, vgg16, resnet50, resnet101)")
    if weights:
        raise ValueError("--backbone-weights needs an application backbone (vgg16, resnet50, resnet101)")
    x = ImagePreprocessing("tf", name="preprocess")(images)
    stride = 1
    for b, (filters, convs) in enumerate(blocks):
        for c in range(convs):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm,
                                    name=f"block{b + 1}_conv{c + 1}")(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(synchronized=sync_batch_norm, name=f"block{b + 1}_bn{c + 1}")(x)
            x = keras.layers.ReLU(name=f"block{b + 1}_relu{c + 1}")(x)
        if b < len(blocks) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"block{b + 1}_pool")(x)
            stride *= 2
    return keras.Model(images, x, name="backbone"), stride
