"""recipes.action end to end: one tiny run each of slow fusion (killed with SIGKILL after its
first epoch and resumed) and two-stream feeds the learning, export, serving and TensorBoard checks;
bad input is refused before anything is written."""
import pytest

from conftest import (assert_refused_cleanly, learned, readme_figure, replay_warmup, serve_cases, serve_random_uint8,
                      tensorboard_tags)
from runs import RUNS, total_steps

CORE = ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy", "--mixed-precision",
        "--jit-compile", "--logdir", "--export-dir", "--version", "--seed", "--sync-batch-norm")
ACTION = ["-m", "recipes.action", "--preset", "tiny", "--no-progress"]
MODELS = ["slow", "two_stream"]  # tiny runs (tests/runs.py): slow fusion killed after its first epoch


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.action", "--help"]).stdout
    for flag in CORE + ("--model", "--fusion", "--flow", "--clips-per-video", "--split", "--flow-cache",
                        "--num-videos", "--learning-rate"):
        assert flag in out, flag


def _check_outputs(out, n):
    assert len(out["probabilities"]) == n and len(out["probabilities"][0]) == 8
    assert all(abs(sum(p) - 1.0) < 1e-4 for p in out["probabilities"])
    assert set(out["label"]) <= {"right", "left", "up", "down", "clockwise", "counterclockwise", "grow", "shrink"}
    assert len(out["class_id"]) == n


@pytest.fixture(scope="module", params=[pytest.param(m, marks=pytest.mark.trained(f"action_{m}")) for m in MODELS],
                ids=MODELS)
def tiny(request, trained):
    key = f"action_{request.param}"
    return request.param, key, trained.get(key)


@pytest.mark.slow
def test_tiny_run_learns_motion_and_resumed_after_kill(tiny):
    model, key, run = tiny
    r = run.result
    assert run.resumed_at == RUNS[key][1] and r["step"] == total_steps(key)
    assert r["initial"]["video_top1"] < 0.25  # chance: 1/8
    assert learned(r["initial"]["video_top1"], r["eval"]["video_top1"],
                   readme_figure(f"action {model}", "video top-1")) >= 0.5
    if model == "two_stream":  # motion is in the flow, not the frame
        assert r["logs"]["loss/temporal"] < r["logs"]["loss/spatial"]


@pytest.mark.slow
def test_export_classifies_clips_of_any_frame_size(tiny):
    model, _, run = tiny
    # T = 10 frames (slow) or 11 (two-stream: its flow computed in the graph from the frames alone), two sizes
    # resized in the graph
    t = {"slow": 10, "two_stream": 11}[model]
    _check_outputs(serve_random_uint8(run.export, {"frames": [2, t, 32, 32, 3]}, run.export_dir), 2)
    _check_outputs(serve_random_uint8(run.export, {"frames": [1, t, 48, 40, 3]}, run.export_dir), 1)
    # a whole 60-frame video (its evenly spaced clips averaged in the graph), a batch of none, too few frames
    _check_outputs(serve_random_uint8(run.export, {"frames": [1, 60, 40, 48, 3]}, run.export_dir), 1)
    none, short = serve_cases(run.export, [("serving_default", {"frames": f"tf.zeros({shape}, tf.uint8)"})
                                           for shape in ([0, t, 0, 0, 3], [1, t - 1, 32, 32, 3])], run.export_dir)
    assert none == {"probabilities": [0, 8], "class_id": [0], "label": [0]}
    assert f"frames must hold at least {t} frames per video" in short["error"]
    warm = replay_warmup(run.export, run.export_dir)  # TF Serving's warm-up request, answered
    assert warm == {"serving_default": {"probabilities": [1, 8], "class_id": [1], "label": [1]}}


@pytest.mark.slow
def test_tensorboard_has_the_promised_views(tiny):
    model, _, run = tiny
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"loss", "accuracy/clip", "eval/clip_top1", "eval/video_top1", "eval/video_top5",
            "learning_rate/optimizer"} <= tags["scalars"]
    assert "eval/confusion_matrix" in tags["images"]
    assert hparams["recipe"] == "action" and hparams["model"] == model and hparams["num_classes"] == 8


def test_bad_data_is_refused_before_anything_is_written(tmp_path):
    assert_refused_cleanly([*ACTION, "--data", str(tmp_path / "nowhere")], "no such folder", tmp_path)
    root = tmp_path / "UCF-101"
    (root / "ucfTrainTestlist").mkdir(parents=True)
    (root / "ucfTrainTestlist" / "classInd.txt").write_text("1 Archery\n")
    (root / "ucfTrainTestlist" / "trainlist01.txt").write_text("Archery/v_gone.avi 1\n")
    (root / "ucfTrainTestlist" / "testlist01.txt").write_text("")
    assert_refused_cleanly([*ACTION, "--data", str(root)], "trainlist01.txt: names Archery/v_gone.avi", tmp_path)
    assert_refused_cleanly([*ACTION, "--clips-per-video", "0"], "--clips-per-video: must be a positive integer",
                           tmp_path)


def test_a_video_deleted_mid_run_is_named_and_the_last_checkpoint_kept(tmp_path, capsys, monkeypatch):
    import tensorflow as tf

    from recipes import action
    from test_action import _ucf

    root = tmp_path / "UCF-101"
    _ucf(root, {"Archery/v_a.avi": 12, "Archery/v_b.avi": 12, "Bowling/v_c.avi": 12, "Bowling/v_d.avi": 12})
    victim = root / "Bowling" / "v_d.avi"
    evaluator = action.recipe.evaluator

    def deleting_after_the_first_epoch(run):  # the files were checked when the run started
        ev = evaluator(run)
        end = ev.on_stage_end
        monkeypatch.setattr(ev, "on_stage_end", lambda *a: (end(*a), victim.unlink(missing_ok=True)))
        return ev

    monkeypatch.setattr(action.recipe, "evaluator", deleting_after_the_first_epoch)
    # epoch 2's 60 clips visit every video 15 times: more than the input pipeline reads ahead while
    # epoch 1 is evaluated (with 6 steps an epoch, a CI run once had epoch 2 read before the deletion)
    with pytest.raises(SystemExit) as stop:
        action.recipe.cli(["--data", str(root), "--model", "single_frame", "--preset", "tiny", "--epochs", "2",
                           "--steps-per-epoch", "30", "--batch-size", "2", "--no-progress", "--strategy", "default",
                           "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err, err[-3000:]
    assert f"error: {victim}: no such video file (it went bad during training; the last checkpoint is intact" in err
    latest = tf.train.latest_checkpoint(str(tmp_path / "logs" / "checkpoints"))
    assert latest.endswith("ckpt-30") and tf.train.load_checkpoint(latest).get_tensor(
        "global_step/.ATTRIBUTES/VARIABLE_VALUE") == 30
    assert not (tmp_path / "export").exists()
