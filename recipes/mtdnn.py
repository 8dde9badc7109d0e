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
from suite.training.runner import Recipe, lazy

bert = lazy("suite.nlu.bert")
glue = lazy("suite.data.glue")
lexicons = lazy("suite.nlu.lexicon")
mtdnn = lazy("suite.nlu.mtdnn")
serving = lazy("suite.nlu.serving")
driver = lazy("suite.training.driver")


class MTDNN(Recipe):
    __doc__ = __doc__
    name = "mtdnn"
    default_data = "nlu"
    steps_per_epoch = None
    epochs_help = ("epochs (default: the preset's: tiny 4, small 5, paper 5); each ends with a checkpoint and the "
                   "development scores")
    data_help = ("'nlu' (the embedded tasks cola, sst, sts, nli, qnli, generated from --seed), 'tfds:glue' "
                 "(glue/NAME prepared in TFDS_DATA_DIR), or a GLUE folder as the GLUE download lays it out "
                 "(CoLA/train.tsv, SST-2/dev.tsv, MNLI/dev_matched.tsv, ...)")
    steps_help = ("steps per epoch (default: one pass over every task's training data, or the preset's: "
                  "tiny 2000)")
    batch_help = "global mini-batch, every one from a single task (default: the preset's, 32)"
    learning_rate_help = "peak Adamax learning rate (default: the preset's: tiny 3e-3, small 5e-4, paper 5e-5)"
    group_title = "MT-DNN"

    def add_flags(self, g):
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

    # The data: each task's training and development sets, checked first; the vocabulary
    def load_data(self, run):
        a = run.args
        _, train, dev = glue.load_tasks(a.data, a.tasks, a.seed)  # train: {task: data} in --tasks order
        encoder, vocabulary, save_vocabulary = None, None, None
        if a.init_from:
            encoder, vocabulary, _ = bert.load_encoder(a.init_from)  # checks the files first
        else:
            encoder = mtdnn.get_config(a.preset).encoder
            vocabulary, save_vocabulary = lexicons.vocabulary_for_run(a.logdir, lambda: glue.texts(train),
                                                                      encoder.vocabulary_size)
        run.config = mtdnn.get_config(a.preset, encoder=encoder, batch_size=a.batch_size,
                                      learning_rate=a.learning_rate, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch,
                                      san=not a.no_san)
        tasks = glue.TaskSet(train, dev, lexicons.Lexicon(vocabulary, run.config.encoder.sequence_length))
        # every epoch is a pass over every task's data unless --steps-per-epoch says otherwise
        run.steps = run.config.steps_per_epoch or mtdnn.epoch_steps(tasks.sizes, run.batch)
        return {"tasks": tasks, "save_vocabulary": save_vocabulary,
                "schedule": mtdnn.task_schedule(tasks.sizes, run.config.epochs * run.steps, seed=a.seed)}

    def configure(self, run):
        return mtdnn.get_config(run.args.preset, batch_size=run.args.batch_size, epochs=run.args.epochs)

    # The model: the shared encoder (fresh, or pre-trained by recipes.bert) and a head per task
    def build(self, run):
        c, a = run.config, run.args
        if a.init_from:
            _, _, backbone = bert.load_encoder(a.init_from)
        else:
            backbone = bert.build_backbone(c.encoder, run.data["tasks"].lexicon.vocabulary_size)
        model = mtdnn.MTDNN(backbone, [d.spec for d in run.data["tasks"].train.values()], c, seed=a.seed)
        model.build_all(c.encoder.sequence_length)
        model.compile(total_steps=c.epochs * run.steps)
        return model

    def settings(self, run):
        c, a = run.config, run.args
        return {"model": self.name, "tasks": list(run.data["tasks"]), "data": a.data, "init_from": a.init_from,
                "encoder": dict(vars(c.encoder)), "san": c.san,
                "vocabulary_size": run.data["tasks"].lexicon.vocabulary_size}

    def prepare(self, run):
        if run.chief and run.data["save_vocabulary"]:
            run.data["save_vocabulary"]()

    # Train: each step one task's batch, tasks drawn in proportion to their sizes
    def dataset_fns(self, run):
        tasks = run.data["tasks"]
        return {t: lambda ctx, start, t=t: tasks.train_dataset(t, **self.feed(run, ctx, start)) for t in tasks}

    def stages(self, run):
        schedule, steps = run.data["schedule"], run.steps
        return [driver.Stage(f"epoch {e + 1}", steps, task=lambda i, e=e: schedule[e * steps + i])
                for e in range(run.config.epochs)]

    # Evaluate: every task's GLUE scores on its development data
    def evaluator(self, run):
        return mtdnn.TaskEvaluator(run.model, run.data["tasks"].dev_datasets())

    # Serve: a signature per task, raw strings in
    def serving(self, run):
        lexicon, model = run.data["tasks"].lexicon, run.model
        return (serving.mtdnn_endpoints(lexicon, model),
                [model.backbone, *model.heads.values(), serving.lexicon_resources(lexicon)])

    def warmup(self, run):  # each task's first development example
        return run.data["tasks"].example_requests()

    def finish(self, run, result):
        names, schedule = run.data["tasks"].names, run.data["schedule"]
        result.update(tasks=list(names), steps_per_epoch=run.steps,
                      task_steps={t: schedule[:run.driver.step].count(t) for t in names})


recipe = MTDNN()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
