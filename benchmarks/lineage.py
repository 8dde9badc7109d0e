"""The lineage on the same tasks: task models on each generation's frozen features (issue 18).

    python -m benchmarks lineage [--preset tiny] [--tasks cola,sst,nli] [--epochs 8] [--output lineage.md]

Pre-trains word2vec's skip-gram (``recipes.word2vec``) and ELMo's biLM (``recipes.elmo``) on the
embedded stories, each in its own process, then trains one BiLSTM task model per task on top of
(a) embeddings learnt from the task alone, (b) the skip-gram vectors, frozen, (c) ELMo, frozen, under
a trainable scalar mix, beside (a)'s embeddings as the paper uses it (``suite.lm.lineage``), with the
same seed and epochs for each. The table gives each task's development scores (accuracy; CoLA:
Matthews correlation too), the untrained task model's, and what each pre-training reached. GPT
(fine-tuned with its input transformations) and BERT are measured by their own recipes; their rows
are to join this table.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe

TASKS = ("cola", "sst", "nli")


def pretrain(args, workdir):
    """{"word2vec": (words, vectors, its Spearman), "elmo": (config, net, its perplexities)}."""
    import tensorflow as tf

    from suite.lm import elmo

    common = ["--preset", args.preset, "--seed", str(args.seed), "--no-progress"]
    w2v_logs = os.path.join(workdir, "word2vec")
    w2v = run_recipe(["-m", "recipes.word2vec", *common, "--logdir", w2v_logs, "--export-dir",
                      os.path.join(workdir, "export")], "recipes.word2vec")
    projector = os.path.join(w2v_logs, "projector")
    with open(os.path.join(projector, "metadata.tsv"), encoding="utf-8") as f:
        words = [line.rstrip("\n") for line in f]
    vectors = tf.train.load_variable(os.path.join(projector, "embedding.ckpt"), "embedding/.ATTRIBUTES/VARIABLE_VALUE")
    elmo_logs = os.path.join(workdir, "elmo")
    biLM = run_recipe(["-m", "recipes.elmo", *common, "--logdir", elmo_logs, "--export-dir",
                       os.path.join(workdir, "export")], "recipes.elmo")
    config, _, net = elmo.load_pretrained(elmo_logs)
    return {"word2vec": (words, vectors, w2v["eval"]["similarity/embedded"]["spearman"]),
            "elmo": (config, net, biLM["eval"])}


def fmt(scores):
    return " / ".join(f"{scores[k]:.3f}" for k in ("mcc", "accuracy") if k in scores)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks lineage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=("tiny", "small"),
                   help="the pre-training runs' preset (default tiny: minutes on a CPU)")
    p.add_argument("--tasks", default=",".join(TASKS), help=f"embedded tasks, comma-separated (default {','.join(TASKS)})")
    p.add_argument("--epochs", type=int, default=8, help="task-model epochs over each task's data (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pre-training runs and the task models (default 0)")
    p.add_argument("--output", default=None, help="also write the table (Markdown) to this file")
    args = p.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        p.error(f"--tasks: {','.join(unknown) or 'none'}: choose from {', '.join(TASKS)} (classification tasks)")
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")

    from suite.data.glue import embedded_task
    from suite.data.text_corpus import tokenize
    from suite.lm import lineage

    config = lineage.TaskModelConfig(epochs=args.epochs)
    with tempfile.TemporaryDirectory() as workdir:
        print("pre-training word2vec and ELMo ...", file=sys.stderr)
        done = pretrain(args, workdir)
        words, vectors, spearman = done["word2vec"]
        elmo_config, net, perplexity = done["elmo"]
        rows = {}
        for task in tasks:
            train, dev = embedded_task(task, "train", seed=args.seed), embedded_task(task, "validation", seed=args.seed)
            own = sorted({w for column in (train.first, train.second) if column is not None
                          for s in column for w in tokenize(s)})
            generations = {"task only": lineage.WordFeatures(["<unk>", *own], None, config.scratch_dim, "scratch"),
                           "word2vec (skip-gram)": lineage.WordFeatures(words, vectors, name="static"),
                           "ELMo": lineage.ElmoFeatures(net, elmo_config, ["<unk>", *own], config.scratch_dim)}
            for name, features in generations.items():
                print(f"{task}: {name} ...", file=sys.stderr)
                rows[task, name] = lineage.fit_and_score(features, train, dev, config, seed=args.seed)
    names = ["task only", "word2vec (skip-gram)", "ELMo"]
    lines = ["| task | metric | untrained | " + " | ".join(names) + " |", "|---|---|---|" + "---|" * len(names)]
    for task in tasks:
        metric = " / ".join(k for k in ("mcc", "accuracy") if k in rows[task, names[0]]["final"])
        lines.append(f"| {task} | {metric} | {fmt(rows[task, names[0]]['initial'])} | "
                     + " | ".join(fmt(rows[task, n]["final"]) for n in names) + " |")
    lines.append(f"| pre-training | | | none | Spearman {spearman:.3f} on the embedded similarity set | perplexity "
                 f"{perplexity['forward/perplexity']:.2f} forward, {perplexity['backward/perplexity']:.2f} backward |")
    report("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
