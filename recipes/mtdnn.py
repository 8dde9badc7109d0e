"""MT-DNN: fine-tune one shared BERT encoder on several NLU tasks at once, export a signature per task.

    python -m recipes.mtdnn                                  # embedded tasks cola sst sts nli qnli
    python -m recipes.mtdnn --tasks sst                      # one task alone (single-task baseline)
    python -m recipes.bert && python -m recipes.mtdnn --init-from logs/bert/encoder
    python -m recipes.mtdnn --data ~/glue_data --tasks cola,sst2,stsb,mnli,qnli --preset paper \\
        --init-from PRETRAINED_ENCODER
    tensorboard --logdir logs

Each step trains one task, drawn in proportion to the tasks' sizes; the
shared encoder and that task's layer are updated (Adamax, linear warm-up and
decay, gradients clipped at 1). Every epoch ends with each task's GLUE scores
on its development data (TensorBoard ``dev/<task>/<metric>``).

The export ``saved_models/mtdnn/<version>/`` has one signature per task, named
after it (the first task is also ``serving_default``): classification takes
``sentence``, pairwise and similarity tasks ``sentence1`` and ``sentence2``,
ranking ``question`` and ``candidate`` (strings [N]); they return ``label``,
``label_id`` and ``probabilities``, or a ``score``.
"""
import time

from recipes._common import print_result, run
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

NAME = "mtdnn"


def parse_args(argv=None):
    p = core_parser(NAME, __doc__.split("\n")[0], default_data="nlu", default_steps_per_epoch=None,
                    epochs_help="epochs (default: the preset's: tiny 4, small 5, paper 5); each ends with a "
                                "checkpoint and the development scores",
                    data_help=("'nlu' (the embedded tasks cola, sst, sts, nli, qnli, generated from --seed), "
                               "'tfds:glue' (glue/NAME prepared in TFDS_DATA_DIR), or a GLUE folder as the GLUE "
                               "download lays it out (CoLA/train.tsv, SST-2/dev.tsv, MNLI/dev_matched.tsv, ...)"),
                    steps_help=("steps per epoch (default: one pass over every task's training data, or the "
                                "preset's: tiny 2000)"),
                    batch_help="global mini-batch, every one from a single task (default: the preset's, 32)")
    g = p.add_argument_group("MT-DNN")
    g.add_argument("--tasks", default=None,
                   help="comma-separated tasks to train together (default: every task of --data; embedded: "
                        "cola,sst,sts,nli,qnli; GLUE: cola,sst2,stsb,mnli,rte,wnli,qqp,mrpc,qnli); the first "
                        "is the export's serving_default")
    g.add_argument("--init-from", default=None, metavar="PATH",
                   help="the pre-trained encoder recipes.bert writes (LOGDIR/encoder, or that LOGDIR): its "
                        "vocabulary, sizes and weights (default: a fresh encoder of the preset's size and a "
                        "vocabulary learnt from the tasks' training text)")
    g.add_argument("--no-san", action="store_true",
                   help="pairwise tasks answer with a softmax on [CLS] instead of the stochastic answer network")
    add_learning_rate(g, "peak Adamax learning rate (default: the preset's: tiny 3e-3, small 5e-4, paper 5e-5)")
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size")
    check_learning_rate(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    from suite.training import start_run

    strategy, chief, _ = start_run(args)  # before any other TensorFlow op

    import numpy as np
    import tensorflow as tf

    from suite import export
    from suite.data import glue
    from suite.nlu import bert, mtdnn, serving
    from suite.nlu.lexicon import Lexicon, vocabulary_for_run
    from suite.training import Driver, Stage, check_run_config

    names = tuple(t for t in (args.tasks or ",".join(glue.task_names(args.data))).split(",") if t)
    if len(set(names)) != len(names):
        raise ValueError(f"--tasks {args.tasks}: a task is named twice")
    # every input check before anything is built or written
    if chief:
        export.resolve_version(args.export_dir, NAME, args.version)
    train = {t: glue.load_task(args.data, t, "train", args.seed) for t in names}
    dev = {t: glue.load_task(args.data, t, "validation", args.seed) for t in names}
    for t in names:
        glue.check_task(train[t], train[t].spec)
    encoder, vocabulary, backbone = None, None, None
    if args.init_from:
        encoder, vocabulary, _ = bert.load_encoder(args.init_from)  # checks the files first
    save_vocabulary = None
    if vocabulary is None:
        encoder = mtdnn.get_config(args.preset).encoder
        vocabulary, save_vocabulary = vocabulary_for_run(args.logdir, lambda: [
            s for d in train.values() for s in list(d.first) + ([] if d.second is None else
                                                                [x for x in np.ravel(d.second) if x])],
            encoder.vocabulary_size)
    config = mtdnn.get_config(args.preset, encoder=encoder, batch_size=args.batch_size,
                              learning_rate=args.learning_rate, epochs=args.epochs,
                              steps_per_epoch=args.steps_per_epoch, san=not args.no_san)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync)
    sizes = {t: len(train[t]) for t in names}
    steps = config.steps_per_epoch or mtdnn.epoch_steps(sizes, batch)
    total = config.epochs * steps
    schedule = mtdnn.task_schedule(sizes, total, seed=args.seed)
    lexicon = Lexicon(vocabulary, config.encoder.sequence_length)

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        if args.init_from:
            _, _, backbone = bert.load_encoder(args.init_from)
        else:
            backbone = bert.build_backbone(config.encoder, lexicon.vocabulary_size)
        model = mtdnn.MTDNN(backbone, [train[t].spec for t in names], config, seed=args.seed)
        model.build_all(config.encoder.sequence_length)
        model.compile(total)

    settings = {"model": NAME, "tasks": list(names), "data": args.data, "init_from": args.init_from,
                "encoder": {k: v for k, v in vars(config.encoder).items()}, "san": config.san,
                "vocabulary_size": lexicon.vocabulary_size}
    check_run_config(args.logdir, settings, chief)  # the first write to --logdir
    if chief and save_vocabulary:
        save_vocabulary()

    def dataset_fn(task):
        def make(ctx):
            return glue.task_dataset(train[task], lexicon.encode, ctx.get_per_replica_batch_size(batch),
                                     seed=args.seed, shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))
        return make

    evaluator = mtdnn.TaskEvaluator(model, {t: glue.task_dataset(dev[t], lexicon.encode, 128, repeat=False)
                                            for t in names})
    driver = Driver(strategy, model, {t: dataset_fn(t) for t in names}, logdir=args.logdir,
                    checkpoint_every=steps, log_every=max(1, min(50, steps)), jit_compile=args.jit_compile,
                    callbacks=[evaluator], progress=not args.no_progress)
    initial = None
    if driver.restore() == 0 and chief:
        initial = evaluator.evaluate()  # the untrained model: chance level, for comparison
    stages = [Stage(f"epoch {e + 1}", steps, task=lambda i, e=e: schedule[e * steps + i])
              for e in range(config.epochs)]
    first = driver.step
    started = time.perf_counter()
    driver.train(stages)
    wall = time.perf_counter() - started
    final = evaluator.history[-1][1] if evaluator.history else evaluator.evaluate() if chief else None
    result = {"tasks": list(names), "step": driver.step, "steps_per_epoch": steps, "initial": initial,
              "dev": final, "history": evaluator.history, "wall_seconds": wall,
              "examples_per_second": (driver.step - first) * batch / max(wall, 1e-9),
              "task_steps": {t: schedule[:driver.step].count(t) for t in names}, "logs": driver.logs, "export": None}
    if chief:
        result["export"] = export.export_saved_model(
            NAME, args.export_dir, serving.mtdnn_endpoints(lexicon, model),
            [backbone, *model.heads.values(), serving.lexicon_resources(lexicon)], version=args.version)
        print_result(result)
    return result, model


if __name__ == "__main__":
    run(main)
