"""Scene-text detection data: the embedded scenes (words in real TrueType fonts over cluttered
backgrounds, with their quadrilaterals and transcriptions), ICDAR 2013/2015 folders, and the
detectors' tf.data pipeline.

A dataset is a ``SceneSet``: example ``i`` is (uint8 image [H, W, 3], word quadrilaterals float32
[K, 4, 2] in its pixels, clockwise from the word's top left, and their transcriptions; ``###``
marks a region that counts nowhere, ICDAR's "do not care").

The embedded scenes draw 1-4 words each (``suite.data.ocr.random_text``: lexicon words, digit
strings, random strings) in the 44 faces of ``suite.data.ocr.fonts``, 9-20% of the image high,
rotated by up to 45 degrees (``oriented``; ``scenes-horizontal``: level), at least a third of
their height apart, in an ink at least 70 grey levels from the background under them, over the
detection scenes' backgrounds (gradients, lines, blobs and 0-2 shapes that are not text), blurred
and noisy: deterministic from the seed and the split.

A folder holds images and ICDAR ground truth ``gt_<image name>.txt`` (2015: 8 coordinates and
the transcription; 2013: ``x1 y1 x2 y2 "text"``) anywhere beneath it, in ``train/`` and ``test/``
(or ``val/``), or alone (every tenth image held out). An image without its ground-truth file, or a
malformed line, is refused naming the file (``--skip-bad-files`` leaves such images out); a word
lying wholly outside its image is skipped and counted (the log reports it); one partly outside is
clipped to the image.
"""
import dataclasses
import math
import os

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE, image_kind
from suite.data.ocr import IMAGE_SUFFIXES, SPLITS, ImageSet, fonts, lexicon, random_text, read_icdar_gt

EMBEDDED = ("scenes", "scenes-horizontal")
DONT_CARE = "###"


@dataclasses.dataclass
class SceneSet(ImageSet):
    """Scenes: ``items`` [(image path, quads [K, 4, 2], texts)], or ``render(i)`` -> (image, quads,
    texts); ``max_words``: the most words an image holds; ``skipped``: the words left out."""

    max_words: int = 4
    skip_reason = "word(s) outside their image"


# ------------------------------------------------------------------ embedded scenes
def _affine(angle, centre, origin):
    """PIL's inverse affine coefficients (scene pixel -> word-mask pixel) and the forward map of a
    rotation by ``angle`` radians (clockwise on screen) taking the mask's ``origin`` to ``centre``."""
    cos, sin = math.cos(angle), math.sin(angle)
    (tx, ty), (cx, cy) = centre, origin
    inverse = (cos, sin, -cos * tx - sin * ty + cx, -sin, cos, sin * tx - cos * ty + cy)

    def forward(points):
        p = np.asarray(points, np.float64) - (cx, cy)
        return np.stack([cos * p[:, 0] - sin * p[:, 1] + tx, sin * p[:, 0] + cos * p[:, 1] + ty], 1)

    return inverse, forward


def render_text_scene(rng, size, faces, words, oriented=True, max_words=4):
    """One embedded scene (see the module docstring): (uint8 [size, size, 3], quads float32 [K, 4, 2],
    texts [K])."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    from suite.data.detection import render_scene

    image, _, _ = render_scene(rng, size, max_objects=2, min_side=0.15, max_side=0.35)
    canvas = image.astype(np.float32)
    quads, texts, taken = [], [], []  # taken: the words' bounds grown by their gap
    for _ in range(int(rng.integers(1, max_words + 1))):
        text = random_text(rng, words)
        font = ImageFont.truetype(faces[int(rng.integers(len(faces)))], max(6, int(rng.uniform(0.09, 0.2) * size)))
        left, top, right, bottom = font.getbbox(text)
        w, h = max(1, right - left), max(1, bottom - top)
        angle = math.radians(rng.uniform(-45, 45)) if oriented else 0.0
        for _attempt in range(30):
            box = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
            inverse, forward = _affine(angle, rng.uniform(0, size, 2), (w / 2, h / 2))
            quad = forward(box)
            low, high = quad.min(0), quad.max(0)
            gap = max(3.0, h / 3)
            if (low < 1).any() or (high > size - 1).any():
                continue
            if any((low - gap < b[1]).all() and (b[0] < high + gap).all() for b in taken):
                continue
            mask = Image.new("L", (w, h), 0)
            ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255)
            alpha = np.asarray(mask.transform((size, size), Image.AFFINE, inverse, Image.BILINEAR), np.float32) / 255
            x0, y0 = (int(v) for v in np.floor(low))
            x1, y1 = (int(v) for v in np.ceil(high))
            under = float(np.dot(canvas[y0:y1, x0:x1].reshape(-1, 3).mean(0), [0.299, 0.587, 0.114]))
            while True:
                ink = rng.uniform(0, 255, 3)
                if abs(float(np.dot(ink, [0.299, 0.587, 0.114])) - under) >= 70:
                    break
            canvas = canvas * (1 - alpha[..., None]) + ink * alpha[..., None]
            quads.append(quad.astype(np.float32))
            texts.append(text)
            taken.append((low, high))
            break
    blurred = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0, 0.8)))
    noisy = np.asarray(blurred, np.float32) + rng.normal(0, rng.uniform(0, 6), (size, size, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8), np.array(quads, np.float32).reshape(-1, 4, 2), texts


def embedded_scenes(count, size=128, seed=0, split="train", oriented=True):
    """``count`` embedded scenes of ``size`` pixels, rendered on demand from (seed, split, index)."""
    faces, words, split_id = fonts(), lexicon(), SPLITS[split]

    def render(i):
        return render_text_scene(np.random.default_rng([seed, 79, split_id, int(i)]), size, faces, words, oriented)

    kind = "multi-oriented" if oriented else "horizontal"
    return SceneSet(count, render=render, source=f"embedded {kind} {split} scenes")


# ------------------------------------------------------------------ folders
def _image_size(path):
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def _scene(image, gt, skipped):
    """(image, quads clipped to it, texts) of one image and its ground truth; words wholly outside are
    added to ``skipped``."""
    image_kind(image)
    width, height = _image_size(image)
    quads, texts = [], []
    for k, word in enumerate(read_icdar_gt(gt), 1):
        p = np.asarray(word.polygon, np.float32)
        if p[:, 0].max() <= 0 or p[:, 1].max() <= 0 or p[:, 0].min() >= width or p[:, 1].min() >= height:
            skipped.append(f"{gt}: word {k} ({word.text!r}) lies outside the {width}x{height} image")
            continue
        quads.append(np.clip(p, 0, [width, height]))
        texts.append(word.text)
    return image, np.array(quads, np.float32).reshape(-1, 4, 2), texts


def _pairs(folder, bad):
    """[(image, ground-truth file)] beneath ``folder``: ``gt_<name>.txt`` for ``<name>.jpg`` and so on."""
    images, truths = [], {}
    for top, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            stem, suffix = os.path.splitext(f)
            if suffix.lower() in IMAGE_SUFFIXES:
                images.append(os.path.join(top, f))
            elif f.startswith("gt_") and suffix.lower() == ".txt":
                truths[stem[3:]] = os.path.join(top, f)

    def pair(image):
        name = os.path.splitext(os.path.basename(image))[0]
        if name not in truths:
            raise DataError(f"{image}: no ground-truth file gt_{name}.txt beneath {folder}")
        return image, truths[name]

    return [p for p in (bad.check(pair, image) for image in images) if p is not None]


def folder_scenes(root, split="train", bad=None):
    """The scenes of an ICDAR folder (see the module docstring) for ``split``."""
    bad = bad or REFUSE
    if not os.path.isdir(root):
        raise DataError(f"{root}: no such folder")
    held = [s for s in ("test", "val", "validation") if os.path.isdir(os.path.join(root, s))]
    if os.path.isdir(os.path.join(root, "train")):
        if not held:
            raise DataError(f"{root}: has train/ but no test/ or val/ folder")
        pairs = _pairs(os.path.join(root, "train" if split == "train" else held[0]), bad)
    else:
        pairs = [p for k, p in enumerate(_pairs(root, bad)) if (k % 10 == 9) == (split != "train")]
    skipped = []
    items = [s for s in (bad.check(_scene, image, gt, skipped) for image, gt in pairs) if s is not None]
    if not items:
        raise DataError(f"{root}: no image with ground truth (gt_<name>.txt) for the {split} split")
    return SceneSet(len(items), items=items, source=f"{root} ({split})", skipped=skipped,
                    max_words=max(1, max(len(t) for _, _, t in items)))


def scene_set(data, split="train", size=128, seed=0, count=None, bad=None):
    """The embedded scenes (``count`` of them, ``size`` pixels) or a folder's (the first ``count``)."""
    if data in EMBEDDED:
        return embedded_scenes(count or 1000, size, seed, split, oriented=data == "scenes")
    if str(data).startswith("tfds:"):
        raise DataError(f"{data}: TFDS has no scene-text detection set; give a folder of images and ICDAR "
                        "gt_<name>.txt files")
    scenes = folder_scenes(os.path.expanduser(data), split, bad)
    if count:
        scenes.items, scenes.length = scenes.items[:count], min(count, len(scenes))
    return scenes


# ------------------------------------------------------------------ pipeline
def padded_words(quads, texts, max_words):
    """(quads float32 [max_words, 4, 2], kinds int32 [max_words]: 1 a word, -1 do not care, 0 padding)."""
    k = min(len(texts), max_words)
    out = np.zeros((max_words, 4, 2), np.float32)
    out[:k] = np.asarray(quads, np.float32).reshape(-1, 4, 2)[:k]
    kinds = np.zeros(max_words, np.int32)
    kinds[:k] = [-1 if t == DONT_CARE else 1 for t in texts[:k]]
    return out, kinds


def fit_scene(image, quads, size):
    """uint8 [H, W, 3] and its quads -> the detector's input (uint8 [size, size, 3], the image
    stretched to it) and the quads in its pixels. TensorFlow ops."""
    import tensorflow as tf

    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    resized = tf.image.resize(tf.cast(image, tf.float32), [size, size], antialias=True)
    scale = tf.stack([size / hw[1], size / hw[0]])
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8), quads * scale


def scene_dataset(scenes, batch_size, size, seed=0, shard=None, start=0):
    """Endless tf.data of {"images": uint8 [B, size, size, 3], "quads": float32 [B, M, 4, 2] in the
    images' pixels, "kinds": int32 [B, M]} (``padded_words``, M = ``scenes.max_words``) in a random
    order from its ``start``-th batch; ``shard`` = (count, index)."""
    import tensorflow as tf

    from suite.data.order import order_dataset

    indices = np.arange(len(scenes))
    if shard is not None:
        indices = indices[shard[1]::shard[0]]
    if not len(indices):
        raise DataError(f"{scenes.source}: no image to train on")
    m = scenes.max_words

    if scenes.render is not None:  # rendered with PIL: a NumPy function, mapped in parallel
        def render(i):
            image, quads, texts = scenes.render(int(i))
            return (image, *padded_words(quads, texts, m))

        def load(i):
            image, quads, kinds = tf.numpy_function(render, [i], (tf.uint8, tf.float32, tf.int32), stateful=False)
            return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(quads, [m, 4, 2]), tf.ensure_shape(kinds, [m])
    else:
        words = [padded_words(q, t, m) for _, q, t in scenes.items]
        paths = tf.constant([p for p, _, _ in scenes.items])
        all_quads, all_kinds = tf.constant(np.stack([w[0] for w in words])), tf.constant(np.stack([w[1] for w in words]))

        def load(i):
            image = tf.io.decode_image(tf.io.read_file(paths[i]), channels=3, expand_animations=False)
            return image, all_quads[i], all_kinds[i]

    def example(i):
        image, quads, kinds = load(i)
        image, quads = fit_scene(image, quads, size)
        return {"images": tf.ensure_shape(image, [size, size, 3]), "quads": quads, "kinds": kinds}

    order = order_dataset(indices, [seed, 83, 0 if shard is None else shard[1]], start * batch_size)
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
