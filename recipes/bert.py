"""BERT pre-training: masked language model + next-sentence prediction on a corpus of documents.

    python -m recipes.bert                               # the embedded story corpus, small preset
    python -m recipes.bert --data corpus.txt --preset paper
    python -m recipes.mtdnn --init-from logs/bert/encoder
    tensorboard --logdir logs

--data is 'nlu' (stories generated from --seed) or a text file in BERT's
pre-training layout: one sentence per line, an empty line between documents.
A WordPiece vocabulary is learnt from the corpus (LOGDIR/vocabulary.txt).
Every epoch ends with the masked-LM and next-sentence accuracy on held-out
documents, and an example of masked words and the model's guesses in
TensorBoard's text tab. The encoder is written to LOGDIR/encoder (for
``recipes.mtdnn --init-from``).

The export ``saved_models/bert/<version>/`` is a text embedder:
``serving_default`` takes ``text`` and ``pair`` takes ``text_a`` and
``text_b`` (strings [N]); both return ``pooled_output`` [N, H],
``sequence_output`` [N, L, H] and ``padding_mask`` [N, L].
"""
import time

from recipes._common import print_result, run
from suite.training.cli import add_learning_rate, check_batch, check_learning_rate, check_positive, core_parser

NAME = "bert"


def parse_args(argv=None):
    p = core_parser(NAME, __doc__.split("\n")[0], default_data="nlu", default_steps_per_epoch=None,
                    epochs_help="epochs (default: the preset's: tiny 2, small 10, paper 100); each ends with a "
                                "checkpoint and the held-out accuracies",
                    data_help=("'nlu' (the embedded stories, generated from --seed) or a text file: one sentence "
                               "per line, an empty line between documents"),
                    steps_help="steps per epoch (default: the preset's: tiny 250, small 300, paper 10000)",
                    batch_help="global batch of sequences (default: the preset's: tiny 32, small 64, paper 256)")
    g = p.add_argument_group("BERT")
    g.add_argument("--num-documents", type=int, default=None,
                   help="documents of the embedded corpus (default: the preset's: tiny 3000, small 20000)")
    g.add_argument("--sequence-length", type=int, default=None,
                   help="tokens per sequence, [CLS] and [SEP]s included (default: tiny 48, small 64, paper 512)")
    g.add_argument("--vocabulary-size", type=int, default=None,
                   help="WordPiece vocabulary size learnt from the corpus (default: tiny 256, small 512, "
                        "paper 30522)")
    add_learning_rate(g, "peak AdamW learning rate (default: tiny 1e-3, small 5e-4, paper 1e-4)")
    args = p.parse_args(argv)
    check_positive(p, args, "epochs", "steps_per_epoch", "batch_size", "num_documents", "sequence_length",
                   "vocabulary_size")
    if args.sequence_length is not None and args.sequence_length < 8:
        p.error(f"--sequence-length must be >= 8, got {args.sequence_length}")
    check_learning_rate(p, args)
    return args


def main(argv=None):
    args = parse_args(argv)
    from suite.training import start_run

    strategy, chief, _ = start_run(args)  # before any other TensorFlow op

    import os

    import tensorflow as tf

    from suite import export
    from suite.data import nlu
    from suite.nlu import bert, pretraining, serving
    from suite.nlu.lexicon import Lexicon, vocabulary_for_run
    from suite.training import Driver, Stage, check_run_config

    config = bert.get_pretraining_config(
        args.preset, encoder_overrides={"sequence_length": args.sequence_length,
                                        "vocabulary_size": args.vocabulary_size},
        batch_size=args.batch_size, learning_rate=args.learning_rate, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, num_documents=args.num_documents)
    batch = config.batch_size
    check_batch(batch, strategy.num_replicas_in_sync)
    if chief:
        export.resolve_version(args.export_dir, NAME, args.version)
    documents = (nlu.documents(config.num_documents, seed=args.seed) if args.data == "nlu"
                 else nlu.read_documents(args.data))
    held = max(2, len(documents) // 20)  # 5% of the documents, never trained on
    train_docs, held_docs = documents[:-held], documents[-held:]
    vocabulary, save_vocabulary = vocabulary_for_run(args.logdir, lambda: [s for d in train_docs for s in d],
                                                     config.encoder.vocabulary_size)
    lexicon = Lexicon(vocabulary, config.encoder.sequence_length)
    pairs = pretraining.next_sentence_pairs(train_docs, seed=args.seed)
    held_out = pretraining.pretraining_dataset(lexicon, pretraining.next_sentence_pairs(held_docs, seed=args.seed + 1),
                                               config.encoder, 128, seed=args.seed + 1, repeat=False)

    tf.keras.utils.set_random_seed(args.seed)
    with strategy.scope():
        backbone = bert.build_backbone(config.encoder, lexicon.vocabulary_size)
        model = bert.build_pretraining_model(backbone, config.encoder)
        pretraining.compile_pretraining(model, config.learning_rate, config.warmup_steps, config.total_steps)
        model.optimizer.build(model.trainable_variables)
    settings = {"model": NAME, "data": args.data, "encoder": vars(config.encoder),
                "vocabulary_size": lexicon.vocabulary_size, "num_documents": len(documents)}
    check_run_config(args.logdir, settings, chief)  # the first write to --logdir
    if chief:
        save_vocabulary()

    def dataset_fn(ctx):
        return pretraining.pretraining_dataset(lexicon, pairs, config.encoder, ctx.get_per_replica_batch_size(batch),
                                               seed=args.seed, shard=(ctx.num_input_pipelines, ctx.input_pipeline_id))

    monitor = pretraining.PretrainingMonitor(model, lexicon, held_out)
    driver = Driver(strategy, model, dataset_fn, logdir=args.logdir, checkpoint_every=config.steps_per_epoch,
                    log_every=max(1, min(50, config.steps_per_epoch)), jit_compile=args.jit_compile,
                    callbacks=[monitor], progress=not args.no_progress)
    initial = None
    if driver.restore() == 0 and chief:
        initial = pretraining.evaluate_pretraining(model, held_out)
    first = driver.step
    started = time.perf_counter()
    driver.train([Stage(f"epoch {e + 1}", config.steps_per_epoch) for e in range(config.epochs)])
    wall = time.perf_counter() - started
    train_seconds = max(wall - monitor.seconds, 1e-9)
    result = {"step": driver.step, "documents": len(documents), "pairs": len(pairs), "initial": initial,
              "held_out": monitor.history, "wall_seconds": wall, "train_seconds": train_seconds,
              "sequences_per_second": (driver.step - first) * batch / train_seconds,
              "loss": [(s, logs["loss"]) for s, logs in driver.history], "logs": driver.logs, "export": None}
    if chief:
        result["encoder"] = bert.save_encoder(os.path.join(args.logdir, "encoder"), backbone, config.encoder,
                                              vocabulary)
        result["export"] = export.export_saved_model(
            NAME, args.export_dir, serving.text_embedder_endpoints(lexicon, backbone),
            [backbone, serving.lexicon_resources(lexicon)], version=args.version)
        print_result(result)
    return result, model


if __name__ == "__main__":
    run(main)
