"""Reading scene text end to end, from a detector's export and a recognizer's: detect, crop and
rectify each word, read it; one SavedModel, TensorFlow ops only.

Each detected word's quadrilateral (clockwise from its top left) is cut out by a projective
transform in the graph (``tf.raw_ops.ImageProjectiveTransformV3``: the rotated word comes out
upright, at its own height and length in pixels, a tenth of its height added around it), encoded as PNG and read by the recognizer's
``image_bytes`` signature, which fits every crop as it was trained. The composed export answers
``images`` uint8 [N, H, W, 3] and ``image_bytes`` string [N] with ``polygons`` [N, K, 4, 2] (each
image's pixels), ``scores`` [N, K], ``texts`` string [N, K] ('' beyond ``num_words``),
``text_log_probability`` [N, K] and ``num_words`` [N].
"""
import sys

import tensorflow as tf

from suite.data.errors import DataError
from suite.data.images import checked_image_bytes

MAX_CROP = 512  # a crop's longest side in pixels (a longer word is read from a shrunken crop)
# each side of a crop gets a tenth of the word's height around it, as the recognizer's training crops have
# (up to a fifth): end-to-end F 0.222 -> 0.268 on the tests' tiny exports (0.2: 0.231, 0.3: 0.152)
MARGIN = 0.1


def rectify_transform(quad, height, width):
    """The 8 projective coefficients mapping a [height, width] output crop onto the parallelogram of
    ``quad`` [4, 2] (TL, TR, BR, BL, x y in pixel-edge coordinates): output pixel centres land at
    the matching points of the word (TF's transforms take input pixel-centre indices)."""
    tl, tr, bl = quad[0], quad[1], quad[3]
    across, down = (tr - tl) / tf.cast(width, tf.float32), (bl - tl) / tf.cast(height, tf.float32)
    origin = tl + 0.5 * (across + down) - 0.5
    return tf.stack([across[0], down[0], origin[0], across[1], down[1], origin[1], 0.0, 0.0])


def widened(quad, margin):
    """``quad`` [4, 2] (a parallelogram: TL, TR, BR, BL) grown on every side by ``margin`` x its height."""
    across, down = quad[1] - quad[0], quad[3] - quad[0]
    grow = margin * tf.norm(down)
    u = across / tf.maximum(tf.norm(across), 1e-6) * grow
    v = down / tf.maximum(tf.norm(down), 1e-6) * grow
    return tf.stack([quad[0] - u - v, quad[1] + u - v, quad[2] + u + v, quad[3] - u + v])


def crop_word(image, quad, margin=0.0):
    """uint8 [H, W, 3] and a word's quad -> the word upright, uint8 [h, w, 3]: h and w its side
    lengths in pixels (at least 2, at most ``MAX_CROP``), with ``margin`` x its height around it."""
    quad = widened(quad, margin) if margin else quad
    length = tf.norm(quad[1] - quad[0])
    height = tf.norm(quad[3] - quad[0])
    scale = tf.minimum(1.0, MAX_CROP / tf.maximum(tf.maximum(length, height), 1.0))
    h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), 2)
    w = tf.maximum(tf.cast(tf.round(length * scale), tf.int32), 2)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None], transforms=rectify_transform(quad, h, w)[None],
        output_shape=tf.stack([h, w]), fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    return tf.cast(tf.clip_by_value(tf.round(out[0]), 0, 255), tf.uint8)


def encoded_crops(image, polygons, count):
    """One image's words as PNG strings [K] ('' beyond ``count``)."""
    k = tf.shape(polygons)[0]
    return tf.map_fn(lambda i: tf.cond(i < count, lambda: tf.io.encode_png(crop_word(image, polygons[i], MARGIN)),
                                       lambda: tf.constant("")), tf.range(k), fn_output_signature=tf.string)


def _check(model, path, signature, inputs, outputs, what):
    if signature not in model.signatures:
        raise DataError(f"{path}: not a {what} export (no '{signature}' signature; it has "
                        f"{', '.join(sorted(model.signatures)) or 'none'})")
    fn = model.signatures[signature]
    have_in, have_out = set(fn.structured_input_signature[1]), set(fn.structured_outputs)
    if not set(inputs) <= have_in or not set(outputs) <= have_out:
        raise DataError(f"{path}: not a {what} export (its '{signature}' signature takes {sorted(have_in)} and "
                        f"gives {sorted(have_out)}; a {what} takes {list(inputs)} and gives {list(outputs)})")


class SceneReader(tf.Module):
    """The detector and recognizer exports (SavedModel paths), composed (see the module docstring)."""

    def __init__(self, detector, recognizer):
        super().__init__(name="scene_reader")
        self.detector, self.recognizer = tf.saved_model.load(detector), tf.saved_model.load(recognizer)
        for sig in ("serving_default", "image_bytes"):
            _check(self.detector, detector, sig, [] if sig == "serving_default" else ["image_bytes"],
                   ["polygons", "scores", "num_words"], "text detector")
        _check(self.recognizer, recognizer, "image_bytes", ["image_bytes"], ["words", "log_probability"],
               "text recognizer")

    def _read(self, found, crops_of):
        polygons, counts = found["polygons"], found["num_words"]
        crops = crops_of(polygons, counts)  # string [N, K]
        k = tf.shape(polygons)[1]
        valid = tf.range(k)[None] < counts[:, None]
        where = tf.where(valid)
        chosen = tf.gather_nd(crops, where)
        read = self.recognizer.signatures["image_bytes"](image_bytes=chosen)
        shape = tf.shape(valid, out_type=tf.int64)
        texts = tf.tensor_scatter_nd_update(tf.fill(shape, ""), where, read["words"])
        log_prob = tf.tensor_scatter_nd_update(tf.zeros(shape), where, read["log_probability"])
        return {"polygons": polygons, "scores": found["scores"], "num_words": counts, "texts": texts,
                "text_log_probability": log_prob}

    def read_images(self, images):
        """uint8 [N, H, W, 3] -> the words (see the module docstring)."""
        found = self.detector.signatures["serving_default"](images=images)
        return self._read(found, lambda polygons, counts: tf.map_fn(
            lambda a: encoded_crops(a[0], a[1], a[2]), (images, polygons, counts), fn_output_signature=tf.string))

    def read_bytes(self, image_bytes):
        """string [N] of JPEG, PNG, GIF or BMP images -> the words, in each image's pixels."""
        image_bytes = checked_image_bytes(image_bytes)  # the crops decode it too, beside the detector
        found = self.detector.signatures["image_bytes"](image_bytes=image_bytes)

        def crops(polygons, counts):
            def one(a):
                image = tf.io.decode_image(a[0], channels=3, expand_animations=False)
                return encoded_crops(image, a[1], a[2])

            return tf.map_fn(one, (image_bytes, polygons, counts), fn_output_signature=tf.string)

        return self._read(found, crops)

    def endpoints(self):
        return {"serving_default": (tf.function(self.read_images),
                                    [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
                "image_bytes": (tf.function(self.read_bytes), [tf.TensorSpec([None], tf.string, name="image_bytes")])}


def measure(reader, scenes, batch=16, logdir=None, samples=4, progress=False):
    """{"detection": P/R/F, "end_to_end": P/R/F, "words_per_image"} of a ``SceneReader`` on scenes
    [(image, quads, texts)], sent as PNG bytes; with ``logdir``, the scores as TensorBoard scalars
    (``eval/...``) and ``samples`` scenes drawn with their words, truth in green and read in red
    (``eval/read``), and a table of the words read (``eval/words``); ``progress``: a bar on stderr."""
    import numpy as np
    from tqdm import tqdm

    from suite.ocr.metrics import Word, evaluate

    truths = [[Word(q, t) for q, t in zip(quads, texts)] for _, quads, texts in scenes]
    found = []
    starts = range(0, len(scenes), batch)
    for s in tqdm(starts, desc="reading held-out scenes", unit="batch", disable=not progress, file=sys.stderr):
        encoded = tf.constant([tf.io.encode_png(image).numpy() for image, _, _ in scenes[s:s + batch]])
        out = {k: v.numpy() for k, v in reader.read_bytes(encoded).items()}
        found += [[Word(p, t.decode()) for p, t in zip(out["polygons"][i][:n], out["texts"][i][:n])]
                  for i, n in enumerate(out["num_words"])]
    scores = {"detection": evaluate(truths, found), "end_to_end": evaluate(truths, found, end_to_end=True),
              "words_per_image": float(np.mean([len(f) for f in found]))}
    if logdir:
        log_reads(logdir, scores, scenes[:samples], truths, found)
    return scores


def log_reads(logdir, scores, scenes, truths, found):
    """The measured composition in TensorBoard at step 0: scores, scenes drawn with the words read."""
    from suite.ocr.detection import draw
    from suite.training.evaluator import flatten

    with tf.summary.create_file_writer(logdir).as_default(step=0):
        for tag, value in flatten(scores, "eval").items():
            tf.summary.scalar(tag, value)
        rows = []
        for k, ((image, _, _), truth, read) in enumerate(zip(scenes, truths, found)):
            tf.summary.image(f"eval/read (truth green, read red)/{k}", draw(image, truth, read, texts=True)[None])
            rows.append(f"| {k} | {', '.join(w.text for w in truth)} | {', '.join(w.text for w in read)} |")
        tf.summary.text("eval/words", "| scene | truth | read |\n|---|---|---|\n" + "\n".join(rows))


def write_export(reader, name, export_dir, version, image):
    """``reader``'s SavedModel at ``export_dir/name/<version>`` (written whole, then renamed into place),
    with TF Serving warm-up requests of ``image`` (uint8 [H, W, 3]) for both signatures; its path."""
    from suite.export import export_saved_model

    warmup = {"serving_default": [image[None]], "image_bytes": [[tf.io.encode_png(image).numpy()]]}
    return export_saved_model(name, export_dir, reader.endpoints(), [reader], version, warmup)
