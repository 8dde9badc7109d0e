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
import os

from suite.training.cli import at_least, positive_int
from suite.training.runner import Recipe, lazy

bert = lazy("suite.nlu.bert")
lexicons = lazy("suite.nlu.lexicon")
nlu = lazy("suite.data.nlu")
pretraining = lazy("suite.nlu.pretraining")
serving = lazy("suite.nlu.serving")


class BERT(Recipe):
    __doc__ = __doc__
    name = "bert"
    default_data = "nlu"
    steps_per_epoch = None
    epochs_help = ("epochs (default: the preset's: tiny 8, small 10, paper 100); each ends with a checkpoint and "
                   "the held-out accuracies")
    data_help = ("'nlu' (the embedded stories, generated from --seed), a text file (one sentence per line, an empty "
                 "line between documents), a folder of .txt files (each one document or more), or a TFDS text set "
                 "prepared in TFDS_DATA_DIR ('tfds:wikipedia/20230601.en': an article a document)")
    steps_help = "steps per epoch (default: the preset's: tiny 250, small 300, paper 10000)"
    batch_help = "global batch of sequences (default: the preset's: tiny 32, small 64, paper 256)"
    learning_rate_help = "peak AdamW learning rate (default: tiny 2e-3, small 5e-4, paper 1e-4)"
    unit = "sequences"
    group_title = "BERT"

    def add_flags(self, g):
        g.add_argument("--num-documents", type=positive_int, default=None,
                       help="documents of the embedded corpus (default: the preset's: tiny 3000, small 20000), or "
                            "the most read from a TFDS set (default 100000)")
        g.add_argument("--sequence-length", type=at_least(8), default=None,
                       help="tokens per sequence, [CLS] and [SEP]s included (default: tiny 48, small 64, paper 512)")
        g.add_argument("--vocabulary-size", type=positive_int, default=None,
                       help="WordPiece vocabulary size learnt from the corpus (default: tiny 256, small 512, "
                            "paper 30522)")

    # The model: the encoder at the preset's size, its pre-training heads and schedule
    def configure(self, run):
        a = run.args
        return bert.get_pretraining_config(
            a.preset, encoder_overrides={"sequence_length": a.sequence_length, "vocabulary_size": a.vocabulary_size},
            batch_size=a.batch_size, learning_rate=a.learning_rate, epochs=a.epochs,
            steps_per_epoch=a.steps_per_epoch, num_documents=a.num_documents)

    # The data: documents, 5% held out; a WordPiece vocabulary learnt from the rest
    def load_data(self, run):
        a, c = run.args, run.config
        documents = (nlu.documents(c.num_documents, seed=a.seed) if a.data == "nlu"
                     else nlu.read_documents(a.data, a.num_documents, run.bad))
        held = max(2, len(documents) // 20)  # 5% of the documents, never trained on
        train_docs, held_docs = documents[:-held], documents[-held:]
        vocabulary, save_vocabulary = lexicons.vocabulary_for_run(a.logdir, lambda: [s for d in train_docs for s in d],
                                                            c.encoder.vocabulary_size)
        lexicon = lexicons.Lexicon(vocabulary, c.encoder.sequence_length)
        pairs = pretraining.next_sentence_pairs(train_docs, seed=a.seed)
        held_out = pretraining.pretraining_dataset(
            lexicon, pretraining.next_sentence_pairs(held_docs, seed=a.seed + 1), c.encoder, 128, seed=a.seed + 1,
            repeat=False)
        return {"documents": len(documents), "lexicon": lexicon, "pairs": pairs, "held_out": held_out,
                "save_vocabulary": save_vocabulary}

    def build(self, run):
        backbone = bert.build_backbone(run.config.encoder, run.data["lexicon"].vocabulary_size)
        model = pretraining.BertPretraining(backbone, run.config, seed=run.args.seed)
        model.compile()
        return model

    def settings(self, run):
        return {"model": self.name, "data": run.args.data, "encoder": vars(run.config.encoder),
                "vocabulary_size": run.data["lexicon"].vocabulary_size, "num_documents": run.data["documents"]}

    def prepare(self, run):
        if run.chief:
            run.data["save_vocabulary"]()

    def dataset(self, run, feed):
        return pretraining.pretraining_dataset(run.data["lexicon"], run.data["pairs"], run.config.encoder, **feed)

    # Evaluate: held-out masked-LM and next-sentence accuracy, a sentence with its guesses
    def evaluator(self, run):
        return pretraining.PretrainingMonitor(run.model, run.data["lexicon"], run.data["held_out"],
                                              probe=run.args.data == "nlu")

    # Serve: the encoder as a text embedder, tokenised in the graph
    def serving(self, run):
        lexicon, backbone = run.data["lexicon"], run.model.backbone
        return serving.text_embedder_endpoints(lexicon, backbone), [backbone, serving.lexicon_resources(lexicon)]

    def warmup(self, run):  # a sentence pair of the documents
        first, second, _ = run.data["pairs"][0]
        return {"serving_default": [[first]], "pair": [[first], [second]]}

    def finish(self, run, result):
        result.update(documents=run.data["documents"], pairs=len(run.data["pairs"]))
        if run.chief:  # the encoder for recipes.mtdnn --init-from
            result["encoder"] = bert.save_encoder(os.path.join(run.args.logdir, "encoder"), run.model.backbone,
                                                  run.config.encoder, run.data["lexicon"].vocabulary)


recipe = BERT()
main = recipe.main

if __name__ == "__main__":
    recipe.cli()
