"""The lineage on the same tasks: every generation as its paper used it downstream (issue 18).

    python -m benchmarks lineage [--preset tiny] [--tasks cola,sst,sts,nli,qnli] [--epochs 8] [--output lineage.md]

Pre-trains word2vec's skip-gram (``recipes.word2vec``), ELMo's biLM (``recipes.elmo``), GPT
(``recipes.gpt``) and BERT (``recipes.bert``) on the embedded stories, each in its own process. Then,
per task: one BiLSTM task model (``suite.lm.lineage``) on top of (a) embeddings learnt from the task
alone, (b) the skip-gram vectors, frozen, (c) ELMo, frozen, under a trainable scalar mix, beside (a)'s
embeddings as the paper uses it, with the same seed and ``--epochs``; (d) GPT fine-tuned with its input
transformations and auxiliary LM loss (``recipes.gpt_finetune``) and (e) BERT fine-tuned with one task
layer (``recipes.mtdnn --tasks TASK --init-from``: single-task MT-DNN is BERT's fine-tuning), each for
``--finetune-epochs`` passes over the task (8, as many as the task models get; both papers took 3
at their scale, which leaves the tiny transformers near chance on STS and QNLI). The table gives each task's
development scores, the untrained task model's, and what each pre-training reached. A last row is
the polysemy probe (``suite.lm.polysemy``): the accuracy of a linear probe telling a polysemous word's
sense from its vector, on contexts the probe never saw, for each generation and for the contextual
networks untrained.
"""
import argparse
import os
import sys
import tempfile

from benchmarks import report, run_recipe
from suite.training.cli import at_least

TASKS = ("cola", "sst", "sts", "nli", "qnli")
NAMES = ("task only", "word2vec (skip-gram)", "ELMo", "GPT", "BERT")


def pretrain(args, workdir):
    """{"word2vec": (words, vectors, its Spearman), "elmo": (config, net, its perplexities), "gpt": its
    result, "bert": its result}; GPT's and BERT's pre-trained models in WORKDIR/gpt and WORKDIR/bert."""
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
    out = {"word2vec": (words, vectors, w2v["eval"]["similarity/embedded"]["spearman"]),
           "elmo": (config, net, biLM["eval"])}
    for name in ("gpt", "bert"):
        out[name] = run_recipe(["-m", f"recipes.{name}", *common, "--logdir", os.path.join(workdir, name),
                                "--export-dir", os.path.join(workdir, "export")], f"recipes.{name}")
    return out


def polysemy_scores(workdir):
    """{generation: the polysemy probe's accuracy} of the pre-trained runs in ``workdir`` (and the
    contextual networks untrained)."""
    from suite.data.nlu import polysemy_probe
    from suite.lm import polysemy

    generations = polysemy.of_runs(os.path.join(workdir, "word2vec"), os.path.join(workdir, "elmo"),
                                   os.path.join(workdir, "gpt"), os.path.join(workdir, "bert", "encoder"),
                                   untrained=True)
    train, test = polysemy_probe(300, split="train"), polysemy_probe(300, split="test")
    return {name: polysemy.probe_accuracy(c, train, test)["accuracy"] for name, c in generations.items()}


def fine_tune(args, workdir, generation, task, size):
    """GPT's or BERT's fine-tuning on ``task`` (``size`` training examples): {"initial", "final"} scores."""
    common = ["--preset", args.preset, "--seed", str(args.seed), "--no-progress", "--epochs", str(args.finetune_epochs),
              "--steps-per-epoch", str(-(-size // 32)), "--batch-size", "32",
              "--logdir", os.path.join(workdir, f"{generation}_{task}"), "--export-dir", os.path.join(workdir, "export")]
    if generation == "gpt":
        argv = ["-m", "recipes.gpt_finetune", "--task", task, "--init-from", os.path.join(workdir, "gpt")]
    else:  # single-task MT-DNN: BERT's encoder, one task layer
        argv = ["-m", "recipes.mtdnn", "--tasks", task, "--init-from", os.path.join(workdir, "bert", "encoder")]
    r = run_recipe([*argv, *common], f"{argv[1]} --task {task}")
    return {"initial": r["initial"][task], "final": r["eval"][task]}


def fmt(scores, metrics):
    return " / ".join(f"{scores[k]:.3f}" for k in metrics)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks lineage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=("tiny", "small"),
                   help="the pre-training runs' preset (default tiny: minutes on a CPU)")
    p.add_argument("--tasks", default=",".join(TASKS), help=f"embedded tasks, comma-separated (default {','.join(TASKS)})")
    p.add_argument("--epochs", type=at_least(1), default=8, help="task-model epochs over each task's data (default 8)")
    p.add_argument("--finetune-epochs", type=at_least(1), default=8,
                   help="GPT's and BERT's fine-tuning epochs over each task's data (default 8, as the task models'; "
                        "both papers took 3 at their scale)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pre-training runs and the task models (default 0)")
    p.add_argument("--output", default=None, help="also write the table (Markdown) to this file")
    args = p.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        p.error(f"--tasks: {','.join(unknown) or 'none'}: choose from {', '.join(TASKS)} (the embedded tasks)")

    from suite.data.glue import EMBEDDED_TASKS, embedded_task
    from suite.data.text_corpus import tokenize
    from suite.lm import lineage

    config = lineage.TaskModelConfig(epochs=args.epochs)
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        print("pre-training word2vec, ELMo, GPT and BERT ...", file=sys.stderr)
        done = pretrain(args, workdir)
        print("the polysemy probe ...", file=sys.stderr)
        probe = polysemy_scores(workdir)
        words, vectors, spearman = done["word2vec"]
        elmo_config, net, perplexity = done["elmo"]
        for task in tasks:
            train, dev = embedded_task(task, "train", seed=args.seed), embedded_task(task, "validation", seed=args.seed)
            own = sorted({w for column in (train.first, train.second) if column is not None
                          for s in column.ravel() for w in tokenize(s)})
            generations = {"task only": lineage.WordFeatures(["<unk>", *own], None, config.scratch_dim, "scratch"),
                           "word2vec (skip-gram)": lineage.WordFeatures(words, vectors, name="static"),
                           "ELMo": lineage.ElmoFeatures(net, elmo_config, ["<unk>", *own], config.scratch_dim)}
            for name, features in generations.items():
                print(f"{task}: {name} ...", file=sys.stderr)
                rows[task, name] = lineage.fit_and_score(features, train, dev, config, seed=args.seed)
            for name in ("GPT", "BERT"):
                print(f"{task}: {name} fine-tuned ...", file=sys.stderr)
                rows[task, name] = fine_tune(args, workdir, name.lower(), task, len(train))
    lines = ["| task | metric | untrained | " + " | ".join(NAMES) + " |", "|---|---|---|" + "---|" * len(NAMES)]
    for task in tasks:
        metrics = EMBEDDED_TASKS[task].metrics
        lines.append(f"| {task} | {' / '.join(metrics)} | {fmt(rows[task, NAMES[0]]['initial'], metrics)} | "
                     + " | ".join(fmt(rows[task, n]["final"], metrics) for n in NAMES) + " |")
    lines.append(f"| polysemy probe | sense accuracy (chance 0.5) | ELMo / GPT / BERT untrained "
                 f"{probe['ELMo untrained']:.3f} / {probe['GPT untrained']:.3f} / {probe['BERT untrained']:.3f} | - | "
                 + " | ".join(f"{probe[n]:.3f}" for n in ("word2vec", "ELMo", "GPT", "BERT")) + " |")
    gpt, bert = done["gpt"]["eval"], done["bert"]["eval"]
    lines.append(f"| pre-training | | | none | Spearman {spearman:.3f} on the embedded similarity set | perplexity "
                 f"{perplexity['forward/perplexity']:.2f} forward, {perplexity['backward/perplexity']:.2f} backward "
                 f"| perplexity {gpt['perplexity']:.2f} | masked LM accuracy {bert['mlm_accuracy']:.3f}, NSP "
                 f"{bert['nsp_accuracy']:.3f} |")
    report("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
