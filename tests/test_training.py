import json

import numpy as np
import pytest

from suite.training import resolve_strategy
from suite.training.cli import check_batch


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="--strategy 'bogus'"):
        resolve_strategy("bogus")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        resolve_strategy("multi_worker")


def test_auto_without_accelerators_is_default():
    import tensorflow as tf

    assert resolve_strategy("auto") is tf.distribute.get_strategy()


def test_batch_checks():
    assert check_batch(32, 2, 4) == 16
    with pytest.raises(ValueError, match="does not split evenly over 3 replicas"):
        check_batch(32, 3)
    with pytest.raises(ValueError, match="multiple of 4"):
        check_batch(12, 2, 4)


def test_mirrored_on_two_cpus_matches_default_and_learns(python, tmp_path):
    """Same global batches, same initial weights: the two-replica run must end where the
    one-replica run ends (gradients are all-reduced and losses scaled by the global batch)."""
    runs = {}
    for name, cpus in (("default", 1), ("mirrored", 2)):
        out = python(["tests/scripts/mirrored_supervised.py", name, str(cpus), str(tmp_path / name)])
        runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs["default"]["replicas"] == 1 and runs["mirrored"]["replicas"] == 2
    for a, b in zip(runs["default"]["weights"], runs["mirrored"]["weights"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert runs["mirrored"]["final_loss"] < 0.6 * runs["mirrored"]["loss"]
    assert runs["mirrored"]["accuracy"] > 0.85  # chance is 0.5


def test_limit_stages_cuts_the_schedule_but_keeps_alpha():
    from suite.training import Stage, limit_stages

    stages = [Stage("a", 10), Stage("b", 10, step_args=lambda i: {"alpha": (i + 1) / 10}), Stage("c", 10)]
    cut = limit_stages(stages, 15)
    assert [(s.name, s.steps) for s in cut] == [("a", 10), ("b", 5)]
    assert cut[1].step_args(4) == {"alpha": 0.5}
    assert [s.steps for s in limit_stages(stages, 100)] == [10, 10, 10]


def test_run_config_refuses_to_resume_with_other_settings(tmp_path):
    from suite.training import check_run_config

    logdir = tmp_path / "logs"
    check_run_config(logdir, {"latent_dim": 32, "units": (4, 4)})
    assert json.loads((logdir / "run_config.json").read_text()) == {"latent_dim": 32, "units": [4, 4]}
    # no checkpoint yet: a new config simply replaces the record
    check_run_config(logdir, {"latent_dim": 16, "units": (4, 4)})
    (logdir / "checkpoints").mkdir()
    (logdir / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-5"\n')
    (logdir / "checkpoints" / "ckpt-5.index").write_bytes(b"")
    check_run_config(logdir, {"latent_dim": 16, "units": [4, 4]})  # same settings: fine
    with pytest.raises(ValueError, match=r"latent_dim=16 \(now 64\)"):
        check_run_config(logdir, {"latent_dim": 64, "units": (4, 4)})
