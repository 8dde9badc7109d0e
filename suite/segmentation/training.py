"""Segmentation's evaluation (mIoU, per-class IoU, pixel accuracy, drawn predictions, the confusion
matrix) and its serving signatures; both predict through ``segment``, so what TensorBoard shows is
what the export answers."""
import numpy as np
import tensorflow as tf

from suite.data.images import decode_images
from suite.data.segmentation import voc_palette
from suite.export import answer_empty_batch
from suite.segmentation import metrics
from suite.segmentation.crf import dense_crf
from suite.segmentation.models import network_at, predict_probabilities
from suite.training.evaluator import Evaluator, heatmap_image


def model_input(images, size):
    """uint8 images [N, H, W, 3] resized to the model's ``size`` x ``size`` input, float 0..255."""
    return tf.clip_by_value(tf.image.resize(tf.cast(images, tf.float32), [size, size], antialias=True), 0.0, 255.0)


def predict_at_input(net, x, scales=(1.0,), flip=False, crf=None):
    """Class probabilities of model inputs ``x`` (``scales``, ``flip``: multi-scale and mirrored
    inference), refined by the fully connected CRF when ``crf`` (CRFParams) is given."""
    probs = predict_probabilities(net, x, scales, flip)
    return dense_crf(probs, x, crf) if crf is not None else probs


def segment(net, images, size, scales=(1.0,), flip=False, crf=None):
    """uint8 images [N, H, W, 3] -> class probabilities [N, H, W, C]: resized to the model's
    ``size`` x ``size`` input (as it was trained), predicted (``predict_at_input``), resized back
    to H x W."""
    return tf.image.resize(predict_at_input(net, model_input(images, size), scales, flip, crf), tf.shape(images)[1:3])


class SegmentationEvaluator(Evaluator):
    """mIoU, per-class IoU and pixel accuracy on held-out (image, mask) pairs, at ``output_stride``
    (None: the training one), with ``scales``/``flip`` inference; with ``crf`` (CRFParams) also the
    mIoU and pixel accuracy after the fully connected CRF (``crf/...``). Draws ``draw`` examples
    (image, truth, prediction, and the CRF's) and the row-normalised confusion matrix, with a text
    table of it."""

    def __init__(self, model, examples, class_names, output_stride=None, scales=(1.0,), flip=False, crf=None,
                 draw=4, batch=32):
        super().__init__()
        self.model, self.examples, self.class_names = model, examples, list(class_names)
        self.output_stride, self.scales, self.flip, self.crf = output_stride, scales, flip, crf
        self.draw, self.batch = draw, batch
        self.palette = voc_palette()

    def _predict(self):
        """The traced prediction, made once: the model's network, or one at the evaluation output
        stride that takes its weights anew at each evaluation."""
        c = self.model.config
        if getattr(self, "_fn", None) is None:
            net = self._net = network_at(self.model.net, c, self.output_stride or c.output_stride)

            def predict(images):  # (the prediction, the CRF's) at the images' size
                x, size = model_input(images, c.image_size), tf.shape(images)[1:3]
                probs = predict_probabilities(net, x, self.scales, self.flip)
                refined = dense_crf(probs, x, self.crf) if self.crf is not None else probs
                return tuple(tf.argmax(tf.image.resize(p, size), -1, output_type=tf.int32) for p in (probs, refined))

            self._fn = tf.function(predict, reduce_retracing=True)
        elif self._net is not self.model.net:
            self._net.set_weights(self.model.net.get_weights())
        return self._fn

    def predictions(self):
        """([prediction uint8 [H, W]], [the CRF's]) per example."""
        fn, plain, refined, i = self._predict(), [], [], 0
        while i < len(self.examples):  # batches of consecutive examples of one size
            shape = self.examples[i][0].shape
            j = i
            while j < len(self.examples) and j - i < self.batch and self.examples[j][0].shape == shape:
                j += 1
            a, b = fn(np.stack([e[0] for e in self.examples[i:j]]))
            plain.extend(a.numpy().astype(np.uint8))
            refined.extend(b.numpy().astype(np.uint8))
            i = j
        return plain, refined

    def confusion(self, predicted):
        n = len(self.class_names)
        return sum(metrics.confusion_matrix(m, p, n) for (_, m), p in zip(self.examples, predicted))

    def evaluate(self):
        predicted, refined = self.predictions()
        confusion = self.confusion(predicted)
        scores = metrics.scores(confusion, self.class_names)
        panels = [predicted] + ([refined] if self.crf is not None else [])
        if self.crf is not None:
            crf_scores = metrics.scores(self.confusion(refined), self.class_names)
            scores["crf"] = {k: crf_scores[k] for k in ("mIoU", "pixel_accuracy")}
        drawn = [np.concatenate([image, self.palette[mask], *(self.palette[p[k]] for p in panels)], 1)
                 for k, (image, mask) in enumerate(self.examples[:self.draw])]
        return scores, {"drawn": drawn, "confusion": confusion}

    def log_media(self, media, step):
        for k, image in enumerate(media["drawn"]):
            tf.summary.image(f"eval/segmentation (image, truth, prediction)/{k}", image[None], step=step)
        confusion = media["confusion"].astype(np.float64)
        rows = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
        tf.summary.image("eval/confusion (rows: truth, columns: prediction)", heatmap_image(rows)[None], step=step)
        header = "| truth \\ predicted | " + " | ".join(self.class_names) + " |"
        lines = [header, "|" + "---|" * (len(self.class_names) + 1)]
        lines += [f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for name, row in zip(self.class_names, rows)]
        tf.summary.text("eval/confusion", "\n".join(lines), step=step)

    def describe(self, scores):
        worst = min(scores["IoU"].items(), key=lambda kv: kv[1]) if scores["IoU"] else ("-", 0.0)
        crf = f"  with CRF: mIoU {scores['crf']['mIoU']:.3f}" if "crf" in scores else ""
        return f"mIoU {scores['mIoU']:.3f}  pixel accuracy {scores['pixel_accuracy']:.3f}  " \
               f"lowest IoU {worst[0]} {worst[1]:.3f}{crf}"


def serving_endpoints(model, class_names, output_stride=None, scales=(1.0,), flip=False, crf=None):
    """``serving_default``: ``images`` uint8 [N, H, W, 3] of any size -> ``class_map`` uint8 [N, H, W]
    (at the input's own size), ``probabilities`` float32 [N, H, W, C], ``class_map_png`` string [N]
    (the map in VOC's palette, PNG), ``class_names`` string [N, C]. ``image_bytes``: ``image_bytes``
    string [N] of encoded images (JPEG, PNG, GIF or BMP; a different size each) -> the same, each
    image's map at its own size, padded to the batch's largest (class 255, probability 0 outside it),
    and ``image_sizes`` int32 [N, 2] (height, width). A batch of none gets empty outputs. With ``crf``
    (CRFParams) the probabilities are the fully connected CRF's, at the model's input size."""
    c = model.config
    net = network_at(model.net, c, output_stride or c.output_stride)
    names = tf.constant([str(n) for n in class_names])
    palette = tf.constant(voc_palette())

    def png(class_map):
        return tf.map_fn(lambda m: tf.io.encode_png(tf.gather(palette, tf.cast(m, tf.int32))), class_map,
                         fn_output_signature=tf.string)

    def outputs(probs):
        class_map = tf.cast(tf.argmax(probs, -1), tf.uint8)
        return {"class_map": class_map, "probabilities": probs, "class_map_png": png(class_map),
                "class_names": tf.tile(names[tf.newaxis], [tf.shape(probs)[0], 1])}

    @tf.function
    def serve(images):
        return answer_empty_batch(lambda x: outputs(segment(net, x, c.image_size, scales, flip, crf)), images)

    def resized(images):  # the model's input, as ``segment`` makes it
        return model_input(images, c.image_size)

    def from_bytes(x, sizes):
        probs = predict_at_input(net, x, scales, flip, crf)
        top = tf.maximum(tf.reduce_max(sizes, 0), 1)  # (a batch of none stands in as one blank image)

        def one(args):
            p, size = args
            size = tf.maximum(size, 1)  # the blank stand-in of an empty batch
            p = tf.image.resize(p[tf.newaxis], size)[0]
            class_map = tf.cast(tf.argmax(p, -1), tf.uint8)
            image_png = tf.io.encode_png(tf.gather(palette, tf.cast(class_map, tf.int32)))
            pad = [[0, top[0] - size[0]], [0, top[1] - size[1]]]
            return (tf.pad(class_map, pad, constant_values=255), tf.pad(p, [*pad, [0, 0]]), image_png)

        class_map, padded, pngs = tf.map_fn(one, (probs, sizes), fn_output_signature=(
            tf.TensorSpec([None, None], tf.uint8), tf.TensorSpec([None, None, c.num_classes], tf.float32),
            tf.TensorSpec([], tf.string)))
        return {"class_map": class_map, "probabilities": padded, "class_map_png": pngs, "image_sizes": sizes,
                "class_names": tf.tile(names[tf.newaxis], [tf.shape(probs)[0], 1])}

    @tf.function
    def serve_bytes(image_bytes):
        x, sizes = decode_images(image_bytes, resized)
        return answer_empty_batch(from_bytes, x, sizes)

    return {"serving_default": (serve, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
            "image_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])}
