"""GPT pre-training (Radford et al. 2018): a decoder-only transformer as a left-to-right language model.

    python -m recipes.gpt                              # the embedded stories, small preset
    python -m recipes.gpt --preset paper --data books/ # a folder of .txt files

Each window of text predicts every token from those before it; the WordPiece vocabulary is learnt
from the corpus (LOGDIR/vocabulary.txt). Every epoch ends with the held-out perplexity beside the
unigram model's, the next-token accuracy and greedy completions of prompts (TensorBoard's text tab).
LOGDIR/gpt/ holds the pre-trained model for ``recipes.gpt_finetune --init-from LOGDIR``.

The export ``saved_models/gpt/<version>/`` generates in the graph: ``prompts`` string [N],
``max_new_tokens`` int32 [] -> ``completion`` string [N] (to the end of the sentence), ``num_tokens``
int32 [N]; greedy (``serving_default``), ``top_k`` (+ ``k``, ``temperature``) or ``top_p`` (+ ``p``, ``temperature``).
"""
from suite.data.text_corpus import DATA_HELP, EMBEDDED
from suite.training.cli import at_least, positive_int
from suite.training.runner import Recipe, lazy

gpt = lazy("suite.lm.gpt")
gpt_tasks = lazy("suite.lm.gpt_tasks")

class GPT(Recipe):
    __doc__ = __doc__
    name = "gpt"
    default_data = "corpus"
    data_help = DATA_HELP
    presets = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=5, batch=64), "paper": dict(epochs=100, batch=64)}
    steps_per_epoch = 300
    learning_rate_help = "peak AdamW learning rate (default: the preset's: tiny 3e-3, small 1e-3, paper 2.5e-4)"
    unit = "tokens"
    batch_items = "windows"
    evaluation = "the held-out perplexity and greedy completions"
    group_title = "GPT"

    def add_flags(self, g):
        g.add_argument("--num-sentences", type=positive_int, default=None,
                       help="embedded training sentences (default: tiny 20000, small/paper 100000)")
        g.add_argument("--sequence-length", type=at_least(4), default=None,
                       help="tokens per window, the positions the model has (default: tiny 32, small 128, paper 512)")
        g.add_argument("--vocabulary-size", type=at_least(6, "the 5 reserved tokens are among them"), default=None, help="WordPiece vocabulary size learnt from the "
                       "corpus, the 5 reserved tokens included (default: tiny 256, small 2048, paper 40478)")
        g.add_argument("--prompts", nargs="+", default=None, metavar="TEXT",
                       help="prompts completed greedily in TensorBoard every epoch (default: three of the stories)")

    def configure(self, run):
        a = run.args
        return gpt.get_config(a.preset, sequence_length=a.sequence_length, vocabulary_size=a.vocabulary_size,
                              learning_rate=a.learning_rate)

    def load_data(self, run):
        return gpt.load_text(run.args.data, run.config, run.args.logdir, run.args.seed, run.args.preset,
                             run.args.num_sentences, bad=run.bad)

    def build(self, run):
        model = gpt.GPTLanguageModel(run.config, run.data["lexicon"].vocabulary_size, seed=run.args.seed)
        model.compile(total_steps=run.epochs * run.steps)
        return model

    def settings(self, run):
        return {"data": run.args.data, "config": vars(run.config), "vocabulary_size": run.data["lexicon"].vocabulary_size}

    def prepare(self, run):
        if run.chief:
            run.data["save"]()

    def dataset(self, run, feed):
        return gpt.lm_dataset(run.data["ids"], run.data["starts"], run.config.sequence_length, **feed)

    def items_per_step(self, run, logs):
        return run.batch * run.config.sequence_length

    # Evaluate: held-out perplexity against the unigram model's, greedy completions
    def evaluator(self, run):
        return gpt.GPTEvaluator.of(run.model, run.config, run.data, run.args.prompts or gpt.PROMPTS,
                                   probe=run.args.data == EMBEDDED)

    # Serve: prompts to completions, tokenised and sampled in the graph
    def serving(self, run):
        return gpt.export(run.model.net, run.config, run.data["lexicon"], run.args.seed)

    def warmup(self, run):
        return gpt.warmup_requests(run.args.prompts or gpt.PROMPTS)

    def finish(self, run, result):  # the chief writes the pre-trained model for recipes.gpt_finetune
        result.update(gpt_tasks.pretrained(run.model.net, run.config, run.data, run.args.logdir if run.chief else None))


recipe = GPT()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
