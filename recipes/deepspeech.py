"""DeepSpeech (Hannun et al. 2014) and DeepSpeech 2 (Amodei et al. 2016): speech to characters
with the CTC loss.

    python -m recipes.deepspeech                           # DS2 on the embedded spoken corpus
    python -m recipes.deepspeech --model ds1 --preset tiny
    python -m recipes.deepspeech --data ~/LibriSpeech --preset paper
    python -m recipes.deepspeech --data ~/LJSpeech-1.1 --beam-width 16
    python -m suite.data.prepare speech --data ~/LibriSpeech --out ~/librispeech-prepared
    python -m recipes.deepspeech --data tfrecord:~/librispeech-prepared --preset paper
    tensorboard --logdir logs

The waveform becomes log-mel features inside the network (25 ms windows
every 10 ms; SpecAugment masks in training), so the export takes raw audio.
Utterances are batched by length. Each epoch ends with the character and
word error rates (CER, WER) of greedy decoding on held-out utterances (and
of beam search with --beam-width), and held-out utterances as audio with
their reference and decoded transcripts in TensorBoard.

The export ``saved_models/deepspeech_<model>/<version>/`` has two
signatures: ``serving_default`` takes ``waveforms`` float32 [N, T] (16 kHz,
zero-padded) and ``lengths`` int32 [N], ``transcribe_wav`` takes ``wav``
string [N] (WAV files' bytes, any rate: resampled in the graph); both return
``transcripts`` string [N], ``log_probabilities`` float32 [N, frames, 29]
(space, a-z, apostrophe, then the CTC blank) and ``frames`` int32 [N].
"""
from suite.training.cli import non_negative_int
from suite.training.runner import Recipe, lazy

models = lazy("suite.speech.models")
training = lazy("suite.speech.training")
speech = lazy("suite.data.speech")

MAX_WORDS = {"tiny": 6, "small": 10, "paper": 10}  # the embedded corpus' longest sentence


class DeepSpeech(Recipe):
    __doc__ = __doc__
    name = "deepspeech"
    default_data = "espeak"
    steps_per_epoch = 500
    presets = {"tiny": dict(epochs=2, batch=16), "small": dict(epochs=10, batch=16), "paper": dict(epochs=20, batch=32)}
    evaluation = "the held-out CER and WER"
    data_help = ("'espeak' (the embedded spoken corpus: sentences of a 287-word grammar spoken by espeak-ng in 12 "
                 "voices at random speeds and pitches, generated from --seed and cached in $SUITE_CACHE or "
                 "~/.cache/suite), 'tfds:librispeech' (prepared in TFDS_DATA_DIR), or a LibriSpeech folder "
                 "(train-clean-100/, dev-clean/, ...: FLAC and *.trans.txt) or an LJSpeech folder (metadata.csv "
                 "and wavs/), or 'tfrecord:DIR' (any of these prepared once by python -m suite.data.prepare speech: "
                 "decoded, in shards read in parallel)")
    learning_rate_help = ("Adam learning rate (default: the preset's: ds2 1e-3 tiny/small, ds1 2e-3 tiny/small, "
                          "3e-4 paper); gradients are clipped to norm 5")
    batch_norm = True
    unit = "audio_seconds"
    batch_items = "utterances"
    group_title = "speech recognition"
    export_by = "model"
    counts = {"tiny": (3000, 100), "small": (12000, 300), "paper": (12000, 300)}
    counted = "utterances"
    counts_help = ("embedded training utterances (all of a folder's unless given)",
                   "held-out utterances scored each epoch (embedded; all of a folder's dev split unless given)")

    def add_flags(self, g):
        g.add_argument("--model", default="ds2", choices=("ds1", "ds2"),
                       help="ds1: context window, three clipped-ReLU dense layers, a bidirectional recurrent layer "
                            "(Hannun et al.); ds2: 2-D convolutions, batch normalisation, bidirectional GRUs "
                            "(Amodei et al.)")
        g.add_argument("--beam-width", type=non_negative_int, default=0,
                       help="beam search of this width for the export's transcripts and an extra held-out CER/WER "
                            "(0: greedy best-path decoding only)")
        g.add_argument("--no-spec-augment", action="store_true", help="train without SpecAugment's masks")

    def check_flags(self, p, args):
        if args.jit_compile and args.model == "ds2":
            p.error("--jit-compile: the DS2 GRUs run on cuDNN on a GPU, which XLA cannot compile; train ds2 "
                    "without --jit-compile (ds1's simple RNN compiles)")

    # The model: DS1 or DS2 at the preset's size, log-mel features inside
    def configure(self, run):
        a = run.args
        return models.get_config(a.model, a.preset, learning_rate=a.learning_rate,
                                 spec_augment=False if a.no_spec_augment else None, beam_width=a.beam_width,
                                 sync_batch_norm=a.sync_batch_norm)

    # The data: every file checked (and the embedded corpus written) before anything else
    def load_data(self, run):
        a, embedded = run.args, run.args.data == speech.EMBEDDED
        train_count, eval_count = run.counts if embedded else (a.num_utterances, a.eval_utterances)
        train, held_out = (speech.speech_set(a.data, split, seed=a.seed, max_words=MAX_WORDS[a.preset], count=count,
                                             progress=run.progress, bad=run.bad, stream=split == "train")
                           for split, count in (("train", train_count), ("validation", eval_count)))
        run.report(train, held_out)
        return train, held_out

    def build(self, run):
        model = training.SpeechRecognizer(run.config, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        a = run.args
        return {"model": a.model, "data": a.data, "preset": a.preset, "spec_augment": run.config.spec_augment}

    def dataset(self, run, feed):
        return speech.speech_dataset(run.data[0], **feed)

    def items_per_step(self, run, logs):  # seconds of audio in a step's global batch
        return logs["audio_seconds"] * run.batch

    # Evaluate: CER and WER of the held-out utterances, a few of them as audio with transcripts
    def evaluator(self, run):
        return training.SpeechEvaluator(run.model, run.data[1], beam_width=run.args.beam_width)

    # Serve: waveforms or WAV bytes in, transcripts out
    def serving(self, run):
        return training.serving_endpoints(run.model, run.args.beam_width), [run.model.net]

    def warmup(self, run):  # a held-out utterance, as a waveform and as WAV bytes
        return training.warmup_requests(run.data[1].load(0), run.config.sample_rate)

    def finish(self, run, result):
        train, held_out = run.data
        result.update(model=run.args.model, train_utterances=len(train), train_hours=train.seconds / 3600,
                      skipped=len(train.skipped) + len(held_out.skipped))


recipe = DeepSpeech()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
