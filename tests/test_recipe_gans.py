"""recipes.gan, recipes.dcgan, recipes.wgan (and WGAN-GP): learning, export, TensorBoard, bad input,
and recipes.gan_sample on their exports."""
import os

import numpy as np
import pytest

from conftest import assert_refused_cleanly, result_json, serve_generator

TINY = ["--preset", "tiny", "--no-progress", "--swd-images", "128"]

# (recipe, extra flags, export name, epochs to learn). The MLP GAN learns far more slowly than the
# convolutional ones (the course's "training is hard to get started"), so it gets more steps.
VARIANTS = [
    ("gan", [], "gan", 60),
    ("dcgan", [], "dcgan", 10),
    ("wgan", [], "wgan", 10),
    ("wgan", ["--gradient-penalty", "10"], "wgan_gp", 10),
]


@pytest.mark.parametrize("recipe", ["gan", "dcgan", "wgan"])
def test_help_documents_every_flag(python, recipe):
    out = python(["-m", f"recipes.{recipe}", "--help"]).stdout
    for flag in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy",
                 "--mixed-precision", "--jit-compile", "--logdir", "--export-dir", "--version", "--seed",
                 "--resolution", "--latent-dim", "--swd-images", "--fid-weights"):
        assert flag in out
    assert ("--gradient-penalty" in out) == (recipe == "wgan")
    assert ("--g-loss" in out) == (recipe == "gan")


@pytest.mark.slow
@pytest.mark.parametrize("recipe, flags, name, epochs", VARIANTS, ids=[v[2] for v in VARIANTS])
def test_tiny_run_learns_logs_and_exports_a_servable_generator(python, tmp_path, recipe, flags, name, epochs):
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    out = python(["-m", f"recipes.{recipe}", *TINY, *flags, "--epochs", str(epochs),
                  "--logdir", str(logdir), "--export-dir", str(export_dir)])
    result = result_json(out.stdout)
    assert result["variant"] == name and result["step"] == 50 * epochs
    # learning: SWD clearly below the untrained generator's
    untrained, final = result["initial"]["swd"], result["metrics"][-1]["swd"]
    assert final < 0.8 * untrained, (untrained, [m["swd"] for m in result["metrics"]])
    assert 0.0 <= result["metrics"][-1]["ms_ssim"] <= 1.0 and result["images_per_second"] > 0
    # the export: latents in, uint8 images out, in a TensorFlow-only process
    assert result["export"] == str(export_dir / name / "1")
    assert f"name: '{name}'" in (export_dir / "models.config").read_text()
    assert serve_generator(result["export"], 32, 5, tmp_path) == (5, 16, 16, 3)
    # TensorBoard: losses, learning rates, metrics per epoch, sample grids
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"d_loss", "g_loss", "swd/mean", "ms_ssim/samples", "ms_ssim/reals", "samples", "reals",
            "learning_rate/g_optimizer", "learning_rate/d_optimizer"} <= tags
    assert len(acc.Tensors("samples")) == epochs  # one grid per epoch


def test_wgan_clips_and_resumes_with_the_same_settings_only(python, tmp_path):
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    common = ["-m", "recipes.wgan", *TINY, "--swd-images", "0", "--steps-per-epoch", "5", "--epochs", "2",
              "--logdir", str(logdir), "--export-dir", str(export_dir)]
    assert result_json(python(common).stdout)["step"] == 10
    again = python([*common[:-6], "--epochs", "3", *common[-4:]])
    assert "Resumed from" in again.stderr and result_json(again.stdout)["step"] == 15
    # another latent size in the same log directory: refused before anything is built
    proc = python([*common[:-6], "--epochs", "4", "--latent-dim", "16", *common[-4:]], check=False)
    assert proc.returncode == 2 and "latent_dim=32 (now 16)" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(os.listdir(export_dir / "wgan")) == ["1", "2"]


@pytest.mark.parametrize("args, message", [
    (["-m", "recipes.wgan", "--gradient-penalty", "-1"], "--gradient-penalty must be >= 0"),
    (["-m", "recipes.wgan", "--gradient-penalty", "10", "--clip-value", "0.01"], "replaces it"),
    (["-m", "recipes.wgan", "--clip-value", "-0.5"], "--clip-value must be > 0"),
    (["-m", "recipes.wgan", "--critic-steps", "0"], "--critic-steps must be a positive integer"),
    (["-m", "recipes.wgan", "--gradient-penalty", "10", "--critic-norm", "batch"], "must not use batch"),
    (["-m", "recipes.dcgan", "--resolution", "24"], "resolution 24 is not a power of two"),
    (["-m", "recipes.dcgan", "--latent-dim", "0"], "--latent-dim must be a positive integer"),
    (["-m", "recipes.dcgan", "--fid-weights", "{missing}"], "missing.h5: no such file"),
    (["-m", "recipes.dcgan", "--fid-resolution", "32"], "--fid-resolution must be >= 75"),
    (["-m", "recipes.gan", "--g-loss", "hinge"], "invalid choice: 'hinge'"),
    (["-m", "recipes.gan", "--data", "{missing}"], "no such file or directory"),
    (["-m", "recipes.dcgan", "--strategy", "mirrored", "--virtual-cpus", "3", "--batch-size", "32"],
     "does not split evenly over 3 replicas"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    assert_refused_cleanly([*[a.format(missing=tmp_path / "missing.h5") for a in args], *TINY], message, tmp_path)


@pytest.fixture(scope="module")
def dcgan_export(tmp_path_factory):
    from conftest import run_python

    root = tmp_path_factory.mktemp("dcgan")
    out = run_python(["-m", "recipes.dcgan", *TINY, "--swd-images", "0", "--epochs", "1", "--steps-per-epoch", "3",
                      "--logdir", str(root / "logs"), "--export-dir", str(root / "export")])
    return result_json(out.stdout)["export"]


def test_gan_sample_draws_a_grid_from_an_export(python, tmp_path, dcgan_export):
    import tensorflow as tf

    out = tmp_path / "grid.png"
    python(["-m", "recipes.gan_sample", dcgan_export, "--num-images", "10", "--columns", "5", "--output", str(out)])
    grid = tf.io.decode_png(tf.io.read_file(str(out))).numpy()
    assert grid.shape == (2 * 64, 5 * 64, 3)
    latents = tmp_path / "z.npy"
    np.save(latents, np.zeros((3, 32), np.float32))
    python(["-m", "recipes.gan_sample", dcgan_export, "--latents", str(latents), "--output", str(out)])
    grid = tf.io.decode_png(tf.io.read_file(str(out))).numpy()
    assert grid.shape == (64, 8 * 64, 3)
    assert (grid[:, :64] == grid[:, 64:128]).all()  # equal latents, equal images (no randomness at serving)


def test_gan_sample_refuses_latents_of_the_wrong_size(python, tmp_path, dcgan_export):
    latents = tmp_path / "z.npy"
    np.save(latents, np.zeros((3, 100), np.float32))
    proc = python(["-m", "recipes.gan_sample", dcgan_export, "--latents", str(latents),
                   "--output", str(tmp_path / "grid.png")], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--latents {latents}: shape (3, 100), but the generator takes latents of shape [N, 32]" in proc.stderr
    assert not (tmp_path / "grid.png").exists()
    proc = python(["-m", "recipes.gan_sample", str(tmp_path), "--output", str(tmp_path / "grid.png")], check=False)
    assert proc.returncode == 2 and "not a SavedModel directory" in proc.stderr


def test_fid_is_logged_with_inception_weights_from_a_file(python, tmp_path):
    """InceptionV3 with random weights stands in for the ImageNet file nobody can download here."""
    import keras

    weights = tmp_path / "inception_notop.weights.h5"
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(75, 75, 3)).save_weights(str(weights))
    out = python(["-m", "recipes.dcgan", *TINY, "--epochs", "1", "--steps-per-epoch", "5", "--swd-images", "32",
                  "--fid-weights", str(weights), "--fid-resolution", "75",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    result = result_json(out.stdout)
    assert result["initial"]["fid"] > 0 and result["metrics"][-1]["fid"] > 0
    assert "FID" in out.stderr


def test_mirrored_dcgan_with_batch_norm_on_two_cpus(python, tmp_path):
    out = python(["-m", "recipes.dcgan", *TINY, "--swd-images", "0", "--epochs", "1", "--steps-per-epoch", "4",
                  "--strategy", "mirrored", "--virtual-cpus", "2",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    assert result_json(out.stdout)["step"] == 4


def test_wgan_gp_mixed_float16_with_xla(python, tmp_path):
    out = python(["-m", "recipes.wgan", "--gradient-penalty", "10", *TINY, "--swd-images", "0", "--epochs", "1",
                  "--steps-per-epoch", "3", "--mixed-precision", "float16", "--jit-compile",
                  "--logdir", str(tmp_path / "logs"), "--export-dir", str(tmp_path / "export")])
    result = result_json(out.stdout)
    assert result["step"] == 3 and np.isfinite(result["logs"]["d_loss"])
