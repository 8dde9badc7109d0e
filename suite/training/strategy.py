"""``--strategy`` resolution and the chief/worker facts every recipe needs.

Create the strategy before any other TensorFlow op: MultiWorkerMirrored and
TPU strategies must configure the runtime first.
"""
import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def split_cpu(count):
    """Splits the host CPU into ``count`` logical devices (before any op runs).

    Lets ``--strategy mirrored`` run several replicas on a machine without
    GPUs, for tests and debugging.
    """
    if count and count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def _tf_config_workers():
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _tpu_hint():
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or os.path.exists("/dev/accel0"))


def _tpu_strategy():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


_CLUSTER_STRATEGIES = {}  # a process joins its cluster once: later runs in it reuse the strategy


def _multi_worker():
    if "multi_worker" not in _CLUSTER_STRATEGIES:
        _CLUSTER_STRATEGIES["multi_worker"] = tf.distribute.MultiWorkerMirroredStrategy()
    return _CLUSTER_STRATEGIES["multi_worker"]


def resolve_strategy(name="auto"):
    """A ``tf.distribute.Strategy`` for a ``--strategy`` value.

    auto: a TPU when one resolves, MultiWorkerMirrored when TF_CONFIG lists
    more than one task, Mirrored over the GPUs when there is more than one,
    else the default strategy. mirrored without GPUs mirrors over the logical
    CPU devices (see ``split_cpu``). A process joins its cluster once: a
    second multi-worker run in the same process reuses the strategy.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "tpu":
        return _tpu_strategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("--strategy multi_worker needs TF_CONFIG describing the cluster and this task")
        return _multi_worker()
    if name == "auto":
        if _tpu_hint():
            try:
                return _tpu_strategy()
            except (ValueError, RuntimeError, tf.errors.OpError):
                pass
        if _tf_config_workers() > 1:
            return _multi_worker()
        if len(tf.config.list_physical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """True on the one task that writes logs, user checkpoints and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_id(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "chief"
    return f"{resolver.task_type}-{resolver.task_id}"


def start_run(args):
    """What every recipe does first, before any other TensorFlow op: ``--virtual-cpus``, the
    ``--strategy``, the ``--mixed-precision`` policy. Returns (strategy, chief, policy name)."""
    split_cpu(args.virtual_cpus)
    strategy = resolve_strategy(args.strategy)
    return strategy, is_chief(strategy), set_precision(args.mixed_precision)


def set_precision(mode):
    """``--mixed-precision``: none | float16 | bfloat16 -> the global Keras dtype policy."""
    import keras

    policies = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
    if mode not in policies:
        raise ValueError(f"--mixed-precision {mode!r}: choose one of {', '.join(policies)}")
    keras.mixed_precision.set_global_policy(policies[mode])
    return policies[mode]
