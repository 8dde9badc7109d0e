"""recipes.deepspeech end to end: DS2 and DS1 learn the embedded spoken corpus (held-out CER far
below the untrained model's), the export transcribes a waveform and a WAV file in a
TensorFlow-only process, training resumes, and bad audio is refused before anything is written."""
import json
import os

import numpy as np
import pytest

from conftest import assert_refused_cleanly, result_json, run_python
from test_speech import write_ljspeech

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--learning-rate")
SMALL = ("--preset", "tiny", "--num-utterances", "48", "--eval-utterances", "8", "--epochs", "1",
         "--steps-per-epoch", "3", "--batch-size", "8", "--no-progress")


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.deepspeech", "--help"]).stdout
    for flag in CORE + ("--model", "--beam-width", "--no-spec-augment", "--num-utterances", "--eval-utterances"):
        assert flag in out, flag


def transcribe_in_tensorflow_only(export, wav_path, reference_path, cwd):
    """Calls both signatures in a process that imports TensorFlow alone: the float waveform of
    ``reference_path`` (16 kHz WAV) and the bytes of ``wav_path`` (any rate)."""
    script = (
        "import json, sys, wave, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(export)!r})\n"
        f"with wave.open({str(reference_path)!r}) as f:\n"
        "    x = np.frombuffer(f.readframes(f.getnframes()), '<i2').astype(np.float32) / 32768\n"
        "waves = np.zeros([2, len(x) + 800], np.float32); waves[0, :len(x)] = x; waves[1, :4000] = x[:4000]\n"
        "a = m.signatures['serving_default'](waveforms=tf.constant(waves), lengths=tf.constant([len(x), 4000]))\n"
        f"b = m.signatures['transcribe_wav'](wav=tf.constant([open({str(wav_path)!r}, 'rb').read()]))\n"
        "assert not [k for k in sys.modules if k.startswith(('suite', 'recipes'))]\n"
        "print('SERVED' + json.dumps({'waveform': [t.decode() for t in a['transcripts'].numpy()],\n"
        "    'wav': [t.decode() for t in b['transcripts'].numpy()], 'shape': a['log_probabilities'].shape.as_list(),\n"
        "    'samples': len(x), 'frames': a['frames'].numpy().tolist(), 'sums': float(np.exp(a['log_probabilities'][0, 0].numpy()).sum())}))\n"
    )
    out = run_python(["-c", script], cwd=str(cwd)).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("SERVED")][-1][len("SERVED"):])


def _resampled_copy(reference, path, rate=22050):
    """The reference utterance written again at another rate, in stereo (the WAV signature's work)."""
    import wave

    from suite.data.speech import read_audio, resample

    audio = resample(read_audio(reference), 16000, rate)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.repeat(audio[:, None], 2, 1) * 32767).astype("<i2").tobytes())
    return path


def _learn(python, tmp_path, model, steps, *extra):
    result = result_json(python(["-m", "recipes.deepspeech", "--model", model, "--preset", "tiny", "--no-progress",
                                 "--steps-per-epoch", str(steps), *extra, "--logdir", str(tmp_path / "logs"),
                                 "--export-dir", str(tmp_path / "export")], timeout=1700).stdout)
    print(json.dumps({k: result[k] for k in ("initial", "history", "audio_seconds_per_second")}))
    return result


def _held_out_utterance():
    from suite.data import speech

    folder = speech.embedded_corpus(100, 0, "validation", 6, progress=False)
    with open(os.path.join(folder, "metadata.csv")) as f:
        uid, text, _ = f.readline().strip().split("|")
    return os.path.join(folder, "wavs", uid + ".wav"), text


# the first speech learning test also writes the 3,000-utterance corpus: 284 s on the CI machine,
# but a shared 2-core machine ran its training alone 2x slower (465 s for 250 steps): the recipe gets
# 1700 s (run_python's 600 s default killed it) and the test 1800 s (pytest.ini's 900 s is for hangs)
@pytest.mark.timeout(1800)
@pytest.mark.slow
def test_ds2_learns_the_embedded_corpus_and_transcribes_in_tensorflow_only(python, tmp_path):
    """Tiny DS2, 2 x 250 steps of 16 utterances: held-out CER far below the untrained model's."""
    result = _learn(python, tmp_path, "ds2", 250, "--beam-width", "4")
    assert result["step"] == 500
    assert result["initial"]["cer"] > 0.8 and result["initial"]["wer"] > 0.95
    assert result["eval"]["cer"] < 0.35 and result["eval"]["wer"] < 0.85
    assert result["eval"]["cer_beam"] < 0.35
    assert result["history"][-1][1]["cer"] < result["history"][0][1]["cer"]
    reference, text = _held_out_utterance()
    served = transcribe_in_tensorflow_only(result["export"], _resampled_copy(reference, tmp_path / "x.wav"),
                                           reference, tmp_path)
    from suite.speech.training import error_rates

    # frames: ceil(samples / 160) feature frames, halved (rounding up) by DS2's time stride; the
    # log-probabilities are padded to the batch's longest (the waveforms carry 800 samples of padding)
    def logit_frames(samples):
        return -(-(-(-samples // 160)) // 2)

    assert served["shape"][0] == 2 and served["shape"][2] == 29
    assert served["frames"] == [logit_frames(served["samples"]), logit_frames(4000)]
    assert served["shape"][1] == logit_frames(served["samples"] + 800)
    assert abs(served["sums"] - 1) < 1e-3
    assert error_rates([served["waveform"][0]], [text])[0] < 0.5, (served, text)
    assert error_rates([served["wav"][0]], [text])[0] < 0.5, (served, text)  # 22.05 kHz stereo, resampled


@pytest.mark.timeout(1800)
@pytest.mark.slow
def test_ds1_learns_the_embedded_corpus(python, tmp_path):
    """Tiny DS1 (context window, dense layers, one bidirectional RNN), 2 x 250 steps."""
    result = _learn(python, tmp_path, "ds1", 250)
    assert result["step"] == 500
    # untrained, DS1 emits characters on most frames (CER well above 1); measured 0.20 after 500 steps
    assert result["initial"]["cer"] > 0.8
    assert result["eval"]["cer"] < 0.4 and result["eval"]["wer"] < 0.95
    assert result["history"][-1][1]["cer"] < result["history"][0][1]["cer"]


def test_resumes_and_refuses_other_settings(python, tmp_path):
    base = ["-m", "recipes.deepspeech", *SMALL, "--logdir", str(tmp_path / "logs"),
            "--export-dir", str(tmp_path / "export")]
    first = result_json(python(base).stdout)
    assert first["step"] == 3 and first["export"].endswith("deepspeech_ds2/1")
    again = python([*base, "--epochs", "2"])
    assert result_json(again.stdout)["step"] == 6 and "Resumed" in again.stderr
    other = python([*base, "--epochs", "3", "--model", "ds1"], check=False)
    assert other.returncode == 2 and "model" in other.stderr


def test_jit_compile_is_refused_for_ds2_and_compiles_ds1(python, tmp_path):
    proc = python(["-m", "recipes.deepspeech", "--jit-compile"], check=False)
    assert proc.returncode == 2 and "cuDNN" in proc.stderr
    result = result_json(python(["-m", "recipes.deepspeech", *SMALL, "--model", "ds1", "--jit-compile",
                                 "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "e")]).stdout)
    assert result["step"] == 3 and np.isfinite(result["logs"]["loss"])


def test_bad_audio_is_refused_before_anything_is_written(tmp_path):
    from test_speech import _tone

    tone = _tone(300.0, 0.5)
    for name, content, message in (("corrupt", b"RIFF" + b"\x01" * 60, "LJ001.wav: not a readable WAV"),
                                   ("empty", b"", "LJ001.wav: empty audio file")):
        root = tmp_path / name
        write_ljspeech(str(root), [("LJ000", "fine", tone), ("LJ001", "bad", content)])
        assert_refused_cleanly(["-m", "recipes.deepspeech", "--preset", "tiny", "--data", str(root)], message,
                               tmp_path / f"{name}-out")
    assert_refused_cleanly(["-m", "recipes.deepspeech", "--data", str(tmp_path / "nowhere")], "no such folder",
                           tmp_path / "nowhere-out")


def test_transcripts_outside_the_vocabulary_are_skipped_and_reported(python, tmp_path):
    from test_speech import _tone

    rng = np.random.default_rng(0)
    entries = [(f"LJ{i:03d}", "a tone" if i % 7 else "Room 101", _tone(float(rng.integers(200, 900)), 0.4))
               for i in range(40)]
    write_ljspeech(str(tmp_path / "lj"), entries)
    proc = python(["-m", "recipes.deepspeech", *SMALL, "--batch-size", "4", "--data", str(tmp_path / "lj"),
                   "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    assert "skipped" in proc.stderr and "metadata.csv:1" in proc.stderr and "'01'" in proc.stderr
    result = result_json(proc.stdout)
    assert result["skipped"] == 6 and result["step"] == 3


def test_two_replica_mirrored_run(python, tmp_path):
    result = result_json(python(["-m", "recipes.deepspeech", *SMALL, "--strategy", "mirrored", "--virtual-cpus", "2",
                                 "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "e")]).stdout)
    assert result["step"] == 3 and result["export"]
