"""Single-task versus multi-task fine-tuning (MT-DNN's claim), on the same budget.

    python -m benchmarks mtdnn [--preset tiny] [--epochs 5] [--init-from logs/bert/encoder] [--output mtdnn.md]
    python -m benchmarks mtdnn --padding [--steps 200]

``--padding`` instead times the train step of each task (one process, one model) with its batches
padded to the preset's sequence length against padded to the task's longest example, as the
recipe trains (``Lexicon.fitted_length``), alternating the two twice.

Runs ``recipes.mtdnn`` once with every task together, then once per task
with ``--tasks TASK`` for as many steps as that task got in the multi-task
run (the same epochs over its data), so every task sees each of its
examples equally often either way, and the multi-task run costs the sum of
the single-task runs. The table gives each task's development scores
(GLUE's metric per task; ranking: accuracy of the top candidate and MRR),
the untrained model's for reference, and training examples per second.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe


def run(tasks, args, workdir, key, steps_per_epoch=None):
    cmd = ["-m", "recipes.mtdnn", "--preset", args.preset, "--data", args.data, "--tasks", tasks,
           "--seed", str(args.seed), "--no-progress", "--logdir", os.path.join(workdir, "logs", key),
           "--export-dir", os.path.join(workdir, "export")]
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if steps_per_epoch:
        cmd += ["--steps-per-epoch", str(steps_per_epoch)]
    if args.init_from:
        cmd += ["--init-from", args.init_from]
    return run_recipe(cmd, f"recipes.mtdnn --tasks {tasks}")


def fmt(scores):
    return " / ".join(f"{v:.3f}" for v in scores.values())


def table(tasks, single, multi):
    lines = ["| task | metrics | untrained | single-task | multi-task |", "|---|---|---|---|---|"]
    for t in tasks:
        lines.append(f"| {t} | {' / '.join(multi['eval'][t])} | {fmt(multi['initial'][t])} | {fmt(single[t]['eval'][t])} "
                     f"| {fmt(multi['eval'][t])} |")
    single_steps = sum(single[t]["step"] for t in tasks)
    single_rate = sum(single[t]["examples_per_second"] * single[t]["step"] for t in tasks) / max(single_steps, 1)
    lines.append(f"| steps | | | {single_steps:,} in all ({single_rate:,.0f} examples/s) | {multi['step']:,} "
                 f"({multi['examples_per_second']:,.0f} examples/s) |")
    return "\n".join(lines)


def padding(args):
    """Examples/s of each task's train step at the preset's length and at its fitted length."""
    import time

    import tensorflow as tf

    from suite.data import glue
    from suite.nlu import bert, lexicon as lexicons, mtdnn

    names, train, _ = glue.load_tasks(args.data, args.tasks, args.seed)
    config = mtdnn.get_config(args.preset)
    full = config.encoder.sequence_length
    lexicon = lexicons.Lexicon(lexicons.train_vocabulary(glue.texts(train), config.encoder.vocabulary_size), full)
    model = mtdnn.MTDNN(bert.build_backbone(config.encoder, lexicon.vocabulary_size),
                        [train[t].spec for t in names], config, seed=args.seed)
    model.build_all(full)
    model.compile(total_steps=10 ** 6)
    lines = ["| task | padded to | examples/s | fitted length | examples/s | ratio |", "|---|---|---|---|---|---|"]
    totals = {"full": 0.0, "fitted": 0.0}
    for t in names:
        fitted = lexicon.fitted_length(train[t].first, train[t].second)
        seconds = {"full": 0.0, "fitted": 0.0}
        for key, length in [("full", None), ("fitted", fitted)] * 2:
            batches = iter(glue.task_dataset(train[t], lexicon.encode, config.batch_size, seed=args.seed,
                                             length=length).prefetch(args.steps))
            step = tf.function(lambda b, t=t: model.train_step(b, task=t))
            step(next(batches))  # traced
            ready = [next(batches) for _ in range(args.steps)]
            start = time.perf_counter()
            for b in ready:
                step(b)
            seconds[key] += time.perf_counter() - start
        rate = {k: 2 * args.steps * config.batch_size / v for k, v in seconds.items()}
        for k in totals:
            totals[k] += seconds[k]
        lines.append(f"| {t} | {full} | {rate['full']:,.0f} | {fitted} | {rate['fitted']:,.0f} | "
                     f"{rate['fitted'] / rate['full']:.2f}x |")
        print(f"  {t}: {rate}", file=sys.stderr, flush=True)
    lines.append(f"| all (equal steps) | | | | | {totals['full'] / totals['fitted']:.2f}x |")
    report(f"MT-DNN train steps, preset={args.preset}, data={args.data}, batch {config.batch_size}, "
           f"{args.steps} steps x 2 per task and length\n\n" + "\n".join(lines), args.output)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks mtdnn", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="nlu", help="--data of the recipe")
    p.add_argument("--tasks", default=None, help="comma-separated tasks (default: every task of --data)")
    p.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"),
                   help="tiny: the encoder whose learning the tests check (8,000 multi-task steps)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of every run (default: the preset's)")
    p.add_argument("--init-from", default=None, help="a pre-trained encoder (recipes.bert's LOGDIR/encoder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    p.add_argument("--padding", action="store_true",
                   help="time each task's train step at the preset's length against its fitted length instead")
    p.add_argument("--steps", type=int, default=200, help="--padding: timed steps per task and length, twice")
    args = p.parse_args(argv)
    if args.padding:
        return padding(args)
    from suite.data import glue

    tasks = [t for t in (args.tasks or ",".join(glue.task_names(args.data))).split(",") if t]
    single = {}
    with tempfile.TemporaryDirectory(prefix="bench-mtdnn-") as workdir:
        print(f"training {','.join(tasks)} together ...", file=sys.stderr, flush=True)
        multi = run(",".join(tasks), args, workdir, "all")
        print(f"  {multi['eval']}", file=sys.stderr, flush=True)
        epochs = len(multi["history"]) or 1
        for t in tasks:  # as many steps as the task had in the multi-task run
            print(f"training {t} alone ...", file=sys.stderr, flush=True)
            single[t] = run(t, args, workdir, t, steps_per_epoch=max(1, -(-multi["task_steps"][t] // epochs)))
            print(f"  {t}: {single[t]['eval'][t]}", file=sys.stderr, flush=True)
    text = (f"MT-DNN, preset={args.preset}, data={args.data}, seed {args.seed}, "
            f"{'encoder from ' + args.init_from if args.init_from else 'encoder trained from scratch'}\n\n"
            + table(tasks, single, multi))
    report(text, args.output)
    return single, multi


if __name__ == "__main__":
    main()
