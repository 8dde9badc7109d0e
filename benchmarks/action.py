"""The action-recognition comparison of Karpathy et al. and Simonyan and Zisserman, on one budget.

    python -m benchmarks action [--preset tiny] [--steps 2000] [--output action.md]

Trains every network of ``recipes.action`` (single frame, late, early and
slow fusion, two-stream with its optical flow in the graph, and two-stream on
OpenCV's Farneback flow from the input pipeline: ``two_stream_farneback``)
for the same number of steps on the same embedded
motion videos (batch 32, seed 0), one after the other in fresh processes,
and tabulates the held-out clip and video top-1 accuracy, training clips per
second and its ratio to the single-frame network's (the reference), and the
parameters. The embedded classes are told apart by motion only, so the
single-frame network should stay near chance (1/8).
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe

MODELS = ("single_frame", "late", "early", "slow", "two_stream", "two_stream_farneback")


def flags(model):
    """The recipe's flags of a row: two_stream_farneback is two-stream with --flow farneback."""
    return ["--model", "two_stream", "--flow", "farneback"] if model == "two_stream_farneback" else ["--model", model]


def run(model, args, workdir):
    steps = max(1, args.steps // args.epochs)
    cmd = ["-m", "recipes.action", *flags(model), "--preset", args.preset, "--data", args.data,
           "--epochs", str(args.epochs), "--steps-per-epoch", str(steps), "--seed", str(args.seed), "--no-progress",
           "--logdir", os.path.join(workdir, "logs", model), "--export-dir", os.path.join(workdir, "export")]
    return run_recipe(cmd, "recipes.action " + " ".join(flags(model)))


def parameters(model, preset):
    from suite.action import models

    farneback = model == "two_stream_farneback"
    config = models.get_config("two_stream" if farneback else model, preset, flow="farneback" if farneback else "graph")
    return models.build_model(config).count_params()


def table(results, preset):
    ref = results["single_frame"]["clips_per_second"] if "single_frame" in results else None
    lines = ["| model | frames seen | video top-1 (untrained) | clip top-1 | clips/s | vs single frame | parameters |",
             "|---|---|---|---|---|---|---|"]
    seen = {"single_frame": "1 RGB", "late": "2 RGB, 15 apart", "early": "10 RGB", "slow": "10 RGB",
            "two_stream": "11 RGB -> 1 RGB + 10 flow (in the graph)",
            "two_stream_farneback": "1 RGB + 10 flow (Farneback)"}
    for model, r in results.items():
        ratio = f"{r['clips_per_second'] / ref:.2f}x" if ref else "-"
        lines.append(f"| {model} | {seen[model]} | {r['eval']['video_top1']:.3f} ({r['initial']['video_top1']:.3f}) "
                     f"| {r['eval']['clip_top1']:.3f} | {r['clips_per_second']:,.0f} | {ratio} "
                     f"| {parameters(model, preset):,} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks action", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="motion", help="--data of the recipe")
    p.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    p.add_argument("--steps", type=int, default=2000, help="training steps of every network")
    p.add_argument("--epochs", type=int, default=4, help="evaluations (the steps are split over them)")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated networks to compare")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-action-") as workdir:
        for model in [m for m in args.models.split(",") if m]:
            print(f"training {model} ...", file=sys.stderr, flush=True)
            results[model] = run(model, args, workdir)
            print(f"  {model}: {results[model]['eval']}", file=sys.stderr, flush=True)
    text = (f"Action recognition, preset={args.preset}, data={args.data}, {args.steps:,} steps of 32 clips each, "
            f"seed {args.seed}\n\n" + table(results, args.preset))
    report(text, args.output)
    return results


if __name__ == "__main__":
    main()
