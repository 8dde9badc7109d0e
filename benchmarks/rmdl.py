"""The RMDL table (Kowsari et al. 2018): ensembles of 3, 9, 15 and 30 random deep learners per modality,
against their best and median single member; and the gain of training the members in one graph.

    python -m benchmarks rmdl [--modalities image,points,text] [--sizes 3,9,15,30] [--preset tiny]
                              [--output rmdl.md]

Accuracy: for each modality and size N, ``recipes.rmdl`` trains an ensemble
of N/3 DNNs, N/3 CNNs and N/3 RNNs (the paper's RMDL 3, 9, 15 and 30) from
seed 0 on the embedded set, in a fresh process, for the preset's steps; the
table gives the vote's test accuracy, its best and median member's, and the
training throughput of the whole ensemble.

Throughput: the members of the preset's ensemble are trained on the same
input pipeline (decoded and featurised once per batch) in one graph, then
each alone with its own pipeline, ``--steps`` timed steps after
``--warmup`` (tracing); the ratio is the ensemble's examples per second over
the rate of training the members one after another (every member seeing
every example), in one run.
"""
import argparse
import dataclasses
import os
import sys
import tempfile
import time

from benchmarks import report, run_recipe


def accuracy_rows(modality, sizes, args, workdir):
    rows = []
    for size in sizes:
        each = size // 3
        cmd = ["-m", "recipes.rmdl", "--modality", modality, "--preset", args.preset, "--seed", str(args.seed),
               "--dnn", str(each), "--cnn", str(each), "--rnn", str(size - 2 * each), "--no-progress",
               "--logdir", os.path.join(workdir, "logs", f"{modality}{size}"),
               "--export-dir", os.path.join(workdir, "export")]
        print(f"training RMDL {size} on {modality} ...", file=sys.stderr, flush=True)
        r = run_recipe(cmd, f"recipes.rmdl --modality {modality} ({size} members)")
        e = r["eval"]
        rows.append(f"| {modality} | {size} | {e['accuracy']:.3f} | {e['best_member_accuracy']:.3f} | "
                    f"{e['median_member_accuracy']:.3f} | {e['worst_member_accuracy']:.3f} | "
                    f"{r['examples_per_second']:,.0f} |")
    return rows


def one_graph_ratio(modality, args):
    """(ensemble examples/s, sequential examples/s) of the preset's members."""
    import tensorflow as tf

    from suite.data.classification import embedded_set
    from suite.rmdl import ensemble, members, specs, training

    config = members.get_config(args.preset, modality=modality)
    data = embedded_set(modality, (config.train_examples, 10), args.seed, config.image_size, config.num_points)
    config = dataclasses.replace(config, num_classes=data.num_classes)
    featurizer = members.Featurizer(config, data.train[0] if modality == "text" else None)
    drawn = specs.draw_specs(config.counts, config.ranges, args.seed)

    def rate(spec_list):
        model = ensemble.RMDL(config, featurizer, spec_list, seed=args.seed)
        batches = iter(training.training_dataset(featurizer, data.train, config.batch_size, seed=args.seed))
        step = tf.function(model.train_step)
        for _ in range(args.warmup):
            float(step(next(batches))["loss"])
        started = time.perf_counter()
        for _ in range(args.steps):
            out = step(next(batches))
        float(out["loss"])
        return args.steps * config.batch_size / (time.perf_counter() - started)

    together = rate(drawn)
    alone = [rate([s]) for s in drawn]
    return together, 1.0 / sum(1.0 / r for r in alone)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks rmdl", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--modalities", default="image,points,text", help="comma-separated modalities")
    p.add_argument("--sizes", default="3,9,15,30", help="ensemble sizes (a third of each kind)")
    p.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    p.add_argument("--steps", type=int, default=100, help="timed steps of the throughput comparison")
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the timing (tracing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the tables (markdown) to this file")
    args = p.parse_args(argv)
    modalities = [m for m in args.modalities.split(",") if m]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-rmdl-") as workdir:
        for modality in modalities:
            rows += accuracy_rows(modality, sizes, args, workdir)
    speed = []
    for modality in modalities:
        print(f"timing one graph against one member after another on {modality} ...", file=sys.stderr, flush=True)
        together, sequential = one_graph_ratio(modality, args)
        speed.append(f"| {modality} | {together:,.0f} | {sequential:,.0f} | {together / sequential:.2f}x |")
    text = (f"RMDL, preset={args.preset}, the embedded sets, seed {args.seed} (test accuracy)\n\n"
            "| modality | random deep learners | ensemble | best member | median member | worst member | "
            "examples/s |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
            f"\n\nThe preset's 9 members in one graph against one after another ({args.steps} timed steps)\n\n"
            "| modality | one graph, examples/s | one member after another, examples/s | ratio |\n"
            "|---|---|---|---|\n" + "\n".join(speed))
    report(text, args.output)


if __name__ == "__main__":
    main()
