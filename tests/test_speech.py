"""Speech recognition units: the vocabulary, features, SpecAugment, the CTC loss and decoders on
hand-made cases, DS2's output lengths, error rates, resampling, the readers and their errors."""
import math
import os
import wave

import numpy as np
import pytest
import tensorflow as tf

from suite.data import speech as S
from suite.data.errors import DataError
from suite.layers.audio import ContextWindow, LogMelSpectrogram, SpecAugment
from suite.speech import models, training
from suite.speech import text as T


def test_vocabulary_normalizes_encodes_and_decodes():
    assert T.NUM_CLASSES == 29 and T.BLANK == 28 and T.CHARACTERS[0] == " "
    assert T.normalize("  Hello, World!  It's -- FINE.") == "hello world it's fine"
    ids = T.encode("it's a cat")
    assert T.decode(ids) == "it's a cat" and T.decode([*ids, T.BLANK]) == "it's a cat"
    assert T.out_of_vocabulary(T.normalize("Café 42")) == ["2", "4", "é"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        T.encode("r2d2")


def _onehot_logits(probabilities):
    """Logits over the 29 classes giving these probabilities to (class -> p) per frame."""
    rows = []
    for frame in probabilities:
        p = np.full(T.NUM_CLASSES, 1e-12)
        for k, v in frame.items():
            p[k] = v
        rows.append(np.log(p / p.sum()))
    return tf.constant([rows], tf.float32)


def test_ctc_loss_sums_the_probability_of_every_alignment():
    a, blank = T.CHARACTERS.index("a"), T.BLANK
    frames = [{a: 0.6, blank: 0.4}, {a: 0.3, blank: 0.7}]
    logits = _onehot_logits(frames)
    # "a" in 2 frames: (a, a), (a, -), (-, a)
    p = 0.6 * 0.3 + 0.6 * 0.7 + 0.4 * 0.3
    loss = training.ctc_loss(logits, [2], [[a]], [1])
    np.testing.assert_allclose(float(loss[0]), -math.log(p), rtol=1e-4)
    # "aa" in 3 frames: only (a, -, a): the blank must separate the repeats
    logits3 = _onehot_logits([{a: 0.5, blank: 0.5}, {a: 0.2, blank: 0.8}, {a: 0.9, blank: 0.1}])
    loss = training.ctc_loss(logits3, [3], [[a, a]], [2])
    np.testing.assert_allclose(float(loss[0]), -math.log(0.5 * 0.8 * 0.9), rtol=1e-4)
    # the padding of shorter labels and logits is ignored
    padded = tf.concat([logits, tf.zeros([1, 3, T.NUM_CLASSES])], 1)
    loss = training.ctc_loss(padded, [2], [[a, 5, 5]], [1])
    np.testing.assert_allclose(float(loss[0]), -math.log(p), rtol=1e-4)


def test_decoders_collapse_repeats_and_remove_blanks():
    c = {ch: T.CHARACTERS.index(ch) for ch in "abo"}
    path = [c["b"], c["o"], c["o"], T.BLANK, c["o"], T.BLANK, T.BLANK, c["a"], c["a"]]
    logits = _onehot_logits([{k: 0.9} for k in path]) * 1.0
    for ids in (training.greedy_decode(logits, [9]), training.beam_decode(logits, [9], 4)):
        assert training.ids_to_strings(ids).numpy()[0].decode() == "booa"
    # only the first 3 frames count
    assert training.ids_to_strings(training.greedy_decode(logits, [3])).numpy()[0].decode() == "bo"


def test_error_rates_on_hand_made_transcripts():
    cer, wer, per = training.error_rates(["the cat", "a dog"], ["the hat", "a dog"])
    assert cer == pytest.approx(1 / 12) and wer == pytest.approx(1 / 4)
    np.testing.assert_allclose(per, [1 / 7, 0.0])
    cer, wer, _ = training.error_rates([""], ["abc def"])
    assert cer == pytest.approx(1.0) and wer == pytest.approx(1.0)


def _tone(freq, seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_the_spectrogram_of_a_pure_tone_peaks_at_its_frequency_bin():
    tone = _tone(1000.0)
    linear = LogMelSpectrogram(mel_bins=0, fft_length=512, normalization="utterance")
    features, frames = linear([tone[None], tf.constant([len(tone)])])
    assert int(frames[0]) == math.ceil(len(tone) / 160) == features.shape[1]
    peaks = np.argmax(features.numpy()[0, 2:-2], -1)  # away from the padded ends
    assert set(peaks) == {round(1000 * 512 / 16000)}  # bin 32
    mel = LogMelSpectrogram(mel_bins=40, normalization="none")
    features, _ = mel([tone[None], tf.constant([len(tone)])])
    centres = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 8000.0).numpy().argmax(0) * 16000 / 512
    assert abs(centres[int(np.median(np.argmax(features.numpy()[0, 2:-2], -1)))] - 1000) < 100


def test_features_are_normalised_per_utterance_over_its_own_frames():
    rng = np.random.default_rng(0)
    short, long = rng.normal(0, 0.1, 3200).astype(np.float32), rng.normal(0, 0.5, 8000).astype(np.float32)
    batch = np.zeros([2, 8000], np.float32)
    batch[0, :3200], batch[1] = short, long
    features, frames = LogMelSpectrogram()([batch, tf.constant([3200, 8000])])
    assert list(frames.numpy()) == [20, 50]
    f = features.numpy()
    np.testing.assert_allclose(f[0, :20].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(f[0, :20].std(0), 1, atol=1e-2)
    assert np.all(f[0, 20:] == 0)  # padding
    alone, _ = LogMelSpectrogram()([short[None], tf.constant([3200])])
    np.testing.assert_allclose(alone.numpy()[0], f[0, :20], atol=1e-4)  # padding changes nothing


def test_spec_augment_masks_in_training_only_and_inside_each_utterance():
    tf.random.set_seed(1)
    features = tf.ones([4, 50, 40])
    frames = tf.constant([50, 30, 10, 50])
    layer = SpecAugment(freq_masks=2, freq_width=8, time_masks=2, time_width=10, max_time_fraction=0.4)
    assert np.all(layer([features, frames], training=False).numpy() == 1)
    out = layer([features, frames], training=True).numpy()
    assert out.min() == 0 and out.mean() > 0.5
    for i, n in enumerate(frames.numpy()):
        masked_frames = np.where(np.all(out[i] == 0, axis=1))[0]
        assert len(masked_frames) <= 0.4 * n and (len(masked_frames) == 0 or masked_frames.max() < n)
        masked_bins = np.where(np.all(out[i] == 0, axis=0))[0]
        assert len(masked_bins) <= 2 * 8


def test_context_window_stacks_neighbouring_frames():
    x = tf.reshape(tf.range(1, 6, dtype=tf.float32), [1, 5, 1])
    out = ContextWindow(2)(x).numpy()[0]
    np.testing.assert_array_equal(out[0], [0, 0, 1, 2, 3])
    np.testing.assert_array_equal(out[4], [3, 4, 5, 0, 0])


def test_ds2_output_lengths_follow_the_convolution_strides():
    config = models.get_config("ds2", "tiny", conv_strides=((3, 2), (2, 2)), spec_augment=False)
    assert config.time_stride == 6
    net = models.build_model(config)
    lengths = [16000, 12345, 1600, 161]
    batch = np.zeros([4, 16000], np.float32)
    out = net([tf.constant(batch), tf.constant(lengths)])
    expected = [math.ceil(math.ceil(math.ceil(n / 160) / 3) / 2) for n in lengths]  # 'same' padding
    assert list(out["logit_lengths"].numpy()) == expected == [17, 13, 2, 1]
    assert out["logits"].shape[1] == expected[0]
    for n, e in zip(lengths, expected):  # the frames actually produced for an unpadded utterance
        alone = net([tf.zeros([1, n]), tf.constant([n])])
        assert alone["logits"].shape[1] == e == int(alone["logit_lengths"][0])


def test_ds1_structure_and_paper_presets():
    net = models.build_model(models.get_config("ds1", "tiny"))
    assert [l.name for l in net.layers if l.name.startswith("h")] == ["h1", "h2", "h3", "h4", "h5"]
    assert net.get_layer("h1").kernel.shape[0] == 11 * 40  # context 5 each side
    assert models.get_config("ds2", "paper").rnn_layers == 7 and models.get_config("ds1", "paper").hidden == 2048
    with pytest.raises(ValueError, match="model"):
        models.get_config("ds3", "tiny")


@pytest.mark.parametrize("model", ["ds1", "ds2"])
def test_a_train_step_lowers_the_ctc_loss_on_one_batch(model):
    tf.keras.utils.set_random_seed(0)
    recognizer = training.SpeechRecognizer(models.get_config(model, "tiny", spec_augment=False))
    recognizer.compile()
    waves = np.random.default_rng(0).normal(0, 0.1, [2, 8000]).astype(np.float32)
    batch = {"waveforms": tf.constant(waves), "lengths": tf.constant([8000, 6000]),
             "labels": tf.constant([T.encode("a cat"), T.encode("dog  ")]), "label_lengths": tf.constant([5, 3])}
    step = tf.function(recognizer.train_step)
    first = float(step(batch)["loss"])
    for _ in range(15):
        last = float(step(batch)["loss"])
    assert np.isfinite(first) and last < first * 0.7


# ------------------------------------------------------------------ resampling and data
def test_resampling_keeps_a_tone_at_its_frequency_in_numpy_and_in_the_graph():
    rate = 22050
    tone = _tone(440.0, 1.0, rate)
    out = S.resample(tone, rate)
    assert len(out) == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(out))) - 440) <= 1  # 1 Hz bins
    graph = training.resample_in_graph(tf.constant(tone), tf.constant(rate)).numpy()
    np.testing.assert_allclose(graph, out, atol=1e-4)
    assert training.resample_in_graph(tf.constant(out), tf.constant(16000)).shape == (16000,)


def _write_wav(path, audio, rate=16000, channels=1):
    data = np.repeat(audio[:, None], channels, 1) if channels > 1 else audio
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((data * 32767).astype("<i2").tobytes())


def write_ljspeech(root, entries, rate=22050):
    """entries: [(id, transcript, audio or bytes or None (no file))]."""
    os.makedirs(os.path.join(root, "wavs"), exist_ok=True)
    lines = []
    for uid, text, audio in entries:
        path = os.path.join(root, "wavs", uid + ".wav")
        if isinstance(audio, bytes):
            with open(path, "wb") as f:
                f.write(audio)
        elif audio is not None:
            _write_wav(path, audio, rate, channels=2)
        lines.append(f"{uid}|{text}|{text}")
    with open(os.path.join(root, "metadata.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")


def test_ljspeech_reader_resamples_averages_channels_and_counts_skips(tmp_path):
    tone = _tone(300.0, 0.5, 22050)
    write_ljspeech(str(tmp_path), [(f"LJ{i:03d}", "Hello, World!" if i != 2 else "Chapter 12 - café", tone)
                                   for i in range(4)])
    s = S.ljspeech_set(str(tmp_path), "train", holdout_every=0)
    assert len(s) == 3 and s.texts[0] == "hello world"
    assert len(s.skipped) == 1 and "LJ002" not in s.skipped[0][0] and "metadata.csv:3" in s.skipped[0][0]
    assert "skipped 1 utterance" in s.report() and "metadata.csv:3" in s.report()
    audio = s.load(0)
    assert len(audio) == s.lengths[0] == 8000 and abs(np.abs(audio).max() - 0.5) < 0.05
    held = S.ljspeech_set(str(tmp_path), "validation", holdout_every=2)
    assert [os.path.basename(n) for n in held.names] == ["LJ001.wav", "LJ003.wav"]  # every second one
    assert [os.path.basename(n) for n in S.ljspeech_set(str(tmp_path), "train", holdout_every=2).names] == \
        ["LJ000.wav"]  # LJ002's transcript is outside the vocabulary


def _truncated_wav():
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes(np.zeros(4000, "<i2").tobytes())
    return buffer.getvalue()[:5000]  # its header still declares 4,000 samples


@pytest.mark.parametrize("content, message", [(b"", "empty audio file"), (b"RIFF\x00garbage" * 3, "not a readable WAV"),
                                              (None, "no such audio file"),
                                              (_truncated_wav(), "truncated WAV file .5000 bytes; its header "
                                                                 "declares 4000 samples")])
def test_bad_audio_files_are_named(tmp_path, content, message):
    write_ljspeech(str(tmp_path), [("LJ000", "fine", _tone(300.0, 0.2, 16000)), ("LJ001", "bad", content)])
    with pytest.raises(DataError, match=message) as e:
        S.speech_set(str(tmp_path), "train")
    assert "LJ001.wav" in str(e.value) and "--skip-bad-files" in str(e.value)
    # --skip-bad-files: the bad file left out and named, the good one kept
    from suite.data.files import BadFiles

    bad = BadFiles(skip=True)
    s = S.speech_set(str(tmp_path), "train", bad=bad)
    assert [os.path.basename(n) for n in s.names] == ["LJ000.wav"]
    assert len(bad.skipped) == 1 and "LJ001.wav" in bad.skipped[0] and message.split()[0] in bad.skipped[0]


def wav_bytes(samples, rate, bits, fmt=1, extensible=False, declared=None):
    """float samples [T, C] in [-1, 1) -> the bytes of a WAV file: integer PCM of ``bits`` (fmt 1) or 32-bit
    float (fmt 3), optionally WAVE_FORMAT_EXTENSIBLE, with a LIST chunk before the data (as many writers
    add); ``declared``: the data size its header claims (default: the true one)."""
    import struct

    c = samples.shape[1]
    if fmt == 3:
        payload = samples.astype("<f4").tobytes()
    elif bits == 8:
        payload = np.clip(np.round(samples * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    else:
        v = np.clip(np.round(samples * 2.0 ** (bits - 1)), -2 ** (bits - 1), 2 ** (bits - 1) - 1).astype(np.int64)
        payload = np.stack([(v >> (8 * k)) & 255 for k in range(bits // 8)], -1).astype(np.uint8).tobytes()
    block = c * bits // 8
    if extensible:  # the sub-format GUID begins with the format code
        fmt_chunk = struct.pack("<HHIIHHHHIH14s", 0xFFFE, c, rate, rate * block, block, bits, 22, bits, 0, fmt,
                                bytes.fromhex("000000001000800000aa00389b71"))
    else:
        fmt_chunk = struct.pack("<HHIIHH", fmt, c, rate, rate * block, block, bits)
    body = (b"WAVEfmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk + b"LIST" + struct.pack("<I", 3) + b"abc\x00"
            + b"data" + struct.pack("<I", len(payload) if declared is None else declared) + payload)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_decoding_in_tensorflow_ops_reads_every_sample_format():
    from suite.speech.wav import decode_wav

    x = np.random.default_rng(0).uniform(-0.9, 0.9, (1000, 2)).astype(np.float32)
    decode = tf.function(lambda data: decode_wav(data, "wav element 2"), input_signature=[tf.TensorSpec([], tf.string)])
    for bits, fmt, extensible, tolerance in ((8, 1, False, 1 / 128), (16, 1, False, 1e-4), (24, 1, False, 1e-6),
                                             (32, 1, False, 1e-6), (32, 3, False, 0), (24, 1, True, 1e-6),
                                             (32, 3, True, 0)):
        audio, rate = decode(wav_bytes(x, 44100, bits, fmt, extensible))
        assert int(rate) == 44100 and audio.shape == (1000,)
        np.testing.assert_allclose(audio, x.mean(1), atol=tolerance, err_msg=f"{bits} bits, format {fmt}")
    # a plain 16-bit file (Python's wave module) reads as TensorFlow's own decoder reads it (which stops at
    # the LIST chunk above: "No data chunk found")
    import io

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((x * 32767).astype("<i2").tobytes())
    reference, _ = tf.audio.decode_wav(buffer.getvalue())
    np.testing.assert_allclose(decode(buffer.getvalue())[0], tf.reduce_mean(reference, -1), atol=1e-6)
    streaming, _ = decode(wav_bytes(x, 16000, 16, declared=0xFFFFFFFF))  # a writer that never knew the size
    assert streaming.shape == (1000,)
    good = wav_bytes(x, 16000, 16)
    for data, message in ((np.random.default_rng(1).bytes(300), "not a WAV file"),
                          (good[:-100], "truncated WAV file"),
                          (good[:34] + (12).to_bytes(2, "little") + good[36:], "unsupported WAV format"),
                          (b"RIFF" + good[4:12] + good[-2008:], "not a whole WAV file .no fmt or data chunk")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"wav element 2: {message}"):
            decode(data)


def write_librispeech(root, utterances):
    """utterances: [(speaker, chapter, index, transcript, audio)] -> FLAC files and trans.txt."""
    import tensorflow_io as tfio

    groups = {}
    for spk, ch, i, text, audio in utterances:
        folder = os.path.join(root, "train-clean-100", str(spk), str(ch))
        os.makedirs(folder, exist_ok=True)
        uid = f"{spk}-{ch}-{i:04d}"
        pcm = tf.constant((audio * 32767).astype(np.int16)[:, None])
        with open(os.path.join(folder, uid + ".flac"), "wb") as f:
            f.write(tfio.audio.encode_flac(pcm, 16000).numpy())
        groups.setdefault(folder, []).append(f"{uid} {text}")
    for folder, lines in groups.items():
        name = "-".join(folder.split(os.sep)[-2:]) + ".trans.txt"
        with open(os.path.join(folder, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def test_librispeech_reader_decodes_flac(tmp_path):
    tone = _tone(500.0, 0.3)
    write_librispeech(str(tmp_path), [(19, 198, 0, "NORTHANGER ABBEY", tone), (19, 198, 1, "CHAPTER ONE", tone),
                                      (26, 495, 0, "I'M HERE", tone[:1600])])
    s = S.speech_set(str(tmp_path), "train")
    assert s.texts == ["northanger abbey", "chapter one", "i'm here"]
    assert list(s.lengths) == [4800, 4800, 1600]
    np.testing.assert_allclose(s.load(2), tone[:1600], atol=1e-3)
    with pytest.raises(DataError, match="dev-clean"):
        S.speech_set(str(tmp_path), "validation")
    with open(os.path.join(tmp_path, "train-clean-100", "19", "198", "19-198-0001.flac"), "wb") as f:
        f.write(b"not flac")
    with pytest.raises(DataError, match="19-198-0001.flac: not a FLAC file"):
        S.speech_set(str(tmp_path), "train")


def test_tfds_librispeech_reader_scales_skips_and_maps_splits(tmp_path):
    """``tfds:librispeech`` through TFDS' mock: int16-range speech becomes [-1, 1], a transcript with
    digits is skipped and named, 'validation' reads dev_clean, an unprepared set is a DataError."""
    import tensorflow_datasets as tfds

    tone = _tone(440.0, 0.2)
    examples = [("HELLO THERE", tone), ("ROOM 101", tone[:800]), ("IT'S FINE", tone[:1600])]
    splits = []

    def as_dataset(self, split, **kwargs):
        splits.append(split)
        return tf.data.Dataset.from_generator(
            lambda: ({"speech": np.round(w * 32768).astype(np.int64), "text": t.encode(), "id": f"u{i}".encode(),
                      "speaker_id": np.int64(1), "chapter_id": np.int64(2)} for i, (t, w) in enumerate(examples)),
            output_signature={"speech": tf.TensorSpec([None], tf.int64), "text": tf.TensorSpec([], tf.string),
                              "id": tf.TensorSpec([], tf.string), "speaker_id": tf.TensorSpec([], tf.int64),
                              "chapter_id": tf.TensorSpec([], tf.int64)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        s = S.speech_set("tfds:librispeech", "validation")
        assert splits == ["dev_clean"]
        assert s.texts == ["hello there", "it's fine"] and list(s.lengths) == [3200, 1600]
        np.testing.assert_allclose(s.load(1), tone[:1600], atol=1e-3)
        assert len(s.skipped) == 1 and "tfds:librispeech[dev_clean][1]" in s.report()
        # a split larger than memory allows is refused, and prepared streaming instead
        from suite.data import prepare

        with pytest.MonkeyPatch.context() as m:
            m.setattr(prepare, "MEMORY_BYTES", 10000)  # two utterances of 3,200 and 1,600 float32 samples
            with pytest.raises(DataError, match=r"tfds:librispeech validation: more than .* GiB decoded.*"
                                                r"python -m suite.data.prepare speech --data tfds:librispeech"):
                S.speech_set("tfds:librispeech", "validation")
        out = prepare.prepare_speech("tfds:librispeech", str(tmp_path / "ls"), splits=("validation",), progress=False)
        ready = S.speech_set(f"tfrecord:{out}", "validation", stream=False)
        assert ready.texts == s.texts and list(ready.lengths) == [3200, 1600]
        np.testing.assert_allclose(ready.load(1), tone[:1600], atol=1e-3)
    with pytest.raises(DataError, match="tfds:no_such_speech_set"):
        S.speech_set("tfds:no_such_speech_set", "train")


def test_embedded_corpus_is_speech_deterministic_and_split(tmp_path):
    a = S.speech_set("espeak", "train", seed=3, count=6, max_words=4, progress=False)
    # synthesised again from nothing, in a cache of its own: the same sentences and the same samples
    b = S.speech_set("espeak", "train", seed=3, count=6, max_words=4, progress=False, cache=str(tmp_path))
    assert b.names[0].startswith(str(tmp_path)) and not a.names[0].startswith(str(tmp_path))
    held = S.speech_set("espeak", "validation", seed=3, count=6, max_words=4, progress=False)
    assert a.texts == b.texts and a.texts != held.texts
    assert all(2 <= len(t.split()) <= 4 and not T.out_of_vocabulary(t) for t in a.texts)
    assert all(set(t.split()) <= set(S.VOCABULARY_WORDS) | {w + "s" for w in S.VOCABULARY_WORDS} for t in a.texts)
    np.testing.assert_array_equal(a.load(0), b.load(0))
    audio = a.load(0)
    assert 0.3 < len(audio) / 16000 < 5 and np.abs(audio).max() > 0.1  # seconds of real sound, not silence
    assert len(S.VOCABULARY_WORDS) >= 250


def test_batches_by_length_keep_padding_small():
    lengths = np.array([1000, 9000, 1100, 9100, 1050, 9050, 990, 8900])
    s = S.SpeechSet("toy", ["ab"] * 8, lengths, lambda i: np.ones(lengths[i], np.float32), [str(i) for i in range(8)])
    batches = list(S.speech_dataset(s, 2, training=False, buckets=2))
    assert sum(len(b["lengths"]) for b in batches) == 8
    for b in batches:
        n = b["lengths"].numpy()
        assert n.max() - n.min() < 500 and b["waveforms"].shape[1] == n.max()
        assert list(b["label_lengths"].numpy()) == [2] * len(n)
