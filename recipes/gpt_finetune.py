"""GPT fine-tuning (Radford et al. 2018, section 3.3): a pre-trained GPT and one linear layer on a task.

    python -m recipes.gpt --logdir logs/gpt                           # pre-train first (writes logs/gpt/gpt)
    python -m recipes.gpt_finetune --init-from logs/gpt --task sst
    python -m recipes.gpt_finetune --init-from logs/gpt --task qnli --data ~/glue_data --preset paper

Each input is one sequence, ``[SEP] text [CLS]`` or ``[SEP] first [MASK] second [CLS]`` (start,
delimiter, extract); a linear layer reads the state at ``[CLS]`` (similarity: both orders summed;
ranking: a softmax over each question's candidates). The loss adds half the language model's loss on
the same sequences. Every epoch ends with the task's development scores (``dev/<task>/<metric>``).

The export ``saved_models/gpt_<task>/<version>/`` takes what MT-DNN's signature of the task takes
(``sentence``; ``sentence1``, ``sentence2``; ``question``, ``candidate``: strings [N]) and returns
``label``, ``label_id`` and ``probabilities``, or a ``score``.
"""
from suite.training.cli import non_negative_float
from suite.training.runner import Recipe, lazy

glue = lazy("suite.data.glue")
tasks = lazy("suite.lm.gpt_tasks")
lexicons = lazy("suite.nlu.lexicon")
mtdnn = lazy("suite.nlu.mtdnn")


class GPTFineTune(Recipe):
    __doc__ = __doc__
    name = "gpt_finetune"
    default_data = "nlu"
    data_help = ("'nlu' (the embedded tasks cola, sst, sts, nli, qnli, generated from --seed), 'tfds:glue' or a "
                 "GLUE folder as the GLUE download lays it out (CoLA/train.tsv, SST-2/dev.tsv, ...)")
    steps_per_epoch = None
    steps_help = "steps per epoch (default: one pass over the task's training data)"
    presets = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=3, batch=32), "paper": dict(epochs=3, batch=32)}
    learning_rate_help = "peak AdamW learning rate (default: the preset's: tiny 1e-3, small 2.5e-4, paper 6.25e-5)"
    evaluation = "the task's development scores"
    group_title = "GPT fine-tuning"

    def add_flags(self, g):
        g.add_argument("--task", required=True, help="the task (embedded: cola, sst, sts, nli, qnli; GLUE: cola, "
                                                     "sst2, stsb, mnli, rte, wnli, qqp, mrpc, qnli)")
        g.add_argument("--init-from", required=True, metavar="PATH",
                       help="the pre-trained GPT: a recipes.gpt log directory (or the gpt/ folder it writes)")
        g.add_argument("--lm-weight", type=non_negative_float, default=None,
                       help="lambda, the weight of the auxiliary language-model loss (default 0.5; 0: none)")

    def check_flags(self, p, args):
        if "," in args.task:
            p.error(f"--task {args.task}: one task (recipes.mtdnn trains several together)")

    def export_name(self, args):
        return f"gpt_{args.task}"

    def configure(self, run):
        a = run.args
        return tasks.get_config(a.preset, learning_rate=a.learning_rate, lm_weight=a.lm_weight)

    def load_data(self, run):  # the pre-trained model's files and the task's data, checked before anything is built
        a = run.args
        train, dev = (glue.load_task(a.data, a.task, split, a.seed, flag="--task") for split in ("train", "validation"))
        glue.check_task(train, train.spec)
        gpt_config, vocabulary, _ = tasks.read_pretrained(a.init_from)
        lexicon = lexicons.Lexicon(vocabulary, gpt_config.sequence_length)
        length = max(lexicon.fitted_length(d.first, d.second) for d in (train, dev))
        run.steps = a.steps_per_epoch or -(-len(train) // run.batch)
        return {"train": train, "dev": dev, "lexicon": lexicon, "encode": tasks.encoder_for(train.spec, lexicon, length)}

    def build(self, run):
        _, _, net = tasks.load_pretrained(run.args.init_from)
        model = tasks.GPTFineTuning(net, run.data["train"].spec, run.config, seed=run.args.seed)
        model.compile(total_steps=run.epochs * run.steps)
        return model

    def settings(self, run):
        a = run.args
        return {"task": a.task, "init_from": a.init_from, "data": a.data, "config": vars(run.config)}

    def dataset(self, run, feed):
        return glue.task_dataset(run.data["train"], run.data["encode"], **feed)

    def evaluator(self, run):
        dev = glue.task_dataset(run.data["dev"], run.data["encode"], 128, repeat=False)
        return mtdnn.TaskEvaluator(run.model, {run.args.task: dev})

    def serving(self, run):  # any sentence up to the model's positions, not only the task's fitted length
        lexicon, model = run.data["lexicon"], run.model
        endpoint = tasks.task_endpoint(model, lexicon, lexicon.sequence_length)
        return {run.args.task: endpoint}, [model.net, model.head, lexicon.lookup]

    def warmup(self, run):
        return {run.args.task: run.data["dev"].example_request()}


recipe = GPTFineTune()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
