"""Region proposals given from outside the detector (Fast R-CNN's input): selective search, and
proposal files in the layout Fast R-CNN's and Detectron's tools write.

Selective search (Uijlings et al. 2013) is OpenCV's (``cv2.ximgproc``, the
contrib build): no TensorFlow op computes it, so, as in the paper, proposals
are made outside the network (in the input pipeline, or once into files with
this module's command) and the export takes them as an input.

The file layout (``--proposals PATH``), boxes in the image's own pixels as
(x1, y1, x2, y2), 0-based, x2 and y2 exclusive:

* a folder with one ``<image file stem>.npy`` per image: float [K, 4] (or
  [K, 5], the fifth column a score, ignored), best first; or
* a JSON file ``{"<image file name or stem>": [[x1, y1, x2, y2], ...], ...}``.

Boxes reaching outside the image are clipped; a row that is not finite or has
no width or height is an error naming the file and row.

    python -m suite.detection.proposals --data ~/VOCdevkit/VOC2007 --out ~/VOC2007-proposals

writes the folder form for every image of a VOC or COCO folder (both splits),
each file whole (written beside, then renamed), resuming where it stopped,
with a progress bar.
"""
import json
import os

import numpy as np

from suite.data.errors import DataError

MODES = ("fast", "quality", "single")


def selective_search(image, mode="fast", min_side=2):
    """Selective search on a uint8 RGB image [H, W, 3]: proposals [K, 4] normalised (ymin, xmin,
    ymax, xmax), in its ranking order, exact duplicates and boxes under ``min_side`` pixels dropped.
    ``mode``: 'fast' (two colour spaces, two k: the paper's "fast" mode), 'quality' (the
    paper's, the one Fast R-CNN used) or 'single' (one strategy: a few ms an image)."""
    import cv2

    if mode not in MODES:
        raise ValueError(f"selective search mode must be one of {MODES}, got {mode!r}")
    image = np.ascontiguousarray(np.asarray(image, np.uint8))
    h, w = image.shape[:2]
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(image[..., ::-1])  # OpenCV reads BGR
    {"fast": search.switchToSelectiveSearchFast, "quality": search.switchToSelectiveSearchQuality,
     "single": search.switchToSingleStrategy}[mode]()
    rects = np.asarray(search.process(), np.float32).reshape(-1, 4)  # x, y, w, h
    rects = rects[(rects[:, 2] >= min_side) & (rects[:, 3] >= min_side)]
    _, first = np.unique(rects, axis=0, return_index=True)
    rects = rects[np.sort(first)]
    x, y, rw, rh = rects.T
    return np.stack([y / h, x / w, (y + rh) / h, (x + rw) / w], 1).astype(np.float32)


def normalised(pixels, height, width, where):
    """Pixel boxes [K, 4 or 5] (x1, y1, x2, y2[, score]) -> normalised [K, 4] (ymin, xmin, ymax,
    xmax), clipped to the image; a bad row is a DataError naming ``where`` and the row."""
    pixels = np.asarray(pixels, np.float64)
    if pixels.size == 0:
        return np.zeros((0, 4), np.float32)
    if pixels.ndim != 2 or pixels.shape[1] not in (4, 5):
        raise DataError(f"{where}: proposals must be [K, 4] (x1, y1, x2, y2) or [K, 5], got shape "
                        f"{list(pixels.shape)}")
    boxes = pixels[:, :4]
    bad = ~np.isfinite(boxes).all(1) | (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"{where}: proposal row {k} {boxes[k].tolist()} is not a box (x1 < x2, y1 < y2, finite)")
    x1, y1, x2, y2 = boxes.T
    out = np.stack([y1 / height, x1 / width, y2 / height, x2 / width], 1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _image_size(path):
    from PIL import Image

    try:
        with Image.open(path) as im:  # the header only
            return im.height, im.width
    except OSError as e:
        raise DataError(f"{path}: cannot read its size ({e})") from None


class ProposalFiles:
    """Proposals of the images ``paths`` from a folder of .npy files or a JSON file (the module's
    layout), every image's entry found and checked when made: ``self(i)`` -> normalised [K, 4]."""

    def __init__(self, source, paths):
        self.source = source
        if os.path.isdir(source):
            entries = {}
            for path in paths:
                stem = os.path.splitext(os.path.basename(path))[0]
                file = os.path.join(source, f"{stem}.npy")
                if not os.path.isfile(file):
                    raise DataError(f"--proposals {source}: no {stem}.npy for image {path}")
                try:
                    entries[path] = (np.load(file, allow_pickle=False), file)
                except (OSError, ValueError) as e:
                    raise DataError(f"{file}: not a NumPy array file ({e})") from None
        elif os.path.isfile(source):
            try:
                with open(source, encoding="utf-8") as f:
                    table = json.load(f)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DataError(f"--proposals {source}: not a JSON file ({e})") from None
            if not isinstance(table, dict):
                raise DataError(f"{source}: expected an object {{image name: [[x1, y1, x2, y2], ...]}}")
            entries = {}
            for path in paths:
                name = os.path.basename(path)
                key = name if name in table else os.path.splitext(name)[0]
                if key not in table:
                    raise DataError(f"{source}: no proposals for image {name} ({path})")
                try:
                    rows = np.asarray(table[key], np.float64)
                except (TypeError, ValueError):
                    raise DataError(f"{source} [{key}]: proposals must be a list of [x1, y1, x2, y2]") from None
                entries[path] = (rows.reshape(0, 4) if rows.size == 0 else rows, f"{source} [{key}]")
        else:
            raise DataError(f"--proposals {source}: no such file or folder")
        self.paths = list(paths)
        self.boxes = [normalised(entries[p][0], *_image_size(p), entries[p][1]) for p in self.paths]

    def __call__(self, i, image=None):
        return self.boxes[i]


class SelectiveSearch:
    """Proposals computed on each image as it is loaded: ``self(i, image)`` -> normalised [K, 4]."""

    def __init__(self, mode="fast"):
        if mode not in MODES:
            raise ValueError(f"selective search mode must be one of {MODES}, got {mode!r}")
        self.mode = mode

    def __call__(self, i, image):
        return selective_search(image, self.mode)


def write_folder(paths, out, mode="fast", progress=True):
    """Selective search on every image of ``paths`` into ``out/<stem>.npy`` (the module's layout);
    each file written beside and renamed, images already done skipped (a rerun resumes)."""
    import cv2
    from tqdm import tqdm

    os.makedirs(out, exist_ok=True)
    for path in tqdm(paths, desc="selective search", unit="image", disable=not progress):
        stem = os.path.splitext(os.path.basename(path))[0]
        target = os.path.join(out, f"{stem}.npy")
        if os.path.isfile(target):
            continue
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{path}: not a readable image")
        h, w = image.shape[:2]
        boxes = selective_search(image[..., ::-1], mode)
        pixels = np.stack([boxes[:, 1] * w, boxes[:, 0] * h, boxes[:, 3] * w, boxes[:, 2] * h], 1)
        tmp = os.path.join(out, f".{stem}.npy.partial")
        with open(tmp, "wb") as f:
            np.save(f, np.round(pixels).astype(np.float32))
        os.replace(tmp, target)
    return out


def main(argv=None):
    import argparse

    from suite.data.detection import detection_set

    p = argparse.ArgumentParser(prog="python -m suite.detection.proposals",
                                description="Selective-search proposals for every image of a PASCAL VOC or COCO "
                                            "folder, in the folder layout recipes.fast_rcnn --proposals reads.")
    p.add_argument("--data", required=True, help="a PASCAL VOC folder (ImageSets/Main/) or a COCO folder "
                                                 "(annotations/instances_train2017.json, ...)")
    p.add_argument("--out", required=True, help="the folder to write <image stem>.npy files into")
    p.add_argument("--mode", default="fast", choices=MODES,
                   help="selective search's mode: fast, quality (Fast R-CNN's) or single (one strategy)")
    p.add_argument("--splits", nargs="+", default=["train", "validation"], choices=("train", "validation", "test"),
                   help="the splits whose images get proposals (default: train validation)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    if a.data == "shapes" or a.data.startswith("tfds:"):
        p.error("--data: a VOC or COCO folder (the embedded scenes and TFDS sets get selective search on the fly)")
    try:
        paths = []
        for split in a.splits:
            paths += [q for q in detection_set(a.data, split).paths if q not in paths]
        write_folder(paths, a.out, a.mode, progress=not a.no_progress)
    except DataError as e:
        p.exit(2, f"error: {e}\n")
    print(f"{len(paths)} images' proposals in {a.out}")


if __name__ == "__main__":
    main()
