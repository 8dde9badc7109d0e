"""Single-task versus multi-task fine-tuning (MT-DNN's claim), on the same budget.

    python -m benchmarks mtdnn [--preset tiny] [--epochs 5] [--init-from logs/bert/encoder] [--output mtdnn.md]

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
    args = p.parse_args(argv)
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
