"""The test harness itself (tests/conftest.py): the fork server that starts the recipes and scripts the
tests run, and the TensorFlow-only process that answers the serving checks. Both stand between a test
and what it checks, so what they must not hide is tested here."""
import json
import os
import signal
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from conftest import ROOT, run_python, start_python


def _script(tmp_path, body):
    path = tmp_path / "script.py"
    path.write_text(body)
    return str(path)


def test_a_forked_script_runs_as_python_would_run_it(tmp_path):
    """Its directory, environment, argv and __name__ are its own; its exit status is the one python gives
    (an uncaught exception: 1 and the traceback; sys.exit with a message: 1 and the message)."""
    script = _script(tmp_path, "import json, os, sys, tempfile\n"
                               "print(json.dumps([__name__, sys.argv, os.getcwd(), os.environ.get('ONLY_HERE'),\n"
                               "                  tempfile.gettempdir(), sys.path[0]]))\n"
                               "code = sys.argv[1]\n"
                               "if code == 'raise': raise KeyError('boom')\n"
                               "sys.exit(int(code) if code.isdigit() else code)\n")
    (tmp_path / "tmp").mkdir()
    out = run_python([script, "0"], cwd=tmp_path, env={"ONLY_HERE": "yes", "TMPDIR": str(tmp_path / "tmp")})
    assert json.loads(out.stdout) == ["__main__", [script, "0"], str(tmp_path), "yes", str(tmp_path / "tmp"),
                                      str(tmp_path)]
    assert run_python([script, "3"], check=False).returncode == 3
    raised = run_python([script, "raise"], check=False)
    assert raised.returncode == 1 and "KeyError: 'boom'" in raised.stderr and "Traceback" in raised.stderr
    told = run_python([script, "refused: no data"], check=False)
    assert told.returncode == 1 and "refused: no data" in told.stderr
    assert json.loads(run_python([script, "0"]).stdout)[3] is None  # the last child's environment is not left


def test_a_forked_module_gets_its_flags_and_a_killed_child_is_reported_killed(tmp_path):
    assert run_python(["-m", "recipes.gan", "--help"]).stdout.startswith("usage: python -m recipes.gan [-h]")
    script = _script(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    with open(tmp_path / "out", "w+") as out, open(tmp_path / "err", "w+") as err:
        proc = start_python([script], ROOT, dict(os.environ), out, err)
        assert proc.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    with pytest.raises(subprocess.TimeoutExpired):
        run_python([script], timeout=1)


def test_serving_checks_run_without_the_suite_and_report_what_fails(tmp_path):
    """The TensorFlow-only process the serving checks share (conftest.tensorflow_only): it answers from the
    directory it is given, fails a check whose body imports the suite or raises (with its traceback), and
    a request forbidding a module an earlier one imported gets a new process."""
    from conftest import serve_cases, tensorflow_only

    from suite import export

    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    path = export.export_saved_model("toy", str(tmp_path), {"serving_default": (
        tf.function(lambda inputs: {"outputs": model(inputs)}), [tf.TensorSpec([None, 3], tf.float32, name="inputs")])},
        [model])
    out = serve_cases(path, [("serving_default", {"inputs": "tf.ones([4, 3])"}),
                             ("serving_default", {"inputs": "tf.ones([4])"})], tmp_path)
    assert out[0] == {"outputs": [4, 2]} and "Shape of tensor inputs [4]" in out[1]["error"]
    assert tensorflow_only("out = os.getcwd()\n", tmp_path) == str(tmp_path)
    assert tensorflow_only("for i in range(5000): print(i)\nout = 'answered'\n", tmp_path) == "answered"
    with pytest.raises(AssertionError, match="imported the suite: suite"):
        tensorflow_only("import suite.export\nout = 1\n", tmp_path)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        tensorflow_only("out = 1 / 0\n", tmp_path)
    tensorflow_only("import wave\nout = 1\n", tmp_path, forbidden=("suite",))
    assert tensorflow_only("out = 'wave' in sys.modules\n", tmp_path, forbidden=("suite", "wave")) is False


def test_parallel_workers_refuse_the_shared_runs_instead_of_training_them_once_each(tmp_path):
    """pytest-xdist (``-n 2``) is for the developer loop: a worker asked for a shared run fails the
    test with the reason, and no run starts (each worker would train every run again)."""
    env = {**os.environ, "SUITE_RUNS_REPORT": str(tmp_path / "report.json")}
    out = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                          "--basetemp", str(tmp_path / "base"), "tests/test_recipe_nlu.py", "-k", "bert_pretraining"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "1 error" in out.stdout, out.stdout[-3000:]
    assert "the shared training runs train once per session" in out.stdout, out.stdout[-3000:]
    assert not os.path.exists(tmp_path / "report.json") and not list((tmp_path / "base").glob("**/trained*"))
