"""recipes.pggan end to end. One tiny run (killed with SIGKILL in the 8x8 fade-in and resumed)
feeds the learning, export, serving, TensorBoard and resume checks; bad input is refused before
anything is written."""
import pytest

from conftest import (assert_refused_cleanly, learned, readme_figure, refused_on_a_copy, replay_warmup, serve_generator,
                      tensorboard_tags)
from runs import RUNS

TINY = ["-m", "recipes.pggan", "--preset", "tiny", "--no-progress", "--swd-images", "256"]


def test_help_documents_every_flag(python):
    out = python(["-m", "recipes.pggan", "--help"]).stdout
    for flag in ("--data", "--preset", "--epochs", "--steps-per-epoch", "--batch-size", "--strategy",
                 "--mixed-precision", "--jit-compile", "--logdir", "--export-dir", "--version", "--seed",
                 "--resolution", "--images-per-phase", "--final-images", "--loss", "--r1-interval", "--no-quality"):
        assert flag in out


@pytest.fixture(scope="module")
def tiny(trained):
    """Tiny PGGAN: 4x4, 8x8 fade-in, 8x8 (200 steps of 16 images each), killed at step 300."""
    return trained.get("pggan")


@pytest.mark.slow
@pytest.mark.trained("pggan")
def test_tiny_run_learns_and_resumed_after_kill(tiny):
    r = tiny.result
    assert tiny.resumed_at == 300 and r["step"] == 600 and r["resolution"] == 8
    # the phases after the checkpoint only: the 4x4 phase was not redone
    assert [s[0] for s in r["swd"]] == ["8x8 fade-in", "8x8 stabilize"]
    untrained, final = r["initial"]["swd"], r["eval"]["swd"]
    assert r["initial"]["resolution"] == 8 and r["eval"]["resolution"] == 8
    assert learned(untrained, final, readme_figure("pggan", "SWD x1e3")) >= 0.5, (untrained, r["swd"])
    # the embedded FID (suite/gan/quality.py: an 8x8 classifier of the scenes' labels) falls too
    untrained, final = r["initial"]["quality_fid"], r["eval"]["quality_fid"]
    assert learned(untrained, final, readme_figure("pggan", "embedded FID")) >= 0.5, (untrained, final)


@pytest.mark.slow
@pytest.mark.trained("pggan")
def test_tiny_run_exports_a_servable_generator(tiny):
    assert tiny.export == str(tiny.export_dir / "pggan" / "1")
    assert "name: 'pggan'" in (tiny.export_dir / "models.config").read_text()
    assert serve_generator(tiny.export, 64, 3, tiny.export_dir) == (3, 8, 8, 3)
    # TF Serving's warm-up requests: one per signature, each answered
    assert replay_warmup(tiny.export, tiny.export_dir) == {"serving_default": {"images": [1, 8, 8, 3]},
                                                           "generate": {"images": [1, 8, 8, 3]}}


@pytest.mark.slow
@pytest.mark.trained("pggan")
def test_tensorboard_has_the_promised_views(tiny):
    tags, hparams = tensorboard_tags(tiny.logdir)
    assert {"d_loss", "g_loss", "alpha", "resolution", "swd/mean", "ms_ssim/samples", "ms_ssim/reals",
            "quality/fid", "quality/found_samples", "quality/found_reals", "quality/samples_shape",
            "quality/samples_background", "quality/samples_manifold", "quality/reals_shape", "learning_rate/g_optimizer",
            "learning_rate/d_optimizer", "steps_per_second"} <= tags["scalars"]
    assert {"samples", "reals"} <= tags["images"]
    assert hparams["recipe"] == "pggan" and hparams["latent_dim"] == 64 and hparams["preset"] == "tiny"


@pytest.mark.parametrize("args, message", [
    (["--data", "{empty}"], "no JPEG or PNG images found (0 other"),
    (["--data", "{texts}"], "no JPEG or PNG images found (1 other"),
    (["--data", "{missing}"], "no such file or directory"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
    (["--resolution", "48"], "PGGAN resolution 48 is not a power of two"),
    (["--batch-size", "10"], "per-replica batch 10 must be a multiple of 4"),
    (["--loss", "logistic-r1", "--r1-interval", "0"], "argument --r1-interval: must be a positive integer, got 0"),
    (["--r1-interval", "16"], "--r1-interval spaces the R1 penalty of --loss logistic-r1"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "readme.txt").write_text("no images here")
    args = [a.format(empty=tmp_path / "empty", texts=tmp_path / "texts", missing=tmp_path / "missing") for a in args]
    assert_refused_cleanly([*TINY, *args], message, tmp_path)


@pytest.mark.slow
@pytest.mark.trained("pggan")
def test_export_version_taken_is_refused_and_another_setting_cannot_resume(tiny, tmp_path):
    assert tiny.export.endswith("pggan/1")
    refused_on_a_copy(tiny, [*RUNS["pggan"][0], "--version", "1"], "pggan/1 already exists", tmp_path / "a")
    refused_on_a_copy(tiny, [*RUNS["pggan"][0], "--resolution", "16"], "resolution=8 (now 16)", tmp_path / "b")
