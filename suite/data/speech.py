"""Speech datasets: the embedded spoken corpus (espeak-ng), LJSpeech and LibriSpeech folders,
``tfds:librispeech``; batching by length.

A dataset is a ``SpeechSet``: its utterances' transcripts (normalised to
``suite.speech.text``'s vocabulary), their lengths in samples, and a loader
of each utterance's waveform (float32 in [-1, 1], 16 kHz mono: files at
another rate are resampled, stereo is averaged). Every file is checked when
the set is made, before training: an empty file, a corrupt header or a
missing file is a ``DataError`` naming it; a transcript with characters
outside the vocabulary (digits, accented letters) is skipped and counted,
and the set's ``skipped`` list names those files for the log.

``speech_dataset`` turns a set into batches of similar lengths
(``tf.data.Dataset.bucket_by_sequence_length``) so padding stays small.
"""
import concurrent.futures
import dataclasses
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from typing import Callable

import numpy as np

from suite.data.errors import DataError
from suite.data.files import REFUSE, cache_root
from suite.data.order import order_dataset
from suite.speech import text as T

EMBEDDED = "espeak"
SAMPLE_RATE = 16000
SPLITS = {"train": 0, "validation": 1, "test": 2}
CORPUS_VERSION = 1  # part of the cache folder's name: bump it when the corpus generator changes

# ------------------------------------------------------------------ the embedded corpus
_WORDS = {
    "det": "the a this that every one some no each my your our their".split(),
    "adj": ("red green blue yellow black white small large tiny huge old young quick slow quiet loud warm cold "
            "bright dark happy sad brave calm clever gentle heavy light long short strong soft sharp smooth "
            "strange simple famous hungry empty busy lazy lucky noisy proud rich poor wild wise fresh").split(),
    "noun": ("cat dog horse bird fish mouse lion tiger rabbit fox bear wolf goat sheep duck frog snake whale "
             "king queen farmer doctor teacher pilot sailor child girl boy baker singer painter driver judge "
             "house garden river mountain forest city village road bridge tower castle market school church "
             "boat train plane car bicycle ship wagon rocket "
             "apple bread cheese cake soup honey lemon orange carrot potato "
             "book letter song story picture window door table chair lamp clock mirror basket bottle box "
             "storm winter summer morning evening night moon star sun cloud rain snow wind fire stone "
             "island ocean desert valley field meadow hill lake").split(),
    "verb": ("sees finds likes wants needs takes brings holds paints builds opens closes follows watches "
             "carries pushes pulls catches throws buys sells cooks eats drinks reads writes loves hates "
             "visits leaves meets calls helps keeps shows hides fixes breaks washes draws chases").split(),
    "intransitive": ("sleeps runs walks jumps sings dances laughs cries waits swims flies falls rests works "
                     "plays smiles shouts whispers wanders travels").split(),
    "prep": "near under over behind beside across through inside outside above below around toward".split(),
    "adv": ("quickly slowly quietly loudly happily sadly gently badly early late today tonight again "
            "often never always sometimes").split(),
    "name": ("anna peter maria john lucy david emma oliver sophie james clara henry alice george rose "
             "thomas julia frank nora paul").split(),
    "number": "two three four five six seven eight nine ten twelve twenty".split(),
}
VOCABULARY_WORDS = sorted({w for ws in _WORDS.values() for w in ws})
# espeak-ng voices (accents, male and female variants) drawn per utterance with speed and pitch
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
          "en-us+f3", "en-us+m3", "en+f2", "en-gb+f4", "en-us+m5")


def _noun_phrase(rng, w):
    r = rng.random()
    if r < 0.15:
        return [rng.choice(w["name"])]
    if r < 0.25:
        return [rng.choice(w["number"]), rng.choice(w["noun"]) + "s"]
    phrase = [rng.choice(w["det"])]
    if rng.random() < 0.6:
        phrase.append(rng.choice(w["adj"]))
    return phrase + [rng.choice(w["noun"])]


def sentence(rng, max_words=10):
    """A random sentence of the corpus' grammar (subject, verb, object or place, adverb), at most
    ``max_words`` words (at least 2)."""
    w = _WORDS
    while True:
        words = _noun_phrase(rng, w)
        if rng.random() < 0.5:
            words += [rng.choice(w["verb"])] + _noun_phrase(rng, w)
        else:
            words.append(rng.choice(w["intransitive"]))
            if rng.random() < 0.5:
                words += [rng.choice(w["prep"])] + _noun_phrase(rng, w)
        if rng.random() < 0.3:
            words.append(rng.choice(w["adv"]))
        if len(words) > max_words:  # trim to a shorter utterance, still words of the grammar
            words = words[:max(2, max_words)]
        return " ".join(str(x) for x in words)


def _espeak():
    path = shutil.which("espeak-ng")
    if path is None:
        raise DataError("the embedded spoken corpus (--data espeak) needs espeak-ng: "
                        "apt-get install espeak-ng (or use --data with LJSpeech or LibriSpeech)")
    return path


def synthesize(text, voice="en-us", speed=160, pitch=50):
    """espeak-ng's speech of ``text``: (int16 samples, sample rate)."""
    out = subprocess.run([_espeak(), "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout", text],
                         capture_output=True, check=False)
    if out.returncode or len(out.stdout) <= 44:
        raise DataError(f"espeak-ng failed on {text!r} (voice {voice}): {out.stderr.decode(errors='replace')}")
    # --stdout writes a streaming header (sizes unknown): the rate is at byte 24, samples from 44
    rate = struct.unpack("<I", out.stdout[24:28])[0]
    return np.frombuffer(out.stdout[44:], np.int16), rate


def resample(waveform, rate, target=SAMPLE_RATE):
    """Band-limited resampling by the FFT (as ``scipy.signal.resample``): float32 [T] at ``rate`` ->
    [round(T * target / rate)] at ``target``."""
    waveform = np.asarray(waveform, np.float32)
    if rate == target or len(waveform) == 0:
        return waveform
    n = len(waveform)
    m = max(1, int(round(n * target / rate)))
    spectrum = np.fft.rfft(waveform)
    bins = m // 2 + 1
    spectrum = spectrum[:bins] if len(spectrum) >= bins else np.pad(spectrum, (0, bins - len(spectrum)))
    return (np.fft.irfft(spectrum, m) * (m / n)).astype(np.float32)


def _utterance(seed, split, index, max_words):
    rng = np.random.default_rng([seed, SPLITS[split], index])
    text = sentence(rng, max_words)
    voice = VOICES[int(rng.integers(len(VOICES)))]
    speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 75))
    pcm, rate = synthesize(text, voice, speed, pitch)
    audio = resample(pcm.astype(np.float32) / 32768.0, rate)
    # a room: a little noise at a random level, and a random gain
    audio = audio * rng.uniform(0.5, 1.0) + rng.normal(0, rng.uniform(0.001, 0.01), len(audio)).astype(np.float32)
    return np.clip(audio, -1, 1), text


def _write_wav(path, audio, rate=SAMPLE_RATE):
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def embedded_corpus(count, seed=0, split="train", max_words=10, cache=None, progress=True):
    """The embedded spoken corpus: ``count`` utterances of the corpus' sentences spoken by
    espeak-ng (12 voices, speeds 130-200 words a minute, pitches 25-75, a random gain and noise),
    deterministic from ``seed``; the splits draw different sentences.

    Written once, in the LJSpeech layout (``wavs/*.wav`` at 16 kHz, ``metadata.csv``), under
    ``cache`` (default ``$SUITE_CACHE`` or ``~/.cache/suite``) in a folder named by its
    parameters, and renamed into place complete; returns the folder.
    """
    key = f"espeak-v{CORPUS_VERSION}-{split}-seed{seed}-n{count}-w{max_words}"
    root = os.path.join(cache or cache_root(), "speech")
    final = os.path.join(root, key)
    if os.path.isfile(os.path.join(final, "metadata.csv")):
        return final
    _espeak()
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{key}-", dir=root)
    try:
        os.makedirs(os.path.join(tmp, "wavs"))
        lines = [None] * count
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=count, desc=f"synthesising {split} utterances", unit="utt", file=sys.stderr,
                       mininterval=1.0 if sys.stderr.isatty() else 30.0)

        def make(i):
            audio, text = _utterance(seed, split, i, max_words)
            name = f"{split}-{i:06d}"
            _write_wav(os.path.join(tmp, "wavs", name + ".wav"), audio)
            lines[i] = f"{name}|{text}|{text}"
            if bar is not None:
                bar.update(1)

        with concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            list(pool.map(make, range(count)))
        if bar is not None:
            bar.close()
        with open(os.path.join(tmp, "metadata.csv"), "w") as f:
            f.write("\n".join(lines) + "\n")
        try:
            os.rename(tmp, final)
        except OSError:  # another process wrote it first
            if not os.path.isfile(os.path.join(final, "metadata.csv")):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# ------------------------------------------------------------------ audio files
def _check_audio_file(path):
    """(sample rate, samples) read from the header of a WAV or FLAC file; DataError naming the
    file if it is missing, empty or corrupt."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such audio file")
    size = os.path.getsize(path)
    if size == 0:
        raise DataError(f"{path}: empty audio file")
    with open(path, "rb") as f:
        head = f.read(42)
    if path.lower().endswith(".flac"):
        # 'fLaC', then the STREAMINFO block: rate (20 bits), channels, bits, total samples (36 bits)
        if head[:4] != b"fLaC" or len(head) < 26:
            raise DataError(f"{path}: not a FLAC file (corrupt header)")
        bits = int.from_bytes(head[18:26], "big")
        rate, samples = bits >> 44, bits & ((1 << 36) - 1)
        if rate == 0:
            raise DataError(f"{path}: corrupt FLAC header (sample rate 0)")
        return rate, samples
    try:
        with wave.open(path, "rb") as f:
            rate, samples, width, channels = f.getframerate(), f.getnframes(), f.getsampwidth(), f.getnchannels()
    except (wave.Error, EOFError, struct.error) as e:
        raise DataError(f"{path}: not a readable WAV file ({e})") from None
    if width not in (1, 2, 4) or rate == 0:
        raise DataError(f"{path}: unsupported WAV format ({8 * width}-bit, {rate} Hz)")
    if samples == 0:
        raise DataError(f"{path}: WAV file without samples")
    needed = samples * width * channels + 44  # the samples its header declares, after the smallest header
    if size < needed:
        raise DataError(f"{path}: truncated WAV file ({size} bytes; its header declares {samples} samples, "
                        f"at least {needed} bytes)")
    return rate, samples


def read_audio(path):
    """float32 [T] mono at 16 kHz from a WAV or FLAC file; DataError naming the file if it cannot
    be decoded."""
    rate, _ = _check_audio_file(path)
    try:
        if path.lower().endswith(".flac"):
            import tensorflow as tf
            import tensorflow_io as tfio

            with open(path, "rb") as f:
                pcm = tfio.audio.decode_flac(tf.constant(f.read()), dtype=tf.int16).numpy()
            audio = pcm.astype(np.float32) / 32768.0
        else:
            with wave.open(path, "rb") as f:
                width, channels, frames = f.getsampwidth(), f.getnchannels(), f.readframes(f.getnframes())
            dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}[width]
            audio = np.frombuffer(frames, dtype).astype(np.float32)
            audio = (audio - 128) / 128 if width == 1 else audio / float(2 ** (8 * width - 1))
            audio = audio.reshape(-1, channels)
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - any decoder failure is reported with the file
        raise DataError(f"{path}: cannot decode audio ({type(e).__name__}: {e})") from None
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise DataError(f"{path}: no audio samples")
    return resample(audio, rate)


# ------------------------------------------------------------------ datasets
@dataclasses.dataclass
class SpeechSet:
    """Utterances: ``texts`` (normalised), ``lengths`` (samples at 16 kHz), ``load(i)`` -> float32
    waveform, ``names`` (file of each, for errors and logs), ``skipped`` ([(file, reason)]). A
    prepared training split (``suite.data.prepare``) is streamed from its ``shards`` [(file,
    examples)] instead: its lengths are known, its texts and waveforms are in the shards."""

    name: str
    texts: list
    lengths: np.ndarray
    load: Callable[[int], np.ndarray]
    names: list
    skipped: list = dataclasses.field(default_factory=list)
    shards: tuple = ()

    def __len__(self):
        return len(self.lengths)

    @property
    def seconds(self):
        return float(np.sum(self.lengths)) / SAMPLE_RATE

    def report(self):
        """A line for the log on skipped utterances ('' when none)."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"{f}: {r}" for f, r in self.skipped[:5])
        more = f" (and {len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
        return f"{self.name}: skipped {len(self.skipped)} utterance(s) whose transcript is outside the vocabulary: " \
               f"{shown}{more}"

    def subset(self, count):
        count = min(count, len(self))
        return dataclasses.replace(self, texts=self.texts[:count], lengths=self.lengths[:count],
                                   names=self.names[:count])

    def in_memory(self, progress=False):
        """The same set with every waveform loaded once (small sets: the embedded corpus)."""
        waves = [self.load(i) for i in range(len(self))]
        return dataclasses.replace(self, load=lambda i: waves[i], lengths=np.array([len(w) for w in waves]))


def _file_set(name, entries, bad=None):
    """entries: [(audio path, raw transcript, where the transcript is)] -> SpeechSet; ``bad``: a
    ``suite.data.files.BadFiles`` (refuse a bad audio file, or skip it)."""
    texts, paths, lengths, skipped = [], [], [], []
    for path, raw, where in entries:
        header = (bad or REFUSE).check(_check_audio_file, path)
        if header is None:  # (reported with the run's other skipped files)
            continue
        rate, samples = header
        t = T.normalize(raw)
        oov = T.out_of_vocabulary(t)
        if oov or not t:
            skipped.append((where, f"characters {''.join(oov)!r}" if oov else "empty transcript"))
            continue
        texts.append(t)
        paths.append(path)
        lengths.append(int(round(samples * SAMPLE_RATE / rate)))
    if not texts:
        raise DataError(f"{name}: no usable utterance" + (f" ({len(skipped)} skipped)" if skipped else ""))
    return SpeechSet(name, texts, np.array(lengths, np.int64), lambda i: read_audio(paths[i]), paths, skipped)


def ljspeech_set(root, split="train", holdout_every=20, bad=None):
    """An LJSpeech folder: ``metadata.csv`` (``id|transcript|normalised transcript``) and
    ``wavs/<id>.wav``. LJSpeech has no official split: every ``holdout_every``-th utterance is held
    out (validation/test), the rest is training (``holdout_every=0``: every utterance, whatever
    ``split``: the embedded corpus writes one folder per split)."""
    meta = os.path.join(root, "metadata.csv")
    if not os.path.isfile(meta):
        raise DataError(f"{root}: no metadata.csv (an LJSpeech folder has metadata.csv and wavs/)")
    entries = []
    with open(meta, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("|")
            if len(fields) < 2:
                raise DataError(f"{meta}:{n}: expected 'id|transcript[|normalised transcript]', got {line!r}")
            held_out = bool(holdout_every) and (len(entries) % holdout_every) == holdout_every - 1
            entries.append((os.path.join(root, "wavs", fields[0] + ".wav"), fields[-1] if len(fields) > 2 else
                            fields[1], f"{meta}:{n}", held_out))
    chosen = entries if not holdout_every else [e for e in entries if e[3] == (split != "train")]
    return _file_set(root, [e[:3] for e in chosen], bad)


LIBRISPEECH_SPLITS = {"train": ("train-clean-100", "train-clean-360", "train-other-500"),
                      "validation": ("dev-clean",), "test": ("test-clean",)}


def librispeech_set(root, split="train", bad=None):
    """A LibriSpeech folder: ``<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` (lines
    ``ID TRANSCRIPT``) and ``ID.flac``; train reads the train-* subsets present, validation
    dev-clean, test test-clean."""
    subsets = [s for s in LIBRISPEECH_SPLITS[split] if os.path.isdir(os.path.join(root, s))]
    if not subsets:
        raise DataError(f"{root}: no {' or '.join(LIBRISPEECH_SPLITS[split])} folder (a LibriSpeech folder)")
    entries = []
    for subset in subsets:
        for directory, _, files in sorted(os.walk(os.path.join(root, subset))):
            for name in sorted(f for f in files if f.endswith(".trans.txt")):
                trans = os.path.join(directory, name)
                with open(trans, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if not line.strip():
                            continue
                        uid, _, raw = line.strip().partition(" ")
                        entries.append((os.path.join(directory, uid + ".flac"), raw, f"{trans}:{n}"))
    if not entries:
        raise DataError(f"{root}: no *.trans.txt under {', '.join(subsets)}")
    return _file_set(root, entries, bad)


def tfds_utterances(name, split="train"):
    """(expected count, a generator over ``tfds:NAME``'s split of ('ok', waveform float32, normalised
    text, where) or ('skip', where, reason)) -- streamed: ``tfds_set`` keeps them, ``prepare``
    writes them."""
    import tensorflow_datasets as tfds

    tfds_split = {"train": "train_clean100", "validation": "dev_clean", "test": "test_clean"}[split] \
        if name.startswith("librispeech") else split
    try:
        ds, info = tfds.load(name, split=tfds_split, download=False, with_info=True)
    except Exception as e:  # noqa: BLE001
        raise DataError(f"tfds:{name}: cannot load split {tfds_split!r} from TFDS_DATA_DIR ({e})") from None

    def utterances():
        for i, ex in enumerate(tfds.as_numpy(ds)):
            raw = ex["text"].decode("utf-8") if isinstance(ex["text"], bytes) else str(ex["text"])
            t = T.normalize(raw)
            where = f"tfds:{name}[{tfds_split}][{i}]"
            if T.out_of_vocabulary(t) or not t:
                yield "skip", where, "characters outside the vocabulary" if t else "empty transcript"
                continue
            raw = np.asarray(ex["speech"])  # TFDS Audio: int16 sample values (stored as int64), or floats
            audio = raw.astype(np.float32) / 32768.0 if np.issubdtype(raw.dtype, np.integer) else raw.astype(np.float32)
            if audio.ndim == 2:
                audio = audio.mean(-1)
            if audio.size == 0:
                yield "skip", where, "no audio"
                continue
            yield "ok", audio, t, where

    from suite.data.prepare import split_size

    return split_size(info, tfds_split), utterances()


def tfds_set(name, split="train", count=None):
    """``tfds:librispeech`` (or another TFDS speech set with 'speech' and 'text' features at
    16 kHz), prepared in TFDS_DATA_DIR; loaded into memory (``count`` examples at most) when it fits
    ``suite.data.prepare.MEMORY_BYTES`` (a larger one is prepared once instead)."""
    from suite.data.prepare import MemoryBudget

    budget = MemoryBudget(f"tfds:{name} {split}", "speech")
    waves, texts, names, skipped = [], [], [], []
    for row in tfds_utterances(name, split)[1]:
        if count is not None and len(waves) >= count:
            break
        if row[0] == "skip":
            skipped.append(row[1:])
            continue
        _, audio, t, where = row
        budget.add(audio.nbytes)
        waves.append(audio)
        texts.append(t)
        names.append(where)
    if not waves:
        raise DataError(f"tfds:{name}: no usable utterance in split {split!r}")
    return SpeechSet(f"tfds:{name}", texts, np.array([len(w) for w in waves], np.int64), lambda i: waves[i], names,
                     skipped)


def prepared_set(root, split, count=None, stream=True):
    """A prepared split (``suite.data.prepare``, checked): streamed from its shards (``stream``: the
    training split), or its first ``count`` utterances read into memory (the held-out split)."""
    import tensorflow as tf

    from suite.data import prepare

    _, entry = prepare.split_entry(root, split, "speech")
    name = f"{prepare.PREFIX}{root} {split}"
    shards = tuple((os.path.join(root, s["file"]), s["count"]) for s in entry["shards"])
    if stream:
        if count:
            raise DataError(f"{name}: a prepared split trains on all of its {entry['count']} utterances (prepare "
                            "fewer with python -m suite.data.prepare speech --count)")
        return SpeechSet(name, [], np.asarray(entry["lengths"], np.int64), None, [], shards=shards)
    records = tf.data.TFRecordDataset([f for f, _ in shards]).map(prepare.parse_speech)
    if count:
        records = records.take(count)
    rows = [(np.round(r["waveform"] * 32768).astype(np.int16), r["text"].decode("utf-8"), r["name"].decode("utf-8"))
            for r in records.as_numpy_iterator()]  # kept as 16-bit samples: half the memory of floats
    waves, texts, names = (list(x) for x in zip(*rows)) if rows else ([], [], [])
    if not waves:
        raise DataError(f"{name}: no utterance")
    return SpeechSet(name, texts, np.array([len(w) for w in waves], np.int64),
                     lambda i: waves[i].astype(np.float32) / 32768.0, names)


def speech_set(data, split, seed=0, count=None, max_words=10, cache=None, progress=True, bad=None, stream=True):
    """The ``--data`` dispatcher: 'espeak' (embedded, ``count`` utterances), 'tfds:NAME',
    'tfrecord:DIR' (prepared: ``prepared_set``, streamed unless not ``stream``), or an LJSpeech or
    LibriSpeech folder (``bad``: a ``suite.data.files.BadFiles``)."""
    from suite.data.prepare import PREFIX

    if data.startswith(PREFIX):
        return prepared_set(os.path.expanduser(data[len(PREFIX):]), split, count, stream)
    if data == EMBEDDED:
        folder = embedded_corpus(count, seed, split, max_words, cache=cache, progress=progress)
        return ljspeech_set(folder, split, holdout_every=0).in_memory()
    if data.startswith("tfds:"):
        return tfds_set(data[5:], split, count)
    if not os.path.isdir(data):
        raise DataError(f"--data {data}: no such folder (expected 'espeak', 'tfds:NAME', an LJSpeech or a "
                        "LibriSpeech folder)")
    if os.path.isfile(os.path.join(data, "metadata.csv")):
        out = ljspeech_set(data, split, bad=bad)
    else:
        out = librispeech_set(data, split, bad=bad)
    return out.subset(count) if count else out


def speech_dataset(speech, batch_size, training=True, seed=0, shard=(1, 0), buckets=8, start=0):
    """Batches {'waveforms' float32 [B, T], 'lengths' int32 [B], 'labels' int32 [B, L],
    'label_lengths' int32 [B]} of utterances of similar length (``buckets`` length ranges at the
    set's quantiles): for training, an endless stream in a new random order every epoch, from its
    ``start * batch_size``-th utterance; otherwise every utterance once, in order."""
    import tensorflow as tf

    if speech.shards:
        return _record_dataset(speech, batch_size, training, seed, shard, buckets, start)
    labels = [T.encode(t) for t in speech.texts]
    index = np.arange(len(speech))[shard[1]::shard[0]]

    def load(i):  # WAV/FLAC decoding and the cached corpus in NumPy: mapped in parallel, in order
        w = speech.load(int(i))
        return w.astype(np.float32), np.int32(len(w)), np.asarray(labels[i], np.int32), np.int32(len(labels[i]))

    def example(i):
        w, n, y, m = tf.numpy_function(load, [i], (tf.float32, tf.int32, tf.int32, tf.int32), stateful=False)
        return {"waveforms": tf.ensure_shape(w, [None]), "lengths": tf.ensure_shape(n, []),
                "labels": tf.ensure_shape(y, [None]), "label_lengths": tf.ensure_shape(m, [])}

    spec = {"waveforms": tf.TensorSpec([None], tf.float32), "lengths": tf.TensorSpec([], tf.int32),
            "labels": tf.TensorSpec([None], tf.int32), "label_lengths": tf.TensorSpec([], tf.int32)}
    order = (order_dataset(index, [seed, shard[1]], start * batch_size) if training
             else tf.data.Dataset.from_tensor_slices(index.astype(np.int64)))
    ds = order.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _bucketed(ds, speech.lengths[index], batch_size, training, buckets, spec)


def _record_dataset(speech, batch_size, training, seed, shard, buckets, start):
    """``speech_dataset`` of a prepared split: this worker's share of the shards (file-level
    sharding: ``shard`` = (count, index)); in training, epoch e reads them in the order drawn from
    (seed, e), ``cycle`` at a time interleaved, through a shuffle buffer seeded from ``seed``, from the
    ``start * batch_size``-th utterance of the endless stream."""
    import tensorflow as tf

    from suite.data.prepare import parse_speech

    mine = speech.shards[shard[1]::shard[0]]
    if not mine:
        raise DataError(f"{speech.name}: {len(speech.shards)} shards cannot be shared by {shard[0]} workers")
    files = [f for f, _ in mine]
    count = sum(n for _, n in mine)
    cycle = min(len(files), 8)

    def permutation(e):  # epoch e's order of this worker's shards
        return np.random.default_rng([seed, 31, int(e)]).permutation(len(files)).astype(np.int64)

    def one_epoch(e):
        order = tf.data.Dataset.from_tensor_slices(files)
        if training:  # (a shuffle's seed must be a Python int: a tensor one fails in the strategy's graph)
            picked = tf.ensure_shape(tf.numpy_function(permutation, [e], tf.int64, stateful=False), [len(files)])
            order = tf.data.Dataset.from_tensor_slices(tf.gather(tf.constant(files), picked))
        ds = order.interleave(tf.data.TFRecordDataset, cycle_length=cycle, num_parallel_calls=tf.data.AUTOTUNE,
                              deterministic=True)
        return ds.shuffle(min(count, 2048), seed=2 * seed + 1) if training else ds

    if training:
        epoch, position = divmod(int(start) * batch_size, count)
        records = tf.data.Dataset.counter(epoch).flat_map(one_epoch).skip(position)
    else:
        records = one_epoch(tf.constant(0, tf.int64))

    def example(record):
        r = parse_speech(record)
        return {"waveforms": r["waveform"], "lengths": tf.shape(r["waveform"])[0], "labels": r["labels"],
                "label_lengths": tf.shape(r["labels"])[0]}

    spec = {"waveforms": tf.TensorSpec([None], tf.float32), "lengths": tf.TensorSpec([], tf.int32),
            "labels": tf.TensorSpec([None], tf.int32), "label_lengths": tf.TensorSpec([], tf.int32)}
    ds = records.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _bucketed(ds, speech.lengths, batch_size, training, buckets, spec)


def _bucketed(ds, lengths, batch_size, training, buckets, spec):
    """Batches of utterances of similar length: ``buckets`` length ranges at the quantiles of
    ``lengths``, each padded to its longest."""
    import tensorflow as tf

    bounds = sorted({int(b) for b in np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1])}) if buckets > 1 \
        and len(lengths) > batch_size else []
    pad = {"waveforms": 0.0, "lengths": 0, "labels": T.BLANK, "label_lengths": 0}
    ds = ds.bucket_by_sequence_length(
        lambda x: x["lengths"], bounds, [batch_size] * (len(bounds) + 1),
        padding_values={k: tf.constant(v, spec[k].dtype) for k, v in pad.items()}, drop_remainder=training)
    return ds.prefetch(tf.data.AUTOTUNE)
