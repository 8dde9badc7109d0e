"""recipes.deepspeech end to end: one tiny run each of DS2 and DS1 (killed with SIGKILL after their
first epoch and resumed) feeds the learning, export (a waveform and a WAV file transcribed in a
TensorFlow-only process) and TensorBoard checks; bad audio is refused before anything is written."""
import os

import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, loss_curve, readme_figure, refused_on_a_copy, replay_warmup,
                      result_json, serve_cases, tensorboard_tags, tensorflow_only)
from runs import RUNS, total_steps
from test_speech import wav_bytes, write_ljspeech

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--learning-rate", "--sync-batch-norm")
SMALL = ("--preset", "tiny", "--num-utterances", "48", "--eval-utterances", "8", "--epochs", "1",
         "--steps-per-epoch", "3", "--batch-size", "8", "--no-progress")
# tiny runs (tests/runs.py) at 8 utterances a step: DS2 2 x 188 steps, killed after the first; DS1 one epoch of 250
MODELS = ["ds2", "ds1"]


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.deepspeech", "--help"]).stdout
    for flag in CORE + ("--model", "--beam-width", "--no-spec-augment", "--num-utterances", "--eval-utterances"):
        assert flag in out, flag


def transcribe_in_tensorflow_only(export, wav_path, reference_path, cwd):
    """Calls both signatures in a process that imports TensorFlow alone: the float waveform of
    ``reference_path`` (16 kHz WAV) and the bytes of ``wav_path`` (any rate)."""
    return tensorflow_only(
        "import wave\nimport numpy as np\n"
        f"m = tf.saved_model.load({str(export)!r})\n"
        f"with wave.open({str(reference_path)!r}) as f:\n"
        "    x = np.frombuffer(f.readframes(f.getnframes()), '<i2').astype(np.float32) / 32768\n"
        "waves = np.zeros([2, len(x) + 800], np.float32); waves[0, :len(x)] = x; waves[1, :4000] = x[:4000]\n"
        "a = m.signatures['serving_default'](waveforms=tf.constant(waves), lengths=tf.constant([len(x), 4000]))\n"
        f"b = m.signatures['transcribe_wav'](wav=tf.constant([open({str(wav_path)!r}, 'rb').read()]))\n"
        "out = {'waveform': [t.decode() for t in a['transcripts'].numpy()],\n"
        "       'wav': [t.decode() for t in b['transcripts'].numpy()], 'shape': a['log_probabilities'].shape.as_list(),\n"
        "       'samples': len(x), 'frames': a['frames'].numpy().tolist(),\n"
        "       'sums': float(np.exp(a['log_probabilities'][0, 0].numpy()).sum())}\n", cwd)


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


def _held_out_utterance():
    from suite.data import speech

    folder = speech.embedded_corpus(100, 0, "validation", 6, progress=False)
    with open(os.path.join(folder, "metadata.csv")) as f:
        uid, text, _ = f.readline().strip().split("|")
    return os.path.join(folder, "wavs", uid + ".wav"), text


@pytest.fixture(scope="module", params=[pytest.param(m, marks=pytest.mark.trained(f"deepspeech_{m}"))
                                        for m in MODELS], ids=MODELS)
def tiny(request, trained):
    return request.param, trained.get(f"deepspeech_{request.param}")


@pytest.mark.slow
def test_tiny_run_learns_the_embedded_corpus_and_resumed_after_kill(tiny):
    model, run = tiny
    r = run.result
    key = f"deepspeech_{model}"
    assert run.resumed_at == RUNS[key][1] and r["step"] == total_steps(key)
    assert r["initial"]["cer"] > 0.8
    assert learned(r["initial"]["cer"], r["eval"]["cer"], readme_figure(model, "CER")) >= 0.5
    if model == "ds2":
        assert r["initial"]["wer"] > 0.95 and r["eval"]["cer_beam"] < r["initial"]["cer"]
    losses = loss_curve(run.logdir)  # from step 1 (untrained) across the kill
    assert losses[0][0] == 1 and losses[-1][1] < 0.5 * losses[0][1], losses


@pytest.mark.slow
@pytest.mark.trained("deepspeech_ds2")
def test_export_transcribes_a_waveform_and_any_wav_in_tensorflow_only(trained, tmp_path):
    """DS2's export (DS1's has the same signatures, built by the same code)."""
    from suite.data.speech import read_audio, resample
    from suite.speech.training import error_rates

    run = trained.get("deepspeech_ds2")
    reference, text = _held_out_utterance()
    served = transcribe_in_tensorflow_only(run.export, _resampled_copy(reference, tmp_path / "x.wav"), reference,
                                           tmp_path)

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
    # every sample format a WAV writer may use, at 44.1 kHz in stereo, in one batch: transcribed alike
    audio = read_audio(reference)
    stereo = np.repeat(resample(audio, 16000, 44100)[:, None], 2, 1)
    formats = ((16, 1, False), (8, 1, False), (24, 1, False), (32, 1, False), (32, 3, False), (24, 1, True))
    paths = []
    for bits, fmt, extensible in formats:
        paths.append(tmp_path / f"{bits}-{fmt}-{extensible}.wav")
        paths[-1].write_bytes(wav_bytes(0.9 * stereo, 44100, bits, fmt, extensible))
    transcripts = tensorflow_only(
        f"data = [open(p, 'rb').read() for p in {list(map(str, paths))!r}]\n"
        f"res = tf.saved_model.load({run.export!r}).signatures['transcribe_wav'](wav=tf.constant(data))\n"
        "out = [t.decode() for t in res['transcripts'].numpy()]\n", tmp_path)
    assert all(error_rates([t], [text])[0] < 0.5 for t in transcripts), (transcripts, text)
    assert all(error_rates([t], [transcripts[0]])[0] <= 0.1 for t in transcripts), transcripts
    # lengths that do not describe the waveforms are refused, naming them
    waves = "tf.zeros([2, 1600])"
    cases = [("serving_default", {"waveforms": waves, "lengths": lengths}) for lengths in
             ("tf.constant([1600, 1601])", "tf.constant([1600, 0])", "tf.constant([1600])")]
    cases += [("serving_default", {"waveforms": "tf.zeros([1600])", "lengths": "tf.constant([1600])"}),
              ("transcribe_wav", {"wav": "tf.constant(open(" + repr(str(paths[0])) + ", 'rb').read())"})]
    too_long, empty, one, rank1, scalar = serve_cases(run.export, cases, tmp_path)  # a waveform, a WAV not batched
    assert "Shape of tensor waveforms [1600] is not compatible with expected shape [?,?]" in rank1["error"]
    assert "Shape of tensor wav [] is not compatible with expected shape [?]" in scalar["error"]
    assert "lengths must be at most the padded length T of the waveforms" in too_long["error"]
    assert "lengths must be > 0" in empty["error"] and "one length per waveform" in one["error"]
    warm = replay_warmup(run.export, tmp_path)  # TF Serving's warm-up requests, each answered
    assert sorted(warm) == ["serving_default", "transcribe_wav"] and warm["transcribe_wav"]["transcripts"] == [1]


@pytest.mark.slow
def test_tensorboard_has_the_promised_views(tiny):
    model, run = tiny
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "loss/ctc", "loss/ctc_per_frame", "eval/cer", "eval/wer", "learning_rate/optimizer"} \
        <= tags["scalars"]
    assert {"eval/utterance_0", "eval/utterance_1", "eval/utterance_2"} <= tags["audio"]
    assert "eval/transcripts" in tags["text"]
    assert hparams["recipe"] == "deepspeech" and hparams["model"] == model


@pytest.mark.slow
@pytest.mark.trained("deepspeech_ds2")
def test_another_setting_cannot_resume(trained, tmp_path):
    args = RUNS["deepspeech_ds2"][0]
    ds1 = [*args[:args.index("--model") + 1], "ds1", *args[args.index("--model") + 2:], "--epochs", "3"]
    refused_on_a_copy(trained.get("deepspeech_ds2"), ds1, "model='ds2' (now 'ds1')", tmp_path)


def test_jit_compile_is_refused_for_ds2_with_the_reason(python):
    proc = python(["-m", "recipes.deepspeech", "--jit-compile"], check=False)
    assert proc.returncode == 2 and "cuDNN" in proc.stderr and "Traceback" not in proc.stderr


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


@pytest.mark.slow  # a recipe run in a subprocess: CI only (the developer loop stays under 5 minutes)
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
