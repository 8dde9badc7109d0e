"""SavedModel export for TensorFlow Serving: versioned, atomic, listed in models.config.

``saved_models/<name>/<version>/`` is written into a hidden temporary
directory beside it and renamed into place, so a server polling the base
path never sees half a model. ``saved_models/models.config`` is rewritten
(also atomically) to list every exported model, for
``tensorflow_model_server --model_config_file=saved_models/models.config``.
"""
import os
import re
import shutil
import tempfile

import keras

CONFIG_NAME = "models.config"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ExportError(ValueError):
    """An export target that cannot be written; the message names the path."""


def answer_empty_batch(fn, *inputs):
    """``fn(*inputs)``, whose outputs are per example, answered for a batch of none too: the model runs
    on one blank example instead (zeros, every empty dimension made 1) and none of its outputs is kept,
    so an empty request gets empty outputs of the right shapes, not a shape error deep in the model."""
    import tensorflow as tf

    n = tf.shape(inputs[0])[0]

    def at_least_one(x):
        y = tf.cond(n > 0, lambda: x, lambda: tf.zeros(tf.maximum(tf.shape(x), 1), x.dtype))
        y.set_shape(tf.TensorShape([None]).concatenate(x.shape[1:]))  # what the model's layers know of x
        return y

    return tf.nest.map_structure(lambda v: v[:n], fn(*[at_least_one(x) for x in inputs]))


def with_shape_checks(fn, specs):
    """``fn`` behind a runtime check of every input against its TensorSpec's shape: a SavedModel's
    signature functions do not check what a client sends (a rank-1 waveform or a scalar string would
    reach the model and fail deep inside it), ``tf.ensure_shape`` does, naming the input:
    ``Shape of tensor waveforms [16000] is not compatible with expected shape [?,?]``."""
    import tensorflow as tf

    @tf.function
    def checked(*inputs):
        return fn(*[tf.ensure_shape(x, spec.shape, name=f"check_{spec.name or 'input'}")
                    for x, spec in zip(inputs, specs, strict=True)])

    return checked


def _umask():
    """The process's umask (read without changing it where /proc says it)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _readable_by_others(path):
    """Gives ``path`` (a file, or a directory and everything in it) the modes the umask gives new files
    (0644 / 0755 under the usual 022): temporary files and directories are made 0600 / 0700, and a
    TensorFlow Serving process running as another user could not read the export."""
    mask = _umask()
    if not os.path.isdir(path):
        os.chmod(path, 0o666 & ~mask)
        return
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)


def versions(export_root, name):
    base = os.path.join(export_root, name)
    if not os.path.isdir(base):
        return []
    return sorted(int(d) for d in os.listdir(base) if d.isdigit() and os.path.isdir(os.path.join(base, d)))


def newest(export_root, name):
    """The newest ``export_root/name/<version>`` directory, or None when there is none."""
    found = versions(export_root, name)
    return os.path.join(export_root, name, str(found[-1])) if found else None


def check_saved_model(path, flag=None):
    """ValueError naming ``flag`` and ``path`` unless ``path`` holds a SavedModel."""
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{flag + ' ' if flag else ''}{path}: not a SavedModel directory (no saved_model.pb)")


def resolve_version(export_root, name, version=None):
    """The version to write: ``version`` if free, else the next free one.

    Raises ExportError (before any training, when called early) if the
    requested version exists or the export root cannot be created.
    """
    if not _NAME.match(name):
        raise ExportError(f"model name {name!r} may only hold letters, digits, '_', '.', '-'")
    if os.path.exists(export_root) and not os.path.isdir(export_root):
        raise ExportError(f"--export-dir {export_root}: exists and is not a directory")
    existing = versions(export_root, name)
    if version is None:
        return (existing[-1] + 1) if existing else 1
    if int(version) < 1:
        raise ExportError(f"--version {version}: versions are positive integers")
    if int(version) in existing:
        raise ExportError(f"{os.path.join(export_root, name, str(version))} already exists; pick another --version")
    return int(version)


WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup(directory, name, endpoints, warmup):
    """``directory/assets.extra/tf_serving_warmup_requests``: one PredictionLog record per signature
    (TensorFlow Serving replays them when it loads the model, so no client waits for the first
    call's tracing and allocation). ``warmup``: {signature: [a value per input, in the order of its
    TensorSpecs]}; every signature of ``endpoints`` needs one."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    missing = sorted(set(endpoints) - set(warmup))
    if missing:
        raise ValueError(f"no warm-up request for the signature(s) {missing}")
    os.makedirs(os.path.join(directory, "assets.extra"), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(directory, WARMUP_FILE)) as writer:
        for signature, (_, specs) in endpoints.items():
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
            for spec, value in zip(specs, warmup[signature], strict=True):
                request.inputs[spec.name].CopyFrom(tf.make_tensor_proto(value, dtype=spec.dtype))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def image_warmup(image):
    """The warm-up requests of an image model's two signatures: ``image`` (uint8 [H, W, 3], held-out
    data) as pixels for ``serving_default`` and as PNG bytes for ``image_bytes``."""
    import tensorflow as tf

    return {"serving_default": [image[None]], "image_bytes": [[tf.io.encode_png(image).numpy()]]}


def write_signatures(directory, endpoints, track):
    """Writes a SavedModel whose signatures are ``endpoints`` ({signature: (function, [TensorSpec])}, each
    behind ``with_shape_checks``; an entry given twice, such as the ``serving_default`` alias, is traced
    once) with the variables they use and the lookup tables of Keras layers under ``track``.

    Hand-written instead of ``keras.export.ExportArchive``, which traces every endpoint twice: once to
    find its variables and again inside ``tf.saved_model.save``, whose function cache is keyed by the
    save context (2-5 CPU-seconds of a recipe's export, and twice more for the alias). Here each
    function is traced once and its concrete function is the signature; the loaded model has the
    signatures only (``loaded.signatures[name]``, what TensorFlow Serving calls), no attribute
    functions."""
    import tensorflow as tf

    traced = {}
    for entry in endpoints.values():
        if id(entry) not in traced:
            fn, spec = entry
            traced[id(entry)] = tf.function(with_shape_checks(fn, spec), input_signature=spec,
                                            autograph=False).get_concrete_function()
    signatures = {sig: traced[id(entry)] for sig, entry in endpoints.items()}
    seen, variables = set(), []
    for concrete in traced.values():
        for v in (*concrete.trainable_variables, *concrete.variables):
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    lookups = (keras.layers.StringLookup, keras.layers.IntegerLookup, keras.layers.TextVectorization)
    root = tf.__internal__.tracking.AutoTrackable()
    root._all_variables = variables  # what the signatures capture, saved with them
    # a Keras lookup layer's table is a resource, not a variable: tracked for its vocabulary to be saved
    root._misc_assets = [t for r in track for t in tf.train.TrackableView(r).descendants() if isinstance(t, lookups)]
    tf.saved_model.save(root, directory, signatures=signatures)


def export_saved_model(name, export_root, endpoints, track, version=None, warmup=None):
    """Writes ``export_root/name/version`` and returns its path.

    ``endpoints``: {signature name: (function, [tf.TensorSpec, ...])}; the
    first is also written as ``serving_default`` unless that key is given.
    ``track``: Keras layers/models whose variables the functions use.
    ``warmup``: {signature: [a value per input]}, written as TF Serving's
    warm-up requests (``write_warmup``; ``serving_default`` may be left to
    its first signature's).

    Without ``version`` the next free version is taken when the export is
    written (not when training started), so concurrent runs exporting the
    same name each get their own version instead of failing at the end.
    """
    explicit = version is not None
    version = resolve_version(export_root, name, version)
    base = os.path.join(export_root, name)
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base)
    try:
        if "serving_default" not in endpoints:
            first = next(iter(endpoints))
            endpoints = {"serving_default": endpoints[first], **endpoints}
            if warmup is not None and first in warmup:
                warmup = {"serving_default": warmup[first], **warmup}
        write_signatures(tmp, endpoints, track)
        if warmup is not None:
            write_warmup(tmp, name, endpoints, warmup)
        _readable_by_others(tmp)
        while True:
            final = os.path.join(base, str(version))
            try:
                os.rename(tmp, final)  # refused when another run's export already holds ``final``
                break
            except OSError:
                if not os.path.exists(final):
                    raise
                if explicit:
                    raise ExportError(f"{final} already exists; pick another --version") from None
                version = resolve_version(export_root, name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_models_config(export_root)
    return final


def write_models_config(export_root):
    """Rewrites ``export_root/models.config`` listing every ``<name>/<version>`` export."""
    names = sorted(n for n in os.listdir(export_root) if not n.startswith(".") and versions(export_root, n))
    lines = ["model_config_list {"]
    for n in names:
        lines += [
            "  config {",
            f"    name: '{n}'",
            f"    base_path: '{os.path.abspath(os.path.join(export_root, n))}'",
            "    model_platform: 'tensorflow'",
            "  }",
        ]
    lines.append("}")
    path = os.path.join(export_root, CONFIG_NAME)
    fd, tmp = tempfile.mkstemp(prefix=".models.config.", dir=export_root)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    _readable_by_others(tmp)
    os.replace(tmp, path)
    return path
