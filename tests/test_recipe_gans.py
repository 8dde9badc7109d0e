"""recipes.gan, recipes.dcgan, recipes.wgan (and WGAN-GP): one tiny run per variant (killed with
SIGKILL half-way and resumed) feeds the learning, export, serving and TensorBoard checks; bad input
(recipes.predict on a GAN export: tests/test_predict.py)."""
import os

import numpy as np
import pytest

from conftest import (assert_refused_cleanly, learned, readme_figure, refused_on_a_copy, replay_warmup, result_json,
                      serve_cases, serve_generator, tensorboard_tags, tensorflow_only)
from runs import RUNS, flag

TINY = ["--preset", "tiny", "--no-progress", "--swd-images", "256"]

# the tiny runs (tests/runs.py): the MLP GAN learns far more slowly than the
# convolutional ones (the course's "training is hard to get started"), so it gets more steps
VARIANTS = ["gan", "dcgan", "wgan", "wgan_gp"]


def steps_of(name):
    """The tiny run's training steps: epochs x steps per epoch."""
    return flag(name, "--epochs") * flag(name, "--steps-per-epoch")


@pytest.mark.parametrize("recipe", ["gan", "dcgan", "wgan"])
def test_help_documents_every_flag(python, recipe):
    out = python(["-m", f"recipes.{recipe}", "--help"]).stdout
    for flag in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy",
                 "--mixed-precision", "--jit-compile", "--logdir", "--export-dir", "--version", "--seed",
                 "--resolution", "--latent-dim", "--swd-images", "--fid-weights", "--no-quality"):
        assert flag in out
    assert ("--gradient-penalty" in out) == (recipe == "wgan")
    assert ("--g-loss" in out) == (recipe == "gan")
    assert ("--sync-batch-norm" in out) == (recipe != "gan")  # the MLP GAN has no batch normalisation


@pytest.fixture(scope="module", params=[pytest.param(v, marks=pytest.mark.trained(v)) for v in VARIANTS],
                ids=VARIANTS)
def variant(request, trained):
    """The session's tiny run of a variant, killed half-way and resumed."""
    return request.param, steps_of(request.param), trained.get(request.param)


@pytest.mark.slow
def test_tiny_run_learns_and_resumed_after_kill(variant):
    name, steps, run = variant
    r = run.result
    assert r["variant"] == name and r["step"] == steps and run.resumed_at == RUNS[name][1]
    untrained, final = r["initial"]["swd"], r["eval"]["swd"]
    assert learned(untrained, final, readme_figure(name, "SWD x1e3")) >= 0.5, (untrained, final)
    assert 0.0 <= r["eval"]["ms_ssim"] <= 1.0 and r["images_per_second"] > 0


@pytest.mark.slow
def test_tiny_run_exports_a_servable_generator(variant):
    name, _, run = variant
    assert run.export == str(run.export_dir / name / "1")
    assert f"name: '{name}'" in (run.export_dir / "models.config").read_text()
    assert serve_generator(run.export, 32, 5, run.export_dir) == (5, 16, 16, 3)
    assert replay_warmup(run.export, run.export_dir) == {"serving_default": {"images": [1, 16, 16, 3]},
                                                         "generate": {"images": [1, 16, 16, 3]}}
    nan, none, negative = serve_cases(
        run.export, [("serving_default", {"latents": "tf.fill([2, 32], float('nan'))"}),
                     ("serving_default", {"latents": "tf.zeros([0, 32])"}),
                     ("generate", {"count": "tf.constant(-1)", "seed": "tf.constant(7, tf.int64)"})], run.export_dir)
    assert "latents must be finite" in nan["error"] and none == {"images": [0, 16, 16, 3]}
    assert "count must be >= 0" in negative["error"]
    # samples by count and seed: the client needs no random numbers, and a seed always draws the same images
    a, b, c = tensorflow_only(
        f"g = tf.saved_model.load({run.export!r}).signatures['generate']\n"
        "out = [g(count=tf.constant(n), seed=tf.constant(s, tf.int64))['images'].numpy().tolist()\n"
        "       for n, s in ((3, 7), (3, 7), (3, 8))]\n", run.export_dir)
    assert np.asarray(a, np.uint8).shape == (3, 16, 16, 3) and a == b and a != c


@pytest.mark.slow
def test_tensorboard_has_the_promised_views(variant):
    name, _, run = variant
    tags, hparams = tensorboard_tags(run.logdir)
    assert {"d_loss", "g_loss", "swd/mean", "ms_ssim/samples", "ms_ssim/reals", "quality/fid",
            "quality/found_samples", "quality/found_reals", "learning_rate/g_optimizer",
            "learning_rate/d_optimizer"} <= tags["scalars"]
    assert {"samples", "reals"} <= tags["images"]
    assert hparams["recipe"] == name.split("_")[0] and hparams["variant"] == name


@pytest.mark.slow
@pytest.mark.trained("wgan")
def test_wgan_critic_weights_stay_within_the_clip(trained):
    """Every trainable critic weight of the WGAN run's last checkpoint lies in [-0.01, 0.01]."""
    import tensorflow as tf

    from suite.gan import classic

    run = trained.get("wgan")
    critic = classic.build_discriminator(classic.get_config("wgan", "tiny"))
    before = [v.numpy() for v in critic.trainable_variables]
    tf.train.Checkpoint(discriminator=critic).read(tf.train.latest_checkpoint(run.logdir / "checkpoints")) \
        .expect_partial()
    weights = [v.numpy() for v in critic.trainable_variables]
    # restored: every variable but the score's bias (its gradient is exactly zero under the Wasserstein loss)
    assert len(weights) >= 6 and sum(np.any(a != b) for a, b in zip(before, weights)) == len(weights) - 1
    largest = max(float(np.abs(w).max()) for w in weights)
    assert 0.005 < largest <= 0.01 + 1e-7, largest


@pytest.mark.parametrize("args, message", [
    (["-m", "recipes.wgan", "--gradient-penalty", "-1"], "argument --gradient-penalty: must be >= 0, got -1"),
    (["-m", "recipes.wgan", "--gradient-penalty", "10", "--clip-value", "0.01"], "replaces it"),
    (["-m", "recipes.wgan", "--clip-value", "-0.5"], "argument --clip-value: must be > 0, got -0.5"),
    (["-m", "recipes.wgan", "--critic-steps", "0"], "argument --critic-steps: must be a positive integer"),
    (["-m", "recipes.wgan", "--gradient-penalty", "10", "--critic-norm", "batch"], "must not use batch"),
    (["-m", "recipes.dcgan", "--resolution", "24"], "resolution 24 is not a power of two"),
    (["-m", "recipes.dcgan", "--latent-dim", "0"], "argument --latent-dim: must be a positive integer"),
    (["-m", "recipes.dcgan", "--fid-weights", "{missing}"], "missing.h5: no such file"),
    (["-m", "recipes.dcgan", "--fid-resolution", "32"], "--fid-resolution: must be at least 75 (InceptionV3's"),
    (["-m", "recipes.gan", "--g-loss", "hinge"], "invalid choice: 'hinge'"),
    (["-m", "recipes.gan", "--data", "{missing}"], "no such file or directory"),
    (["-m", "recipes.dcgan", "--strategy", "mirrored", "--virtual-cpus", "3", "--batch-size", "32"],
     "does not split evenly over 3 replicas"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    assert_refused_cleanly([*[a.format(missing=tmp_path / "missing.h5") for a in args], *TINY], message, tmp_path)


def test_a_log_directory_in_use_or_unwritable_is_refused_before_any_work(python, tmp_path):
    from suite.training.lock import RunLock

    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    args = ["-m", "recipes.gan", *TINY, "--export-dir", str(export_dir)]
    with RunLock(logdir):  # held by this process, as by a run still training
        proc = python([*args, "--logdir", str(logdir)], check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"is in use by process {os.getpid()}" in proc.stderr
    assert not logdir.exists() and not export_dir.exists()  # the holder made it and left nothing in it
    (tmp_path / "file").write_text("x")
    proc = python([*args, "--logdir", str(tmp_path / "file" / "logs")], check=False)
    assert proc.returncode == 2 and f"--logdir {tmp_path / 'file' / 'logs'}: {tmp_path / 'file'} is not a " \
        "directory" in proc.stderr and not export_dir.exists()


@pytest.mark.slow
@pytest.mark.trained("wgan")
def test_wgan_refuses_to_resume_with_another_latent_size(trained, tmp_path):
    """(the shared run itself resumed with the same settings after its kill)"""
    refused_on_a_copy(trained.get("wgan"), [*RUNS["wgan"][0], "--latent-dim", "16", "--epochs", "8"],
                      "latent_dim=32 (now 16)", tmp_path)


@pytest.mark.slow  # a recipe run in a subprocess or a large weights file: CI only
def test_fid_is_logged_with_inception_weights_from_a_file(python, tmp_path):
    """InceptionV3 with random weights stands in for the ImageNet file nobody can download here."""
    import keras

    weights = tmp_path / "inception_notop.weights.h5"
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(75, 75, 3)).save_weights(str(weights))
    out = python(["-m", "recipes.dcgan", *TINY, "--epochs", "1", "--steps-per-epoch", "5", "--swd-images", "32",
                  "--fid-weights", str(weights), "--fid-resolution", "75", "--no-quality",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    result = result_json(out.stdout)
    assert result["initial"]["fid"] > 0 and result["eval"]["fid"] > 0
    assert "FID" in out.stderr


@pytest.mark.slow  # a recipe run in a subprocess
def test_a_truncated_image_refuses_the_run_or_is_skipped_and_named(python, tmp_path):
    from PIL import Image

    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "cut.png").write_bytes((folder / "0.png").read_bytes()[:200])
    args = ["-m", "recipes.dcgan", *TINY, "--data", str(folder), "--swd-images", "0", "--batch-size", "4",
            "--epochs", "1", "--steps-per-epoch", "2"]
    assert_refused_cleanly(args, f"{folder / 'cut.png'}: truncated or corrupt PNG", tmp_path / "refused")
    logdir = tmp_path / "logs"
    out = python([*args, "--skip-bad-files", "--swd-images", "8", "--logdir", str(logdir),
                  "--export-dir", str(tmp_path / "export")])
    assert result_json(out.stdout)["skipped_files"] == 1
    assert f"--data {folder}: no labels (a sub-folder per class, or a TFDS 'label'), the quality score is " \
           "skipped" in out.stderr
    assert "--skip-bad-files: left out 1 file(s)" in out.stderr and "cut.png: truncated" in out.stderr
    assert "data/skipped_files" in tensorboard_tags(logdir)[0]["text"]
