"""The bad-input matrix: every recipe against every mistake a user makes with the core flags, each a
clean refusal (exit status 2, one ``error:`` line naming the flag or path, no traceback) with nothing
written, checked in this process (``Recipe.cli`` is what ``python -m recipes.NAME`` runs).

The cases of one recipe's own data and flags (a truncated JPEG, a non-UTF-8 GLUE file, a WAV cut
short, ``--gradient-penalty -1``...) and of its export's signatures live in its own test file, next
to its shared training run (``tests/test_recipe_*.py``; ``conftest.assert_refused_cleanly``,
``refused_on_a_copy``, ``serve_cases``): they need its data, its run or its export.
"""
import importlib
import os

import pytest

# every recipe the runner drives, with the flags it cannot run without
RECIPES = {
    "pggan": [], "gan": [], "dcgan": [], "wgan": [], "word2vec": [], "elmo": [], "gpt": [],
    "gpt_finetune": ["--task", "sst", "--init-from", "/nonexistent/gpt"], "bert": [], "mtdnn": [], "action": [],
    "faster_rcnn": [], "fast_rcnn": [], "yolo": [], "segmentation": [], "rmdl": [], "text_recognition": [],
    "text_detection": [],
    "deepspeech": [],
}

# flag mistakes, refused while the flags are parsed (before TensorFlow starts)
FLAG_CASES = {
    "zero epochs": (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    "negative steps": (["--steps-per-epoch", "-3"], "argument --steps-per-epoch: must be a positive integer, got -3"),
    "zero batch": (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    "unknown preset": (["--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
    "unknown strategy": (["--strategy", "gpus"], "argument --strategy: invalid choice: 'gpus'"),
    "unknown precision": (["--mixed-precision", "float8"], "argument --mixed-precision: invalid choice: 'float8'"),
    "seed not a number": (["--seed", "one"], "argument --seed: invalid int value: 'one'"),
    "version not a number": (["--version", "v2"], "argument --version: must be a positive integer, got v2"),
}


def refuse(name, argv, capsys):
    """Runs recipe ``name`` as its command line does; returns its stderr, having checked exit status 2,
    an ``error:`` line and no traceback."""
    recipe = importlib.import_module(f"recipes.{name}").recipe
    with pytest.raises(SystemExit) as stop:
        recipe.cli([*RECIPES[name], *argv])
    err = capsys.readouterr().err
    assert stop.value.code == 2, err[-2000:]
    assert "error: " in err and "Traceback" not in err, err[-2000:]
    return err


def written(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("case", FLAG_CASES)
@pytest.mark.parametrize("name", RECIPES)
def test_flag_mistakes_are_refused(name, case, capsys):
    argv, message = FLAG_CASES[case]
    assert message in refuse(name, argv, capsys)


@pytest.mark.parametrize("name", [n for n in RECIPES if importlib.import_module(f"recipes.{n}").recipe.learning_rate_help])
def test_a_learning_rate_that_is_not_positive_is_refused(name, capsys):
    assert "argument --learning-rate: must be > 0, got -0.1" in refuse(name, ["--learning-rate", "-0.1"], capsys)


# output and data mistakes, refused when the run starts: before any data is generated or read (outputs)
# or before anything is built or written (data)
START = ["--preset", "tiny", "--strategy", "default", "--no-progress"]


def output_cases(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory\n")
    return {
        "logdir under a file": (["--logdir", str(blocker / "logs"), "--export-dir", str(tmp_path / "export")],
                                f"--logdir {blocker / 'logs'}: {blocker} is not a directory"),
        "export dir under a file": (["--logdir", str(tmp_path / "logs"), "--export-dir", str(blocker / "export")],
                                    f"--export-dir {blocker / 'export'}: {blocker} is not a directory"),
        "missing data": (["--data", str(tmp_path / "no_such_data"), "--logdir", str(tmp_path / "logs"),
                          "--export-dir", str(tmp_path / "export")], str(tmp_path / "no_such_data")),
    }


@pytest.mark.parametrize("case", ["logdir under a file", "export dir under a file", "missing data"])
@pytest.mark.parametrize("name", [n for n in RECIPES if n != "gpt_finetune"])  # (its --init-from is its data)
def test_output_and_data_mistakes_are_refused_with_nothing_written(name, case, tmp_path, capsys):
    argv, message = output_cases(tmp_path)[case]
    before = written(tmp_path)
    assert message in refuse(name, [*START, *argv], capsys)
    assert written(tmp_path) == before, "a refused run wrote something"


@pytest.mark.parametrize("name", [n for n in RECIPES if n != "gpt_finetune"])
def test_a_taken_version_is_refused_before_any_work(name, tmp_path, capsys):
    recipe = importlib.import_module(f"recipes.{name}").recipe
    args = recipe.parse_args([*RECIPES[name], *START])
    taken = tmp_path / "export" / recipe.export_name(args) / "3"
    taken.mkdir(parents=True)
    before = written(tmp_path)
    err = refuse(name, [*START, "--version", "3", "--logdir", str(tmp_path / "logs"), "--export-dir",
                        str(tmp_path / "export")], capsys)
    assert f"{taken} already exists; pick another --version" in err
    assert written(tmp_path) == before and not (tmp_path / "logs").exists()


def test_a_fine_tuning_without_its_pretrained_model_is_refused(tmp_path, capsys):
    err = refuse("gpt_finetune", [*START, "--logdir", str(tmp_path / "logs"), "--export-dir",
                                  str(tmp_path / "export")], capsys)
    assert "/nonexistent/gpt" in err and written(tmp_path) == []


@pytest.mark.parametrize("name", ["pggan", "gan", "dcgan", "wgan"])
def test_a_cache_dir_that_cannot_be_written_is_refused(name, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory\n")
    err = refuse(name, [*START, "--cache-dir", str(blocker / "cache")], capsys)
    assert f"--cache-dir {blocker / 'cache'}: {blocker} is not a directory" in err
