"""DeepSpeech against DeepSpeech 2 on the embedded spoken corpus: error rates against training speed.

    python -m benchmarks speech [--preset tiny] [--steps 500] [--batch 16] [--output speech.md]

Trains ``recipes.deepspeech --model ds1`` and ``--model ds2`` on the same
utterances (espeak-ng corpus, seed 0), the same number of steps and the same
batch, one after the other in fresh processes, and tabulates the held-out
character and word error rates (greedy and beam-search decoding; the untrained
network's CER beside them), the training throughput in seconds of audio per
second (evaluations left out) and its ratio to DS2's (the reference), and the
parameters.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe

MODELS = ("ds2", "ds1")


def run(model, args, workdir):
    cmd = ["-m", "recipes.deepspeech", "--model", model, "--preset", args.preset, "--data", args.data,
           "--epochs", str(args.epochs), "--steps-per-epoch", str(max(1, args.steps // args.epochs)),
           "--batch-size", str(args.batch), "--beam-width", str(args.beam_width), "--seed", str(args.seed),
           "--no-progress", "--logdir", os.path.join(workdir, "logs", model),
           "--export-dir", os.path.join(workdir, "export")]
    if args.eval_utterances:
        cmd += ["--eval-utterances", str(args.eval_utterances)]
    return run_recipe(cmd, f"recipes.deepspeech --model {model}")


def parameters(model, preset):
    from suite.speech import models

    return models.build_model(models.get_config(model, preset)).count_params()


def table(results, args):
    ref = results.get("ds2")
    lines = ["| model | steps x batch | CER greedy (untrained) | WER greedy | CER beam | WER beam | "
             "train audio s/s | vs DS2 | parameters |",
             "|---|---|---|---|---|---|---|---|---|"]
    for model, r in results.items():
        e, i = r["eval"], r["initial"]
        ratio = f"{r['audio_seconds_per_second'] / ref['audio_seconds_per_second']:.2f}x" if ref else "-"
        beam = (f"{e['cer_beam']:.3f} | {e['wer_beam']:.3f}" if "cer_beam" in e else "- | -")
        lines.append(f"| {model} | {r['step']:,} x {args.batch} | {e['cer']:.3f} ({i['cer']:.2f}) | {e['wer']:.3f} | "
                     f"{beam} | {r['audio_seconds_per_second']:,.1f} | {ratio} | "
                     f"{parameters(model, args.preset):,} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks speech", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="espeak", help="--data of the recipe")
    p.add_argument("--preset", default="tiny", choices=("tiny", "small", "paper"))
    p.add_argument("--steps", type=int, default=500, help="training steps of each model")
    p.add_argument("--batch", type=int, default=16, help="utterances per step")
    p.add_argument("--epochs", type=int, default=2, help="evaluations (the steps are split over them)")
    p.add_argument("--beam-width", type=int, default=8, help="beam width of the second decoding (0: greedy only)")
    p.add_argument("--eval-utterances", type=int, default=None,
                   help="held-out utterances scored (default: the recipe's for the preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as workdir:
        for model in MODELS:
            print(f"training {model} ...", file=sys.stderr, flush=True)
            results[model] = run(model, args, workdir)
            print(f"  {model}: {results[model]['eval']}", file=sys.stderr, flush=True)
    r = next(iter(results.values()))
    text = (f"Speech recognition, preset={args.preset}, data={args.data} ({r['train_utterances']:,} training "
            f"utterances, {r['train_hours']:.2f} h), seed {args.seed}, beam width {args.beam_width}\n\n"
            + table(results, args))
    report(text, args.output)
    return results


if __name__ == "__main__":
    main()
