"""How every model of the suite trains: strategy resolution (``strategy``), the fit driver that
works under every tf.distribute strategy (``driver``), the supervised task base (``task``), the
evaluator base (``evaluator``), the recipe runner (``runner``), the optimizer factory
(``optimizers``) and randomness keyed by example (``randomness``).

The names below load on first use, so that ``suite.training.cli`` and ``suite.training.runner``
(argument parsing, ``--help``) import no TensorFlow.
"""
import importlib

_EXPORTS = {
    "Callback": "driver", "Driver": "driver", "Stage": "driver", "check_run_config": "driver",
    "limit_stages": "driver", "model_variables": "driver", "supervised_step": "driver",
    "Evaluator": "evaluator", "OptimizerSpec": "optimizers", "SupervisedTask": "task", "Recipe": "runner",
    "STRATEGIES": "strategy", "is_chief": "strategy", "resolve_strategy": "strategy", "set_precision": "strategy",
    "split_cpu": "strategy", "start_run": "strategy", "worker_id": "strategy",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'suite.training' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"suite.training.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
