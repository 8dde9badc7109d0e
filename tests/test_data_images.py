import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from suite.data import DataError, check_resolution, image_pipeline, image_source, sample_images
from suite.data.images import list_image_files


def test_embedded_shapes_are_deterministic_and_varied():
    a = sample_images("shapes", 16, 32, seed=3).numpy()
    b = sample_images("shapes", 16, 32, seed=3).numpy()
    c = sample_images("shapes", 16, 32, seed=4).numpy()
    assert a.shape == (32, 16, 16, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.1
    assert -1.0 <= a.min() and a.max() <= 1.0
    # no two scenes alike, and real structure: per-image contrast, not flat colour
    flat = a.reshape(32, -1)
    dists = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    assert dists[~np.eye(32, dtype=bool)].min() > 1.0
    assert a.std(axis=(1, 2)).mean() > 0.15


@pytest.mark.parametrize("resolution", [4, 8, 64])
def test_embedded_shapes_any_power_of_two(resolution):
    x = sample_images("shapes", resolution, 2, seed=0).numpy()
    assert x.shape == (2, resolution, resolution, 3)


def test_same_scene_at_two_resolutions():
    lo = sample_images("shapes", 16, 4, seed=0).numpy()
    hi = sample_images("shapes", 32, 4, seed=0).numpy()
    down = tf.nn.avg_pool2d(hi, 2, 2, "VALID").numpy()
    assert np.abs(down - lo).mean() < 0.08


@pytest.mark.parametrize("bad", [0, 3, 6, 12, 2.5])
def test_resolution_must_be_power_of_two(bad):
    with pytest.raises(DataError, match="power of two"):
        check_resolution(bad)


def test_pipeline_batches_and_shards():
    ds = image_pipeline("shapes", 8, 5, seed=0, num_images=40, shard=(2, 1))
    batch = next(iter(ds))
    assert batch.shape == (5, 8, 8, 3) and batch.dtype == tf.float32


def test_pipeline_keeps_images_in_memory_only_when_they_are_few(monkeypatch):
    from suite.data import images

    def cached(ds):
        return b"CacheDataset" in ds._as_serialized_graph().numpy()

    assert cached(image_pipeline("shapes", 8, 5, num_images=40))  # 40 x 8 x 8 x 3 bytes
    monkeypatch.setattr(images, "MEMORY_CACHE_BYTES", 40 * 8 * 8 * 3 - 1)
    assert not cached(image_pipeline("shapes", 8, 5, num_images=40))  # decoded again each epoch instead
    assert not cached(image_pipeline("shapes", 8, 5, num_images=40, cache=False))


def test_cache_dir_keeps_decoded_images_in_files_written_whole(tmp_path):
    from suite.data import images

    folder, cache = tmp_path / "images", tmp_path / "cache"
    _write_images(folder)
    files = list_image_files(str(folder))
    plain = [b.numpy() for b in image_pipeline(files, 16, 2, seed=3).take(6)]
    cached = image_pipeline(files, 16, 2, seed=3, cache_dir=str(cache), progress=False)
    key = images.cache_key(files, 16)
    assert sorted(p.name for p in cache.iterdir()) == [f"{key}.data-00000-of-00001", f"{key}.index"]  # nothing else
    for a, b in zip(plain, cached.take(6)):  # the same batches, in the same order
        np.testing.assert_array_equal(a, b.numpy())
    again = image_pipeline(files, 16, 2, seed=3, cache_dir=str(cache), progress=False)  # read from the files
    np.testing.assert_array_equal(next(iter(again)).numpy(), plain[0])
    assert len(list(cache.iterdir())) == 2
    assert images.cache_key(files, 32) != key and images.cache_key(files, 16, shard=(2, 1)) != key
    (folder / "wide.png").write_bytes((folder / "gray.jpeg").read_bytes())  # a changed file: another cache
    assert images.cache_key(files, 16) != key
    broken = tf.data.Dataset.range(10).map(lambda i: tf.debugging.assert_less(i, tf.constant(5, tf.int64)) and i)
    with pytest.raises(tf.errors.InvalidArgumentError):  # a pass that fails half-way leaves nothing behind
        images.file_cache(broken, str(tmp_path / "half"), "numbers", progress=False)
    assert not list((tmp_path / "half").iterdir())


def test_a_set_too_large_for_memory_is_read_in_a_new_file_order_each_epoch_with_a_bounded_buffer(monkeypatch):
    from suite.data import images

    def shuffled_and_cached(ds):
        graph = ds._as_serialized_graph().numpy()
        return b"ShuffleDataset" in graph, b"CacheDataset" in graph

    monkeypatch.setattr(images, "MEMORY_CACHE_BYTES", 0)
    first = [b.numpy() for b in image_pipeline("shapes", 8, 4, seed=1, num_images=12).take(6)]  # two passes
    again = [b.numpy() for b in image_pipeline("shapes", 8, 4, seed=1, num_images=12).take(6)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))  # seeded
    assert shuffled_and_cached(image_pipeline("shapes", 8, 4, num_images=12)) == (True, False)
    assert images.shuffle_buffer(200000, 1024, 1024) == 85 and images.shuffle_buffer(12, 8, 1024) == 12
    assert images.shuffle_buffer(None, 64, 10000) == 10000 and images.shuffle_buffer(None, 4096, 10000) == 5


def test_a_file_whose_body_is_corrupt_is_skipped_with_its_group_during_training(tmp_path):
    import io

    from suite.data import images

    for i in range(40):
        buffer = io.BytesIO()
        Image.fromarray(np.full((12, 12, 3), i, np.uint8)).save(buffer, "PNG")
        data = buffer.getvalue()
        if i == 5:  # header and end marker whole (the checks pass), the pixels' chunk garbled
            start = data.index(b"IDAT") + 6
            data = data[:start] + bytes(8) + data[start + 8:]
        (tmp_path / f"{i:02d}.png").write_bytes(data)
    files = list_image_files(str(tmp_path))
    assert len(files) == 40
    kept = sorted(int(x[0, 0, 0]) for x in image_source(files, 8)[0].as_numpy_iterator())
    assert kept == list(range(images.FILE_GROUP, 40))  # the first group lost, the rest read


def _write_images(folder):
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (40, 70, 3), dtype=np.uint8)).save(folder / "wide.png")
    Image.fromarray(rng.integers(0, 255, (90, 33, 3), dtype=np.uint8)).save(folder / "sub" / "tall.JPG")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(folder / "gray.jpeg")
    (folder / "notes.txt").write_text("not an image")


def test_folder_reader_resizes_and_crops_any_size(tmp_path):
    _write_images(tmp_path)
    ds, count = image_source(str(tmp_path), 16)
    assert count == 3
    images = list(ds)
    assert [tuple(i.shape) for i in images] == [(16, 16, 3)] * 3
    assert all(i.dtype == tf.uint8 for i in images)
    batch = next(iter(image_pipeline(str(tmp_path), 16, 2)))
    assert batch.shape == (2, 16, 16, 3)


@pytest.mark.parametrize("source", ["shapes", "folder"])
def test_two_workers_read_disjoint_shares_whose_union_is_the_whole_set(tmp_path, source):
    """Sharded before decoding: each input pipeline lists (and so reads or renders) only its own share."""
    if source == "folder":
        rng = np.random.default_rng(1)
        for k in range(7):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"{k}.png")
    data = str(tmp_path) if source == "folder" else "shapes"
    whole, count = image_source(data, 8, seed=2, num_images=7)
    shares = [image_source(data, 8, seed=2, num_images=7, shard=(2, k)) for k in (0, 1)]

    def contents(ds):
        return sorted(x.numpy().tobytes() for x in ds)

    assert count == 7 and [n for _, n in shares] == [4, 3]
    first, second = contents(shares[0][0]), contents(shares[1][0])
    assert len(first) == 4 and not set(first) & set(second) and sorted(first + second) == contents(whole)


def test_a_worker_without_a_file_is_refused(tmp_path):
    _write_images(tmp_path)
    with pytest.raises(DataError, match="3 images for 4 input pipelines: pipeline 3 has none"):
        image_source(str(tmp_path), 8, shard=(4, 3))


def test_folder_reader_keeps_content_of_a_square_image(tmp_path):
    img = np.zeros((64, 64, 3), np.uint8)
    img[:32] = 255
    Image.fromarray(img).save(tmp_path / "half.png")
    (x,) = list(image_source(str(tmp_path), 8)[0])
    x = x.numpy()
    assert (x[:4] == 255).all() and (x[4:] == 0).all()


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        image_source(str(tmp_path / "missing"), 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no JPEG or PNG images"):
        image_source(str(empty), 8)
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no JPEG or PNG images found \(1 other file"):
        image_source(str(texts), 8)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "photo.jpg").write_text("this is not a jpeg")
    with pytest.raises(DataError, match="photo.jpg: not a JPEG, PNG"):
        list_image_files(str(fake))
    (fake / "photo.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="photo.jpg: empty"):
        list_image_files(str(fake))


def test_one_bad_file_among_thousands_is_named_before_training_or_left_out(tmp_path):
    import io

    from suite.data.files import BadFiles

    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(buffer, "PNG")
    for i in range(3000):
        folder = tmp_path / f"{i // 500}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i:05d}.png").write_bytes(buffer.getvalue()[:-20] if i == 2345 else buffer.getvalue())
    with pytest.raises(DataError, match=r"4/02345\.png: truncated or corrupt PNG \(no end marker\)"):
        list_image_files(str(tmp_path))
    bad = BadFiles(skip=True)
    kept = list_image_files(str(tmp_path), bad)
    assert len(kept) == 2999 and len(bad.skipped) == 1 and "02345.png" in bad.skipped[0]


@pytest.mark.parametrize("kind", ["JPEG", "PNG", "BMP"])
def test_truncated_and_overwritten_image_files_are_named_before_training(tmp_path, kind):
    import io

    from suite.data.files import image_kind

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, kind)
    whole = buffer.getvalue()
    path = tmp_path / "a.img"
    path.write_bytes(whole)
    assert image_kind(path) == kind
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DataError, match=f"a.img: truncated"):
        image_kind(path)
    path.write_bytes(whole[:8] + np.random.default_rng(1).bytes(len(whole) - 8))  # a header over random bytes
    if kind != "BMP":  # (a BMP's header is its whole check)
        with pytest.raises(DataError, match=f"a.img: truncated or corrupt {kind}"):
            image_kind(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "good.png").write_bytes(whole if kind == "PNG" else b"")
    (folder / "cut.png").write_bytes(whole[:100])
    with pytest.raises(DataError, match="cut.png: (truncated|not a JPEG or PNG)"):
        list_image_files(str(folder))


def test_tfds_grayscale_becomes_rgb():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=4):
        ds, count = image_source("tfds:mnist", 8)
        images = list(ds.take(2))
    assert [tuple(i.shape) for i in images] == [(8, 8, 3)] * 2
    x = images[0].numpy()
    np.testing.assert_array_equal(x[..., 0], x[..., 2])


@pytest.mark.parametrize("name", ["cifar10", "celeb_a"])
def test_tfds_colour_datasets_any_aspect_become_square(name):
    """cifar10 is 32x32, celeb_a 218x178 (portrait): both come out R x R x 3."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=3):
        ds, _ = image_source(f"tfds:{name}", 16)
        images = list(ds.take(3))
    assert [tuple(i.shape) for i in images] == [(16, 16, 3)] * 3 and images[0].dtype == tf.uint8


def test_tfds_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="tfds:no_such_dataset_xyz"):
        image_source("tfds:no_such_dataset_xyz", 8)
