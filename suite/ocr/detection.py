"""Text detection's evaluation (the ICDAR 2015 protocol, drawn detections) and serving signatures;
both go through ``detect_words``, so what TensorBoard shows is what the export answers.

A detector task has ``config.image_size`` and ``detect(float images [N, S, S, 3]) -> (polygons
[N, K, 4, 2] in input pixels, scores [N, K], counts [N])`` (``suite.ocr.pixellink.PixelLink``).
"""
import numpy as np
import tensorflow as tf

from suite.data.images import decode_images
from suite.export import answer_empty_batch
from suite.ocr import metrics
from suite.training.evaluator import Evaluator


def best_words(corners, scores, keep, max_words):
    """The kept words of one image, the best scored first, padded: (polygons [max_words, 4, 2], scores
    [max_words], count); what every detector's decoding ends with."""
    corners, scores = tf.boolean_mask(corners, keep), tf.boolean_mask(scores, keep)
    order = tf.argsort(scores, direction="DESCENDING")[:max_words]
    corners, scores = tf.gather(corners, order), tf.gather(scores, order)
    count = tf.shape(scores)[0]
    pad = max_words - count
    return tf.pad(corners, [[0, pad], [0, 0], [0, 0]]), tf.pad(scores, [[0, pad]]), count


def model_input(images, size):
    """uint8 images [N, H, W, 3] stretched to the detector's ``size`` x ``size``, float 0..255."""
    return tf.clip_by_value(tf.image.resize(tf.cast(images, tf.float32), [size, size], antialias=True), 0.0, 255.0)


def to_image_pixels(polygons, sizes, size):
    """Polygons [N, K, 4, 2] in input pixels -> in each image's own: ``sizes`` int32 [N, 2] (H, W)."""
    scale = tf.cast(tf.reverse(sizes, [1]), tf.float32) / size  # (W, H) / S
    return polygons * scale[:, None, None, :]


def detect_words(model, images):
    """uint8 images [N, H, W, 3] (one size) -> (polygons [N, K, 4, 2] in their pixels, scores [N, K],
    counts [N])."""
    size = model.config.image_size
    polygons, scores, counts = model.detect(model_input(images, size))
    sizes = tf.tile(tf.shape(images)[None, 1:3], [tf.shape(images)[0], 1])
    return to_image_pixels(polygons, sizes, size), scores, counts


def draw(image, truth, detected, texts=False):
    """The image with ground-truth polygons in green (do-not-care in grey) and detections in red; with
    ``texts``, each detection's word written in red at its polygon's top and each truth's in green at its
    bottom."""
    from PIL import Image, ImageDraw

    scale = max(1, 256 // max(image.shape[:2]))
    im = Image.fromarray(image).resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    pen = ImageDraw.Draw(im)
    for words, colour, grey in ((truth, (0, 255, 0), (160, 160, 160)), (detected, (255, 0, 0), None)):
        for word in words:
            corners = np.asarray(word.polygon) * scale
            pen.polygon([tuple(p) for p in corners], outline=grey if grey and word.dont_care else colour)
            if texts and word.text and not word.dont_care:
                x, y = corners[:, 0].min(), corners[:, 1].min() - 11 if grey is None else corners[:, 1].max() + 1
                pen.text((float(x), float(max(0, y))), word.text, fill=colour)
    return np.asarray(im)


class DetectionEvaluator(Evaluator):
    """At the end of every epoch (chief only): precision, recall and F of the ICDAR 2015 protocol on
    held-out scenes [(image, quads, texts)], the mean words found per image, and ``samples`` scenes
    drawn with their truth (green) and detections (red) in TensorBoard."""

    def __init__(self, model, examples, samples=4, batch=32):
        super().__init__()
        self.model, self.examples, self.samples, self.batch = model, examples, samples, batch
        self.truths = [[metrics.Word(q, t) for q, t in zip(quads, texts)] for _, quads, texts in examples]

    def detections(self):
        """[[Word]] per example (batches of consecutive examples of one size)."""
        if getattr(self, "_fn", None) is None:
            self._fn = tf.function(lambda images: detect_words(self.model, images), reduce_retracing=True)
        out, i = [], 0
        while i < len(self.examples):
            shape = self.examples[i][0].shape
            j = i
            while j < len(self.examples) and j - i < self.batch and self.examples[j][0].shape == shape:
                j += 1
            polygons, _, counts = self._fn(tf.constant(np.stack([e[0] for e in self.examples[i:j]])))
            out += [[metrics.Word(p) for p in ps[:n]] for ps, n in zip(polygons.numpy(), counts.numpy())]
            i = j
        return out

    def evaluate(self):
        detected = self.detections()
        scores = metrics.evaluate(self.truths, detected)
        scores["words_per_image"] = float(np.mean([len(d) for d in detected]))
        drawn = [draw(e[0], t, d) for e, t, d in zip(self.examples, self.truths, detected)][:self.samples]
        return scores, drawn

    def log_media(self, drawn, step):
        for k, image in enumerate(drawn):
            tf.summary.image(f"eval/detections (truth green, detected red)/{k}", image[None], step=step)

    def describe(self, scores):
        return (f"F {scores['f']:.3f}  precision {scores['precision']:.3f}  recall {scores['recall']:.3f}  "
                f"{scores['words_per_image']:.2f} words per image")


def serving_endpoints(model):
    """``serving_default``: ``images`` uint8 [N, H, W, 3] (one size, any size) and ``image_bytes``:
    string [N] (JPEG, PNG, GIF or BMP, each of its own size; an element that is no image is refused
    naming it) -> ``polygons`` float32 [N, K, 4, 2] (x, y in each image's own pixels, clockwise from
    the word's top left), ``scores`` float32 [N, K] (the highest first), ``num_words`` int32 [N]
    (entries beyond it are zeros). A batch of none gets empty outputs."""
    size = model.config.image_size

    def outputs(polygons, scores, counts):
        return {"polygons": polygons, "scores": scores, "num_words": counts}

    @tf.function
    def serve(images):
        return answer_empty_batch(lambda x: outputs(*detect_words(model, x)), images)

    def from_input(x, sizes):
        polygons, scores, counts = model.detect(x)
        return outputs(to_image_pixels(polygons, sizes, size), scores, counts)

    @tf.function
    def serve_bytes(image_bytes):
        x, sizes = decode_images(image_bytes, lambda image: model_input(image, size))
        return answer_empty_batch(from_input, x, sizes)

    return {"serving_default": (serve, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
            "image_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])}
