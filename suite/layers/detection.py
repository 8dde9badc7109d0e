"""Layers of the object detectors: RoI pooling (Fast R-CNN) and RoIAlign.

Written here because keras-cv 0.9's ``ROIPooler`` unrolls a Python loop over
every image, RoI and output cell (7 x 7 x 128 slices per image: graphs too
large to trace for a training batch) and truncates bin edges (``int()``),
so a bin can miss the cells its RoI covers; Keras and TensorFlow have no RoI
pooling. ``tf.image.crop_and_resize`` gives RoIAlign.
"""
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="suite")
class RoIPooling(keras.layers.Layer):
    """Pools each region of interest of a feature map to ``pool_size`` x ``pool_size``.

    Inputs: ``[features [N, H, W, C], rois [N, R, 4]]``, RoIs normalised
    (ymin, xmin, ymax, xmax) over the image the features come from. Output
    [N, R, pool, pool, C].

    ``mode="max"`` is Fast R-CNN's RoI max pooling: the RoI is snapped to the
    feature cells it touches (``floor`` of its start, ``ceil`` of its end, at
    least one cell), split into pool x pool bins whose edges are again
    ``floor``/``ceil``-ed, and each bin takes the maximum of its cells. No bin
    is ever empty, so no RoI is lost whatever its size: one smaller than a cell
    gives that cell's values in every bin. ``mode="align"`` is RoIAlign
    (He et al. 2017): bilinear samples at 2 x 2 points per bin, averaged.

    The max mode gathers each bin's rows (at most ceil(H / pool) + 1 of them),
    takes their maximum, then does the same over columns: memory grows with
    RoIs x pool x (H / pool) x W x C, not with RoIs x pool x H x W x C.
    """

    def __init__(self, pool_size=7, mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "align"):
            raise ValueError(f"RoIPooling mode must be 'max' or 'align', got {mode!r}")
        self.pool_size = int(pool_size)
        self.mode = mode

    def call(self, inputs):
        features, rois = inputs
        features = tf.convert_to_tensor(features)
        rois = tf.cast(rois, tf.float32)
        batch = tf.shape(rois)[0]
        count = tf.shape(rois)[1]
        flat = tf.reshape(rois, [-1, 4])
        owner = tf.repeat(tf.range(batch), count)
        if self.mode == "align":
            pooled = self._align(features, flat, owner)
        else:
            pooled = self._max(features, flat, owner)
        p = self.pool_size
        return tf.reshape(pooled, tf.concat([[batch, count, p, p], tf.shape(features)[-1:]], 0))

    def _align(self, features, rois, owner):
        shape = tf.cast(tf.shape(features)[1:3], tf.float32)
        h, w = shape[0], shape[1]
        # crop_and_resize maps 0 and 1 to the centres of the first and last cells; RoIAlign samples in
        # continuous coordinates where cell k spans [k, k + 1): convert.
        y = (rois[:, 0::2] * h - 0.5) / tf.maximum(h - 1, 1.0)
        x = (rois[:, 1::2] * w - 0.5) / tf.maximum(w - 1, 1.0)
        p = self.pool_size
        # 2 x 2 samples per bin at (i + 0.25, i + 0.75) of the bin: crop_and_resize's 2p points span
        # the box end to end, so shrink the box by a quarter of a sample step at both ends
        step_y = (y[:, 1] - y[:, 0]) / (2 * p)
        step_x = (x[:, 1] - x[:, 0]) / (2 * p)
        boxes = tf.stack([y[:, 0] + 0.5 * step_y, x[:, 0] + 0.5 * step_x,
                          y[:, 1] - 0.5 * step_y, x[:, 1] - 0.5 * step_x], -1)
        crops = tf.image.crop_and_resize(tf.cast(features, tf.float32), boxes, owner, [2 * p, 2 * p])
        pooled = tf.nn.avg_pool2d(crops, 2, 2, "VALID")
        return tf.cast(pooled, features.dtype)

    def _bins(self, start, end, size, static_size):
        """First cell [R, p] of each bin and the cells of each [R, p, K], for RoIs spanning
        [start, end) in 0..1: K is the longest a bin can be (its last cell repeated in shorter
        bins, which leaves their maximum unchanged)."""
        first = tf.floor(start * size)
        last = tf.maximum(tf.math.ceil(end * size), first + 1.0)
        first = tf.clip_by_value(first, 0.0, size - 1.0)
        last = tf.clip_by_value(last, first + 1.0, size)
        first = tf.cast(first, tf.int32)[:, None]
        length = tf.cast(last, tf.int32)[:, None] - first
        p = self.pool_size
        i = tf.range(p)
        # integer arithmetic: floor(i L / p) and ceil((i + 1) L / p) exactly (in float, graph
        # rewrites of x / p can turn 2.0 into 1.9999999)
        lo = first + (i * length) // p
        hi = first + ((i + 1) * length + p - 1) // p
        if static_size is not None:  # a bin spans at most ceil(L / p) + 1 cells of an L-cell RoI
            longest = -(-static_size // self.pool_size) + 1
        else:
            longest = tf.reduce_max(hi - lo)
        return tf.minimum(lo[..., None] + tf.range(longest), hi[..., None] - 1)

    def _max(self, features, rois, owner):
        shape = tf.shape(features)
        rows = self._bins(rois[:, 0], rois[:, 2], tf.cast(shape[1], tf.float32), features.shape[1])  # [R, p, K]
        cols = self._bins(rois[:, 1], rois[:, 3], tf.cast(shape[2], tf.float32), features.shape[2])
        # rows of each bin gathered straight from the RoI's image: [R, p, K, W, C], max over K
        image = tf.broadcast_to(owner[:, None, None], tf.shape(rows))
        by_row = tf.reduce_max(tf.gather_nd(features, tf.stack([image, rows], -1)), axis=2)  # [R, p, W, C]
        # then the columns of each bin: [R, p, p, K, C], max over K
        return tf.reduce_max(tf.gather(by_row, cols, axis=2, batch_dims=1), axis=3)

    def compute_output_shape(self, input_shape):
        features, rois = input_shape
        return (rois[0], rois[1], self.pool_size, self.pool_size, features[-1])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "mode": self.mode}


@keras.saving.register_keras_serializable(package="suite")
class ImagePreprocessing(keras.layers.Layer):
    """Float images in 0..255 to a backbone's input scale, in the graph (so the export takes raw
    pixels): ``"caffe"`` (RGB -> BGR minus the ImageNet means, as ``keras.applications`` VGG16 and
    ResNet weights expect) or ``"tf"`` (-1..1). A layer rather than ``preprocess_input`` because
    the latter is NumPy-or-eager code that keeps no config."""

    MEANS_BGR = (103.939, 116.779, 123.68)

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf"):
            raise ValueError(f"ImagePreprocessing mode must be 'caffe' or 'tf', got {mode!r}")
        self.mode = mode

    def call(self, images):
        x = tf.cast(images, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        return x[..., ::-1] - tf.constant(self.MEANS_BGR, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
