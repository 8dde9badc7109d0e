"""Classification sets of three modalities for RMDL: text, images and 3-D point clouds.

A ``ClassificationSet`` holds its class names and three splits, each a pair
(inputs, labels): ``train`` (what the members learn from), ``validation``
(carved from the training data: what each member's checkpoint is chosen on)
and ``test`` (reported, never used to choose). Inputs are strings [N] (text),
uint8 [N, S, S, 3] (images, fit to squares) or float32 [N, P, 6] (x y z r g b
points, colours in [0, 1]).

Sources, by ``--data``:

* the embedded sets, generated from the seed: ``topics`` (documents of six
  topics whose words overlap: filler, words shared by two topics, a second
  topic's words in every document), ``shapes`` (one shape of five classes on a
  gradient with a few lines, drawn by ``suite.data.detection``'s renderer) and ``solids``
  (coloured point clouds of five primitive solids with pose, scale and noise);
* ``tfds:NAME``: image sets with ``image``/``label`` (mnist, cifar10) and text
  sets with ``text`` or ``description``/``label`` (imdb_reviews,
  ag_news_subset), from a prepared ``TFDS_DATA_DIR``;
* a folder with one sub-folder per class (``train/`` and ``test/`` beneath it
  when the test split is given; else a tenth of each class is held out as
  test): images (JPEG/PNG), text files (one document each) or point files
  (``.xyz``/``.txt`` with x y z [r g b] per line, ``.ply`` ASCII or binary,
  ModelNet ``.off`` meshes sampled to points).

Everything is loaded into memory (RMDL's data sets are small); a bad file is
a ``DataError`` naming it, or skipped and reported with ``--skip-bad-files``.
"""
import dataclasses
import os
import pathlib
import re

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE

MODALITIES = ("text", "image", "points")
EMBEDDED = {"text": "topics", "image": "shapes", "points": "solids"}
SUFFIXES = {"text": (".txt",), "image": (".jpg", ".jpeg", ".png"), "points": (".xyz", ".txt", ".ply", ".off")}
SPLIT_IDS = {"train": 0, "test": 1}


@dataclasses.dataclass
class ClassificationSet:
    modality: str
    class_names: tuple
    train: tuple
    validation: tuple
    test: tuple
    source: str = ""

    @property
    def num_classes(self):
        return len(self.class_names)


def carve(inputs, labels, fraction, seed):
    """(kept, carved): a ``fraction`` of every class (at least one example of each) carved out by a
    seeded draw, so that both parts hold every class."""
    rng = np.random.default_rng([seed, 7])
    carved = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        carved.extend(rng.choice(members, max(1, int(round(len(members) * fraction))), replace=False))
    mask = np.zeros(len(labels), bool)
    mask[np.asarray(carved, int)] = True
    return (inputs[~mask], labels[~mask]), (inputs[mask], labels[mask])


def _split(modality, class_names, train, test, validation_fraction, seed, source):
    train, validation = carve(*train, validation_fraction, seed)
    return ClassificationSet(modality, tuple(class_names), train, validation, test, source)


# ------------------------------------------------------------------ embedded: topics
TOPICS = {
    "sport": "match team goal coach player score league season referee stadium ball win defeat cup final "
             "striker keeper tournament training fans",
    "weather": "rain storm wind cloud sunny forecast temperature snow cold warm frost thunder humid breeze "
               "drought flood climate season sky umbrella",
    "cooking": "recipe oven flour sugar butter salt pepper boil fry bake dough sauce kitchen onion garlic "
               "taste dish spoon chef dinner",
    "music": "song band guitar drum concert album melody rhythm singer piano chord lyrics stage tune "
             "orchestra violin record tour fans final",
    "finance": "bank market stock price interest loan credit investor profit loss share fund trade bond "
               "currency budget tax growth record cup",
    "science": "experiment theory data laboratory research cell atom physics chemistry biology energy "
               "particle telescope sample hypothesis measure climate growth energy cloud",
}
FILLER = ("the a an of to in on for with and but or as at by from this that these those it they we you "
          "he she was were is are be been has have had will would can could should may might one two "
          "new old good bad big small many few more most some any every each other same last next first "
          "day week year time people thing way part place case point group number fact hand life world "
          "said says told asked made make took take gave give went go came come saw see knew know thought "
          "very really quite just also still even only again often never always today yesterday tomorrow "
          "here there then now about after before during while because although however").split()


def topic_documents(count, seed=0, split="train", min_words=16, max_words=32):
    """``count`` documents of the six ``TOPICS`` and their labels. Each is mostly filler; about one word
    in eight is its topic's, one in sixteen a second topic's (the same for the whole document), and
    topics share words ("season", "fans", "climate", "record"...): a few documents are ambiguous, so
    single classifiers disagree and a vote helps."""
    names = tuple(TOPICS)
    vocab = [TOPICS[n].split() for n in names]
    rng = np.random.default_rng([seed, 11, SPLIT_IDS[split]])
    docs, labels = [], []
    for _ in range(count):
        label = int(rng.integers(len(names)))
        other = int((label + rng.integers(1, len(names))) % len(names))
        words = []
        for _ in range(int(rng.integers(min_words, max_words + 1))):
            r = rng.random()
            source = vocab[label] if r < 0.125 else vocab[other] if r < 0.1875 else FILLER
            words.append(source[int(rng.integers(len(source)))])
        docs.append(" ".join(words))
        labels.append(label)
    return np.array(docs, object), np.array(labels, np.int32), names


# ------------------------------------------------------------------ embedded: shapes
def shape_images(count, size=32, seed=0, split="train"):
    """``count`` images of one shape each (the five shapes of ``suite.data.detection``: any colour and
    aspect, 40-90% of the image, anywhere it fits) on a colour gradient with a few thin lines, with
    camera noise; and their labels."""
    from suite.data.detection import SHAPES, _cv2, _draw_shape

    cv2 = _cv2()
    images, labels = [], []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        rng = np.random.default_rng([seed, 13, SPLIT_IDS[split], i])
        base = rng.uniform(30, 225, 3)
        tilt = rng.uniform(-40, 40, (2, 3))
        canvas = (base + yy[..., None] * tilt[0] + xx[..., None] * tilt[1]).astype(np.float32)
        for _ in range(int(rng.integers(0, 3))):
            p, q = rng.integers(0, size, 2), rng.integers(0, size, 2)
            colour = np.clip(base + rng.uniform(-80, 80, 3), 0, 255).tolist()
            cv2.line(canvas, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), colour, 1, cv2.LINE_AA)
        side = rng.uniform(0.4, 0.9) * size
        ratio = np.exp(rng.uniform(np.log(0.6), np.log(1.6)))
        h, w = min(side * np.sqrt(ratio), size * 0.95), min(side / np.sqrt(ratio), size * 0.95)
        y0, x0 = rng.uniform(0, size - h), rng.uniform(0, size - w)
        while True:
            colour = rng.uniform(0, 255, 3)
            if np.abs(colour - base).max() > 80:
                break
        label = int(rng.integers(len(SHAPES)))
        _draw_shape(cv2, canvas, SHAPES[label], (y0, x0, y0 + h, x0 + w), colour.tolist())
        canvas += rng.normal(0, 4, canvas.shape)
        images.append(np.clip(canvas, 0, 255).astype(np.uint8))
        labels.append(label)
    return np.stack(images), np.array(labels, np.int32), SHAPES


# ------------------------------------------------------------------ embedded: solids
SOLIDS = ("sphere", "cube", "cylinder", "cone", "torus")


def _solid_surface(rng, solid, n):
    """``n`` points on the surface of a unit-sized ``solid`` (area-uniform up to the caps' share)."""
    if solid == "sphere":
        v = rng.normal(size=(n, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    if solid == "cube":
        p = rng.uniform(-1, 1, (n, 3))
        axis = rng.integers(0, 3, n)
        p[np.arange(n), axis] = rng.choice([-1.0, 1.0], n)
        return p
    theta = rng.uniform(0, 2 * np.pi, n)
    if solid == "torus":
        phi = rng.uniform(0, 2 * np.pi, n)
        big, small = 0.75, 0.25
        r = big + small * np.cos(phi)
        return np.stack([r * np.cos(theta), r * np.sin(theta), small * np.sin(phi)], 1)
    z = rng.uniform(-1, 1, n)
    cap = rng.random(n) < 0.25  # the flat ends
    if solid == "cylinder":
        radius = np.where(cap, np.sqrt(rng.random(n)), 1.0)
        z = np.where(cap, rng.choice([-1.0, 1.0], n), z)
    else:  # cone: apex at z = 1, base disc at z = -1
        radius = np.where(cap, np.sqrt(rng.random(n)), (1 - z) / 2)
        z = np.where(cap, -1.0, z)
    return np.stack([radius * np.cos(theta), radius * np.sin(theta), z], 1)


def _rotation(rng):
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def solid_clouds(count, points=128, seed=0, split="train"):
    """``count`` coloured point clouds [count, points, 6] of the five ``SOLIDS``: each stretched by
    0.85-1.15 along its axes, with noise on the surface, turned to a random pose, moved and scaled
    and one random colour (with noise) per object; and their labels."""
    clouds, labels = [], []
    for i in range(count):
        rng = np.random.default_rng([seed, 17, SPLIT_IDS[split], i])
        label = int(rng.integers(len(SOLIDS)))
        xyz = _solid_surface(rng, SOLIDS[label], points) * rng.uniform(0.85, 1.15, 3)
        xyz += rng.normal(0, 0.02, xyz.shape)
        xyz = xyz @ _rotation(rng).T * rng.uniform(0.5, 3.0) + rng.normal(0, 2, 3)
        rgb = np.clip(rng.uniform(0, 1, 3) + rng.normal(0, 0.05, (points, 3)), 0, 1)
        clouds.append(np.concatenate([xyz, rgb], 1))
        labels.append(label)
    return np.stack(clouds).astype(np.float32), np.array(labels, np.int32), SOLIDS


def embedded_set(modality, sizes, seed=0, image_size=32, num_points=128, validation_fraction=0.1):
    """The embedded set of ``modality`` with ``sizes`` = (train, test) examples (the validation split
    carved from train)."""
    n_train, n_test = sizes
    if modality == "text":
        make = topic_documents
    elif modality == "image":
        make = lambda n, seed, split: shape_images(n, image_size, seed, split)  # noqa: E731
    else:
        make = lambda n, seed, split: solid_clouds(n, num_points, seed, split)  # noqa: E731
    x, y, names = make(n_train, seed=seed, split="train")
    tx, ty, _ = make(n_test, seed=seed, split="test")
    return _split(modality, names, (x, y), (tx, ty), validation_fraction, seed, f"embedded {EMBEDDED[modality]}")


# ------------------------------------------------------------------ point files
def _floats(rows, path, where):
    try:
        return np.array(rows, np.float64)
    except ValueError:
        raise DataError(f"{path}: {where} holds something that is not a number") from None


def _xyz_rgb(values, path, where):
    """[n, 3] or [n, 6] numbers -> float32 [n, 6] (grey without colours; 0-255 colours scaled to 0-1)."""
    if values.ndim != 2 or values.shape[1] not in (3, 6):
        cols = values.shape[1] if values.ndim == 2 else "ragged"
        raise DataError(f"{path}: {where} has {cols} columns per point; x y z or x y z r g b (3 or 6) expected")
    if not np.isfinite(values).all():
        raise DataError(f"{path}: {where} holds a non-finite coordinate or colour")
    if values.shape[1] == 3:
        values = np.concatenate([values, np.full_like(values, 0.5)], 1)
    elif values[:, 3:].max(initial=0) > 1:
        values = np.concatenate([values[:, :3], values[:, 3:] / 255.0], 1)
    return values.astype(np.float32)


def read_xyz(path):
    """A ``.xyz``/``.txt`` point file: x y z [r g b] per line (spaces or commas; ``#`` comments)."""
    rows = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            for line in f:
                line = line.split("#")[0].strip()
                if line:
                    rows.append(re.split(r"[\s,]+", line))
        except UnicodeDecodeError:
            raise DataError(f"{path}: not a text point file (not UTF-8)") from None
    if not rows:
        raise DataError(f"{path}: no points")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise DataError(f"{path}: lines of {sorted(widths)} columns; every point needs the same")
    return _xyz_rgb(_floats(rows, path, "the file"), path, "the file")


_PLY_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
              "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
              "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_ply(path):
    """A ``.ply`` file's vertices (ASCII, binary little- or big-endian): x y z and, when present,
    red green blue. Elements after the vertices (faces) are not read."""
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise DataError(f"{path}: not a PLY file (no 'ply' magic line)")
        fmt, elements, current = None, [], None
        while True:
            line = f.readline()
            if not line:
                raise DataError(f"{path}: PLY header without 'end_header'")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "end_header":
                break
            if words[0] == "format" and len(words) >= 2:
                fmt = words[1]
            elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
                current = (words[1], int(words[2]), [])
                elements.append(current)
            elif words[0] == "property" and current is not None:
                if words[1] == "list":
                    current[2].append((words[-1], None))
                elif len(words) == 3 and words[1] in _PLY_TYPES:
                    current[2].append((words[2], _PLY_TYPES[words[1]]))
                else:
                    raise DataError(f"{path}: PLY header line {line.decode('ascii', 'replace').strip()!r} not understood")
            else:
                raise DataError(f"{path}: PLY header line {line.decode('ascii', 'replace').strip()!r} not understood")
        if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
            raise DataError(f"{path}: PLY format {fmt!r} not understood")
        if not elements or elements[0][0] != "vertex":
            raise DataError(f"{path}: PLY file whose first element is not 'vertex'")
        _, n, props = elements[0]
        names = [p for p, _ in props]
        if any(t is None for _, t in props):
            raise DataError(f"{path}: PLY vertices with list properties are not supported")
        if not {"x", "y", "z"} <= set(names):
            raise DataError(f"{path}: PLY vertices without x, y and z")
        if fmt == "ascii":
            rows = []
            for i in range(n):
                words = f.readline().split()
                if len(words) != len(props):
                    raise DataError(f"{path}: PLY vertex {i} has {len(words)} values, the header declares "
                                    f"{len(props)}")
                rows.append(words)
            table = _floats(rows, path, "a PLY vertex")
            column = {p: table[:, k] for k, p in enumerate(names)}
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            dtype = np.dtype([(p, order + t) for p, t in props])
            raw = f.read(dtype.itemsize * n)
            if len(raw) < dtype.itemsize * n:
                raise DataError(f"{path}: truncated PLY ({len(raw) // dtype.itemsize} of {n} vertices)")
            table = np.frombuffer(raw, dtype)
            column = {p: table[p].astype(np.float64) for p in names}
    if n == 0:
        raise DataError(f"{path}: no points")
    keys = ["x", "y", "z"] + (["red", "green", "blue"] if {"red", "green", "blue"} <= set(names) else [])
    values = np.stack([column[k] for k in keys], 1)
    uchar = dict(props).get("red") == "u1"
    if uchar:
        values[:, 3:] /= 255.0
    return _xyz_rgb(values, path, "the vertices")


def read_off(path, num_points, seed=0):
    """A ModelNet ``.off`` mesh sampled to ``num_points`` points on its faces (area-weighted; grey)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        tokens = [w for line in f for w in line.split("#")[0].split()]
    if not tokens or not tokens[0].startswith("OFF"):
        raise DataError(f"{path}: not an OFF mesh (no 'OFF' header)")
    rest = [tokens[0][3:]] + tokens[1:] if tokens[0] != "OFF" else tokens[1:]  # ModelNet's "OFF490 976 0"
    try:
        nv, nf = int(rest[0]), int(rest[1])
        vertices = np.array(rest[3:3 + 3 * nv], np.float64).reshape(nv, 3)
        faces, at = [], 3 + 3 * nv
        for _ in range(nf):
            k = int(rest[at])
            faces.append([int(v) for v in rest[at + 1:at + 1 + k]])
            at += 1 + k
    except (ValueError, IndexError):
        raise DataError(f"{path}: OFF mesh truncated or malformed") from None
    triangles = [(f[0], f[i], f[i + 1]) for f in faces for i in range(1, len(f) - 1)]
    if not triangles or any(max(t) >= nv or min(t) < 0 for t in triangles):
        raise DataError(f"{path}: OFF mesh without faces, or with a face naming a missing vertex")
    tri = vertices[np.array(triangles)]  # [T, 3, 3]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not area.sum() > 0:
        raise DataError(f"{path}: OFF mesh of zero area")
    rng = np.random.default_rng([seed, 19])
    pick = rng.choice(len(tri), num_points, p=area / area.sum())
    u, v = rng.random((2, num_points))
    flip = u + v > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    t = tri[pick]
    xyz = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return _xyz_rgb(xyz, path, "the mesh")


def resample_points(points, num_points, seed=0):
    """[n, 6] -> [num_points, 6]: a seeded draw without replacement, or every point and then repeats."""
    rng = np.random.default_rng([seed, 23])
    n = len(points)
    pick = rng.permutation(n)[:num_points] if n >= num_points else np.concatenate(
        [np.arange(n), rng.integers(0, n, num_points - n)])
    return points[np.sort(pick)]


def read_points(path, num_points, seed=0):
    """Any point file of ``SUFFIXES['points']``, resampled to ``num_points``."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix == ".off":
        return read_off(path, num_points, seed)
    points = read_ply(path) if suffix == ".ply" else read_xyz(path)
    return resample_points(points, num_points, seed)


# ------------------------------------------------------------------ folders
def _class_files(root, modality):
    """{class: [files]} of a folder with one sub-folder per class."""
    if not root.is_dir():
        raise DataError(f"--data {root}: not a directory with one sub-folder per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"--data {root}: {len(classes)} class sub-folder(s); a classifier needs at least 2")
    out = {}
    for c in classes:
        files = sorted(p for p in c.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES[modality])
        if not files:
            raise DataError(f"{c}: an empty class folder (no {'/'.join(SUFFIXES[modality])} file)")
        out[c.name] = files
    return out


def _read_text(path):
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text:
        raise DataError(f"{path}: an empty document")
    return " ".join(text.split())


def _read_image(path, size):
    import tensorflow as tf

    from suite.data.images import _jpeg_or_png, _to_rgb, fit_square

    _jpeg_or_png(path)
    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as e:
        raise DataError(f"{path}: cannot be decoded ({e.message.splitlines()[0]})") from None
    return fit_square(_to_rgb(image), size).numpy()


def _read_folder(root, modality, class_names, bad, image_size, num_points, seed):
    files = _class_files(root, modality)
    if class_names is not None and list(files) != list(class_names):
        raise DataError(f"{root}: class folders {sorted(files)} differ from the training split's "
                        f"{list(class_names)}")
    read = {"text": _read_text, "image": lambda p: _read_image(p, image_size),
            "points": lambda p: read_points(p, num_points, seed)}[modality]
    inputs, labels = [], []
    for label, (name, paths) in enumerate(files.items()):
        kept = [x for x in (bad.check(read, p) for p in paths) if x is not None]
        if len(kept) < 2 and class_names is None:
            raise DataError(f"{root / name}: class {name!r} has {len(kept)} readable example(s); at least 2 are "
                            "needed (one for training, one for validation)")
        inputs.extend(kept)
        labels.extend([label] * len(kept))
    inputs = np.array(inputs, object) if modality == "text" else np.stack(inputs)
    return inputs, np.array(labels, np.int32), tuple(files)


def folder_set(path, modality, seed=0, image_size=32, num_points=128, validation_fraction=0.1, bad=None):
    """A folder of class sub-folders (``train/`` and ``test/`` beneath it, or a tenth held out)."""
    root = pathlib.Path(path)
    if not root.exists():
        raise DataError(f"--data {path}: no such file or directory")
    bad = bad or REFUSE
    if (root / "train").is_dir() and (root / "test").is_dir():
        x, y, names = _read_folder(root / "train", modality, None, bad, image_size, num_points, seed)
        tx, ty, _ = _read_folder(root / "test", modality, names, bad, image_size, num_points, seed + 1)
        train, test = (x, y), (tx, ty)
    else:
        x, y, names = _read_folder(root, modality, None, bad, image_size, num_points, seed)
        train, test = carve(x, y, 0.1, seed + 1)
    return _split(modality, names, train, test, validation_fraction, seed, f"folder {os.fspath(path)}")


# ------------------------------------------------------------------ TFDS
def tfds_set(name, modality, seed=0, image_size=32, validation_fraction=0.1, limit=None):
    """An image (``image``, ``label``) or text (``text`` or ``description``, ``label``) set of TFDS."""
    import tensorflow_datasets as tfds

    if modality == "points":
        raise DataError(f"--data tfds:{name}: point clouds are read from folders, not TFDS")
    try:
        splits = {}
        for s in ("train", "test"):
            ds, info = tfds.load(name, split=s, with_info=True, shuffle_files=False)
            splits[s] = tfds.as_numpy(ds)
    except Exception as e:  # DatasetNotFoundError, missing download, bad split ...
        raise DataError(f"--data tfds:{name}: cannot load its train and test splits ({type(e).__name__}: {e}). "
                        "Nothing is downloaded at run time here: prepare it into TFDS_DATA_DIR first.") from e
    features = info.features
    key = "image" if modality == "image" else next((k for k in ("text", "description") if k in features), None)
    if key not in features or "label" not in features:
        raise DataError(f"--data tfds:{name}: no {'image' if modality == 'image' else 'text'} and 'label' "
                        f"features for --modality {modality} (it has {', '.join(features)})")

    def arrays(ds):
        inputs, labels = [], []
        for i, ex in enumerate(ds):
            if limit and i >= limit:
                break
            value = ex[key]
            if modality == "image":
                import tensorflow as tf

                from suite.data.images import _to_rgb, fit_square

                value = fit_square(_to_rgb(tf.convert_to_tensor(value)), image_size).numpy()
            else:
                value = value.decode("utf-8", "replace")
            inputs.append(value)
            labels.append(int(ex["label"]))
        inputs = np.array(inputs, object) if modality == "text" else np.stack(inputs)
        return inputs, np.array(labels, np.int32)

    names = tuple(features["label"].names)
    return _split(modality, names, arrays(splits["train"]), arrays(splits["test"]), validation_fraction, seed,
                  f"tfds:{name}")


def classification_set(data, modality, seed=0, sizes=(3000, 600), image_size=32, num_points=128, bad=None):
    """The set of ``--data`` for ``--modality``: its embedded name, ``tfds:NAME`` or a folder."""
    if modality not in MODALITIES:
        raise DataError(f"unknown modality {modality!r}: choose one of {', '.join(MODALITIES)}")
    if data in (None, "", EMBEDDED[modality]):
        return embedded_set(modality, sizes, seed, image_size, num_points)
    if data in EMBEDDED.values():
        raise DataError(f"--data {data} is the embedded {[m for m, d in EMBEDDED.items() if d == data][0]} set; "
                        f"--modality {modality} reads --data {EMBEDDED[modality]}")
    if data.startswith("tfds:"):
        return tfds_set(data[len("tfds:"):], modality, seed, image_size)
    return folder_set(data, modality, seed, image_size, num_points, bad=bad)
