import json
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# generated corpora (the espeak-ng speech) are written once and shared by every test and recipe run
os.environ.setdefault("SUITE_CACHE", os.path.join(tempfile.gettempdir(), "suite-test-cache"))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def run_python(args, *, env=None, timeout=600, cwd=None, check=True):
    """Runs ``python ARGS`` from the repository root; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run([sys.executable, *args], cwd=cwd or ROOT, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def python():
    return run_python


def result_json(stdout):
    """The JSON result line a recipe prints last."""
    import json

    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def serve_generator(path, latent_dim, count, cwd):
    """Calls an exported generator's serving_default in a process that imports TensorFlow only;
    returns the shape of the uint8 images it returned."""
    check = (
        "import sys, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(path)!r})\n"
        "sig = m.signatures['serving_default']\n"
        f"img = sig(latents=tf.random.normal([{count}, {latent_dim}]))['images']\n"
        "assert img.dtype == tf.uint8, img.dtype\n"
        "assert int(tf.reduce_max(img)) > int(tf.reduce_min(img))\n"
        "assert not [k for k in sys.modules if k.startswith(('suite', 'recipes'))], 'imported the suite'\n"
        "print('served', tuple(img.shape))\n"
    )
    out = run_python(["-c", check], cwd=str(cwd)).stdout
    line = [x for x in out.splitlines() if x.startswith("served")][-1]
    return eval(line[len("served "):])


def assert_refused_cleanly(args, message, tmp_path):
    """Runs a recipe with ``args`` into tmp_path/logs and tmp_path/export: it must stop with exit
    status 2 and ``message`` on stderr, no traceback, and nothing written to either."""
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    proc = run_python([*args, "--logdir", str(logdir), "--export-dir", str(export_dir)], check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not export_dir.exists() and not logdir.exists()


def serve_random_uint8(path, inputs, cwd):
    """Calls an export's serving_default with random uint8 tensors of the given shapes
    ({name: shape}) in a process that imports TensorFlow only (no suite or recipes module may be
    loaded); returns the outputs as lists."""
    script = (
        "import json, sys, tensorflow as tf\n"
        f"m = tf.saved_model.load({str(path)!r})\n"
        f"shapes = json.loads({json.dumps(json.dumps(inputs))})\n"
        "args = {k: tf.cast(tf.random.uniform(s, 0, 256, tf.int32, seed=1), tf.uint8) for k, s in shapes.items()}\n"
        "res = m.signatures['serving_default'](**args)\n"
        "assert not [k for k in sys.modules if k.startswith(('suite', 'recipes'))]\n"
        "print('SERVED' + json.dumps({k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist()\n"
        "                              for k, v in res.items()}))\n"
    )
    out = run_python(["-c", script], cwd=str(cwd)).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("SERVED")][-1][len("SERVED"):])
