"""ELMo's biLM (Peters et al. 2018): a character CNN, highway layers, forward and backward LSTM language
models with projections; every word's vector depends on its sentence.

    python -m recipes.elmo                               # the embedded stories, small preset
    python -m recipes.elmo --preset paper --data books/  # a folder of .txt files, ELMo's sizes

The forward LM predicts each next word, the backward LM each previous word, through one softmax over
the training words (sampled over --negatives noise words when the vocabulary is larger). Every epoch
ends with both held-out perplexities beside the unigram model's and both LMs' likeliest words after
and before prompts (TensorBoard's text tab). LOGDIR/elmo/ holds the biLM for downstream models.

The export ``saved_models/elmo/<version>/`` takes ``sentences`` string [N] (tokenised in the graph)
and returns ``tokens`` string [N, T], ``mask`` bool [N, T], ``vectors`` float32 [N, T, D] (the mean
of the layers) and ``layers`` float32 [N, T, 3, D] (the token layer and both LSTM layers).
"""
from suite.data.text_corpus import DATA_HELP, EMBEDDED
from suite.training.cli import at_least, positive_int
from suite.training.runner import Recipe, lazy

elmo = lazy("suite.lm.elmo")


class Elmo(Recipe):
    __doc__ = __doc__
    name = "elmo"
    default_data = "corpus"
    data_help = DATA_HELP
    presets = {"tiny": dict(epochs=2, batch=32), "small": dict(epochs=5, batch=64), "paper": dict(epochs=10, batch=128)}
    steps_per_epoch = 300
    learning_rate_help = "learning rate (default: the preset's: Adam 3e-3 tiny, 1e-3 small; paper: ELMo's Adagrad at 0.2)"
    unit = "words"
    batch_items = "windows"
    evaluation = "both held-out perplexities"
    group_title = "ELMo"

    def add_flags(self, g):
        g.add_argument("--num-sentences", type=positive_int, default=None,
                       help="embedded training sentences (default: tiny 20000, small/paper 100000)")
        g.add_argument("--sequence-length", type=at_least(2), default=None,
                       help="words per training window, ELMo's unrolled steps (default 20)")
        g.add_argument("--vocabulary-size", type=at_least(3, "<unk> and <s> are two of them"), default=None,
                       help="the softmax's words, the most frequent, <unk> and <s> among them (default: every "
                            "training word)")
        g.add_argument("--negatives", type=positive_int, default=None, help="the sampled softmax's noise words per batch, "
                       "used when the vocabulary is larger (default 8192, ELMo's)")
        g.add_argument("--prompts", nargs="+", default=None, metavar="TEXT", help="texts whose next and previous "
                       "words both LMs predict in TensorBoard every epoch (default: three of the stories)")

    def configure(self, run):
        a = run.args
        return elmo.get_config(a.preset, sequence_length=a.sequence_length, vocabulary_size=a.vocabulary_size,
                               negatives=a.negatives, learning_rate=a.learning_rate)

    def load_data(self, run):
        return elmo.load_text(run.args.data, run.config, run.args.seed, run.args.preset, run.args.num_sentences,
                              bad=run.bad)

    def build(self, run):
        model = elmo.ElmoLanguageModel(run.config, len(run.data["vocabulary"]), seed=run.args.seed)
        model.compile(total_steps=run.epochs * run.steps)
        return model

    def settings(self, run):
        return {"data": run.args.data, "config": vars(run.config), "vocabulary_size": len(run.data["vocabulary"])}

    def dataset(self, run, feed):
        return elmo.lm_dataset(run.data["train"], run.data["type_chars"], run.config.sequence_length, **feed)

    def items_per_step(self, run, logs):
        return run.batch * run.config.sequence_length

    # Evaluate: both held-out perplexities against the unigram model's, both LMs' predictions
    def evaluator(self, run):
        return elmo.ElmoEvaluator(run.model, run.data, run.args.prompts or elmo.PROMPTS,
                                  probe=run.args.data == EMBEDDED)

    # Serve: sentences to contextual vectors, tokenised in the graph
    def serving(self, run):
        return elmo.serving_endpoints(run.model.net, run.config), [run.model.net]

    def warmup(self, run):
        return elmo.warmup_requests(run.args.prompts or elmo.PROMPTS)

    def finish(self, run, result):  # the chief writes the biLM for downstream models
        result.update(elmo.pretrained(run.model.net, run.config, run.data, run.args.logdir if run.chief else None))


recipe = Elmo()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
