"""How every model of the suite trains: strategy resolution (``strategy``), the fit driver that
works under every tf.distribute strategy (``driver``), the supervised task base (``task``), the
evaluator base (``evaluator``), the recipe runner (``runner``), the optimizer factory
(``optimizers``) and randomness keyed by example (``randomness``).

The names below load on first use, so that ``suite.training.cli`` and ``suite.training.runner``
(argument parsing, ``--help``) import no TensorFlow.
"""
from suite import lazy_exports

_EXPORTS = {
    "Callback": "driver", "Driver": "driver", "Stage": "driver", "check_run_config": "driver",
    "limit_stages": "driver", "model_variables": "driver", "supervised_step": "driver",
    "Evaluator": "evaluator", "OptimizerSpec": "optimizers", "SupervisedTask": "task", "Recipe": "runner",
    "STRATEGIES": "strategy", "is_chief": "strategy", "resolve_strategy": "strategy", "set_precision": "strategy",
    "split_cpu": "strategy", "start_run": "strategy", "worker_id": "strategy",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
