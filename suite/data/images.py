"""Image datasets: the embedded shapes scenes, a folder of JPEG/PNG files, TFDS.

Every function here yields single images as float32 in [-1, 1] with shape
[resolution, resolution, 3]; ``image_pipeline`` shards, caches, shuffles,
repeats, batches and prefetches them.
"""
import math
import os
import pathlib

import numpy as np
import tensorflow as tf

from suite.data.errors import DataError
from suite.data.files import MAGIC, REFUSE, image_kind

AUTOTUNE = tf.data.AUTOTUNE
EMBEDDED = "shapes"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MEMORY_CACHE_BYTES = 1 << 30  # decoded images are kept in memory only when they take no more (1 GiB)
SHUFFLE_BYTES = 256 << 20  # and a shuffle buffer holds no more than 256 MiB of them
FILE_GROUP = 16  # image files decoded in one tf.data element (1.76x from one core to two, 1.41x one a time)


def check_resolution(resolution, minimum=4):
    """Raises DataError unless ``resolution`` is a power of two >= ``minimum``."""
    r = int(resolution)
    if r != resolution or r < minimum or r & (r - 1):
        raise DataError(f"resolution {resolution!r} is not a power of two >= {minimum}")
    return r


# ---------------------------------------------------------------- embedded data
def _projections(px, py, angle, n):
    """Largest projection of each point on ``n`` unit vectors at angle + 2*pi*k/n."""
    out = None
    for k in range(n):
        a = angle + 2.0 * math.pi * k / n
        p = px * tf.cos(a) + py * tf.sin(a)
        out = p if out is None else tf.maximum(out, p)
    return out


def render_shapes(index, resolution, seed, supersample=2):
    """Renders scene ``index``: a textured background and one to three shapes.

    Backgrounds are stripes, checkers or radial rings between two muted
    colours, at a random frequency and angle; shapes are circles, rotated
    squares and rotated triangles of saturated random colours, sizes and
    positions, overlapping in random order. Everything is drawn from
    ``tf.random.stateless_uniform`` keyed on (seed, index), so the same seed
    gives the same images at any resolution, in any order, on any worker.
    Returns uint8 [resolution, resolution, 3].
    """
    return _scene(index, resolution, seed, supersample)[0]


def shapes_labels(index, resolution, seed, supersample=2, visible=0.5, soft=None, murky=None):
    """Scene ``index`` with what it shows: (uint8 image [R, R, 3], background kind (0 stripes,
    1 checkers, 2 rings), float32 [3]: 1 where a circle, square or triangle is drawn and at least
    ``visible`` of its area is not covered by shapes drawn over it). ``soft``, ``murky``: see _scene."""
    image, kind, kinds, areas, seen = _scene(index, resolution, seed, supersample, labels=True, soft=soft,
                                             murky=murky)
    shown = tf.cast(tf.logical_and(areas > 0.0, seen >= visible * areas), tf.float32)
    return image, kind, tf.reduce_max(tf.one_hot(kinds, 3) * shown[:, None], axis=0)


def _scene(index, resolution, seed, supersample=2, labels=False, soft=None, murky=None):
    """The scene's pixels (and with ``labels`` its background kind, shape kinds, areas and uncovered
    areas). Degraded copies for ``suite.gan.quality``'s negatives: ``soft`` (pixels, a tensor; 0 keeps
    them crisp) softens the shapes' edges, ``murky`` (a bool tensor) replaces the background's
    pattern with smooth colour blotches."""
    size = resolution * supersample
    r = tf.random.stateless_uniform([40], seed=tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)]))
    coords = (tf.range(size, dtype=tf.float32) + 0.5) / size
    yy, xx = tf.meshgrid(coords, coords, indexing="ij")
    xx, yy = xx[..., None], yy[..., None]

    c1 = 0.15 + 0.6 * r[0:3]
    c2 = 0.15 + 0.6 * r[3:6]
    freq = 2.0 + 6.0 * r[6]
    theta = math.pi * r[7]
    kind = tf.cast(tf.floor(r[8] * 3.0), tf.int32)
    u = xx * tf.cos(theta) + yy * tf.sin(theta)
    v = -xx * tf.sin(theta) + yy * tf.cos(theta)
    stripes = tf.sin(2.0 * math.pi * freq * u)
    checker = tf.sign(tf.sin(2.0 * math.pi * freq * u) * tf.sin(2.0 * math.pi * freq * v))
    rings = tf.sin(2.0 * math.pi * freq * tf.sqrt((xx - r[9]) ** 2 + (yy - r[10]) ** 2))
    pattern = tf.stack([stripes, checker, rings])[kind]
    if murky is not None:
        blotches = tf.random.stateless_normal([4, 4, 3], seed=tf.stack([tf.cast(seed, tf.int64),
                                                                        tf.cast(index, tf.int64) + (1 << 40)]))
        blotches = tf.tanh(tf.image.resize(blotches[None], (size, size), method="bicubic")[0])
        pattern = tf.where(murky, blotches, pattern)
    mix = 0.5 + 0.5 * pattern
    img = c1 * mix + c2 * (1.0 - mix)

    masks, kinds, areas = [], [], []
    for k in range(3):
        o = 11 + 9 * k
        present = 1.0 if k == 0 else tf.cast(r[o] < 0.7, tf.float32)
        shape_kind = tf.cast(tf.floor(r[o + 1] * 3.0), tf.int32)
        cx, cy = 0.2 + 0.6 * r[o + 2], 0.2 + 0.6 * r[o + 3]
        s = 0.1 + 0.2 * r[o + 4]
        angle = 2.0 * math.pi * r[o + 5]
        colour = r[o + 6 : o + 9]
        colour = colour / tf.maximum(tf.reduce_max(colour), 1e-3)  # saturated
        px, py = xx - cx, yy - cy
        # distances outside each outline (inside: negative)
        outside = tf.stack([tf.sqrt(px * px + py * py) - s, _projections(px, py, angle, 4) - 0.75 * s,
                            _projections(px, py, angle, 3) - 0.5 * s])[shape_kind]
        mask = tf.cast(outside <= 0.0, tf.float32)
        if soft is not None:
            width = tf.maximum(tf.cast(soft, tf.float32), 1e-3) * 0.6 / resolution
            mask = tf.where(soft > 0, tf.sigmoid(-outside / width), mask)
        mask = mask * present
        img = img * (1.0 - mask) + colour * mask
        if labels:  # each shape's area, and what of it later shapes leave uncovered
            masks = [m * (1.0 - mask) for m in masks] + [mask]
            kinds.append(shape_kind)
            areas.append(tf.reduce_sum(mask))

    img = tf.nn.avg_pool2d(img[None], supersample, supersample, "VALID")[0]
    img = tf.cast(tf.round(tf.clip_by_value(img, 0.0, 1.0) * 255.0), tf.uint8)
    if not labels:
        return (img,)
    return img, kind, tf.stack(kinds), tf.stack(areas), tf.stack([tf.reduce_sum(m) for m in masks])


def _in_order(ds, count, order):
    """``ds`` as it is, or with ``order`` (a seed) endless, each pass in a new seeded order."""
    if order is None:
        return ds
    return ds.shuffle(count, seed=order, reshuffle_each_iteration=True).repeat()


def shapes_images(resolution, num_images, seed, shard=None, order=None):
    """The embedded dataset: ``num_images`` uint8 scenes (see render_shapes); with ``shard`` = (count,
    index) one worker's share (every count-th scene), the others never rendered; ``order``: endless,
    each pass over the scenes in a new order drawn from that seed."""
    check_resolution(resolution)
    if num_images < 1:
        raise DataError(f"num_images must be positive, got {num_images}")
    indices = tf.data.Dataset.range(num_images)
    if shard is not None and shard[0] > 1:
        indices = indices.shard(*shard)
    indices = _in_order(indices, len(range(num_images)[shard[1]::shard[0]]) if shard else num_images, order)
    return indices.map(lambda i: render_shapes(i, resolution, seed), num_parallel_calls=AUTOTUNE, deterministic=True)


# ---------------------------------------------------------------- folder reader
def list_image_files(path, bad=None):
    """All JPEG/PNG files under ``path`` (recursive, sorted), each checked by its header and end
    marker (``suite.data.files``).

    Raises DataError naming the path when it is missing, holds no image, or
    when a file with an image suffix is empty, truncated or not a JPEG/PNG.
    """
    root = pathlib.Path(path)
    if not root.exists():
        raise DataError(f"--data {path}: no such file or directory")
    if not root.is_dir():
        raise DataError(f"--data {path}: not a directory of JPEG/PNG images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        others = sum(1 for p in root.rglob("*") if p.is_file())
        raise DataError(f"--data {path}: no JPEG or PNG images found ({others} other file(s))")
    bad = bad or REFUSE  # (a suite.data.files.BadFiles: refuse, or skip and report)
    good = [str(f) for f in files if bad.check(_jpeg_or_png, f)]
    if not good:
        raise DataError(f"--data {path}: no readable JPEG or PNG image ({len(files)} skipped)")
    return good


def _jpeg_or_png(path):
    if image_kind(path) not in ("JPEG", "PNG"):
        raise DataError(f"{path}: not a JPEG or PNG file")
    return True


def fit_square(image, resolution):
    """Resizes the shorter side to ``resolution`` (area filter) and centre-crops a square."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    scale = resolution / tf.minimum(h, w)
    nh = tf.maximum(resolution, tf.cast(tf.round(h * scale), tf.int32))
    nw = tf.maximum(resolution, tf.cast(tf.round(w * scale), tf.int32))
    image = tf.image.resize(tf.cast(image, tf.float32), [nh, nw], method="area", antialias=True)
    image = tf.image.resize_with_crop_or_pad(image, resolution, resolution)
    return tf.cast(tf.round(tf.clip_by_value(image, 0.0, 255.0)), tf.uint8)


def _to_rgb(image):
    channels = tf.shape(image)[-1]
    image = tf.cond(channels == 1, lambda: tf.tile(image[..., :1], [1, 1, 3]), lambda: image[..., :3])
    return tf.ensure_shape(image, [None, None, 3])


def folder_images(path, resolution, shard=None, order=None):
    """A folder's images (``path``), or the files ``list_image_files`` kept (a list), fit to squares;
    with ``shard`` = (count, index) one worker's share of the files (every count-th), the only ones it
    reads; ``order``: endless, each pass over the files in a new order drawn from that seed (the
    names shuffled, not the decoded images: no buffer of images)."""
    files = list(path) if isinstance(path, (list, tuple)) else list_image_files(path)
    if shard is not None and shard[0] > 1:
        total, files = len(files), files[shard[1]::shard[0]]
        if not files:
            raise DataError(f"--data {path if not isinstance(path, (list, tuple)) else 'folder'}: {total} images "
                            f"for {shard[0]} input pipelines: pipeline {shard[1]} has none")

    def load(f):
        image = tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False)
        return fit_square(image, resolution)

    def load_group(group):  # FILE_GROUP files a tf.data element: less of tf.data's cost per element
        spec = tf.TensorSpec([resolution, resolution, 3], tf.uint8)
        return tf.map_fn(load, group, fn_output_signature=spec, parallel_iterations=FILE_GROUP)

    ds = _in_order(tf.data.Dataset.from_tensor_slices(files), len(files), order).batch(FILE_GROUP)
    ds = ds.map(load_group, num_parallel_calls=AUTOTUNE, deterministic=True)
    # A file whose header is right but whose body is corrupt is skipped with its group and a
    # logged warning instead of stopping a long run (the checks before training catch the rest).
    return ds.ignore_errors(log_warning=True).unbatch(), len(files)


# ---------------------------------------------------------------- serving
def checked_image_bytes(image_bytes, name="image_bytes"):
    """``image_bytes`` (string [N]) once each element is known to begin like a JPEG, PNG, GIF or BMP
    image; else the graph fails with ``name element i is not a JPEG, PNG, GIF or BMP image``. Decode
    only what this returns: ``map_fn`` runs elements in parallel, so a decoder started on the
    unchecked tensor could fail first with its own message."""
    known = tf.reduce_any([tf.equal(tf.strings.substr(image_bytes, 0, len(m)), m) for m in (*MAGIC, b"GIF8")],
                          axis=0)
    first_unknown = tf.reduce_min(tf.where(tf.logical_not(known))[:, 0])  # int64 max when none
    with tf.control_dependencies([tf.debugging.Assert(tf.reduce_all(known), [tf.strings.format(
            name + " element {} is not a JPEG, PNG, GIF or BMP image", first_unknown)])]):
        return tf.identity(image_bytes)


def decode_images(image_bytes, resize, name="image_bytes"):
    """In-graph decoding of a string batch [N] of encoded images (JPEG, PNG, GIF or BMP; grey, RGB or
    RGBA; a different size each) for a serving signature: (``resize(uint8 [1, H, W, 3])`` of each,
    stacked; each image's (H, W) [N, 2]). An element that is no image is refused naming its index
    (``name element i is not ...``) before any is decoded (``checked_image_bytes``)."""
    image_bytes = checked_image_bytes(image_bytes, name)

    def one(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return resize(image[tf.newaxis])[0], tf.shape(image)[:2]

    probe = tf.zeros([1, 8, 8, 3], tf.uint8)  # what resize makes of one image: the map's signature
    spec = tf.TensorSpec(resize(probe).shape[1:], resize(probe).dtype)
    return tf.map_fn(one, image_bytes, fn_output_signature=(spec, tf.TensorSpec([2], tf.int32)))


# ---------------------------------------------------------------- TFDS
def tfds_images(name, resolution, split="train", shard=None, order=None):
    """A TFDS split's images fit to squares; with ``shard`` = (count, index) one worker's share of its
    record files (TFDS's own file-level sharding); ``order``: endless, its record files in a new order
    each pass, drawn from that seed."""
    import tensorflow_datasets as tfds

    context = tf.distribute.InputContext(shard[0], shard[1]) if shard is not None and shard[0] > 1 else None
    read_config = tfds.ReadConfig(input_context=context, shuffle_seed=order) if context or order is not None \
        else None
    try:
        ds, info = tfds.load(name, split=split, with_info=True, shuffle_files=order is not None,
                             read_config=read_config)
    except Exception as e:  # DatasetNotFoundError, missing download, bad split ...
        raise DataError(
            f"--data tfds:{name}: cannot load split {split!r} ({type(e).__name__}: {e}). "
            "Nothing is downloaded at run time here: prepare it into TFDS_DATA_DIR first."
        ) from e
    if "image" not in info.features:
        raise DataError(f"--data tfds:{name}: the dataset has no 'image' feature")
    count = info.splits[split].num_examples if split in info.splits and context is None else None
    ds = ds.repeat() if order is not None else ds
    ds = ds.map(lambda ex: fit_square(_to_rgb(ex["image"]), resolution), num_parallel_calls=AUTOTUNE)
    return ds, count


# ---------------------------------------------------------------- labels
def folder_labels(root, files):
    """(class names, label per file) when every file of ``files`` (under ``root``) lies in a
    sub-folder of it and there are at least two (``root/<class>/.../<image>``), else None."""
    tops = [pathlib.Path(os.path.relpath(f, root)).parts for f in files]
    if any(len(t) < 2 for t in tops) or len({t[0] for t in tops}) < 2:
        return None
    names = sorted({t[0] for t in tops})
    return names, [names.index(t[0]) for t in tops]


def labelled_images(data, resolution, files=None):
    """The labelled images of a ``--data`` value, for a classifier of them: (dataset of (uint8
    [R, R, 3], int32 label), class names, a key that changes when the data does, the number of
    images or None), or None when it has
    no labels (a flat folder, a TFDS set without a ``label`` class feature, the embedded scenes: those
    have ``shapes_labels``). A folder's bad files are left out (the run that asked has checked them;
    ``files``: the ones it kept, so as not to check them again)."""
    import hashlib

    from suite.data.files import BadFiles

    resolution = check_resolution(resolution)
    if data in (None, "", EMBEDDED):
        return None
    if data.startswith("tfds:"):
        import tensorflow_datasets as tfds

        name = data[len("tfds:"):]
        ds, info = tfds.load(name, split="train", with_info=True, shuffle_files=False)
        label = info.features["label"] if "label" in info.features else None
        if "image" not in info.features or not hasattr(label, "names"):
            return None
        ds = ds.map(lambda ex: (fit_square(_to_rgb(ex["image"]), resolution), tf.cast(ex["label"], tf.int32)),
                    num_parallel_calls=AUTOTUNE)
        count = info.splits["train"].num_examples if "train" in info.splits else None
        return ds, list(label.names), f"tfds-{name.replace('/', '-')}", count
    files = list(files) if files is not None else list_image_files(data, BadFiles(skip=True))
    labels = folder_labels(data, files)
    if labels is None:
        return None
    names, ids = labels
    digest = hashlib.sha1()
    for f in files:
        st = os.stat(f)
        digest.update(f"{os.path.relpath(f, data)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())

    def load(f, label):
        return fit_square(tf.io.decode_image(tf.io.read_file(f), channels=3, expand_animations=False),
                          resolution), label

    ds = tf.data.Dataset.from_tensor_slices((files, np.asarray(ids, np.int32)))
    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True).ignore_errors(log_warning=True)
    return ds, names, f"folder-{digest.hexdigest()[:16]}", len(files)


# ---------------------------------------------------------------- entry point
def image_source(data, resolution, seed=0, num_images=10000, shard=None, order=None):
    """uint8 images for a ``--data`` value: ``shapes``, ``tfds:NAME`` or a folder (or the list of its
    checked files); with ``shard`` = (count, index) one worker's share, split before anything is
    decoded (scenes, files, TFDS record files), so each worker reads only its own; ``order`` (a
    seed): endless, each pass in a new order, shuffled before decoding.

    Returns (dataset of uint8 [R, R, 3], number of images in it (a pass) or None).
    """
    resolution = check_resolution(resolution)
    if isinstance(data, (list, tuple)):  # the checked files of a folder
        return folder_images(data, resolution, shard, order)
    if data in (None, "", EMBEDDED):
        share = len(range(num_images)[shard[1]::shard[0]]) if shard is not None and shard[0] > 1 else num_images
        return shapes_images(resolution, num_images, seed, shard, order), share
    if data.startswith("tfds:"):
        return tfds_images(data[len("tfds:"):], resolution, shard=shard, order=order)
    return folder_images(os.fspath(data), resolution, shard, order)


def to_float(images):
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def image_grid(images, columns=8, cell=64):
    """uint8 [N, H, W, C] -> one uint8 grid image [rows*cell, columns*cell, C] (nearest upscaling)."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    k = max(1, cell // h)
    images = images.repeat(k, axis=1).repeat(k, axis=2)
    rows = -(-n // columns)
    pad = rows * columns - n
    if pad:
        images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
    h, w = images.shape[1:3]
    return images.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)


def write_png(path, image):
    """Writes uint8 ``image`` [H, W, C] as a PNG at ``path`` (its folder made), through a temporary file
    renamed into place: never a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    tf.io.write_file(tmp, tf.io.encode_png(image))
    os.replace(tmp, path)


def to_uint8(images):
    """float [-1, 1] -> uint8 [0, 255], clipped."""
    return tf.cast(tf.round(tf.clip_by_value((tf.cast(images, tf.float32) + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)




def cache_key(data, resolution, seed=0, num_images=10000, shard=None):
    """A name for the decoded images of a source at ``resolution``: a folder's files (their paths,
    sizes and times: a changed file is another cache), a TFDS set, or the embedded scenes of (seed,
    num_images); this worker's ``shard``."""
    import hashlib

    if isinstance(data, (list, tuple)) or (data not in (None, "", EMBEDDED) and not str(data).startswith("tfds:")):
        files = list(data) if isinstance(data, (list, tuple)) else list_image_files(os.fspath(data))
        what = [(f, os.path.getsize(f), os.path.getmtime(f)) for f in files]
    else:
        what = [data or EMBEDDED, seed if data in (None, "", EMBEDDED) else None, num_images]
    digest = hashlib.sha1(repr((what, resolution, shard)).encode()).hexdigest()[:16]
    return f"images-{resolution}-{digest}"


def file_cache(ds, directory, key, progress=True):
    """``ds`` (finite) cached to files in ``directory`` (tf.data's file cache): written whole in one pass
    under a temporary name and renamed into place the first time, with a progress bar, so a killed
    run never leaves a half-written cache (tf.data's own would leave a lock that stops the next run);
    read from the files afterwards."""
    prefix = os.path.join(directory, key)
    if not os.path.exists(f"{prefix}.index"):
        from tqdm import tqdm

        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{key}.tmp-{os.getpid()}")
        try:
            for _ in tqdm(ds.cache(tmp).prefetch(AUTOTUNE), desc=f"caching decoded images in {directory}",
                          unit="image", disable=not progress, mininterval=2.0):
                pass
            for suffix in (".data-00000-of-00001", ".index"):  # the index last: its presence marks a whole cache
                os.replace(f"{tmp}{suffix}", f"{prefix}{suffix}")
        finally:
            for f in os.listdir(directory):
                if f.startswith(f".{key}.tmp-{os.getpid()}"):
                    os.remove(os.path.join(directory, f))
    return ds.cache(prefix)


def shuffle_buffer(count, resolution, cap):
    """Images a shuffle buffer holds: ``cap`` at most, the set's ``count``, and ``SHUFFLE_BYTES`` of
    images (85 at 1024x1024: a buffer of 10,000 such images would take 31 GB)."""
    return max(1, min(count or cap, cap, SHUFFLE_BYTES // (resolution * resolution * 3)))


def image_pipeline(data, resolution, batch_size, seed=0, num_images=10000, shard=None, cache=True, start=0,
                   cache_dir=None, progress=True):
    """The training pipeline: float32 batches [batch_size, R, R, 3] in [-1, 1], endless.

    ``shard=(count, index)`` keeps one worker's share. Decoded uint8 images are
    cached in files in ``cache_dir`` when given (``file_cache``), else in memory
    when ``cache`` and they fit in ``MEMORY_CACHE_BYTES`` (the embedded data and
    small folders), then shuffled through a buffer of up to 10,000 images;
    otherwise (a large folder, a TFDS set) each epoch reads the files in a new
    order, decoding them again, and a buffer of up to 1,024 images mixes
    neighbours, so memory does not grow with the set. Both buffers hold
    ``SHUFFLE_BYTES`` at most. Then converted, batched (full batches only) and
    prefetched, from the ``start``-th batch of that seeded order (a resumed run).
    """
    ds, count = image_source(data, resolution, seed, num_images, shard)
    if cache_dir or (cache and count is not None and count * resolution * resolution * 3 <= MEMORY_CACHE_BYTES):
        ds = file_cache(ds, cache_dir, cache_key(data, resolution, seed, num_images, shard), progress) if cache_dir \
            else ds.cache()
        ds = ds.shuffle(shuffle_buffer(count, resolution, 10000), seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        ds, _ = image_source(data, resolution, seed, num_images, shard, order=seed)
        ds = ds.shuffle(shuffle_buffer(count, resolution, 1024), seed=seed)
    ds = ds.skip(start * batch_size).batch(batch_size, drop_remainder=True, num_parallel_calls=AUTOTUNE)
    return ds.map(to_float, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)  # a batch at a time: 8% faster


def sample_images(data, resolution, count, seed=0, num_images=10000):
    """The first ``count`` images of a source as float32 [count, R, R, 3] in [-1, 1] (for metrics)."""
    ds, _ = image_source(data, resolution, seed, num_images)
    return tf.concat(list(ds.take(count).batch(256).map(to_float)), axis=0)
