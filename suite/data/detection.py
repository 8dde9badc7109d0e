"""Detection datasets: the embedded shapes scenes, PASCAL VOC and COCO folders, ``tfds:voc/2007`` and
``tfds:coco/2017``; the training pipeline with box-aware augmentation.

A dataset is a ``DetectionSet``: class names and a loader giving example
``i`` as (uint8 image [S, S, 3] resized to the model's square input, boxes
[M, 4] normalised (ymin, xmin, ymax, xmax), classes [M] 0-based, difficult
[M]). Boxes are normalised, so resizing (VOC and COCO images are not square)
does not move them. ``detection_dataset`` pads each image's objects to
``max_boxes`` (class -1) and batches; training flips images and their boxes
(Keras' box-aware ``RandomFlip``).
"""
import dataclasses
import itertools
import json
import os
import xml.etree.ElementTree as ET
from typing import Callable

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE, image_kind

EMBEDDED = "shapes"
SHAPES = ("ellipse", "rectangle", "triangle", "cross", "ring")
SPLITS = {"train": 0, "validation": 1, "test": 2}
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _cv2():
    import cv2

    return cv2


# ------------------------------------------------------------------ embedded scenes
def render_scene(rng, size=96, max_objects=4, min_side=0.15, max_side=0.5, label_map=False):
    """One image of 1..``max_objects`` shapes of the classes ``SHAPES`` (any colour, sizes from
    ``min_side`` to ``max_side`` of the image, height/width ratios 1:2 to 2:1, overlapping up to
    an IoU of 0.3 and half of the smaller one) on a cluttered background (a colour gradient,
    lines and small blobs), with camera noise. The class is the shape alone. Returns (uint8 [size, size, 3], boxes [M, 4]
    normalised, classes [M]), and with ``label_map`` each pixel's class + 1 (0: background) uint8
    [size, size] as a fourth element (the same random draws: the image is the same either way)."""
    from suite.detection.boxes import iou_numpy

    cv2 = _cv2()
    base = rng.uniform(30, 225, 3)
    tilt = rng.uniform(-40, 40, (2, 3))
    yy, xx = np.mgrid[0:size, 0:size] / size
    canvas = (base + yy[..., None] * tilt[0] + xx[..., None] * tilt[1]).astype(np.float32)
    for _ in range(int(rng.integers(4, 10))):  # clutter thinner and smaller than any object
        colour = np.clip(base + rng.uniform(-80, 80, 3), 0, 255).tolist()
        if rng.random() < 0.6:
            p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), colour, 1, cv2.LINE_AA)
        else:
            c = rng.integers(0, size, 2)
            cv2.circle(canvas, (int(c[0]), int(c[1])), max(1, int(size * min_side * 0.2)), colour, -1, cv2.LINE_AA)
    boxes, classes = [], []
    labels = np.zeros((size, size), np.uint8) if label_map else None
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(20):
            side = rng.uniform(min_side, max_side) * size
            ratio = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
            h, w = min(side * np.sqrt(ratio), size * 0.9), min(side / np.sqrt(ratio), size * 0.9)
            y0, x0 = rng.uniform(0, size - h), rng.uniform(0, size - w)
            box = np.array([y0, x0, y0 + h, x0 + w]) / size
            if not boxes or (iou_numpy(box, np.array(boxes)).max() < 0.3
                             and _covered(box, np.array(boxes)).max() < 0.5):
                break
        else:
            continue
        label = int(rng.integers(len(SHAPES)))
        while True:
            colour = rng.uniform(0, 255, 3)
            if np.abs(colour - base).max() > 80:
                break
        _draw_shape(cv2, canvas, SHAPES[label], box * size, colour.tolist())
        if label_map:  # the same shape, aliased: a pixel belongs to the shape when its centre does
            _draw_shape(cv2, labels, SHAPES[label], box * size, label + 1, cv2.LINE_8)
        boxes.append(box)
        classes.append(label)
    canvas += rng.normal(0, 4, canvas.shape)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    out = image, np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int32)
    return (*out, labels) if label_map else out


def _covered(box, others):
    """The fraction of the smaller box that each of ``others`` and ``box`` share: a small object
    inside a larger one would be hidden by it (or hide it)."""
    inter = (np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
             * np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None))
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.minimum(area(box), area(others))


def _draw_shape(cv2, canvas, shape, box, colour, line=None):
    y0, x0, y1, x1 = box
    s = 16  # sub-pixel precision (cv2's shift=4)
    pt = lambda x, y: (int(round(x * s)), int(round(y * s)))  # noqa: E731
    h, w = y1 - y0, x1 - x0
    line = cv2.LINE_AA if line is None else line
    if shape == "ellipse":
        cv2.ellipse(canvas, pt((x0 + x1) / 2, (y0 + y1) / 2), (int(w / 2 * s), int(h / 2 * s)), 0, 0, 360, colour, -1,
                    line, 4)
    elif shape == "ring":
        t = max(1.5, min(h, w) * 0.18)
        cv2.ellipse(canvas, pt((x0 + x1) / 2, (y0 + y1) / 2), (int((w - t) / 2 * s), int((h - t) / 2 * s)), 0, 0, 360,
                    colour, max(1, int(round(t))), line, 4)
    elif shape == "rectangle":
        cv2.fillPoly(canvas, [np.array([pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1)], np.int32)], colour,
                     line, 4)
    elif shape == "triangle":
        cv2.fillPoly(canvas, [np.array([pt(x0, y1), pt(x1, y1), pt((x0 + x1) / 2, y0)], np.int32)], colour,
                     line, 4)
    elif shape == "cross":
        ty, tx = h / 3, w / 3
        for a, b in (((x0, y0 + ty), (x1, y1 - ty)), ((x0 + tx, y0), (x1 - tx, y1))):
            cv2.fillPoly(canvas, [np.array([pt(a[0], a[1]), pt(b[0], a[1]), pt(b[0], b[1]), pt(a[0], b[1])],
                                           np.int32)], colour, line, 4)
    else:  # pragma: no cover - SHAPES lists every shape
        raise ValueError(shape)


# ------------------------------------------------------------------ datasets
@dataclasses.dataclass
class DetectionSet:
    """``load(i)`` -> (uint8 [size, size, 3], boxes [M, 4], classes [M], difficult [M]). With
    ``extent`` (sets read with ``fit``: aspect kept, ``fit_image``), ``extent(i)`` -> the share
    (height, width) of the square the image fills from its top left, the rest zero; its boxes are
    normalised by the square, so they lie within the extent."""

    class_names: tuple
    size: int
    length: int
    load: Callable[[int], tuple]
    source: str = ""
    paths: tuple = ()  # each example's image file, for sets read from a folder (or prepared from one)
    extent: Callable[[int], tuple] = None
    records: tuple = ()  # (image, boxes normalised by the image, classes, difficult) of a folder's set
    files: np.ndarray = None  # the file each image is in, when files hold many (prepared shards); default: its own

    def __len__(self):
        return self.length

    def extents(self, count=None):
        """float32 [count, 2]: each of the first ``count`` examples' extent (1, 1 without ``fit``)."""
        n = len(self) if count is None else min(count, len(self))
        return np.array([self.extent(i) if self.extent else (1.0, 1.0) for i in range(n)], np.float32)

    def examples(self, count=None):
        """The first ``count`` examples as (images uint8 [N, S, S, 3], [ground truth dicts])
        for evaluation."""
        n = len(self) if count is None else min(count, len(self))
        images, truths = [], []
        for i in range(n):
            image, boxes, classes, difficult = self.load(i)
            images.append(image)
            truths.append({"boxes": boxes, "classes": classes, "difficult": difficult})
        return np.stack(images), truths


def embedded_set(count, size=96, seed=0, split="train", max_objects=4):
    """``count`` embedded scenes, rendered on demand from (seed, split, index): nothing in memory."""
    split_id = SPLITS[split]

    def load(i):
        image, boxes, classes = render_scene(np.random.default_rng([seed, split_id, i]), size, max_objects)
        return image, boxes, classes, np.zeros(len(classes), bool)

    return DetectionSet(SHAPES, size, count, load, source=f"embedded {split}")


def fitted_size(height, width, min_side, max_side):
    """(height, width) after Faster R-CNN's resize: the shorter side to ``min_side``, unless the
    longer would then pass ``max_side`` (then the longer to ``max_side``); the aspect kept."""
    scale = min(min_side / min(height, width), max_side / max(height, width))
    return max(1, int(np.floor(height * scale + 0.5))), max(1, int(np.floor(width * scale + 0.5)))


def fit_image(image, size, fit):
    """``fit`` = (min_side, max_side): the image resized by ``fitted_size`` and placed at the top left
    of a zero ``size`` x ``size`` square: (uint8 [size, size, 3], extent (height, width) / size)."""
    cv2 = _cv2()
    h, w = fitted_size(*image.shape[:2], *fit)
    canvas = np.zeros((size, size, 3), np.uint8)
    canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    return canvas, (h / size, w / size)


def decode_image(data, size, fit=None, where="image"):
    """Encoded image bytes -> uint8 RGB [size, size, 3]: resized, or with ``fit`` its aspect kept
    (``fit_image``); DataError naming ``where`` if they are not an image."""
    cv2 = _cv2()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{where}: not a readable image")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if fit:
        return fit_image(image, size, fit)[0]
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None


def image_size(path):
    """(height, width) of an image file, from its header."""
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def _records_set(records, class_names, size, source, fit=None):
    """A DetectionSet over a folder's records (image path, boxes normalised by the image, classes,
    difficult), images decoded on use; with ``fit`` their aspect kept (``fit_image``: the extent
    from the file's header)."""
    return _lazy_set(len(records), lambda i: (_read_file(records[i][0]), *records[i][1:]), class_names, size, source,
                     fit, shape_of=lambda i: image_size(records[i][0]), names=[r[0] for r in records],
                     records=tuple(records))


def _lazy_set(count, example, class_names, size, source, fit, shape_of, names, records=(), files=None):
    """A DetectionSet of ``count`` images: ``example(i)`` -> (the encoded image, boxes normalised by
    the image, classes, difficult), ``shape_of(i)`` -> its (height, width) (for ``fit``), ``names``
    (files, for messages and proposals)."""

    def extent(i):
        h, w = fitted_size(*shape_of(i), *fit)
        return h / size, w / size

    def load(i):
        encoded, boxes, classes, difficult = example(i)
        if fit:
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4) * np.tile(extent(i), 2).astype(np.float32)
        return decode_image(encoded, size, fit, names[i]), boxes, classes, difficult

    return DetectionSet(tuple(class_names), size, count, load, source=source, paths=tuple(names),
                        extent=extent if fit else None, records=records, files=files)


def parse_voc_annotation(path):
    """(filename, (height, width), [(name, [ymin, xmin, ymax, xmax] normalised, difficult)]) of one
    VOC XML file. A box outside the image, inverted, or a missing field is a DataError naming the
    file and the object."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise DataError(f"{path}: not a readable VOC annotation ({e})") from None
    try:
        filename = root.findtext("filename")
        width = float(root.find("size").findtext("width"))
        height = float(root.find("size").findtext("height"))
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"{path}: no <filename> or <size><width>/<height>") from None
    if not filename or width <= 0 or height <= 0:
        raise DataError(f"{path}: no <filename> or a non-positive image size")
    objects = []
    for k, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        try:
            b = obj.find("bndbox")
            xmin, ymin, xmax, ymax = (float(b.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise DataError(f"{path}: object {k} ({name!r}) has no complete <bndbox>") from None
        # VOC pixel coordinates are 1-based and inclusive: 1 <= xmin <= xmax <= width
        if not (0 <= xmin - 1 < xmax <= width and 0 <= ymin - 1 < ymax <= height):
            raise DataError(f"{path}: object {k} ({name!r}) box x {xmin:g}..{xmax:g}, y {ymin:g}..{ymax:g} is "
                            f"outside the {width:g}x{height:g} image (or empty)")
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        objects.append((name, [(ymin - 1) / height, (xmin - 1) / width, ymax / height, xmax / width], difficult))
    return filename, (height, width), objects


def voc_image_ids(root, task, split):
    """(the list file, the image ids it lists) of ``ImageSets/<task>/<split>.txt`` in a VOC folder
    (task Main: detection, Segmentation); a missing or empty list is a DataError naming it."""
    list_file = os.path.join(root, "ImageSets", task, f"{split}.txt")
    if not os.path.isfile(list_file):
        raise DataError(f"--data {root}: no {list_file} (a VOC folder has ImageSets/{task}/<split>.txt)")
    with open(list_file) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        raise DataError(f"{list_file}: lists no image")
    return list_file, ids


def voc_set(root, split="train", size=96, check=True, bad=None, fit=None):
    """A PASCAL VOC folder (``Annotations/*.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``;
    VOCdevkit/VOC2007 and the like). Every annotation is parsed and every image checked to exist and
    be a whole image file (``suite.data.files``) before training."""
    list_file, ids = voc_image_ids(root, "Main", split)
    parsed = []
    for image_id in ids:
        xml = os.path.join(root, "Annotations", f"{image_id}.xml")
        if not os.path.isfile(xml):
            raise DataError(f"{list_file} names {image_id}, but {xml} does not exist")
        filename, _, objects = parse_voc_annotation(xml)
        image = os.path.join(root, "JPEGImages", filename)
        if check and not os.path.isfile(image):
            raise DataError(f"{xml}: its image {image} does not exist")
        if check and not (bad or REFUSE).check(image_kind, image):
            continue
        parsed.append((image, objects))
    if not parsed:
        raise DataError(f"{list_file}: no readable image ({len(ids)} skipped)")
    names = sorted({o[0] for _, objs in parsed for o in objs})
    class_names = VOC_CLASSES if set(names) <= set(VOC_CLASSES) else tuple(names)
    index = {n: i for i, n in enumerate(class_names)}
    records = [(image, np.array([o[1] for o in objs], np.float32).reshape(-1, 4),
                np.array([index[o[0]] for o in objs], np.int32), np.array([o[2] for o in objs], bool))
               for image, objs in parsed]
    return _records_set(records, class_names, size, source=f"VOC {root} {split}", fit=fit)


def coco_set(root, split="train", size=96, check=True, bad=None, fit=None):
    """A COCO folder: ``annotations/instances_<split>2017.json`` (or ``instances_<split>.json``) and
    the images in ``<split>2017/`` (or ``<split>/``). Crowd regions are dropped; a box outside
    its image, or an image the JSON names that does not exist, is a DataError naming the JSON file."""
    candidates = [(os.path.join(root, "annotations", f"instances_{split}2017.json"),
                   os.path.join(root, f"{split}2017")),
                  (os.path.join(root, "annotations", f"instances_{split}.json"), os.path.join(root, split))]
    for json_path, image_dir in candidates:
        if os.path.isfile(json_path):
            break
    else:
        raise DataError(f"--data {root}: no {candidates[0][0]} or {candidates[1][0]}")
    try:
        with open(json_path) as f:
            data = json.load(f)
        images = {im["id"]: im for im in data["images"]}
        categories = sorted(data["categories"], key=lambda c: c["id"])
        annotations = data.get("annotations", [])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataError(f"{json_path}: not a COCO instances file ({type(e).__name__}: {e})") from None
    class_names = tuple(c["name"] for c in categories)
    index = {c["id"]: i for i, c in enumerate(categories)}
    objects = {i: [] for i in images}
    for a in annotations:
        if a.get("iscrowd", 0):
            continue
        im = images.get(a.get("image_id"))
        if im is None:
            raise DataError(f"{json_path}: annotation {a.get('id')} refers to image id {a.get('image_id')}, "
                            "which the file does not list")
        if a.get("category_id") not in index:
            raise DataError(f"{json_path}: annotation {a.get('id')} has unknown category {a.get('category_id')}")
        x, y, w, h = (float(v) for v in a["bbox"])
        W, H = float(im["width"]), float(im["height"])
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > W + 0.5 or y + h > H + 0.5:
            raise DataError(f"{json_path}: annotation {a.get('id')} box {a['bbox']} is outside image "
                            f"{im['file_name']} ({W:g}x{H:g}) or empty")
        objects[im["id"]].append(([y / H, x / W, min((y + h) / H, 1.0), min((x + w) / W, 1.0)],
                                  index[a["category_id"]]))
    records = []
    for image_id, im in sorted(images.items()):
        path = os.path.join(image_dir, im["file_name"])
        if check and not os.path.isfile(path):
            raise DataError(f"{json_path}: image {im['file_name']} (id {image_id}) does not exist in {image_dir}")
        if check and not (bad or REFUSE).check(image_kind, path):
            continue
        objs = objects[image_id]
        records.append((path, np.array([o[0] for o in objs], np.float32).reshape(-1, 4),
                        np.array([o[1] for o in objs], np.int32), np.zeros(len(objs), bool)))
    if not records:
        raise DataError(f"{json_path}: lists no image")
    return _records_set(records, class_names, size, source=f"COCO {json_path}", fit=fit)


def tfds_objects(name, split="train", data_dir=None, encoded=False):
    """``tfds:voc/2007``, ``tfds:coco/2017`` (prepared in TFDS_DATA_DIR) streamed: (expected count,
    class names, a generator of (image: uint8 [H, W, 3], or its encoded bytes when ``encoded``,
    boxes normalised by the image [M, 4], classes [M], difficult [M], where)); crowd regions
    dropped."""
    import tensorflow_datasets as tfds

    tfds_split = {"train": "train", "validation": "validation", "test": "test"}[split]
    try:
        ds, info = tfds.load(name, split=tfds_split, with_info=True, data_dir=data_dir,
                             decoders={"image": tfds.decode.SkipDecoding()} if encoded else None)
    except Exception as e:  # noqa: BLE001 - tfds raises many kinds
        raise DataError(f"--data tfds:{name}: cannot load the {tfds_split} split ({e})") from None

    def examples():
        for k, ex in enumerate(ds.as_numpy_iterator()):
            objs = ex["objects"]
            bbox = np.asarray(objs["bbox"], np.float32).reshape(-1, 4)
            n = len(bbox)  # (TFDS' mock data gives each field its own length: use the common part)
            field = lambda key: np.asarray(objs.get(key, np.zeros(n, bool)), bool).reshape(-1)  # noqa: E731
            n = min(n, len(objs["label"]), len(field("is_crowd")), len(field("is_difficult")))
            keep = ~field("is_crowd")[:n]
            image = ex["image"]
            if not encoded and (image.ndim == 2 or image.shape[-1] == 1):  # grey
                image = np.repeat(image.reshape(*image.shape[:2], 1), 3, -1)
            yield (image, bbox[:n][keep], np.asarray(objs["label"], np.int32)[:n][keep], field("is_difficult")[:n][keep],
                   f"tfds:{name}[{tfds_split}][{k}]")

    from suite.data.prepare import split_size

    return split_size(info, tfds_split), tuple(info.features["objects"]["label"].names), examples()


def tfds_set(name, split="train", size=96, data_dir=None, limit=None, fit=None):
    """``tfds:voc/2007``, ``tfds:coco/2017``: examples kept in memory at ``size`` when they fit
    ``suite.data.prepare.MEMORY_BYTES`` (a larger split is prepared once instead; ``limit``: the
    first ``limit`` only; ``fit``: aspect kept, ``fit_image``)."""
    from suite.data.prepare import MemoryBudget

    cv2 = _cv2()
    budget = MemoryBudget(f"tfds:{name} {split}", "detection")
    _, names, stream = tfds_objects(name, split, data_dir)
    examples, extents = [], []
    for image, boxes, classes, difficult, _ in itertools.islice(stream, limit):
        if fit:
            image, extent = fit_image(image, size, fit)
        else:
            image, extent = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA), (1.0, 1.0)
        budget.add(image.nbytes)
        extents.append(extent)
        examples.append((image, boxes * np.tile(extent, 2).astype(np.float32), classes, difficult))
    if not examples:
        raise DataError(f"--data tfds:{name}: the {split} split is empty")
    return DetectionSet(names, size, len(examples), lambda i: examples[i], source=f"tfds:{name} {split}",
                        extent=(lambda i: extents[i]) if fit else None)


def prepared_set(root, split="train", size=96, fit=None):
    """A prepared split (``python -m suite.data.prepare detection``; its manifest and shards checked):
    each image's record read by its offset when asked for, decoded and resized as a folder's."""
    from suite.data import prepare

    manifest, entry, offsets, files = prepare.indexed_split(root, split, "detection", ("names", "shapes"))
    reader = prepare.Records()

    def example(i):  # read when asked for: nothing held but the offsets
        file, offset = offsets[i]
        f = prepare.example_features(reader.read(file, offset), file, offset)
        return (f["image"].bytes_list.value[0], np.asarray(f["boxes"].float_list.value, np.float32).reshape(-1, 4),
                np.asarray(f["classes"].int64_list.value, np.int32), np.asarray(f["difficult"].int64_list.value, bool))

    return _lazy_set(entry["count"], example, manifest["class_names"], size, f"prepared {root} {split}", fit,
                     shape_of=lambda i: tuple(entry["shapes"][i]), names=entry["names"], files=files)


def detection_set(data, split="train", size=96, seed=0, count=None, max_objects=4, bad=None, fit=None):
    """The DetectionSet ``--data`` names: 'shapes' (embedded: ``count`` scenes), 'tfds:NAME', or a
    VOC or COCO folder (told apart by ImageSets/ or annotations/); ``bad``: a
    ``suite.data.files.BadFiles`` (refuse a bad image file, or skip it). ``fit`` = (min_side,
    max_side): images keep their aspect (``fit_image``) in a ``size`` square; the embedded scenes are
    square and rendered at ``size`` whatever ``fit``."""
    from suite.data.prepare import PREFIX

    if data == EMBEDDED:
        return embedded_set(count or 0, size, seed, split, max_objects)
    if data.startswith(PREFIX):
        return prepared_set(os.path.expanduser(data[len(PREFIX):]), split, size, fit)
    if data.startswith("tfds:"):
        return tfds_set(data[5:], split, size, limit=None if split == "train" else count, fit=fit)
    if not os.path.isdir(data):
        raise DataError(f"--data {data}: no such folder (expected 'shapes', 'tfds:NAME', or a VOC or COCO folder)")
    if os.path.isdir(os.path.join(data, "ImageSets")):
        return voc_set(data, {"train": "trainval" if _has_list(data, "trainval") else "train",
                              "validation": "test" if _has_list(data, "test") else "val",
                              "test": "test"}[split], size, bad=bad, fit=fit)
    if os.path.isdir(os.path.join(data, "annotations")):
        return coco_set(data, {"train": "train", "validation": "val", "test": "val"}[split], size, bad=bad, fit=fit)
    raise DataError(f"--data {data}: neither a VOC folder (ImageSets/Main/) nor a COCO folder (annotations/)")


def _has_list(root, split):
    return os.path.isfile(os.path.join(root, "ImageSets", "Main", f"{split}.txt"))


# ------------------------------------------------------------------ pipeline
def pad_objects(boxes, classes, max_boxes):
    """Boxes [max_boxes, 4] and classes [max_boxes] (-1 in the unused slots); images with more
    objects keep their ``max_boxes`` largest."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    classes = np.asarray(classes, np.int32).reshape(-1)
    if len(boxes) > max_boxes:
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = np.sort(np.argsort(-area, kind="stable")[:max_boxes])
        boxes, classes = boxes[keep], classes[keep]
    out_boxes = np.zeros((max_boxes, 4), np.float32)
    out_classes = np.full(max_boxes, -1, np.int32)
    out_boxes[:len(boxes)] = boxes
    out_classes[:len(classes)] = classes
    return out_boxes, out_classes


def detection_dataset(dataset, batch_size, max_boxes, seed=0, training=True, shard=None, flip=True, start=0,
                      jitter=None, proposals=None, max_proposals=0):
    """tf.data of ({"images": uint8 [B, S, S, 3], "boxes": [B, max_boxes, 4], "classes": [B, max_boxes]})
    batches: random order, repeated, horizontally flipped with their boxes (``training``; from the
    ``start``-th batch of that order), or every example once in order. Difficult objects are left out
    of training targets. ``shard`` = (count, index). ``jitter``: also ``yolo_jitter`` with these keyword
    arguments (a dict; ``{}`` for YOLO's own) after the flip. ``proposals``: Fast R-CNN's, a callable
    (index, image) -> boxes [K, 4] normalised by the image (``suite.detection.proposals``), adds
    "proposals" [B, max_proposals, 4] (the first ones, zeros after), flipped with the image. A set
    with an ``extent`` (aspect kept) adds "extents" [B, 2], and its flip mirrors each image within
    its extent (Keras' ``RandomFlip`` would mirror the padding too). A worker's share (``shard``) is
    the images of every count-th file from the index-th (each image its own file, or
    ``dataset.files``: the shards of a prepared set)."""
    import keras
    import tensorflow as tf

    from suite.data.order import order_dataset, shard_by_file

    indices = shard_by_file(len(dataset), shard, dataset.files)
    if not len(indices):
        raise DataError(f"{dataset.source}: no image to train on")
    s = dataset.size

    extra = [key for key, on in (("proposals", proposals is not None), ("extents", dataset.extent)) if on]

    def load(i):  # decoded (OpenCV) or rendered in NumPy: mapped in parallel, in order
        image, boxes, classes, difficult = dataset.load(int(i))
        if training:
            boxes, classes = boxes[~difficult], classes[~difficult]
        out = (image, *pad_objects(boxes, classes, max_boxes))
        extent = np.asarray(dataset.extent(int(i)) if dataset.extent else (1.0, 1.0), np.float32)
        if proposals is not None:
            out += (square_proposals(proposals, int(i), image, extent, max_proposals),)
        return (*out, extent) if dataset.extent else out

    def load_batch(batch):  # a batch a call: tf.data's cost per call is a fifth of an image's decoding
        return tuple(np.stack(column) for column in zip(*(load(i) for i in batch)))

    def examples(batch):
        types = (tf.uint8, tf.float32, tf.int32) + (tf.float32,) * len(extra)
        image, boxes, classes, *given = tf.numpy_function(load_batch, [batch], types, stateful=False)
        n = batch_size if training else None
        shapes = {"proposals": [n, max_proposals, 4], "extents": [n, 2]}
        return {"images": tf.ensure_shape(image, [n, s, s, 3]), "boxes": tf.ensure_shape(boxes, [n, max_boxes, 4]),
                "classes": tf.ensure_shape(classes, [n, max_boxes]),
                **{key: tf.ensure_shape(value, shapes[key]) for key, value in zip(extra, given)}}

    order = (order_dataset(indices, [seed, 29, 0 if shard is None else shard[1]], start * batch_size) if training
             else tf.data.Dataset.from_tensor_slices(indices.astype(np.int64)))
    ds = order.batch(batch_size, drop_remainder=training).map(examples, num_parallel_calls=tf.data.AUTOTUNE,
                                                              deterministic=True)
    if training and flip and dataset.extent:
        ds = ds.map(flip_within_extents(seed), num_parallel_calls=tf.data.AUTOTUNE)
    elif training and flip:
        flipper = keras.layers.RandomFlip("horizontal", bounding_box_format="rel_yxyx", seed=seed)

        @tf.autograph.experimental.do_not_convert
        def augment(batch):
            boxes, labels = batch["boxes"], batch["classes"]
            if "proposals" in batch:  # flipped with the image too, as boxes of no class
                boxes = tf.concat([boxes, batch["proposals"]], 1)
                labels = tf.concat([labels, tf.zeros(tf.shape(batch["proposals"])[:2], tf.int32)], 1)
            out = flipper({"images": tf.cast(batch["images"], tf.float32),
                           "bounding_boxes": {"boxes": boxes, "labels": labels}}, training=True)
            flipped = out["bounding_boxes"]["boxes"]
            result = {"images": tf.cast(tf.round(out["images"]), tf.uint8), "classes": batch["classes"],
                      "boxes": tf.where(batch["classes"][..., None] >= 0, flipped[:, :max_boxes], 0.0)}
            if "proposals" in batch:
                given = batch["proposals"]
                real = (given[..., 2] > given[..., 0]) & (given[..., 3] > given[..., 1])
                result["proposals"] = tf.where(real[..., None], flipped[:, max_boxes:], 0.0)
            return result

        ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    if training and jitter is not None:
        ds = ds.map(yolo_jitter(seed=seed, **jitter), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def flip_within_extents(seed):
    """A map over batches with "extents": each image, with probability 1/2, mirrored left to right
    within its extent (the padding stays where it is), its boxes and proposals with it. Hand-written:
    Keras' ``RandomFlip`` mirrors the whole square, which would move an image kept in its aspect to
    the right of its padding."""
    import tensorflow as tf

    draws = tf.random.Generator.from_seed(seed)

    def mirrored(boxes, width, real):  # x -> width - x for the boxes with an area
        flipped = tf.stack([boxes[..., 0], width - boxes[..., 3], boxes[..., 2], width - boxes[..., 1]], -1)
        return tf.where(real[..., None], flipped, boxes)

    def flip(batch):
        images = batch["images"]
        size = tf.shape(images)[2]
        flips = draws.uniform([tf.shape(images)[0]]) < 0.5
        width = batch["extents"][:, 1]
        pixels = tf.cast(tf.round(width * tf.cast(size, tf.float32)), tf.int32)[:, None]
        columns = tf.range(size)[None, :]
        source = tf.where(flips[:, None] & (columns < pixels), pixels - 1 - columns, columns)
        out = {**batch, "images": tf.gather(images, source, axis=2, batch_dims=1)}
        w = tf.where(flips, width, 0.0)[:, None]
        for key in ("boxes", "proposals"):
            if key in batch:
                b = batch[key]
                real = flips[:, None] & (b[..., 2] > b[..., 0]) & (b[..., 3] > b[..., 1])
                out[key] = mirrored(b, w, real)
        return out

    return flip


def square_proposals(source, i, image, extent, count):
    """Example ``i``'s proposals from ``source`` (index, image) -> boxes normalised by the image,
    made on the image without its padding (``extent``: the share of the square it fills) and
    normalised by the square: [count, 4], padded with zeros (``pad_proposals``)."""
    h, w = (int(round(e * image.shape[k])) for k, e in enumerate(extent))
    return pad_proposals(source(i, image[:h, :w]) * np.tile(np.asarray(extent, np.float32), 2), count)


def pad_proposals(boxes, count):
    """The first ``count`` proposals [K, 4], padded with zeros (no area: not a proposal) to [count, 4]."""
    out = np.zeros((count, 4), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)[:count]
    out[:len(boxes)] = boxes
    return out


def yolo_jitter(scale=0.2, translation=0.2, exposure=1.5, saturation=1.5, seed=0):
    """YOLO v1's training augmentation (Redmon et al. 2016, 2.2) as a map over detection batches:
    random scaling and translation of up to ``scale`` and ``translation`` of the image size
    (``keras.layers.RandomZoom`` and ``RandomTranslation``, box-aware: boxes move with the pixels, are
    clipped to the image, and an object pushed out entirely is dropped; the uncovered area grey), then
    the exposure and saturation scaled by up to a factor of ``exposure`` and ``saturation`` in HSV
    space. The HSV part is hand-written: Keras' ``RandomSaturation`` blends towards grey with a factor
    in [0, 1] rather than scaling by up to 1.5x, and no Keras layer scales the value channel."""
    import keras
    import tensorflow as tf

    zoom = keras.layers.RandomZoom((-scale, scale), fill_mode="constant", fill_value=127.0,
                                   bounding_box_format="rel_yxyx", seed=seed)
    shift = keras.layers.RandomTranslation((-translation, translation), (-translation, translation),
                                           fill_mode="constant", fill_value=127.0, bounding_box_format="rel_yxyx",
                                           seed=seed + 1)
    colours = tf.random.Generator.from_seed(seed + 2)

    @tf.autograph.experimental.do_not_convert
    def augment(batch):
        out = {"images": tf.cast(batch["images"], tf.float32),
               "bounding_boxes": {"boxes": batch["boxes"], "labels": batch["classes"]}}
        out = shift(zoom(out, training=True), training=True)
        boxes = out["bounding_boxes"]["boxes"]
        area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
        classes = tf.where((batch["classes"] >= 0) & (area > 0), batch["classes"], -1)
        hsv = tf.image.rgb_to_hsv(tf.clip_by_value(out["images"], 0.0, 255.0) / 255.0)
        n = tf.shape(hsv)[0]
        factors = tf.exp(colours.uniform([n, 1, 1, 2], -1.0, 1.0) * tf.math.log([saturation, exposure]))
        hsv = tf.concat([hsv[..., :1], tf.minimum(hsv[..., 1:] * factors, 1.0)], -1)
        images = tf.round(tf.image.hsv_to_rgb(hsv) * 255.0)
        return {"images": tf.cast(images, tf.uint8), "boxes": tf.where(classes[..., None] >= 0, boxes, 0.0),
                "classes": classes}

    return augment
