"""Strategy resolution, the fit driver that works under every tf.distribute strategy, callbacks."""
from suite.training.driver import Callback, Driver, Stage, check_run_config, limit_stages, supervised_step  # noqa: F401
from suite.training.strategy import (  # noqa: F401
    STRATEGIES,
    is_chief,
    resolve_strategy,
    set_precision,
    split_cpu,
    worker_id,
)
