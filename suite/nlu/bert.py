"""BERT (Devlin et al. 2019): the shared encoder of MT-DNN and its pre-training.

The encoder is keras-hub's ``BertBackbone`` (token + position + segment
embeddings, layer norm, a stack of ``TransformerEncoder`` layers, the tanh
pooler on [CLS]). Pre-training adds keras-hub's ``MaskedLMHead`` (tied to
the token embedding) and the next-sentence head keras-hub lacks: a softmax
classifier over {is next, is random} on the pooled [CLS] vector.
"""
import dataclasses
import math

import keras


def kernel_stddev(hidden_dim, initializer_range=None):
    """The kernels' initial standard deviation of a transformer ``hidden_dim`` wide: ``initializer_range``,
    or BERT's and GPT-1's 0.02 at their width 768 scaled by sqrt(768 / hidden_dim) below it."""
    return initializer_range or 0.02 * math.sqrt(768 / min(hidden_dim, 768))


@dataclasses.dataclass(frozen=True)
class BertConfig:
    num_layers: int = 12
    hidden_dim: int = 768
    num_heads: int = 12
    intermediate_dim: int = 3072
    dropout: float = 0.1
    sequence_length: int = 128
    vocabulary_size: int = 30522
    mask_rate: float = 0.15
    max_predictions: int = 20
    # the kernels' initial standard deviation (None: BERT's 0.02 at its width 768, scaled by sqrt(768 / hidden_dim)
    # below it, so that a narrow encoder's layers pass as much signal as BERT-base's: at width 64 and 0.02 each
    # matrix shrank its input about sixfold, and the tasks that compare two segments (QNLI, STS) barely learnt)
    initializer_range: float | None = None

    @property
    def kernel_stddev(self):
        return kernel_stddev(self.hidden_dim, self.initializer_range)

    def __post_init__(self):
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim {self.hidden_dim} is not a multiple of num_heads {self.num_heads}")
        for name in ("num_layers", "hidden_dim", "num_heads", "intermediate_dim", "sequence_length",
                     "vocabulary_size", "max_predictions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0.0 < self.mask_rate < 1.0:
            raise ValueError(f"mask_rate must be in (0, 1), got {self.mask_rate}")


PRESETS = {
    # unit tests: seconds on a CPU
    "tiny": BertConfig(num_layers=2, hidden_dim=64, num_heads=2, intermediate_dim=128, dropout=0.0,
                       sequence_length=48, vocabulary_size=256, max_predictions=8),
    # the recipes' default on the embedded corpus: minutes on a laptop CPU
    "small": BertConfig(num_layers=4, hidden_dim=128, num_heads=4, intermediate_dim=512, sequence_length=64,
                        vocabulary_size=512, max_predictions=10),
    # BERT-base: 12 layers, 768 hidden, 12 heads, 3072 intermediate, 110M parameters with its 30,522 WordPieces
    "paper": BertConfig(sequence_length=512, max_predictions=80),
}


def get_config(preset="small", **overrides):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})


def build_backbone(config, vocabulary_size=None, name="bert_backbone"):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size or config.vocabulary_size, num_layers=config.num_layers,
        num_heads=config.num_heads, hidden_dim=config.hidden_dim, intermediate_dim=config.intermediate_dim,
        dropout=config.dropout, max_sequence_length=config.sequence_length, name=name)
    # keras-hub draws every kernel from TruncatedNormal(0.02) and takes no initializer: scaling the drawn kernels
    # is drawing them at config.kernel_stddev (the embeddings keep BERT's 0.02)
    factor = config.kernel_stddev / 0.02
    if factor != 1.0:
        for v in backbone.trainable_variables:
            if len(v.shape) >= 2 and "embedding" not in v.path:
                v.assign(v * factor)
    return backbone


def build_pretraining_model(backbone, config, name="bert_pretraining"):
    """Functional model: BERT inputs + ``mask_positions`` [N, max_predictions] ->
    ``mlm`` logits [N, max_predictions, vocabulary] and ``nsp`` logits [N, 2]."""
    import keras_hub

    inputs = {k: keras.Input((None,), dtype="int32", name=k) for k in ("token_ids", "segment_ids", "padding_mask")}
    mask_positions = keras.Input((config.max_predictions,), dtype="int32", name="mask_positions")
    outputs = backbone(inputs)
    mlm = keras_hub.layers.MaskedLMHead(
        vocabulary_size=backbone.vocabulary_size, token_embedding=backbone.token_embedding,
        intermediate_activation=keras.activations.gelu, kernel_initializer=keras.initializers.TruncatedNormal(
            stddev=0.02), dtype="float32", name="mlm")(outputs["sequence_output"], mask_positions=mask_positions)
    nsp = keras.layers.Dense(2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                             dtype="float32", name="nsp")(outputs["pooled_output"])
    return keras.Model({**inputs, "mask_positions": mask_positions}, {"mlm": mlm, "nsp": nsp}, name=name)


@dataclasses.dataclass(frozen=True)
class PretrainingConfig:
    """BERT pre-training: the encoder and its schedule (Devlin et al. 2019, appendix A.2)."""

    encoder: BertConfig
    batch_size: int = 256
    learning_rate: float = 1e-4
    warmup_steps: int = 10000
    epochs: int = 100
    steps_per_epoch: int = 10000
    num_documents: int = 20000  # of the embedded corpus

    def __post_init__(self):
        for name in ("batch_size", "epochs", "steps_per_epoch", "num_documents"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.warmup_steps < 0:
            raise ValueError(f"learning_rate must be > 0 and warmup_steps >= 0, got {self.learning_rate}, "
                             f"{self.warmup_steps}")

    @property
    def total_steps(self):
        return self.epochs * self.steps_per_epoch


PRETRAINING_PRESETS = {
    # tiny: 2,000 steps at 2e-3. The polysemy probe (a word's setting read from its neighbours) is learnt
    # after NSP: at 1e-3 0.60-0.71 after 1,000 steps, 0.83-1.00 after 2,000 (seeds 0-2, runs of seed 0);
    # at 2e-3 0.70-1.00 after 1,000, 0.997-1.000 after 2,000 (seeds 0-3)
    "tiny": PretrainingConfig(PRESETS["tiny"], batch_size=32, learning_rate=2e-3, warmup_steps=50, epochs=8,
                              steps_per_epoch=250, num_documents=3000),
    "small": PretrainingConfig(PRESETS["small"], batch_size=64, learning_rate=5e-4, warmup_steps=300, epochs=10,
                               steps_per_epoch=300, num_documents=20000),
    # the paper: 1M steps of 256 sequences, Adam 1e-4 warmed up over 10,000 steps (it ran 90% of them
    # at length 128 and the rest at 512; here one length)
    "paper": PretrainingConfig(PRESETS["paper"], batch_size=256, learning_rate=1e-4, warmup_steps=10000,
                               epochs=100, steps_per_epoch=10000, num_documents=200000),
}


def get_pretraining_config(preset="small", encoder_overrides=None, **overrides):
    if preset not in PRETRAINING_PRESETS:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRETRAINING_PRESETS)}")
    base = PRETRAINING_PRESETS[preset]
    encoder = dataclasses.replace(base.encoder, **{k: v for k, v in (encoder_overrides or {}).items()
                                                   if v is not None})
    return dataclasses.replace(base, encoder=encoder, **{k: v for k, v in overrides.items() if v is not None})


# ------------------------------------------------------------------ the encoder on disk
ENCODER_WEIGHTS = "encoder.weights.h5"


def save_encoder(directory, backbone, config, vocabulary):
    """Writes the pre-trained encoder for ``--init-from`` (``suite.nlu.pretrained``: ``config.json``,
    ``vocabulary.txt`` and ``encoder.weights.h5`` in ``directory``, never half-written)."""
    from suite.nlu import pretrained

    return pretrained.save(directory, config, vocabulary, backbone, ENCODER_WEIGHTS)


def load_encoder(path):
    """(config, vocabulary, backbone with the weights) from ``save_encoder``'s folder, or a
    ``recipes.bert`` log directory holding one in ``encoder/``."""
    from suite.nlu import pretrained

    config, vocabulary, weights = pretrained.read(path, BertConfig, ENCODER_WEIGHTS, "encoder",
                                                  "a pre-trained encoder",
                                                  "give the folder recipes.bert writes (LOGDIR/encoder)")
    backbone = build_backbone(config)
    backbone.load_weights(weights)
    return config, vocabulary, backbone
