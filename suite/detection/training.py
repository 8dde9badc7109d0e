"""Evaluation, TensorBoard images and serving of the detectors (Faster R-CNN and YOLO alike).

A detector is a ``suite.training.task.SupervisedTask`` with ``config``
(image_size, num_classes), ``networks()`` (the functional models it is made
of) and ``detect(images)`` -> the Object Detection API's dict with 0-based classes.
"""
import numpy as np
import tensorflow as tf

from suite.detection.metrics import class_average_precision, detection_scores, precision_recall_curves
from suite.data.images import decode_images
from suite.export import answer_empty_batch
from suite.training.evaluator import Evaluator


def detections_of(detector, images, batch_size=32, proposals=None, extents=None):
    """Runs ``detector.detect`` over uint8 images [N, S, S, 3] (and, for Fast R-CNN, their
    ``proposals`` [N, P, 4]; kept in their aspect, their ``extents`` [N, 2]); one dict per image
    (boxes, scores, classes 0-based) cut at its number of detections."""
    fn = getattr(detector, "_detect_fn", None)
    if fn is None:
        fn = detector._detect_fn = tf.function(detector.detect, reduce_retracing=True)
    out = []
    for s in range(0, len(images), batch_size):
        inputs = [x[s:s + batch_size] for x in (images, proposals, extents) if x is not None]
        pad = batch_size - len(inputs[0])  # one traced shape for every batch
        result = fn(*[np.concatenate([x, np.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x for x in inputs])
        result = {k: v.numpy() for k, v in result.items()}
        for i in range(len(inputs[0])):
            n = int(result["num_detections"][i])
            out.append({"boxes": result["detection_boxes"][i, :n], "scores": result["detection_scores"][i, :n],
                        "classes": result["detection_classes"][i, :n].astype(np.int32)})
    return out


def evaluate(detector, images, truths, num_classes, proposals=None, extents=None):
    """VOC mAP@0.5 (11-point ``mAP50_voc07`` and all-point ``mAP50``) and COCO ``mAP_coco`` over
    held-out images (Fast R-CNN: with their ``proposals``; their ``extents`` when kept in their
    aspect); returns (scores, detections)."""
    detections = detections_of(detector, images, proposals=proposals, extents=extents)
    return detection_scores(detections, truths, num_classes), detections


def drawn_boxes(images, truths, detections, class_names, min_score=0.5, scale=2):
    """uint8 images [N, H*scale, W*scale, 3] with the ground truth in green and the detections scoring >=
    ``min_score`` in red, each labelled (truths with their class name at the top left, detections with
    theirs and the score at the bottom left), for TensorBoard's image dashboard."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    out = []
    for image, truth, found in zip(np.asarray(images, np.uint8), truths, detections):
        h, w = image.shape[0] * scale, image.shape[1] * scale
        canvas = Image.fromarray(image).resize((w, h), Image.NEAREST)
        draw = ImageDraw.Draw(canvas)

        def box(corners, colour, text, top):
            y0, x0, y1, x1 = (np.asarray(corners, np.float64) * [h, w, h, w]).tolist()
            draw.rectangle([x0, y0, x1, y1], outline=colour)
            width = draw.textlength(text, font=font) + 2
            band = [x0, y0, x0 + width, y0 + 11] if top else [x0, y1 - 11, x0 + width, y1]
            draw.rectangle(band, fill=colour)
            draw.text((band[0] + 1, band[1]), text, fill=(0, 0, 0), font=font)

        for corners, c in zip(np.reshape(truth["boxes"], (-1, 4)), np.reshape(truth["classes"], -1)):
            box(corners, (40, 220, 40), str(class_names[int(c)]), top=True)
        for corners, c, score in zip(found["boxes"], found["classes"], found["scores"]):
            if score >= min_score:
                box(corners, (235, 50, 50), f"{class_names[int(c)]} {score:.2f}", top=False)
        out.append(np.asarray(canvas))
    return np.stack(out)


def log_precision_recall(detections, truths, class_names, step, num_thresholds=101):
    """Each class's AP at IoU 0.5 (``eval/AP50/<class>``) and its precision-recall curve
    (``eval/pr_curve/<class>/pr_curves``, TensorBoard's PR-curve plugin) in the default writer."""
    from tensorboard.plugins.pr_curve import summary as pr_curve

    aps = class_average_precision(detections, truths, len(class_names), 0.5, "all")
    for c, ap in aps.items():
        tf.summary.scalar(f"eval/AP50/{class_names[c]}", ap, step=step)
    curves = precision_recall_curves(detections, truths, len(class_names), 0.5, num_thresholds)
    for c, k in curves.items():
        summary = pr_curve.raw_data_pb(f"eval/pr_curve/{class_names[c]}", k["tp"], k["fp"], k["tn"], k["fn"],
                                       k["precision"], k["recall"], num_thresholds,
                                       description="precision and recall at score thresholds 0..1, IoU 0.5")
        tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)


class DetectionEvaluator(Evaluator):
    """At the end of every epoch (on the chief): the mAPs over the held-out images as scalars
    (``eval/...``), each class's AP and precision-recall curve, and, as an image, the first ``show``
    held-out images with their ground truth (green) and detections (red), labelled."""

    def __init__(self, detector, images, truths, class_names, show=8, proposals=None, extents=None):
        super().__init__()
        self.detector = detector
        self.images = images
        self.truths = truths
        self.class_names = list(class_names)
        self.show = show
        self.proposals = proposals
        self.extents = extents

    def evaluate(self):
        return evaluate(self.detector, self.images, self.truths, len(self.class_names), self.proposals, self.extents)

    def log_media(self, detections, step):
        n = min(self.show, len(self.images))
        tf.summary.image("eval/boxes (green: truth, red: detected)",
                         drawn_boxes(self.images[:n], self.truths[:n], detections[:n], self.class_names),
                         max_outputs=n)
        log_precision_recall(detections, self.truths, self.class_names, step)


def serving_endpoints(detector, class_names, proposals=False):
    """``serving_default``: uint8 images [N, H, W, 3] of any size (resized in the graph to the
    model's input) -> the TensorFlow Object Detection API's outputs: ``detection_boxes`` [N, D, 4]
    (normalised ymin, xmin, ymax, xmax: the same for the original image, since the resize
    stretches), ``detection_scores`` [N, D], ``detection_classes`` [N, D] (float, 1-based: index
    into the class list + 1), ``num_detections`` [N] (float); plus ``detection_class_names``
    [N, D] strings. ``image_bytes``: ``image_bytes`` string [N] of encoded images (JPEG, PNG, GIF
    or BMP; grey, RGB or RGBA; a different size each) -> the same, and ``detection_boxes_pixels``
    [N, D, 4] in each image's own pixels. A batch of none gets empty outputs.

    With ``proposals`` (Fast R-CNN), each signature also takes the images' proposals:
    ``proposals`` float [N, P, 4] normalised (ymin, xmin, ymax, xmax) beside ``images``, and
    ``proposals_pixels`` float [N, P, 4] (x1, y1, x2, y2 in each image's pixels, as selective
    search gives them) beside ``image_bytes``; rows without area are padding.

    A detector whose config keeps the images' aspect (``fit``) resizes each as its training did
    (``suite.data.detection.fit_image``: shorter side to min_side, longer at most max_side, at the top
    left of the padded square) and answers in each image's own coordinates all the same."""
    c = detector.config
    size, fit = c.image_size, getattr(c, "fit", None)
    names = tf.constant([str(n) for n in class_names])

    def resized(images):  # [N, H, W, 3] -> the model's square: stretched, or fitted at the top left
        x = tf.cast(images, tf.float32)
        if fit:
            hw = fitted_size(tf.shape(x)[1:3])
            x = tf.image.pad_to_bounding_box(tf.image.resize(x, hw, antialias=True), 0, 0, size, size)
        else:
            x = tf.image.resize(x, [size, size], antialias=True)
        return tf.clip_by_value(x, 0.0, 255.0)

    def fitted_size(hw):  # suite.data.detection.fitted_size in the graph
        h, w = tf.cast(hw[0], tf.float32), tf.cast(hw[1], tf.float32)
        scale = tf.minimum(fit[0] / tf.minimum(h, w), fit[1] / tf.maximum(h, w))
        return tf.maximum(tf.cast(tf.floor(tf.stack([h, w]) * scale + 0.5), tf.int32), 1)

    def extents_of(sizes):  # [N, 2] (H, W) -> each image's extent in the square, or None when stretched
        if not fit:
            return None
        return tf.cast(tf.map_fn(fitted_size, sizes), tf.float32) / size

    def detect(x, sizes, given=None):
        extents = extents_of(sizes)
        if given is not None and extents is not None:  # proposals normalised by the image -> by the square
            given = given * tf.tile(extents, [1, 2])[:, None, :]
        out = detector.detect(x, *[t for t in (given, extents) if t is not None])
        boxes = out["detection_boxes"]
        if extents is not None:  # normalised by the square -> by the image
            boxes = tf.clip_by_value(boxes / tf.tile(extents, [1, 2])[:, None, :], 0.0, 1.0)
        classes = tf.cast(out["detection_classes"], tf.int32)
        return {"detection_boxes": boxes, "detection_scores": out["detection_scores"],
                "detection_classes": tf.cast(classes + 1, tf.float32), "num_detections": out["num_detections"],
                "detection_class_names": tf.gather(names, classes)}

    def same_sizes(images):  # [N, 2]: every image of a uint8 batch has the batch's size
        return tf.tile(tf.shape(images)[None, 1:3], [tf.shape(images)[0], 1])

    def pixels_of(sizes):  # (H, W, H, W) per image
        return tf.cast(tf.tile(sizes, [1, 2]), tf.float32)[:, tf.newaxis, :]

    def one_per_image(given, name, images, what):
        check = tf.debugging.assert_equal(tf.shape(given)[0], tf.shape(images)[0], message=(
            f"{name} must have one row of proposals per image (its first dimension is the {what}'s)"))
        with tf.control_dependencies([check]):
            return tf.identity(given)

    if not proposals:
        @tf.function
        def serve(images):
            return answer_empty_batch(lambda x: detect(resized(x), same_sizes(x)), images)

        @tf.function
        def serve_bytes(image_bytes):
            x, sizes = decode_images(image_bytes, resized)
            out = answer_empty_batch(detect, x, sizes)
            return {**out, "detection_boxes_pixels": out["detection_boxes"] * pixels_of(sizes)}

        return {"serving_default": (serve, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
                "image_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])}

    @tf.function
    def serve_given(images, proposals):
        proposals = one_per_image(proposals, "proposals", images, "images")
        return answer_empty_batch(lambda x, p: detect(resized(x), same_sizes(x), p), images, proposals)

    @tf.function
    def serve_bytes_given(image_bytes, proposals_pixels):
        proposals_pixels = one_per_image(proposals_pixels, "proposals_pixels", image_bytes, "image_bytes")
        x, sizes = decode_images(image_bytes, resized)
        xyxy = proposals_pixels / tf.cast(tf.tile(sizes[:, ::-1], [1, 2]), tf.float32)[:, tf.newaxis, :]
        out = answer_empty_batch(detect, x, sizes, tf.gather(xyxy, [1, 0, 3, 2], axis=-1))
        return {**out, "detection_boxes_pixels": out["detection_boxes"] * pixels_of(sizes)}

    boxes = tf.TensorSpec([None, None, 4], tf.float32, name="proposals")
    return {"serving_default": (serve_given, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images"), boxes]),
            "image_bytes": (serve_bytes_given, [tf.TensorSpec([None], tf.string, name="image_bytes"),
                                                tf.TensorSpec([None, None, 4], tf.float32, name="proposals_pixels")])}
