"""Scene-text recognition data: the embedded word crops (real TrueType fonts), cropped-word folders
with a label list, and the recognizer's tf.data pipeline.

A dataset is a ``WordSet``: example ``i`` is (uint8 image [H, W, 3] of any
size, its text). The embedded set renders words of the speech corpus's
287-word lexicon (in lower, upper or title case), digit strings and random
letter-and-digit strings with the fonts of Debian's ``fonts-dejavu-core``,
``fonts-liberation`` and ``fonts-freefont-ttf`` (44 faces: sans, serif, mono,
condensed, narrow, bold, italic), sheared and slightly rotated, over
gradients with clutter lines, in colours that differ in brightness from the
background, blurred and noisy: deterministic from the seed and the split, on
every machine with those packages (``.ci/run`` installs them).

A folder holds a label list -- ``gt.txt`` (ICDAR 2013/2015 word
recognition: ``word_1.png, "Tiredness"``) or ``labels.txt`` (an image path,
then a space or tab, then the text: the IIIT5K / SVT crops as a list) -- with
paths relative to it, in ``train/`` and ``test/`` (or ``val/``) folders, or
one list with every tenth word held out. A malformed line is refused naming
its file and line; a missing or corrupt image is refused (or skipped with
``--skip-bad-files``); a word with characters outside the recognizer's
character set, or longer than it can read, is skipped and counted (the log
reports them).

``fit_crop`` (TensorFlow ops, shared by training and the exports) turns a
crop of any size into the recognizer's grey input: height scaled to
``height``, width with it up to ``width`` (longer words squeezed), padded on
the right with the crop's mean grey.
"""
import dataclasses
import math
import os
import re
import string

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE, image_kind

EMBEDDED = "words"
SPLITS = {"train": 0, "validation": 1, "test": 2}
FONT_ROOT = "/usr/share/fonts/truetype"
FONT_PACKAGES = {  # Debian package: its faces under FONT_ROOT
    "fonts-dejavu-core": [f"dejavu/DejaVu{f}.ttf" for f in (
        "Sans", "Sans-Bold", "Sans-Oblique", "Sans-BoldOblique", "Sans-ExtraLight", "SansCondensed",
        "SansCondensed-Bold", "SansCondensed-Oblique", "SansMono", "SansMono-Bold", "SansMono-Oblique", "Serif",
        "Serif-Bold", "Serif-Italic", "SerifCondensed", "SerifCondensed-Bold", "SerifCondensed-Italic")],
    "fonts-liberation": [f"liberation/Liberation{f}.ttf" for f in (
        "Sans-Regular", "Sans-Bold", "Sans-Italic", "Sans-BoldItalic", "SansNarrow-Regular", "SansNarrow-Bold",
        "SansNarrow-Italic", "Serif-Regular", "Serif-Bold", "Serif-Italic", "Serif-BoldItalic", "Mono-Regular",
        "Mono-Bold", "Mono-Italic", "Mono-BoldItalic")],
    "fonts-freefont-ttf": [f"freefont/Free{f}.ttf" for f in (
        "Sans", "SansBold", "SansOblique", "SansBoldOblique", "Serif", "SerifBold", "SerifItalic", "SerifBoldItalic",
        "Mono", "MonoBold", "MonoOblique", "MonoBoldOblique")],
}
LABEL_LISTS = ("gt.txt", "labels.txt")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def fonts(root=FONT_ROOT):
    """The embedded set's font files, in a fixed order; DataError naming the Debian packages of the
    missing ones."""
    missing = sorted({package for package, faces in FONT_PACKAGES.items()
                      for face in faces if not os.path.exists(os.path.join(root, face))})
    if missing:
        raise DataError(f"the embedded word images need the TrueType fonts of Debian's {', '.join(missing)} under "
                        f"{root}: apt-get install {' '.join(missing)}")
    return [os.path.join(root, face) for faces in FONT_PACKAGES.values() for face in faces]


@dataclasses.dataclass
class ImageSet:
    """Examples that start with an image: ``items`` (listed files, the image path first), or
    ``render(i)`` and ``length``; ``skipped``: what was left out, each a line of the report."""

    length: int
    items: list | None = None
    render: object = None
    source: str = ""
    skipped: list = dataclasses.field(default_factory=list)
    skip_reason = "item(s)"  # what the report says was skipped

    def __len__(self):
        return self.length

    def load(self, i):
        if self.render is not None:
            return self.render(int(i))
        path, *rest = self.items[i]
        from PIL import Image

        with Image.open(path) as im:
            return (np.asarray(im.convert("RGB")), *rest)

    def examples(self, count=None):
        """The first ``count`` examples, [(uint8 image, ...)]."""
        return [self.load(i) for i in range(len(self) if count is None else min(count, len(self)))]

    def report(self):
        if not self.skipped:
            return ""
        return (f"{self.source}: skipped {len(self.skipped)} {self.skip_reason}:\n  "
                + "\n  ".join(self.skipped[:10]) + ("\n  ..." if len(self.skipped) > 10 else ""))


@dataclasses.dataclass
class WordSet(ImageSet):
    """Word crops: ``items`` [(image path, text)], or ``render(i)`` -> (uint8 [H, W, 3], text);
    ``skipped``: the words left out for their text (characters, length)."""

    skip_reason = "word(s) the recognizer cannot read"

    def texts(self, count=None):
        n = len(self) if count is None else min(count, len(self))
        return [self.items[i][1] for i in range(n)] if self.items is not None else [self.load(i)[1] for i in range(n)]


# ------------------------------------------------------------------ embedded words
def lexicon():
    """The embedded words' lexicon: the speech corpus's 287 words (lower case)."""
    from suite.data.speech import VOCABULARY_WORDS

    return list(VOCABULARY_WORDS)


def random_text(rng, words):
    """Half lexicon words (lower, upper or title case), a quarter digit strings of 1-6 digits, a
    quarter strings of 2-8 random letters and digits."""
    kind = rng.random()
    if kind < 0.5:
        word = words[int(rng.integers(len(words)))]
        case = rng.random()
        return word.upper() if case < 0.25 else word.title() if case < 0.5 else word
    if kind < 0.75:
        return "".join(rng.choice(list(string.digits), int(rng.integers(1, 7))))
    alphabet = list(string.digits + string.ascii_lowercase + string.ascii_uppercase)
    return "".join(rng.choice(alphabet, int(rng.integers(2, 9))))


def _luminance(colour):
    return float(np.dot(colour, [0.299, 0.587, 0.114]))


def render_word(rng, text, font_path):
    """``text`` in the TrueType font ``font_path`` as a word crop: uint8 [H, W, 3] (about 20-44
    pixels of glyph height, margins of a fifth of it or less), sheared up to 0.3 and rotated up to
    3 degrees, over a gradient with clutter lines, the text's brightness at least 70 grey levels
    from the background's, blurred and noisy."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(font_path, int(rng.integers(20, 45)))
    left, top, right, bottom = font.getbbox(text)
    w, h = max(1, right - left), max(1, bottom - top)
    mx, my = (int(rng.integers(1, max(2, h // 5 + 1))) for _ in range(2))
    shear = rng.uniform(-0.3, 0.3)
    extra = int(math.ceil(abs(shear) * (h + 2 * my)))
    size = (w + 2 * mx + extra, h + 2 * my)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).text((mx - left + (extra if shear > 0 else 0), my - top), text, font=font, fill=255)
    # shear about the middle row (x' = x + shear (y - H/2)), then a slight rotation
    mask = mask.transform(size, Image.AFFINE, (1, shear, -shear * size[1] / 2, 0, 1, 0), Image.BILINEAR)
    mask = mask.rotate(rng.uniform(-3, 3), Image.BILINEAR)
    base = rng.uniform(0, 255, 3)
    while True:
        ink = rng.uniform(0, 255, 3)
        if abs(_luminance(ink) - _luminance(base)) >= 70:
            break
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    tilt = rng.uniform(-40, 40, (2, 3))
    canvas = base + (yy / size[1])[..., None] * tilt[0] + (xx / size[0])[..., None] * tilt[1]
    background = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(background)
    for _ in range(int(rng.integers(0, 4))):  # clutter: thin lines in nearby colours
        colour = tuple(int(c) for c in np.clip(base + rng.uniform(-50, 50, 3), 0, 255))
        draw.line([tuple(int(v) for v in rng.integers(0, size)), tuple(int(v) for v in rng.integers(0, size))],
                  fill=colour, width=1)
    a = np.asarray(mask, np.float32)[..., None] / 255
    image = np.asarray(background, np.float32) * (1 - a) + ink * a
    image = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.2)))
    noisy = np.asarray(image, np.float32) + rng.normal(0, rng.uniform(0, 8), (size[1], size[0], 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def embedded_words(count, seed=0, split="train"):
    """``count`` embedded word crops (``random_text`` in one of ``fonts()``, ``render_word``), rendered
    on demand from (seed, split, index): nothing held in memory."""
    faces, words, split_id = fonts(), lexicon(), SPLITS[split]

    def render(i):
        rng = np.random.default_rng([seed, 71, split_id, int(i)])
        text = random_text(rng, words)
        return render_word(rng, text, faces[int(rng.integers(len(faces)))]), text

    return WordSet(count, render=render, source=f"embedded {split} words")


# ------------------------------------------------------------------ folders
def _read_lines(path):
    """The lines of a UTF-8 text file (a BOM dropped); DataError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read().splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None


def read_label_list(path):
    """[(image path, text, line number)] of a label list: ``gt.txt`` lines ``name.png, "text"`` (ICDAR;
    a doubled or backslashed quote inside is a quote) or ``labels.txt`` lines ``path text``; UTF-8
    with or without a BOM. A malformed line is a DataError naming the file and line."""
    folder = os.path.dirname(path)
    out = []
    lines = _read_lines(path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if os.path.basename(path) == "gt.txt":
            name, sep, rest = line.partition(",")
            rest = rest.strip()
            if not sep or len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
                raise DataError(f"{path}:{number}: expected 'image, \"text\"', got {line!r}")
            text = rest[1:-1].replace('\\"', '"').replace('""', '"')
        else:
            parts = line.strip().split(None, 1)
            if len(parts) != 2:
                raise DataError(f"{path}:{number}: expected 'image text', got {line!r}")
            name, text = parts
        out.append((os.path.join(folder, name.strip()), text, number))
    if not out:
        raise DataError(f"{path}: no word in the label list")
    return out


_ICDAR13 = re.compile(r'^\s*(-?\d+)[,\s]+(-?\d+)[,\s]+(-?\d+)[,\s]+(-?\d+)[,\s]+"(.*)"\s*$')


def read_icdar_gt(path):
    """The words of an ICDAR ground-truth file, [``suite.ocr.metrics.Word``] with [4, 2] corners:
    ICDAR 2015 lines ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` (clockwise from the top left; the
    transcription may hold commas; ``###``: do not care) or ICDAR 2013 lines ``x1, y1, x2, y2, "text"``
    (commas or spaces: an axis-aligned box); UTF-8 with or without a BOM. A malformed line is a
    DataError naming the file and line."""
    from suite.ocr.metrics import Word

    lines = _read_lines(path)
    words = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split(",", 8)
        try:
            if len(parts) == 9:
                corners = np.array([float(v) for v in parts[:8]]).reshape(4, 2)
                words.append(Word(corners, parts[8].strip()))
                continue
        except ValueError:
            pass
        m = _ICDAR13.match(line)
        if m is None:
            raise DataError(f"{path}:{number}: expected 4 corners and a transcription (ICDAR 2015: "
                            f"x1,y1,...,x4,y4,text) or x1 y1 x2 y2 \"text\" (ICDAR 2013), got {line!r}")
        x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
        words.append(Word(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), m.group(5)))
    return words


def _check_image(path, where):
    if not os.path.isfile(path):
        raise DataError(f"{where}: no image {path}")
    image_kind(path)
    return path


def _label_list(folder):
    for name in LABEL_LISTS:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def folder_words(root, split="train", charset=None, max_length=None, bad=None):
    """The words of a folder (see the module docstring) for ``split``; words ``charset`` cannot
    encode or longer than ``max_length`` are skipped and listed in ``skipped``."""
    bad = bad or REFUSE
    if not os.path.isdir(root):
        raise DataError(f"{root}: no such folder")
    held = ("test", "val", "validation")
    subfolders = {s: os.path.join(root, s) for s in ("train", *held) if _label_list(os.path.join(root, s))}
    if "train" in subfolders:
        name = "train" if split == "train" else next((s for s in held if s in subfolders), None)
        if name is None:
            raise DataError(f"{root}: train/ has a label list but no test/ or val/ folder has one")
        entries = read_label_list(_label_list(subfolders[name]))
    else:
        listed = _label_list(root)
        if listed is None:
            raise DataError(f"{root}: no label list ({' or '.join(LABEL_LISTS)}) in it or in train/ and test/")
        entries = read_label_list(listed)
        entries = [e for k, e in enumerate(entries) if (k % 10 == 9) == (split != "train")]
    items, skipped = [], []
    for path, text, number in entries:
        where = f"{_label_list(os.path.dirname(path)) or path}:{number}"
        if bad.check(_check_image, path, where) is None:
            continue
        outside = charset.outside(text) if charset is not None else []
        if outside:
            skipped.append(f"{where}: {text!r} has characters outside the character set: {outside!r}")
        elif not text:
            skipped.append(f"{where}: empty text")
        elif max_length is not None and len(text) > max_length:
            skipped.append(f"{where}: {text!r} is longer than the {max_length} characters the recognizer reads")
        else:
            items.append((path, text))
    if not items:
        raise DataError(f"{root}: no readable word for the {split} split ({len(skipped)} skipped)")
    return WordSet(len(items), items=items, source=f"{root} ({split})", skipped=skipped)


def read_lexicon(path):
    """The words of a lexicon file (one per line, UTF-8, blank lines ignored)."""
    words = [w.strip() for w in _read_lines(os.path.expanduser(path)) if w.strip()]
    if not words:
        raise DataError(f"{path}: an empty lexicon")
    return words


def word_set(data, split="train", charset=None, max_length=None, seed=0, count=None, bad=None):
    """The embedded words (``count`` of them) or a folder's (``folder_words``, the first ``count``)."""
    if data == EMBEDDED:
        outside = charset.outside(string.digits + string.ascii_letters) if charset is not None else []
        if outside:
            raise DataError(f"the embedded words hold letters and digits: the character set lacks {''.join(outside)!r}")
        if max_length is not None and max_length < 9:
            raise DataError(f"the embedded words are up to 9 characters long: max_length {max_length} is too short")
        return embedded_words(count or 1000, seed, split)
    if str(data).startswith("tfds:"):
        raise DataError(f"{data}: TFDS has no scene-text recognition set; give a folder with a label list")
    words = folder_words(os.path.expanduser(data), split, charset, max_length, bad)
    if count:
        words.items, words.length = words.items[:count], min(count, len(words))
    return words


# ------------------------------------------------------------------ pipeline
def fit_crop(image, height, width):
    """uint8 [H, W, C] (C = 1, 3 or 4) -> the recognizer's input uint8 [height, width, 1]: grey,
    height scaled to ``height`` and the width with it, up to ``width`` (a longer word is squeezed),
    padded on the right with the crop's mean grey. TensorFlow ops (serving graphs use it)."""
    import tensorflow as tf

    image = tf.convert_to_tensor(image)
    channels = tf.shape(image)[-1]
    rgb = tf.cond(channels == 1, lambda: tf.image.grayscale_to_rgb(image[..., :1]), lambda: image[..., :3])
    grey = tf.image.rgb_to_grayscale(tf.cast(rgb, tf.float32))
    size = tf.cast(tf.shape(grey)[:2], tf.float32)
    new_width = tf.clip_by_value(tf.cast(tf.round(size[1] * height / tf.maximum(size[0], 1.0)), tf.int32), 1, width)
    scaled = tf.image.resize(grey, tf.stack([height, new_width]), method="bilinear", antialias=True)
    fill = tf.reduce_mean(scaled)
    out = tf.pad(scaled - fill, [[0, 0], [0, width - new_width], [0, 0]]) + fill
    return tf.cast(tf.clip_by_value(tf.round(tf.ensure_shape(out, [height, width, 1])), 0, 255), tf.uint8)


def _loader(words, charset, max_length):
    """index -> (uint8 [H, W, 3], ids int32 [max_length] padded with 0, length)."""
    import tensorflow as tf

    def ids(text):
        encoded = charset.encode(text)
        return np.pad(encoded, (0, max_length - len(encoded))).astype(np.int32), np.int32(len(encoded))

    if words.render is not None:  # rendered with PIL: a NumPy function, mapped in parallel
        def render(i):
            image, text = words.render(int(i))
            return (image, *ids(text))

        def load(i):
            image, labels, length = tf.numpy_function(render, [i], (tf.uint8, tf.int32, tf.int32), stateful=False)
            return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(labels, [max_length]), tf.reshape(length, [])

        return load
    encoded = [ids(text) for _, text in words.items]
    paths = tf.constant([p for p, _ in words.items])
    labels = tf.constant(np.stack([e[0] for e in encoded]))
    lengths = tf.constant(np.array([e[1] for e in encoded], np.int32))

    def load(i):
        image = tf.io.decode_image(tf.io.read_file(paths[i]), channels=3, expand_animations=False)
        return image, labels[i], lengths[i]

    return load


def word_dataset(words, batch_size, charset, height, width, max_length, seed=0, shard=None, start=0):
    """Endless tf.data of {"images": uint8 [B, height, width, 1] (``fit_crop``), "labels": int32
    [B, max_length] (0-padded), "label_lengths": int32 [B]} in a random order from its
    ``start``-th batch; ``shard`` = (count, index)."""
    import tensorflow as tf

    from suite.data.order import order_dataset

    indices = np.arange(len(words))
    if shard is not None:
        indices = indices[shard[1]::shard[0]]
    if not len(indices):
        raise DataError(f"{words.source}: no word to train on")
    load = _loader(words, charset, max_length)

    def example(i):
        image, labels, length = load(i)
        return {"images": fit_crop(image, height, width), "labels": labels, "label_lengths": length}

    order = order_dataset(indices, [seed, 73, 0 if shard is None else shard[1]], start * batch_size)
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
