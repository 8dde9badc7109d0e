"""Static word vectors: word2vec skip-gram and CBOW (Mikolov et al. 2013) and the neural language model
(Bengio et al. 2003).

    python -m recipes.word2vec                                   # skip-gram on the embedded stories
    python -m recipes.word2vec --model nnlm
    python -m recipes.word2vec --preset paper --data corpus.txt --similarity wordsim353.tsv --analogies questions-words.txt
    tensorboard --logdir logs

Skip-gram predicts each word of a centre word's window, CBOW the centre from
its window, both against noise words drawn from the unigram distribution
raised to 0.75, windows shrunk at random, frequent words subsampled. The
NNLM predicts each word from the n - 1 before it through a tanh hidden layer
and a softmax over the vocabulary. Each epoch ends with the Spearman
correlation of cosine similarity with each similarity set's scores, the
3CosAdd accuracy on each analogy set, the NNLM's held-out perplexity beside
the unigram model's, nearest neighbours in TensorBoard, and the vectors in
its embedding projector.

The export ``saved_models/word2vec_<model>/<version>/`` takes ``words`` string
[N] and returns ``vectors`` float32 [N, D] and ``in_vocabulary`` bool [N]; its
``neighbours`` signature returns the 10 nearest known words and their cosine
similarities.
"""
from suite.training.cli import at_least, non_negative_float, positive_int
from suite.training.runner import Recipe, lazy

wv = lazy("suite.lm.word_vectors")

MODELS = ("skipgram", "cbow", "nnlm")


class Word2Vec(Recipe):
    __doc__ = __doc__
    name = "word2vec"
    default_data = "corpus"
    data_help = ("'corpus' (the embedded stories of people passing objects in places, generated from --seed; "
                 "its words fall in classes, which the embedded similarity set scores), a UTF-8 text file (one "
                 "sentence or paragraph per line; every tenth held out) or a folder of .txt files")
    presets = {"tiny": dict(epochs=2, batch=256), "small": dict(epochs=5, batch=512), "paper": dict(epochs=5, batch=512)}
    steps_per_epoch = 400
    learning_rate_help = ("learning rate (default: the preset's: Adam 3e-3 tiny, 1e-3 small; paper: word2vec's SGD "
                          "from 0.025 (skip-gram) or 0.05 (CBOW) decayed linearly to 0, the NNLM's SGD at 1e-3)")
    unit = "windows"
    evaluation = "the similarity, analogy and perplexity scores"
    group_title = "word vectors"
    export_by = "model"

    def add_flags(self, g):
        g.add_argument("--model", choices=MODELS, default="skipgram", help="the model (default: skipgram)")
        g.add_argument("--dim", type=positive_int, default=None,
                       help="the vectors' size (default: tiny 32, small 100, paper 300 for word2vec, 100 for the NNLM)")
        g.add_argument("--window", type=positive_int, default=None,
                       help="word2vec's largest window radius (default: tiny 3, small/paper 5)")
        g.add_argument("--negatives", type=positive_int, default=None, help="noise words per pair (default 5)")
        g.add_argument("--subsample", type=non_negative_float, default=None,
                       help="the subsampling threshold t: a word of frequency f is kept with probability "
                            "sqrt(t / f) (default: tiny/small 1e-3, paper 1e-5; 0 keeps every word)")
        g.add_argument("--order", type=at_least(2, "the NNLM reads order - 1 words"), default=None,
                       help="the NNLM's n: it reads n - 1 words (default: tiny 4, small/paper 5)")
        g.add_argument("--vocab-size", type=at_least(3, "<unk> and <s> are two of them"), default=None,
                       help="the most frequent words kept, <unk> and <s> among them (default: all seen --min-count "
                            "times)")
        g.add_argument("--min-count", type=positive_int, default=None,
                       help="a word seen fewer times is <unk> (default: tiny 1, small 2, paper 5)")
        g.add_argument("--similarity", nargs="+", default=[], metavar="FILE",
                       help="word-similarity sets, 'word1<TAB>word2<TAB>score' lines (WordSim-353, SimLex-999); "
                            "the embedded set is always scored on the embedded corpus")
        g.add_argument("--analogies", nargs="+", default=[], metavar="FILE",
                       help="analogy sets in questions-words.txt's layout (': section' lines, then 'a b c d')")
        g.add_argument("--num-sentences", type=positive_int, default=None,
                       help="embedded training sentences (default: tiny 20000, small/paper 100000)")

    def configure(self, run):
        a = run.args
        return wv.get_config(a.preset, a.model, dim=a.dim, window=a.window, negatives=a.negatives,
                             subsample=a.subsample, order=a.order, vocab_size=a.vocab_size, min_count=a.min_count,
                             learning_rate=a.learning_rate)

    def load_data(self, run):  # the corpus, its vocabulary and every evaluation file read before training
        a = run.args
        return wv.load_text(a.data, run.config, a.seed, a.preset, a.num_sentences, a.similarity, a.analogies,
                            bad=run.bad)

    def build(self, run):
        model = wv.WordVectors(run.config, run.data["vocabulary"], seed=run.args.seed)
        model.compile(total_steps=run.epochs * run.steps)
        return model

    def settings(self, run):
        c = run.config
        return {"data": run.args.data, "preset": run.args.preset, "model": c.model, "dim": c.dim,
                "vocabulary": len(run.data["vocabulary"]), "window": c.window, "order": c.order}

    def dataset(self, run, feed):
        return wv.dataset(run.config, run.data, **feed)

    def evaluator(self, run):
        return wv.WordVectorEvaluator.of(run.model, run.data, run.args.logdir if run.chief else None)

    def serving(self, run):
        endpoints, lookup = wv.serving_endpoints(run.model)
        return endpoints, [run.model.nets["embedding"], lookup]

    def warmup(self, run):
        return wv.warmup_requests(run.model)

    def finish(self, run, result):
        result.update(model=run.config.model, vocabulary=len(run.data["vocabulary"]),
                      parameters=int(sum(n.count_params() for n in run.model.nets.values())))


recipe = Word2Vec()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
