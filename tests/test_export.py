import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from suite import export


def _model():
    x = keras.Input((3,))
    return keras.Model(x, keras.layers.Dense(2)(x))


def _export(root, version=None):
    model = _model()

    @tf.function
    def serve(inputs):
        return {"outputs": model(inputs)}

    return export.export_saved_model("toy", str(root), {"serving_default": (serve, [tf.TensorSpec([None, 3], tf.float32, name="inputs")])},
                                     [model], version=version), model


def test_versions_are_next_free_and_config_lists_them(tmp_path):
    p1, m1 = _export(tmp_path)
    p2, _ = _export(tmp_path)
    assert p1.endswith(os.path.join("toy", "1")) and p2.endswith(os.path.join("toy", "2"))
    p7, _ = _export(tmp_path, version=7)
    assert export.versions(str(tmp_path), "toy") == [1, 2, 7]
    assert export.newest(str(tmp_path), "toy") == p7 and export.newest(str(tmp_path), "other") is None
    export.check_saved_model(p7)
    with pytest.raises(ValueError, match=r"--model .*toy: not a SavedModel directory \(no saved_model.pb\)"):
        export.check_saved_model(str(tmp_path / "toy"), "--model")
    assert not [n for n in os.listdir(tmp_path / "toy") if n.startswith(".tmp")]
    config = (tmp_path / "models.config").read_text()
    assert "name: 'toy'" in config and f"base_path: '{tmp_path / 'toy'}'" in config
    assert config.startswith("model_config_list {")
    loaded = tf.saved_model.load(p1)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(loaded.signatures["serving_default"](inputs=tf.constant(x))["outputs"], m1(x), rtol=1e-5)


def test_existing_version_is_refused_before_writing(tmp_path):
    _export(tmp_path, version=3)
    with pytest.raises(export.ExportError, match="already exists"):
        export.resolve_version(str(tmp_path), "toy", 3)
    with pytest.raises(export.ExportError, match="positive"):
        export.resolve_version(str(tmp_path), "toy", 0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(export.ExportError, match="not a directory"):
        export.resolve_version(str(tmp_path / "file"), "toy")


def test_failed_export_leaves_nothing(tmp_path):
    @tf.function
    def broken(inputs):
        raise RuntimeError("boom")

    with pytest.raises(Exception):
        export.export_saved_model("bad", str(tmp_path), {"serving_default": (broken, [tf.TensorSpec([None, 3], tf.float32)])}, [_model()])
    assert export.versions(str(tmp_path), "bad") == []
    assert os.listdir(tmp_path / "bad") == []


def test_a_version_taken_meanwhile_moves_to_the_next_free_one(tmp_path, monkeypatch):
    """Two runs started together both saw version 1 free; the second to finish gets 2, not an error."""
    real_resolve = export.resolve_version
    calls = []

    def stale_first(root, name, version=None):
        calls.append(version)
        if len(calls) == 1:  # what the run saw when it started, before the other one exported
            os.makedirs(os.path.join(root, name, "1", "variables"))
            return 1
        return real_resolve(root, name, version)

    monkeypatch.setattr(export, "resolve_version", stale_first)
    path, _ = _export(tmp_path)
    assert path.endswith(os.path.join("toy", "2"))
    assert not [n for n in os.listdir(tmp_path / "toy") if n.startswith(".tmp")]
    monkeypatch.setattr(export, "resolve_version", real_resolve)
    calls.clear()

    def explicit_taken(root, name, version=None):
        if not calls:
            calls.append(version)
            os.makedirs(os.path.join(root, name, "5", "variables"))
            return 5
        return real_resolve(root, name, version)

    monkeypatch.setattr(export, "resolve_version", explicit_taken)
    with pytest.raises(export.ExportError, match="5 already exists"):
        _export(tmp_path, version=5)
    assert not [n for n in os.listdir(tmp_path / "toy") if n.startswith(".tmp")]


@pytest.mark.parametrize("umask, directory, file", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_exports_get_the_modes_the_umask_gives(tmp_path, umask, directory, file):
    """A TensorFlow Serving process running as another user must be able to read the export: the
    temporary directory's 0700 and the temporary config's 0600 must not survive the rename."""
    previous = os.umask(umask)
    try:
        path, _ = _export(tmp_path)
    finally:
        os.umask(previous)
    for root, dirs, files in os.walk(path):
        assert os.stat(root).st_mode & 0o777 == directory, root
        for f in files:
            assert os.stat(os.path.join(root, f)).st_mode & 0o777 == file, f
    assert os.stat(tmp_path / export.CONFIG_NAME).st_mode & 0o777 == file


def test_every_signature_checks_its_inputs_shapes_at_run_time(tmp_path):
    """A SavedModel's signature functions take a tensor of any shape; the export checks each input
    against its TensorSpec and names it."""
    @tf.function
    def serve(waveforms, wav):
        return {"sums": tf.reduce_sum(waveforms, 1), "count": tf.shape(wav)[0]}

    path = export.export_saved_model("shapes", str(tmp_path), {"serving_default": (serve, [
        tf.TensorSpec([None, None], tf.float32, name="waveforms"), tf.TensorSpec([None], tf.string, name="wav")])}, [])
    sig = tf.saved_model.load(path).signatures["serving_default"]
    assert sig(waveforms=tf.ones([2, 3]), wav=tf.constant([b"a"]))["sums"].numpy().tolist() == [3, 3]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor waveforms \[16\] is not compatible "
                                                             r"with expected shape \[\?,\?\]"):
        sig(waveforms=tf.ones([16]), wav=tf.constant([b"a"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Shape of tensor wav \[\] is not compatible"):
        sig(waveforms=tf.ones([1, 3]), wav=tf.constant(b"a"))
