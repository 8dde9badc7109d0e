"""DeepSpeech (Hannun et al. 2014) and DeepSpeech 2 (Amodei et al. 2016): speech to characters
with the CTC loss.

    python -m recipes.deepspeech                           # DS2 on the embedded spoken corpus
    python -m recipes.deepspeech --model ds1 --preset tiny
    python -m recipes.deepspeech --data ~/LibriSpeech --preset paper
    python -m recipes.deepspeech --data ~/LJSpeech-1.1 --beam-width 16
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
import time

from recipes._common import print_result, run
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

NAME = "deepspeech"
# embedded utterances (training, held out) and the longest sentence, per preset
EMBEDDED = {"tiny": (3000, 100, 6), "small": (12000, 300, 10), "paper": (12000, 300, 10)}
DEFAULTS = {"tiny": dict(epochs=2, batch=16), "small": dict(epochs=10, batch=16),
            "paper": dict(epochs=20, batch=32)}


def parse_args(argv=None):
    p = core_parser(NAME, __doc__.split("\n")[0], default_data="espeak", default_steps_per_epoch=500,
                    epochs_help="epochs (default: the preset's: tiny 2, small 10, paper 20); each ends with a "
                                "checkpoint and the held-out CER and WER",
                    data_help=("'espeak' (the embedded spoken corpus: sentences of a 287-word grammar spoken by "
                               "espeak-ng in 12 voices at random speeds and pitches, generated from --seed and "
                               "cached in $SUITE_CACHE or ~/.cache/suite), 'tfds:librispeech' (prepared in "
                               "TFDS_DATA_DIR), or a LibriSpeech folder (train-clean-100/, dev-clean/, ...: FLAC "
                               "and *.trans.txt) or an LJSpeech folder (metadata.csv and wavs/)"),
                    batch_help="global batch of utterances (default: the preset's: tiny/small 16, paper 32)")
    g = p.add_argument_group("speech recognition")
    g.add_argument("--model", default="ds2", choices=("ds1", "ds2"),
                   help="ds1: context window, three clipped-ReLU dense layers, a bidirectional recurrent layer "
                        "(Hannun et al.); ds2: 2-D convolutions, batch normalisation, bidirectional GRUs "
                        "(Amodei et al.)")
    g.add_argument("--beam-width", type=int, default=0,
                   help="beam search of this width for the export's transcripts and an extra held-out CER/WER "
                        "(0: greedy best-path decoding only)")
    g.add_argument("--no-spec-augment", action="store_true", help="train without SpecAugment's masks")
    g.add_argument("--num-utterances", type=int, default=None,
                   help="training utterances (default: embedded tiny 3000, small/paper 12000; all of a folder)")
    g.add_argument("--eval-utterances", type=int, default=None,
                   help="held-out utterances scored each epoch (default: tiny 100, small/paper 300; all of a "
                        "folder's dev split)")
    add_learning_rate(g, "Adam learning rate (default: the preset's: ds2 1e-3 tiny/small, ds1 2e-3 tiny/small, "
                         "3e-4 paper); gradients "
                         "are clipped to norm 5")
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "num_utterances", "eval_utterances")
    check_learning_rate(p, args)
    if args.beam_width < 0:
        p.error(f"--beam-width must be >= 0, got {args.beam_width}")
    if args.jit_compile and args.model == "ds2":
        p.error("--jit-compile: the DS2 GRUs run on cuDNN on a GPU, which XLA cannot compile; train ds2 "
                "without --jit-compile (ds1's simple RNN compiles)")
    return args


def main(argv=None):
    args = parse_args(argv)
    from suite.training import start_run

    strategy, chief, _ = start_run(args)  # before any other TensorFlow op

    import sys

    import tensorflow as tf

    from suite import export
    from suite.data import speech
    from suite.speech import models, training
    from suite.training import Driver, Stage, check_run_config

    config = models.get_config(args.model, args.preset, learning_rate=args.learning_rate,
                               spec_augment=False if args.no_spec_augment else None,
                               beam_width=args.beam_width)
    defaults = DEFAULTS[args.preset]
    epochs = args.epochs or defaults["epochs"]
    batch = args.batch_size or defaults["batch"]
    check_batch(batch, strategy.num_replicas_in_sync)
    name = f"{NAME}_{args.model}"
    if chief:  # a taken --version is refused before training
        export.resolve_version(args.export_dir, name, args.version)
    train_count, eval_count, max_words = EMBEDDED[args.preset]
    embedded = args.data == speech.EMBEDDED
    # every file is checked (and the embedded corpus written) before anything else
    train = speech.speech_set(args.data, "train", seed=args.seed, max_words=max_words,
                              count=args.num_utterances or (train_count if embedded else None),
                              progress=not args.no_progress)
    held_out = speech.speech_set(args.data, "validation", seed=args.seed, max_words=max_words,
                                 count=args.eval_utterances or (eval_count if embedded else None),
                                 progress=not args.no_progress)
    for s in (train, held_out):
        if s.report():
            print(s.report(), file=sys.stderr)

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        model = training.SpeechRecognizer(config)
        model.compile()
    settings = {"model": args.model, "data": args.data, "preset": args.preset,
                "spec_augment": config.spec_augment}
    check_run_config(args.logdir, settings, chief)  # the first write to --logdir

    def dataset_fn(ctx):
        return speech.speech_dataset(train, ctx.get_per_replica_batch_size(batch), seed=args.seed,
                                     shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))

    evaluator = training.SpeechEvaluator(model, held_out, beam_width=args.beam_width)
    steps = args.steps_per_epoch
    driver = Driver(strategy, model, dataset_fn, logdir=args.logdir, checkpoint_every=steps,
                    log_every=max(1, min(50, steps)), jit_compile=args.jit_compile, callbacks=[evaluator],
                    progress=not args.no_progress)
    initial = None
    if driver.restore() == 0 and chief:
        initial = evaluator.evaluate()[0]  # the untrained network, for comparison
    first = driver.step
    started = time.perf_counter()
    driver.train([Stage(f"epoch {e + 1}", steps) for e in range(epochs)])
    wall = time.perf_counter() - started
    # training throughput over the logged intervals (the evaluations between epochs left out): each
    # interval's steps times the audio of its logged step, over the interval's time
    audio = train_seconds = 0.0
    previous = first
    for step, logs in driver.history:
        if step > previous:
            audio += logs["audio_seconds"] * (step - previous)
            train_seconds += (step - previous) / logs["steps_per_second"]
            previous = step
    result = {"model": args.model, "step": driver.step, "initial": initial,
              "eval": evaluator.history[-1][1] if evaluator.history else None, "history": evaluator.history,
              "audio_seconds_per_second": audio / max(train_seconds, 1e-9), "wall_seconds": wall,
              "train_utterances": len(train), "train_hours": train.seconds / 3600,
              "skipped": len(train.skipped) + len(held_out.skipped), "logs": driver.logs, "export": None}
    if chief:
        result["export"] = export.export_saved_model(name, args.export_dir,
                                                     training.serving_endpoints(model, args.beam_width),
                                                     [model.net], version=args.version)
        print_result(result)
    return result, model


if __name__ == "__main__":
    run(main)
