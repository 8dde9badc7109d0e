"""recipes.action end to end: slow fusion and two-stream learn the embedded motion classes, their
exports classify clips of any frame size in a TensorFlow-only process, runs resume, bad input is
refused before anything is written."""
import json

import pytest

from conftest import assert_refused_cleanly, result_json, serve_random_uint8

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed")


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.action", "--help"]).stdout
    for flag in CORE + ("--model", "--fusion", "--clips-per-video", "--split", "--flow-cache", "--num-videos",
                        "--learning-rate"):
        assert flag in out, flag


def _check_outputs(out, n):
    assert len(out["probabilities"]) == n and len(out["probabilities"][0]) == 8
    assert all(abs(sum(p) - 1.0) < 1e-4 for p in out["probabilities"])
    assert set(out["label"]) <= {"right", "left", "up", "down", "clockwise", "counterclockwise", "grow", "shrink"}
    assert len(out["class_id"]) == n


@pytest.mark.slow
def test_slow_fusion_learns_motion_and_exports(python, tmp_path):
    """Tiny slow fusion, 1,000 steps of fresh embedded videos: video top-1 far above chance (1/8)."""
    export_dir = tmp_path / "export"
    result = result_json(python(["-m", "recipes.action", "--preset", "tiny", "--model", "slow", "--no-progress",
                                 "--logdir", str(tmp_path / "logs"), "--export-dir", str(export_dir)]).stdout)
    print(json.dumps({"initial": result["initial"], "history": result["history"]}))
    assert result["step"] == 1000
    assert result["initial"]["video_top1"] < 0.25
    assert result["eval"]["video_top1"] > 0.5 and result["eval"]["clip_top1"] > 0.45
    # frames of two sizes, resized in the graph; T = 10 for slow fusion
    _check_outputs(serve_random_uint8(result["export"], {"frames": [2, 10, 32, 32, 3]}, tmp_path), 2)
    _check_outputs(serve_random_uint8(result["export"], {"frames": [1, 10, 48, 40, 3]}, tmp_path), 1)


@pytest.mark.slow
def test_two_stream_learns_from_flow_and_exports_both_inputs(python, tmp_path):
    export_dir = tmp_path / "export"
    result = result_json(python(["-m", "recipes.action", "--preset", "tiny", "--model", "two_stream",
                                 "--steps-per-epoch", "150", "--no-progress", "--logdir", str(tmp_path / "logs"),
                                 "--export-dir", str(export_dir)]).stdout)
    print(json.dumps({"initial": result["initial"], "history": result["history"]}))
    assert result["initial"]["video_top1"] < 0.25 and result["eval"]["video_top1"] > 0.5
    assert result["logs"]["loss/temporal"] < result["logs"]["loss/spatial"]  # motion is in the flow, not the frame
    for n, h, w in ((2, 32, 32), (1, 64, 48)):
        _check_outputs(serve_random_uint8(result["export"], {"frames": [n, 1, h, w, 3], "flow": [n, h, w, 20]},
                                          tmp_path), n)


def test_action_resumes_and_refuses_other_settings(python, tmp_path):
    base = ["-m", "recipes.action", "--preset", "tiny", "--model", "early", "--steps-per-epoch", "3",
            "--clips-per-video", "1", "--num-videos", "64", "--no-progress", "--logdir", str(tmp_path / "logs"),
            "--export-dir", str(tmp_path / "export")]
    first = result_json(python([*base, "--epochs", "1"]).stdout)
    assert first["step"] == 3 and first["export"].endswith("action_early/1")
    again = python([*base, "--epochs", "2"])
    assert result_json(again.stdout)["step"] == 6 and "Resumed" in again.stderr
    other = python([*base[:5], "late", *base[6:], "--epochs", "3"], check=False)
    assert other.returncode == 2 and "model" in other.stderr


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    assert_refused_cleanly(["-m", "recipes.action", "--preset", "tiny", "--data", str(tmp_path / "nowhere")],
                           "no such folder", tmp_path)
    root = tmp_path / "UCF-101"
    (root / "ucfTrainTestlist").mkdir(parents=True)
    (root / "ucfTrainTestlist" / "classInd.txt").write_text("1 Archery\n")
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_text("Archery/v_gone.avi 1\n")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("")
    assert_refused_cleanly(["-m", "recipes.action", "--preset", "tiny", "--data", str(root)],
                           "trainlist01.txt: names Archery/v_gone.avi", tmp_path)


def test_two_replica_mirrored_run(python, tmp_path):
    """Two logical CPUs under MirroredStrategy: each replica gets half of the global batch."""
    result = result_json(python(["-m", "recipes.action", "--preset", "tiny", "--model", "two_stream",
                                 "--strategy", "mirrored", "--virtual-cpus", "2", "--batch-size", "8",
                                 "--epochs", "1", "--steps-per-epoch", "3", "--clips-per-video", "1",
                                 "--num-videos", "32", "--no-progress", "--logdir", str(tmp_path / "logs"),
                                 "--export-dir", str(tmp_path / "export")]).stdout)
    assert result["step"] == 3 and result["export"]
