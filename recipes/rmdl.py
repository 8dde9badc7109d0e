"""RMDL (Kowsari et al. 2018): random deep learners, DNNs, CNNs and RNNs side by side, voting.

    python -m recipes.rmdl --modality image                # the embedded shapes, small preset
    python -m recipes.rmdl --modality text --dnn 5 --cnn 5 --rnn 5
    python -m recipes.rmdl --modality points --data ~/ModelNet10   # class/ folders (train/, test/)
    python -m recipes.rmdl --modality text --data tfds:ag_news_subset --embeddings glove.6B.100d.txt
    tensorboard --logdir logs

Each member's depth, width, dropout, optimizer and learning rate are drawn
from the preset's ranges (``paper``: the paper's) and the seed; the drawn
members are in LOGDIR/run_config.json and TensorBoard's text tab. All train
in one graph on the same batches, each with its own optimizer. At every
epoch's end each member keeps the weights of its best accuracy on a
validation split carved from the training data; the test split is only
reported (the ensemble's accuracy as members are added, each member's, their
agreement matrix). A member whose loss goes non-finite is re-drawn.

The export ``saved_models/rmdl_<modality>/<version>/`` takes ``text``
strings, ``images`` uint8 [N, H, W, 3] of any size (and ``image_bytes``
JPEG/PNG/GIF/BMP strings), or ``points`` float32 [N, P, 6] of any P, and
returns the vote (``label``, ``class_id``), ``probabilities``, ``votes``,
every member's prediction and their ``agreement``.
"""
import os

from suite.training.cli import at_least, non_negative_int, positive_int
from suite.training.runner import Recipe, lazy

members = lazy("suite.rmdl.members")
ensemble = lazy("suite.rmdl.ensemble")
specs = lazy("suite.rmdl.specs")
training = lazy("suite.rmdl.training")


class RMDL(Recipe):
    __doc__ = __doc__
    name = "rmdl"
    steps_per_epoch = None
    data_help = ("the embedded set of the modality (text: 'topics', image: 'shapes', points: 'solids', generated "
                 "from --seed), 'tfds:NAME' (mnist, cifar10, imdb_reviews, ag_news_subset...) or a folder with one "
                 "sub-folder per class (train/ and test/ beneath it, or a tenth held out as test)")
    epochs_help = ("epochs (default: the preset's: tiny 6, small 20, paper 100); each ends with every member's choice "
                   "on the validation split, a checkpoint and the test report")
    steps_help = "steps per epoch (default: the preset's: tiny 50, small 100, paper 500)"
    batch_help = "global batch of examples, the same for every member (default: the preset's: tiny 64, small and " \
                 "paper 128)"
    group_title = "RMDL"
    export_by = "modality"

    def add_flags(self, g):
        g.add_argument("--modality", choices=("text", "image", "points"), default="image",
                       help="what is classified: text (TF-IDF for DNNs, word embeddings for CNNs and RNNs), images "
                            "(pixels) or 3-D point clouds (x y z r g b) (default: image)")
        for kind, what in (("dnn", "fully connected networks"), ("cnn", "convolutional networks"),
                           ("rnn", "recurrent networks (LSTM or GRU)")):
            g.add_argument(f"--{kind}", type=non_negative_int, default=None, metavar="N",
                           help=f"how many random {what} (default: the preset's, 3)")
        g.add_argument("--vote", choices=("majority", "average"), default="majority",
                       help="majority: the class most members pick, ties broken by summed probability; average: "
                            "the class of the mean probability (default: majority)")
        g.add_argument("--embeddings", default=None, metavar="FILE",
                       help="text only: initialise the CNNs' and RNNs' word embeddings from a GloVe or word2vec "
                            "text file (default: trained from random)")
        g.add_argument("--image-size", type=at_least(8), default=None, help="image side the members read (default: 32)")
        g.add_argument("--num-points", type=positive_int, default=None, help="points per cloud the members read, sampled or repeated "
                                                                     "from each file's (default: 128)")

    def check_flags(self, p, args):
        if all(getattr(args, k) == 0 for k in ("dnn", "cnn", "rnn")):
            p.error("--dnn 0 --cnn 0 --rnn 0 leaves an ensemble of no member: give at least one of them > 0")
        if args.jit_compile and args.rnn != 0:
            p.error("--jit-compile: the RNN members' LSTMs and GRUs run on cuDNN on a GPU, which XLA cannot compile; "
                    "train without --jit-compile, or with --rnn 0")
        if args.embeddings and args.modality != "text":
            p.error(f"--embeddings initialises word embeddings: it needs --modality text, not {args.modality}")
        if args.embeddings and not os.path.isfile(args.embeddings):
            p.error(f"--embeddings {args.embeddings}: no such file")

    # The model: the preset's ranges, the members drawn from --seed
    def configure(self, run):
        a = run.args
        return members.get_config(a.preset, modality=a.modality, dnn=a.dnn, cnn=a.cnn, rnn=a.rnn, vote=a.vote,
                                  image_size=a.image_size, num_points=a.num_points)

    def load_data(self, run):  # the set, its featurizer (adapted on the training texts), the drawn members
        data = training.load(run.args, run.config, run.bad)
        run.config = data["config"]
        return data

    def build(self, run):
        drawn = training.read_members(run.args.logdir) or run.data["specs"]  # a resumed run's replacements
        return ensemble.RMDL(run.config, run.data["featurizer"], drawn, seed=run.args.seed,
                             embeddings=run.data["embeddings"])

    def settings(self, run):
        data = run.data["set"]
        return {"model": self.name, "modality": run.args.modality, "data": run.args.data,
                "classes": list(data.class_names), "members": [s.to_json() for s in run.data["specs"]],
                "features": {k: list(v[0]) for k, v in run.data["featurizer"].shapes().items()},
                "embeddings": run.args.embeddings}

    def prepare(self, run):
        if run.chief:
            training.write_members(run.args.logdir, run.model.specs)

    def dataset(self, run, feed):
        return training.training_dataset(run.data["featurizer"], run.data["set"].train, **feed)

    # Evaluate: choose on validation, report on test
    def evaluator(self, run):
        return training.RMDLMonitor(run.model, run.data["set"], run.config, run.config.ranges, run.args.logdir)

    # Serve: raw client inputs, featurised and voted in the graph
    def serving(self, run):
        return (training.serving_endpoints(run.model, run.config, run.data["set"].class_names),
                training.export_objects(run.model))

    def warmup(self, run):  # the first test example
        return training.warmup_request(run.config.modality, run.data["set"].test[0][:1])

    def finish(self, run, result):
        data = run.data["set"]
        result.update(modality=run.args.modality, classes=list(data.class_names),
                      members=[s.describe() for s in run.model.specs],
                      examples={"train": len(data.train[1]), "validation": len(data.validation[1]),
                                "test": len(data.test[1])})


recipe = RMDL()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
