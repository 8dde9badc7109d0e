import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, assert_refused_cleanly, result_json, serve_generator

TINY = ["-m", "recipes.pggan", "--preset", "tiny", "--no-progress", "--swd-images", "64"]


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.pggan", "--help"]).stdout
    for flag in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy",
                 "--mixed-precision", "--jit-compile", "--logdir", "--export-dir", "--version", "--seed",
                 "--resolution", "--images-per-phase"):
        assert flag in out


def test_tiny_run_exports_a_servable_generator(python, tmp_path):
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    out = python([*TINY, "--images-per-phase", "320", "--logdir", str(logdir), "--export-dir", str(export_dir)])
    result = result_json(out.stdout)
    assert result["step"] == 60 and result["resolution"] == 8
    assert [s[0] for s in result["swd"]] == ["4x4 stabilize", "8x8 fade-in", "8x8 stabilize"]
    assert result["export"] == str(export_dir / "pggan" / "1")
    assert "name: 'pggan'" in (export_dir / "models.config").read_text()
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(logdir))
    # the export loads in a process that imports TensorFlow only
    assert serve_generator(result["export"], 64, 3, tmp_path) == (3, 8, 8, 3)
    # a second run exports the next version; TensorBoard has scalars, samples and SWD
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"d_loss", "g_loss", "alpha", "resolution", "swd/mean", "samples", "learning_rate/g_optimizer"} <= tags


@pytest.mark.parametrize("args, message", [
    (["--data", "{empty}"], "no JPEG or PNG images found (0 other"),
    (["--data", "{texts}"], "no JPEG or PNG images found (1 other"),
    (["--data", "{missing}"], "no such file or directory"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--resolution", "48"], "PGGAN resolution 48 is not a power of two"),
    (["--batch-size", "10"], "per-replica batch 10 must be a multiple of 4"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_text("no images here")
    args = [a.format(empty=tmp_path / "empty", texts=tmp_path / "texts", missing=tmp_path / "missing") for a in args]
    assert_refused_cleanly([*TINY, *args], message, tmp_path)


def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    cmd = [sys.executable, *TINY, "--images-per-phase", "1600", "--steps-per-epoch", "20",
           "--logdir", str(logdir), "--export-dir", str(export_dir)]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    index = logdir / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    saved = 0
    while time.time() < deadline and proc.poll() is None:
        if index.exists():
            text = index.read_text()
            saved = int(text.split('"')[1].rsplit("-", 1)[1]) if '"' in text else 0
            if saved >= 120:  # into the 8x8 fade-in (4x4 is 100 steps)
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not export_dir.exists()
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = [line for line in second.stderr.splitlines() if line.startswith("Resumed from")]
    assert resumed, second.stderr[-3000:]
    step = int(resumed[0].rsplit(" ", 1)[1])
    assert step >= 120
    result = result_json(second.stdout)
    assert result["step"] == 300
    # the resumed run trained only what was left: the phases before the checkpoint were not redone
    assert "4x4 stabilize" not in [s[0] for s in result["swd"]]
    assert result["export"].endswith("1")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_end_identical_and_only_chief_writes(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    procs = []
    for i in range(2):
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
               "WEIGHTS_OUT": str(tmp_path / f"weights-{i}.txt")}
        cmd = [sys.executable, "tests/scripts/run_pggan.py", "--preset", "tiny", "--no-progress", "--strategy",
               "multi_worker", "--images-per-phase", "128", "--steps-per-epoch", "8", "--swd-images", "0",
               "--logdir", str(logdir), "--export-dir", str(export_dir)]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    digests = [(tmp_path / f"weights-{i}.txt").read_text().split() for i in range(2)]
    assert digests[0] == digests[1]  # same weights, same step count
    assert digests[0][1] == str(3 * 8)  # 128 images / 16 per phase, 3 phases
    assert sorted(os.listdir(export_dir / "pggan")) == ["1"]
    assert [f for f in os.listdir(logdir) if f.startswith("events")].__len__() == 1
    assert "export" in outs[0][0] and '"export"' not in outs[1][0]


def test_mirrored_pggan_on_two_cpus(python, tmp_path):
    out = python([*TINY, "--strategy", "mirrored", "--virtual-cpus", "2", "--images-per-phase", "160",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    assert result_json(out.stdout)["step"] == 30


@pytest.mark.slow
def test_pggan_learns_on_embedded_shapes(python, tmp_path):
    """A tiny run must bring the generator's SWD at 8x8 clearly below the untrained one's."""
    out = python(["-m", "recipes.pggan", "--preset", "tiny", "--no-progress", "--logdir", str(tmp_path / "logs"),
                  "--export-dir", str(tmp_path / "export")])
    result = result_json(out.stdout)
    untrained, final = result["initial_swd"], result["swd"][-1]
    assert final[1] == 8
    assert final[2] < 0.9 * untrained, (untrained, result["swd"])
    first = result["swd"][0]
    assert first[1] == 4 and first[2] < 0.75 * untrained


def test_mixed_float16_with_xla_trains_and_exports(python, tmp_path):
    """float16 compute with dynamic loss scaling (also inside the gradient penalty), XLA-compiled steps."""
    out = python([*TINY, "--mixed-precision", "float16", "--jit-compile", "--images-per-phase", "32",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    result = result_json(out.stdout)
    assert result["step"] == 6
    assert math.isfinite(result["logs"]["d_loss"]) and math.isfinite(result["logs"]["g_loss"])
    assert os.path.isdir(result["export"])
