"""The one optimizer factory of the suite: Keras optimizers from a few named settings.

``OptimizerSpec`` names what the papers set (the optimizer, its learning rate
and moments, decoupled weight decay, gradient clipping, a warm-up and decay
schedule); ``OptimizerSpec.build`` makes the Keras optimizer, wrapped for
loss scaling under the ``mixed_float16`` policy. A model config states its
optimizer with fields of the same names (``optimizer`` for ``name``);
``OptimizerSpec.from_config`` reads them.
"""
import dataclasses

import keras
import tensorflow as tf

OPTIMIZERS = ("adam", "adamw", "adamax", "sgd", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("constant", "linear", "cosine", "poly")


@keras.saving.register_keras_serializable(package="suite.training")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then linear decay to 0 at
    ``total_steps`` (BERT and MT-DNN)."""

    def __init__(self, peak, warmup_steps, total_steps):
        self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = step / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.clip_by_value(tf.minimum(warm, decay), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """``name``: adam, adamw (decoupled ``weight_decay``), adamax, sgd (with ``momentum``),
    rmsprop, adagrad, adadelta (decay ``rho``: CRNN's). ``schedule``: constant, linear (warm-up over ``warmup`` of the steps, then
    linear decay to 0), cosine (the same warm-up, then cosine decay to 0) or poly (DeepLab's:
    ``learning_rate * (1 - step / total) ** power``, no warm-up); all but constant need the run's
    total steps. ``clipnorm`` clips each variable's gradient, ``global_clipnorm`` all of
    them together."""

    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    rho: float = 0.95
    weight_decay: float = 0.0
    clipnorm: float | None = None
    global_clipnorm: float | None = None
    schedule: str = "constant"
    warmup: float = 0.0
    power: float = 0.9  # the poly schedule's
    exclude_from_weight_decay: tuple = ()

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.name!r}: choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown learning-rate schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a share of the steps in [0, 1), got {self.warmup}")
        if self.schedule == "poly" and self.warmup:
            raise ValueError("the poly schedule has no warm-up (DeepLab's): warmup must be 0")

    @classmethod
    def from_config(cls, config, **overrides):
        """The spec a model config states with fields named like this class's (``optimizer`` is
        ``name``); ``overrides`` win."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: getattr(config, k) for k in fields if k != "name" and hasattr(config, k)}
        if hasattr(config, "optimizer"):
            values["name"] = config.optimizer
        return cls(**{**values, **overrides})

    def learning_rate_schedule(self, total_steps=None):
        if self.schedule == "constant":
            return self.learning_rate
        if not total_steps:
            raise ValueError(f"the {self.schedule} learning-rate schedule needs the run's total steps")
        warmup = int(self.warmup * total_steps)
        if self.schedule == "poly":
            return keras.optimizers.schedules.PolynomialDecay(self.learning_rate, total_steps, 0.0, power=self.power)
        if self.schedule == "linear":
            return WarmupLinearDecay(self.learning_rate, warmup, total_steps)
        return keras.optimizers.schedules.CosineDecay(0.0 if warmup else self.learning_rate,
                                                      max(total_steps - warmup, 1), alpha=0.0,
                                                      warmup_target=self.learning_rate if warmup else None,
                                                      warmup_steps=warmup)

    def build(self, total_steps=None, precision=None):
        """The Keras optimizer (a ``LossScaleOptimizer`` around it under ``mixed_float16``;
        ``precision`` defaults to the global policy)."""
        lr = self.learning_rate_schedule(total_steps)
        clip = {"clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm}
        if self.name == "adam":
            opt = keras.optimizers.Adam(lr, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, **clip)
        elif self.name == "adamw":
            opt = keras.optimizers.AdamW(lr, weight_decay=self.weight_decay, beta_1=self.beta_1, beta_2=self.beta_2,
                                         epsilon=self.epsilon, **clip)
            if self.exclude_from_weight_decay:
                opt.exclude_from_weight_decay(var_names=list(self.exclude_from_weight_decay))
        elif self.name == "adamax":
            opt = keras.optimizers.Adamax(lr, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, **clip)
        elif self.name == "sgd":
            opt = keras.optimizers.SGD(lr, momentum=self.momentum, **clip)
        elif self.name == "rmsprop":
            opt = keras.optimizers.RMSprop(lr, **clip)
        elif self.name == "adadelta":
            opt = keras.optimizers.Adadelta(lr, rho=self.rho, epsilon=self.epsilon, **clip)
        else:
            opt = keras.optimizers.Adagrad(lr, **clip)
        precision = precision or keras.mixed_precision.global_policy().name
        return keras.optimizers.LossScaleOptimizer(opt) if precision == "mixed_float16" else opt


def make_optimizer(name, learning_rate, *, precision=None, **settings):
    """``OptimizerSpec(name, learning_rate, **settings).build(precision=precision)``."""
    return OptimizerSpec(name=name, learning_rate=learning_rate, **settings).build(precision=precision)


def reset_optimizer(optimizer):
    """Zeroes an optimizer's state (step count, moments), keeping its learning rate."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    keep = {id(getattr(inner, "_learning_rate", None))}
    for v in inner.variables:
        if id(v) not in keep:
            v.assign(tf.zeros_like(v))


def learning_rate_of(optimizer):
    """The optimizer's current learning rate as a float (its schedule at the current step)."""
    import numpy as np

    return float(np.asarray(tf.convert_to_tensor(optimizer.learning_rate)))
