"""Scene-text recognition (suite/ocr, suite/data/ocr.py): the character set, CRNN's shape and size,
the shared CTC decoding (lexicon-constrained too), the crop fitting of training and serving, the
embedded word renderer, the label-list readers and their bad input, the pipeline, one train step."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import ocr as data
from suite.data.errors import DataError
from suite.data.files import BadFiles
from suite.layers import ctc
from suite.ocr.charset import Charset
from suite.ocr.crnn import build_crnn, get_config


# ------------------------------------------------------------------ the character set
def test_charset_ids_blank_and_case():
    c = Charset()
    assert c.characters == "0123456789abcdefghijklmnopqrstuvwxyz" and c.blank == 36 and c.num_classes == 37
    assert c.encode("Cab9").tolist() == [12, 10, 11, 9] and c.decode([12, 10, 36, -1, 11, 9]) == "cab9"
    assert Charset.of("alnum").encode("A").tolist() == [36] and not Charset.of("alnum").case_insensitive
    with pytest.raises(ValueError, match=r"outside the character set .*\['-', 'é'\] in 'é-a'"):
        c.encode("é-a")
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        Charset("abca")


# ------------------------------------------------------------------ CRNN
def test_crnn_paper_preset_is_the_papers_network():
    c = get_config("paper")
    net = build_crnn(c)
    # Shi et al. report 8.3M parameters; this count keeps every conv bias and the LSTMs' two biases' worth
    assert abs(net.count_params() - 8.3e6) / 8.3e6 < 0.06, net.count_params()
    assert [net.get_layer(f"conv{i}").filters for i in range(1, 8)] == [64, 128, 256, 256, 512, 512, 512]
    assert net.get_layer("conv7").kernel_size == (2, 2)
    assert [n for n in ("bn5", "bn6") if net.get_layer(n)] and c.optimizer == "adadelta" and c.rho == 0.9
    with pytest.raises(ValueError):
        net.get_layer("bn1")  # the paper normalises after the fifth and sixth convolutions only
    assert net.get_layer("blstm2").forward_layer.units == 256
    assert net.output["logits"].shape[1:] == (26, 37)  # a 100-pixel crop: 26 frames
    wide = build_crnn(get_config("tiny", width=160))
    assert wide.output["logits"].shape[1:] == (41, 37)
    with pytest.raises(ValueError, match="height must be 32"):
        get_config("tiny", height=48)
    with pytest.raises(ValueError, match=r"max_label_length must be in \[1, 26\]"):
        get_config("tiny", max_label_length=27)


# ------------------------------------------------------------------ CTC, shared with speech
def _frames(path, k=5):
    """Logits [1, T, k] that put almost all mass on ``path`` (ids; k - 1 the blank)."""
    logits = np.full((1, len(path), k), -8.0, np.float32)
    logits[0, np.arange(len(path)), path] = 8.0
    return tf.constant(logits)


def test_greedy_beam_and_lexicon_decoding():
    logits = _frames([0, 0, 4, 0, 1, 4, 4, 2])  # a a - a b - - c  ->  "aabc"
    ids, log_prob = ctc.greedy_decode(logits, [8])
    assert ctc.ids_to_strings(ids, "abcd").numpy().tolist() == [b"aabc"]
    expected = 8 * float(tf.nn.log_softmax(logits[0, 0])[0])
    assert np.isclose(float(log_prob[0]), expected, rtol=1e-5)
    assert ctc.ids_to_strings(ctc.beam_decode(logits, [8], 4)[0], "abcd").numpy().tolist() == [b"aabc"]
    # the lexicon's most probable word, not the nearest spelling: "aabc" is absent, "abc" and "aab" differ by one
    words, scores = __import__("suite.ocr.recognition", fromlist=["x"]).lexicon_decode(
        tf.concat([logits, _frames([1, 4, 0, 4, 2, 2, 4, 4])], 0), tf.constant(["abc", "aab", "bac", "d"]),
        Charset("abcd"))
    assert words.numpy().tolist() == [b"abc", b"bac"] and scores.shape == [2]


def test_error_rates_count_unicode_characters():
    cer, wer, per = ctc.error_rates(["cafe", "b"], ["café", "b"])
    assert np.isclose(cer, 1 / 5) and np.isclose(wer, 1 / 2) and np.allclose(per, [0.25, 0.0])


# ------------------------------------------------------------------ crops
@pytest.mark.parametrize("shape,width", [((40, 60, 3), 48), ((20, 400, 3), 100), ((64, 64, 1), 32), ((30, 90, 4), 96)])
def test_fit_crop_scales_to_height_32_and_pads_or_squeezes(shape, width):
    image = np.random.default_rng(0).integers(0, 255, shape).astype(np.uint8)
    image[..., :, :shape[1] // 2, :] = 0  # a dark left half
    out = data.fit_crop(image, 32, 100).numpy()
    assert out.shape == (32, 100, 1) and out.dtype == np.uint8
    assert out[:, :width // 2 - 2].max() == 0  # the dark half stays at the left, scaled with the height
    if width < 100:  # padded with the crop's mean grey
        pad = out[:, width + 1:]
        assert pad.min() == pad.max() and 20 < pad[0, 0, 0] < 140


# ------------------------------------------------------------------ embedded words
def test_embedded_words_are_deterministic_varied_and_legible():
    a, b = data.embedded_words(30, seed=3), data.embedded_words(30, seed=3)
    held = data.embedded_words(30, seed=3, split="validation")
    first = [a.load(i) for i in range(30)]
    assert all(np.array_equal(x[0], b.load(i)[0]) and x[1] == b.load(i)[1] for i, x in enumerate(first))
    assert [t for _, t in first] != held.texts()
    texts = [t for _, t in first]
    assert any(t.isdigit() for t in texts) and any(t.lower() in data.lexicon() for t in texts)
    assert any(t.isupper() for t in texts) and len(set(texts)) > 25
    for image, text in first:
        assert image.ndim == 3 and image.shape[2] == 3 and 12 <= image.shape[0] <= 80
        assert image.shape[1] >= 0.3 * image.shape[0] * len(text)  # the glyphs, not a thumbnail
        assert image.std() > 10  # ink that differs from the background
    assert len(data.fonts()) == 44


def test_missing_fonts_name_their_debian_packages(tmp_path):
    with pytest.raises(DataError, match="apt-get install fonts-dejavu-core fonts-freefont-ttf fonts-liberation"):
        data.fonts(str(tmp_path))


# ------------------------------------------------------------------ folders
def _png(path, text="x", size=(24, 60)):
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size[::-1], (230, 230, 230))
    ImageDraw.Draw(image).text((2, 2), text, fill=(0, 0, 0))
    image.save(path)


def test_icdar_gt_and_plain_label_lists(tmp_path):
    (tmp_path / "gt.txt").write_bytes('\ufeffword_1.png, "Tiredness"\nword_2.png, "say ""hi"""\n\n'.encode("utf-8"))
    assert [(p[-10:], t, n) for p, t, n in data.read_label_list(str(tmp_path / "gt.txt"))] == [
        ("word_1.png", "Tiredness", 1), ("word_2.png", 'say "hi"', 2)]
    (tmp_path / "labels.txt").write_text("crops/a.png\tHello\ncrops/b.jpg 2024\n")
    assert [(t, n) for _, t, n in data.read_label_list(str(tmp_path / "labels.txt"))] == [("Hello", 1), ("2024", 2)]
    (tmp_path / "gt.txt").write_text('word_1.png, "ok"\nword_2.png Tiredness\n')
    with pytest.raises(DataError, match=r"gt.txt:2: expected 'image, \"text\"'"):
        data.read_label_list(str(tmp_path / "gt.txt"))
    (tmp_path / "labels.txt").write_text("a.png\n")
    with pytest.raises(DataError, match=r"labels.txt:1: expected 'image text'"):
        data.read_label_list(str(tmp_path / "labels.txt"))


def test_folder_words_split_check_and_count_what_they_skip(tmp_path):
    root = tmp_path / "words"
    lines = []
    for k in range(20):
        _png(root / f"w{k}.png", f"w{k}")
        lines.append(f"w{k}.png w{k}")
    lines += ["w0.png café", "w1.png " + "a" * 30]
    (root / "labels.txt").write_text("\n".join(lines) + "\n")
    train = data.folder_words(str(root), "train", Charset(), 23)
    held = data.folder_words(str(root), "validation", Charset(), 23)
    assert len(train) + len(held) == 20 and len(held) == 2 and held.texts() == ["w9", "w19"]
    skipped = train.skipped + held.skipped
    assert len(skipped) == 2 and "labels.txt:21: 'café' has characters outside the character set: ['é']" in skipped[0]
    assert "longer than the 23 characters" in skipped[1] and "skipped 2 word(s)" in train.report()
    # train/ and test/ with their own lists
    for split in ("train", "test"):
        _png(root / "split" / split / "a.png")
        (root / "split" / split / "gt.txt").write_text('a.png, "A1"\n')
    assert data.folder_words(str(root / "split"), "validation", Charset()).texts() == ["A1"]
    # a missing image names the list's line; --skip-bad-files leaves it out
    (root / "labels.txt").write_text("w0.png w0\nnowhere.png lost\nw2.png w2\n" * 4)
    with pytest.raises(DataError, match=r"labels.txt:2: no image .*nowhere.png"):
        data.folder_words(str(root), "train", Charset())
    bad = BadFiles(skip=True)
    assert data.folder_words(str(root), "train", Charset(), bad=bad).texts()[:2] == ["w0", "w2"]
    assert len(bad.skipped) == 4  # the train split: every line but each tenth
    (root / "labels.txt").write_text("w0.png w0\nw2.png w2\n")
    (root / "w2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"w2.png: truncated or corrupt PNG"):
        data.folder_words(str(root), "train", Charset())
    with pytest.raises(DataError, match="no label list"):
        data.folder_words(str(tmp_path), "train", Charset())


def test_the_embedded_set_refuses_a_charset_it_cannot_fill():
    with pytest.raises(DataError, match="lacks '0123456789'"):
        data.word_set("words", charset=Charset("abcdefghijklmnopqrstuvwxyz"))


# ------------------------------------------------------------------ pipeline and training
def test_word_dataset_batches_labels_and_resumes_in_place():
    c = get_config("tiny")
    words = data.embedded_words(64, seed=1)
    ds = data.word_dataset(words, 8, Charset(), 32, 100, c.max_label_length, seed=5)
    batches = list(ds.take(3).as_numpy_iterator())
    b = batches[0]
    assert b["images"].shape == (8, 32, 100, 1) and b["images"].dtype == np.uint8
    assert b["labels"].shape == (8, 23)
    texts = {Charset().normalize(t) for t in words.texts()}
    decoded = [Charset().decode(row[:n]) for row, n in zip(b["labels"], b["label_lengths"])]
    assert set(decoded) <= texts and all(len(d) == n for d, n in zip(decoded, b["label_lengths"]))
    resumed = next(iter(data.word_dataset(words, 8, Charset(), 32, 100, c.max_label_length, seed=5, start=2)))
    assert np.array_equal(resumed["images"].numpy(), batches[2]["images"])


def test_a_few_train_steps_lower_the_ctc_loss_on_one_batch():
    import keras

    from suite.ocr.recognition import Recognizer

    keras.utils.set_random_seed(0)
    c = get_config("tiny")
    model = Recognizer(c)
    model.compile()
    batch = next(iter(data.word_dataset(data.embedded_words(16, seed=2), 16, Charset(), 32, 100, 23)))
    step = tf.function(model.train_step)
    first = float(step(batch)["loss"])
    for _ in range(30):
        last = float(step(batch)["loss"])
    assert last < 0.5 * first, (first, last)


def test_serving_signatures_read_pixels_and_bytes_and_refuse_what_is_no_image():
    from suite.ocr.recognition import Recognizer, serving_endpoints

    model = Recognizer(get_config("tiny"))
    endpoints = serving_endpoints(model)
    serve, _ = endpoints["serving_default"]
    out = serve(tf.zeros([3, 40, 120, 3], tf.uint8))
    assert out["words"].shape == [3] and out["log_probability"].shape == [3]
    assert serve(tf.zeros([0, 32, 100, 3], tf.uint8))["words"].shape == [0]
    serve_bytes, _ = endpoints["image_bytes"]
    png = tf.io.encode_png(tf.zeros([20, 50, 1], tf.uint8))
    jpeg = tf.io.encode_jpeg(tf.zeros([33, 90, 3], tf.uint8))
    assert serve_bytes(tf.stack([png, jpeg]))["words"].shape == [2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="image_bytes element 1 is not a JPEG, PNG, GIF or BMP"):
        serve_bytes(tf.constant([png.numpy(), b"<html>"]))
