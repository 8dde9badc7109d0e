"""Segmentation datasets: the embedded shapes scenes with per-pixel labels, PASCAL VOC 2012, Cityscapes
and a folder of image + mask pairs; the training pipeline with mask-aware augmentation.

A ``SegmentationSet`` has class names and its examples: image files and mask files (the folders),
or a renderer (the embedded scenes, drawn on demand from (seed, split, index)). A mask holds
each pixel's class index; 255 marks pixels that count nowhere (VOC's object borders). Every
file is checked before training: a missing split list, an image without its mask, a mask of
another size than its image, a class index beyond the classes, an unreadable image -- each a
``DataError`` naming the file.

``segmentation_dataset`` maps over example indices in parallel (no Python generator): decode,
random scale 0.5-2.0 (image bilinear, mask nearest), pad (mask with 255) to the crop, random
crop, random left-right flip, all in TensorFlow ops but the palette PNG masks, read with PIL
(TensorFlow's PNG decoder turns palette indices into colours).
"""
import dataclasses
import io
import os

import numpy as np

from suite.data.detection import SHAPES, SPLITS, render_scene, voc_image_ids
from suite.data.errors import DataError
from suite.data.files import REFUSE, image_kind

EMBEDDED = "shapes"
EMBEDDED_CLASSES = ("background", *SHAPES)
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
IGNORE = 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def voc_palette():
    """PASCAL VOC's colour map: [256, 3] uint8 (index 255, the border, is (224, 224, 192))."""
    palette = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette


@dataclasses.dataclass
class SegmentationSet:
    """``pairs``: [(image path, mask path)], or ``render(i)`` -> (uint8 [S, S, 3], uint8 [S, S])."""

    class_names: tuple
    length: int
    pairs: list | None = None
    render: object = None
    source: str = ""
    lut: np.ndarray | None = None  # mask value -> class index (Cityscapes' label ids -> train ids)

    def __len__(self):
        return self.length

    def load(self, i):
        """Example ``i`` as (uint8 [H, W, 3], uint8 [H, W])."""
        if self.render is not None:
            return self.render(i)
        image_path, mask_path = self.pairs[i]
        from PIL import Image

        with Image.open(image_path) as im:
            image = np.asarray(im.convert("RGB"))
        return image, read_mask(mask_path, self.lut)

    def examples(self, count=None):
        """The first ``count`` examples, [(image, mask)] (each at its own size)."""
        return [self.load(i) for i in range(len(self) if count is None else min(count, len(self)))]


def embedded_set(count, size=64, seed=0, split="train", min_side=0.25, max_side=0.6):
    """``count`` embedded scenes (``suite.data.detection.render_scene``: 1-4 shapes of 5 classes over
    clutter, overlapping, thin rings and crosses; sides ``min_side`` to ``max_side`` of the image,
    larger than the detection scenes' so that a tiny network sees each shape's form) with their
    label maps, rendered on demand: nothing held in memory."""
    split_id = SPLITS[split]

    def render(i):
        image, _, _, labels = render_scene(np.random.default_rng([seed, split_id, int(i)]), size, min_side=min_side,
                                           max_side=max_side, label_map=True)
        return image, labels

    return SegmentationSet(EMBEDDED_CLASSES, count, render=render, source=f"embedded {split}")


# ------------------------------------------------------------------ files
def read_mask(path, lut=None):
    """A mask file's class indices, uint8 [H, W]: a palette PNG's indices (VOC) or a greyscale PNG's
    values, mapped through ``lut`` [256] when given; anything else is a DataError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("P", "L"):
                raise DataError(f"{path}: a mask must be a palette or greyscale PNG of class indices, not "
                                f"{im.mode} (colours are not classes)")
            labels = np.asarray(im)
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{path}: not a readable mask ({e})") from None
    return labels if lut is None else lut[labels]


def _image_size(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size[1], im.size[0]
    except (OSError, UnidentifiedImageError) as e:
        raise DataError(f"{path}: not a readable image ({e})") from None


def check_pair(image, mask, num_classes, lut=None):
    """Refuses a pair whose mask is missing, unreadable, of another size than the image, or holds a
    class index beyond the ``num_classes`` (255 is allowed: ignored)."""
    if not os.path.isfile(mask):
        raise DataError(f"{image}: no mask {mask}")
    image_kind(image)
    labels = read_mask(mask, lut)
    size = _image_size(image)
    if labels.shape != size:
        raise DataError(f"{mask}: mask is {labels.shape[1]}x{labels.shape[0]}, its image {image} is "
                        f"{size[1]}x{size[0]}")
    bad = np.unique(labels[(labels >= num_classes) & (labels != IGNORE)])
    if len(bad):
        raise DataError(f"{mask}: class indices {bad.tolist()[:5]} beyond the {num_classes} classes "
                        f"(0..{num_classes - 1}; 255 is ignored)")
    return True


def _checked(pairs, class_names, source, bad, lut=None):
    from tqdm import tqdm

    kept = [p for p in tqdm(pairs, desc=f"checking {source}", unit="mask", disable=len(pairs) < 500)
            if (bad or REFUSE).check(check_pair, *p, len(class_names), lut)]
    if not kept:
        raise DataError(f"{source}: no readable image and mask ({len(pairs)} skipped)")
    return SegmentationSet(tuple(class_names), len(kept), pairs=kept, source=source, lut=lut)


# Cityscapes (cityscapesScripts' labels.py): the 19 evaluated classes' label ids, in train-id order; every
# other label id (void, ego vehicle, parking, rail track, guard rail, bridge, tunnel, polegroup, caravan,
# trailer, license plate) is ignored
CITYSCAPES = (("road", 7), ("sidewalk", 8), ("building", 11), ("wall", 12), ("fence", 13), ("pole", 17),
              ("traffic light", 19), ("traffic sign", 20), ("vegetation", 21), ("terrain", 22), ("sky", 23),
              ("person", 24), ("rider", 25), ("car", 26), ("truck", 27), ("bus", 28), ("train", 31),
              ("motorcycle", 32), ("bicycle", 33))


def cityscapes_lut():
    """[256] uint8: Cityscapes label id -> train id (255: ignored)."""
    lut = np.full(256, IGNORE, np.uint8)
    for train_id, (_, label_id) in enumerate(CITYSCAPES):
        lut[label_id] = train_id
    return lut


def cityscapes_set(root, split="train", bad=None):
    """Cityscapes (``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png``), the label ids mapped to the 19 train ids."""
    name = {"validation": "val"}.get(split, split)
    images_dir = os.path.join(root, "leftImg8bit", name)
    if not os.path.isdir(images_dir):
        raise DataError(f"--data {root}: no {images_dir} (a Cityscapes folder has leftImg8bit/<split>/<city>/)")
    pairs = []
    for city in sorted(os.listdir(images_dir)):
        for f in sorted(os.listdir(os.path.join(images_dir, city))):
            if f.endswith("_leftImg8bit.png"):
                stem = f[: -len("_leftImg8bit.png")]
                pairs.append((os.path.join(images_dir, city, f),
                              os.path.join(root, "gtFine", name, city, f"{stem}_gtFine_labelIds.png")))
    if not pairs:
        raise DataError(f"{images_dir}: no *_leftImg8bit.png image")
    return _checked(pairs, [n for n, _ in CITYSCAPES], f"Cityscapes {root} {name}", bad, cityscapes_lut())


def voc_set(root, split="train", bad=None):
    """PASCAL VOC 2012 (``ImageSets/Segmentation/<split>.txt``, ``JPEGImages/<id>.jpg``,
    ``SegmentationClass/<id>.png`` palette masks); ``split`` train or validation (VOC's val). The SBD
    augmented set is the same layout with ``ImageSets/Segmentation/train_aug.txt``: ``split`` train_aug."""
    name = {"validation": "val"}.get(split, split)
    list_file, ids = voc_image_ids(root, "Segmentation", name)
    pairs = []
    for i in ids:
        image = os.path.join(root, "JPEGImages", f"{i}.jpg")
        if not os.path.isfile(image):
            raise DataError(f"{list_file} names {i}, but {image} does not exist")
        pairs.append((image, os.path.join(root, "SegmentationClass", f"{i}.png")))
    return _checked(pairs, VOC_CLASSES, f"VOC {root} {name}", bad)


def folder_set(root, split="train", bad=None):
    """A folder of ``images/`` and ``masks/`` (a mask per image, the same name with .png), in
    ``train/`` and ``val/`` beneath ``root`` or, without them, a tenth of the images held out for
    validation; the class names from ``classes.txt`` (one per line, index 0 first), else class_0..N-1
    from the largest index in the masks."""
    base = os.path.join(root, {"validation": "val"}.get(split, split))
    whole = not os.path.isdir(base)
    base = root if whole else base
    images_dir, masks_dir = os.path.join(base, "images"), os.path.join(base, "masks")
    if not os.path.isdir(images_dir):
        raise DataError(f"--data {root}: no {images_dir} (a segmentation folder has images/ and masks/, "
                        f"or train/ and val/ with both)")
    names = sorted(f for f in os.listdir(images_dir) if f.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise DataError(f"{images_dir}: no image ({', '.join(IMAGE_SUFFIXES)})")
    if whole:  # every tenth image is held out
        names = [n for k, n in enumerate(names) if (k % 10 == 9) == (split != "train")]
    pairs = [(os.path.join(images_dir, n), os.path.join(masks_dir, os.path.splitext(n)[0] + ".png")) for n in names]
    classes_file = os.path.join(root, "classes.txt")
    if os.path.isfile(classes_file):
        with open(classes_file) as f:
            class_names = [line.strip() for line in f if line.strip()]
    else:
        top = max((int(m[m != IGNORE].max(initial=0)) for m in (read_mask(p[1]) for p in pairs
                                                                   if os.path.isfile(p[1]))), default=1)
        class_names = [f"class_{k}" for k in range(max(top + 1, 2))]
    return _checked(pairs, class_names, f"folder {base}", bad)


def segmentation_set(data, split="train", size=64, seed=0, count=None, bad=None):
    """``--data``: 'shapes' (``count`` embedded scenes of ``size`` pixels), a VOC folder
    (``ImageSets/Segmentation``), a Cityscapes folder (``leftImg8bit/``) or a folder of images/ and
    masks/."""
    if data == EMBEDDED:
        return embedded_set(count or 1000, size, seed, split)
    if not os.path.isdir(data):
        raise DataError(f"--data {data}: no such folder (and not '{EMBEDDED}')")
    if os.path.isdir(os.path.join(data, "ImageSets", "Segmentation")):
        return voc_set(data, split, bad)
    if os.path.isdir(os.path.join(data, "leftImg8bit")):
        return cityscapes_set(data, split, bad)
    return folder_set(data, split, bad)


# ------------------------------------------------------------------ pipeline
def _loader(dataset):
    """index -> (uint8 [H, W, 3], uint8 [H, W]) in TensorFlow ops where they exist."""
    import tensorflow as tf

    if dataset.render is not None:  # rendered with OpenCV: a NumPy function, mapped in parallel
        def load(i):
            image, labels = tf.numpy_function(lambda k: dataset.render(int(k)), [i], (tf.uint8, tf.uint8),
                                              stateful=False)
            return tf.ensure_shape(image, [None, None, 3]), tf.ensure_shape(labels, [None, None])

        return load
    images = tf.constant([p[0] for p in dataset.pairs])
    masks = tf.constant([p[1] for p in dataset.pairs])
    lut = dataset.lut

    def load(i):
        image = tf.io.decode_image(tf.io.read_file(images[i]), channels=3, expand_animations=False)
        # PIL: no TensorFlow op reads a palette PNG's indices
        labels = tf.numpy_function(lambda path: read_mask(path.decode(), lut), [masks[i]], tf.uint8, stateful=False)
        return image, tf.ensure_shape(labels, [None, None])

    return load


def augment(image, labels, crop, seed, scale=(0.5, 2.0), flip=True):
    """Random scale (image bilinear, mask nearest), pad to at least ``crop`` (image with zeros, mask
    with 255), random ``crop`` x ``crop`` window, random left-right flip; ``seed`` [2] (stateless)."""
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 4)
    size = tf.cast(tf.shape(image)[:2], tf.float32)
    s = tf.random.stateless_uniform([], seeds[0], scale[0], scale[1])
    new = tf.maximum(tf.cast(tf.round(size * s), tf.int32), 1)
    image = tf.image.resize(tf.cast(image, tf.float32), new, method="bilinear")
    labels = tf.image.resize(labels[..., None], new, method="nearest")[..., 0]
    pad = tf.maximum(crop - new, 0)
    image = tf.pad(image, [[0, pad[0]], [0, pad[1]], [0, 0]])
    labels = tf.pad(labels, [[0, pad[0]], [0, pad[1]]], constant_values=IGNORE)
    both = tf.concat([image, tf.cast(labels[..., None], tf.float32)], -1)
    both = tf.image.stateless_random_crop(both, [crop, crop, 4], seeds[1])
    if flip:
        both = tf.image.stateless_random_flip_left_right(both, seeds[2])
    return (tf.cast(tf.clip_by_value(tf.round(both[..., :3]), 0, 255), tf.uint8),
            tf.cast(both[..., 3], tf.uint8))


def segmentation_dataset(dataset, batch_size, crop, seed=0, shard=None, start=0, scale=(0.5, 2.0)):
    """Endless tf.data of {"images": uint8 [B, crop, crop, 3], "labels": uint8 [B, crop, crop]}
    batches in a random order from its ``start``-th batch, augmented (``augment``), each example's
    augmentation keyed by (seed, position) so a resumed run sees what it would have. ``shard`` =
    (count, index)."""
    import tensorflow as tf

    from suite.data.order import order_dataset

    indices = np.arange(len(dataset))
    if shard is not None:
        indices = indices[shard[1]::shard[0]]
    if not len(indices):
        raise DataError(f"{dataset.source}: no image to train on")
    load = _loader(dataset)
    first = start * batch_size
    order = order_dataset(indices, [seed, 31, 0 if shard is None else shard[1]], first)
    positions = tf.data.Dataset.counter(first)

    def example(position, i):
        image, labels = load(i)
        image, labels = augment(image, labels, crop, tf.stack([tf.cast(seed, tf.int64), position]), scale)
        return {"images": image, "labels": labels}

    ds = tf.data.Dataset.zip(positions, order).map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def colourise(labels, palette=None):
    """Class indices [..., H, W] -> RGB uint8 [..., H, W, 3] in the VOC palette."""
    return (voc_palette() if palette is None else palette)[np.asarray(labels)]


def encode_png(image):
    """PNG bytes of an RGB or index uint8 array (PIL)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)).save(buffer, "PNG")
    return buffer.getvalue()
