"""The core flags every recipe takes (ARCHITECTURE.md, "Recipes"), and their checks.

Parsing touches no TensorFlow op, so a recipe can create its strategy first.
"""
import argparse
import inspect
import math
import os


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless its help already says it or there is none to show; the
    description and epilog (the recipe's docstring) keep their lines."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def core_parser(name, description, *, default_data, epochs_help, default_batch_size=None,
                default_steps_per_epoch=100, data_help=None, steps_help=None, batch_help=None):
    """The core flags every recipe shares; ``description``: the recipe's docstring (its first
    paragraph heads ``--help``, the rest ends it); ``data_help``, ``steps_help`` and ``batch_help``
    replace the generic help of --data, --steps-per-epoch and --batch-size with the recipe's own."""
    head, _, rest = inspect.cleandoc(description).partition("\n\n")
    p = argparse.ArgumentParser(prog=f"python -m recipes.{name}", description=head, epilog=rest or None,
                                formatter_class=HelpFormatter)
    g = p.add_argument_group("data and model")
    g.add_argument("--data", default=default_data,
                   help=data_help or f"'{default_data}' (the embedded dataset, generated locally from --seed), "
                                     "'tfds:NAME' (a TFDS dataset already prepared in TFDS_DATA_DIR), or a path "
                                     "in the dataset's standard on-disk layout")
    g.add_argument("--skip-bad-files", action="store_true",
                   help="leave out data files that fail the checks before training (unreadable, truncated, "
                        "not the format their name says), naming each at the start and in TensorBoard's text tab, "
                        "instead of refusing the run")
    g.add_argument("--preset", default="small", choices=("tiny", "small", "paper"),
                   help="model and schedule sizes: tiny (tests, seconds on a CPU), small (the embedded "
                        "data, minutes on a laptop CPU), paper (the original paper's sizes)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=positive_int, default=None, help=epochs_help)
    t.add_argument("--steps-per-epoch", type=positive_int, default=default_steps_per_epoch,
                   help=steps_help or "steps between checkpoints (and TensorBoard scalar flushes)")
    t.add_argument("--batch-size", type=positive_int, default=default_batch_size,
                   help=batch_help or "global batch size, split evenly over the replicas (default: the preset's)")
    t.add_argument("--strategy", default="auto", choices=("auto", "default", "mirrored", "multi_worker", "tpu"),
                   help="tf.distribute strategy: auto picks a TPU if one resolves, MultiWorkerMirrored when "
                        "TF_CONFIG lists several tasks, Mirrored over >1 GPU, else the default")
    t.add_argument("--virtual-cpus", type=non_negative_int, default=0,
                   help="split the host CPU into N logical devices, so that --strategy mirrored runs N "
                        "replicas without GPUs (testing and debugging)")
    t.add_argument("--mixed-precision", default="none", choices=("none", "float16", "bfloat16"),
                   help="Keras mixed-precision policy: compute in float16 (with loss scaling) or bfloat16, "
                        "keep variables, losses and outputs in float32")
    t.add_argument("--jit-compile", action="store_true", help="compile each replica's train step with XLA")
    t.add_argument("--data-threads", type=positive_int, default=None,
                   help="threads of the training input pipeline (default: tf.data's, one per core); 1 keeps a run "
                        "that shares the machine with others to one core (measured: half the CPU time of a "
                        "rendered pipeline, whose two threads contend for Python's lock)")
    t.add_argument("--seed", type=int, default=0, help="seed of the embedded data, initialisation and sampling")
    add_output_flags(p.add_argument_group("output"), name,
                     "TensorBoard logs and checkpoints; run again with the same --logdir to resume")
    return p


def add_output_flags(group, name, logdir_help):
    """--logdir (default logs/NAME), --export-dir, --version and --no-progress."""
    group.add_argument("--logdir", default=os.path.join("logs", name), help=logdir_help)
    group.add_argument("--export-dir", default="saved_models",
                       help="export root: the SavedModel goes to EXPORT_DIR/%s/VERSION/ and EXPORT_DIR/models.config "
                            "lists every export" % name)
    group.add_argument("--version", type=positive_int, default=None,
                       help="export version (default: the next free one)")
    group.add_argument("--no-progress", action="store_true", help="no progress bars (logs still go to stderr)")


def add_learning_rate(group, help):
    """``--learning-rate`` (None: the preset's; refused unless > 0)."""
    group.add_argument("--learning-rate", type=positive_float, default=None, help=help)


def checked(convert, ok, what):
    """An argparse ``type=``: ``convert`` the flag's text, refused (``argument --flag: must be <what>,
    got <text>``, exit status 2, before anything runs) unless ``ok(value)``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or (isinstance(value, float) and not math.isfinite(value)) or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def at_least(n, why=None):
    """An integer flag of at least ``n`` (``why``: the reason, said when it is refused)."""
    return checked(int, lambda v: v >= n, f"at least {n}" + (f" ({why})" if why else ""))


positive_int = checked(int, lambda v: v >= 1, "a positive integer")
non_negative_int = checked(int, lambda v: v >= 0, ">= 0")
positive_float = checked(float, lambda v: v > 0, "> 0")
non_negative_float = checked(float, lambda v: v >= 0, ">= 0")
fraction = checked(float, lambda v: 0 < v < 1, "between 0 and 1")


def multiple_of(k, minimum):
    """An integer flag that is a multiple of ``k`` and at least ``minimum``."""
    return checked(int, lambda v: v >= minimum and v % k == 0, f"a multiple of {k} and at least {minimum}")


def check_output_dir(flag, path):
    """Refuses, with a ValueError naming ``flag``, an output directory that could not be created or
    written (a file on its path, or no write permission on its nearest existing ancestor), before any
    work is done; creates nothing."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise ValueError(f"{flag} {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {probe} is not writable")


def check_batch(batch_size, replicas, multiple_of=1, what="--batch-size"):
    """Raises ValueError unless the global batch splits evenly into replica batches of a usable size."""
    if batch_size % replicas:
        raise ValueError(f"{what} {batch_size} does not split evenly over {replicas} replicas")
    local = batch_size // replicas
    if multiple_of > 1 and local > multiple_of and local % multiple_of:
        raise ValueError(f"{what} {batch_size}: the per-replica batch {local} must be a multiple of {multiple_of}")
    return local
