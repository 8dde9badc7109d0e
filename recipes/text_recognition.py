"""Scene-text recognition: CRNN (Shi, Bai and Yao 2017), convolutions, a deep BLSTM and CTC.

A word crop is read by convolutions and a deep bidirectional LSTM, trained with the CTC loss.

    python -m recipes.text_recognition                       # on the embedded word crops
    python -m recipes.text_recognition --preset paper --beam-width 8
    python -m recipes.text_recognition --data ~/IIIT5K --charset alnum --lexicon words.txt
    tensorboard --logdir logs

Each crop becomes a grey image 32 pixels high (its width scaled with it up to
--width, then padded), read as one frame per four columns. Each epoch ends
with the word accuracy and character error rate (CER) of best-path decoding
on held-out crops (and of beam search with --beam-width, and of
lexicon-constrained decoding with a lexicon), and held-out crops with the
words read in TensorBoard.

The export ``saved_models/text_recognition/<version>/`` takes ``images``
uint8 [N, H, W, 3] (crops of one size, any size) or ``image_bytes`` (JPEG,
PNG, GIF or BMP crops, each of its own size) and returns ``words`` string [N]
and ``log_probability`` float32 [N].
"""
from suite.training.cli import non_negative_int, positive_int
from suite.training.runner import Recipe, lazy

data = lazy("suite.data.ocr")
export = lazy("suite.export")
crnn = lazy("suite.ocr.crnn")
recognition = lazy("suite.ocr.recognition")



class TextRecognition(Recipe):
    __doc__ = __doc__
    name = "text_recognition"
    default_data = "words"
    data_help = ("'words' (the embedded crops: lexicon words, digit strings and random strings in 44 TrueType "
                 "faces of Debian's fonts-dejavu-core, fonts-liberation and fonts-freefont-ttf, sheared, rotated, "
                 "blurred and noisy over cluttered gradients, generated from --seed) or a folder with a label list: "
                 "gt.txt (ICDAR: 'word_1.png, \"text\"') or labels.txt ('path text'), in train/ and test/ (or "
                 "val/) or alone (a tenth held out)")
    presets = {"tiny": dict(epochs=2, batch=16), "small": dict(epochs=10, batch=64), "paper": dict(epochs=20, batch=64)}
    steps_per_epoch = 500
    learning_rate_help = ("learning rate (default: the preset's: Adam 1e-3 for tiny/small, the paper's ADADELTA "
                          "at 1.0 with rho 0.9 for paper); gradients are clipped to norm 5")
    batch_norm = True
    unit = "words"
    evaluation = "the held-out word accuracy and CER"
    group_title = "text recognition"
    counts = {"tiny": (100000, 200), "small": (1000000, 1000), "paper": (1000000, 1000)}
    counted = "words"
    counts_help = ("training crops (embedded; the first of a folder's)", "held-out crops scored each epoch")

    def add_flags(self, g):
        g.add_argument("--charset", default="lower",
                       help="the characters read: 'lower' (digits and case-insensitive letters, the paper's 36), "
                            "'alnum' (case-sensitive), 'printable' (with punctuation and space) or the characters "
                            "themselves; words with others are skipped and counted")
        g.add_argument("--width", type=positive_int, default=None,
                       help="the crops' width in pixels at height 32 (default 100, the paper's: 26 frames)")
        g.add_argument("--beam-width", type=non_negative_int, default=0,
                       help="beam search of this width for the export and an extra held-out score (0: best path)")
        g.add_argument("--lexicon", default=None, metavar="FILE",
                       help="a word list (one per line) for lexicon-constrained decoding of the held-out words "
                            "in it (default: the embedded lexicon on the embedded data, none otherwise)")

    def check_flags(self, p, args):
        from suite.ocr.charset import Charset

        try:
            args.charset = Charset.of(args.charset).characters
        except ValueError as e:
            p.error(f"--charset: {e}")

    # The model: CRNN at the preset's size (its LSTMs off cuDNN under XLA)
    def configure(self, run):
        a = run.args
        return crnn.get_config(a.preset, charset=a.charset, width=a.width, learning_rate=a.learning_rate,
                               sync_batch_norm=a.sync_batch_norm or None, cudnn=False if a.jit_compile else None)

    def load_data(self, run):  # every list line and image checked before training
        from suite.ocr.charset import Charset

        a, c = run.args, run.config
        sets = [data.word_set(a.data, split, Charset(c.charset), c.max_label_length, a.seed, count, run.bad)
                for split, count in zip(("train", "validation"), run.counts)]
        run.report(*sets)
        lexicon = data.read_lexicon(a.lexicon) if a.lexicon else data.lexicon() if a.data == data.EMBEDDED else None
        return sets[0], sets[1].examples(run.counts[1]), lexicon

    def build(self, run):
        model = recognition.Recognizer(run.config, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        c = run.config
        return {"data": run.args.data, "preset": run.args.preset, "charset": c.charset, "width": c.width}

    def dataset(self, run, feed):
        from suite.ocr.charset import Charset

        c = run.config
        return data.word_dataset(run.data[0], charset=Charset(c.charset), height=c.height, width=c.width,
                                 max_length=c.max_label_length, **feed)

    # Evaluate: word accuracy and CER on the held-out crops
    def evaluator(self, run):
        return recognition.RecognitionEvaluator(run.model, run.data[1], run.args.beam_width, run.data[2])

    # Serve: crops of any size in, words out
    def serving(self, run):
        return recognition.serving_endpoints(run.model, run.args.beam_width), [run.model.net]

    def warmup(self, run):  # a held-out crop
        return export.image_warmup(run.data[1][0][0])

    def finish(self, run, result):
        result.update(parameters=int(run.model.net.count_params()), charset=run.config.charset,
                      skipped_words=len(run.data[0].skipped))


recipe = TextRecognition()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
