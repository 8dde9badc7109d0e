"""Custom layers of the NLU topic (MT-DNN, Liu et al. 2019).

keras-hub has the encoder (``BertBackbone``) and the masked-LM head, but no
stochastic answer network: multi-step reasoning over a premise with a GRU
state is written here from Liu et al. 2018 ("Stochastic Answer Networks for
Natural Language Inference") as MT-DNN uses it (section 3, "Text
Pairwise Classification Output").
"""
import keras
from keras import ops

PACKAGE = "suite.nlu"


def _masked_softmax(scores, mask):
    scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
    return ops.softmax(scores, axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class StochasticAnswerNetwork(keras.layers.Layer):
    """SAN answer module over the encoder's contextual vectors of a sentence pair.

    Inputs ``(sequence, segment_ids, padding_mask)``: the premise's working
    memory ``M^p`` is its tokens (segment 0), the hypothesis' ``M^h`` its tokens
    (segment 1). The initial state is ``s^0 = sum_j a_j M^h_j`` with
    ``a = softmax(w_1 M^h)``; at each of ``steps`` steps the premise is read
    with bilinear attention ``x^k = sum_j b_j M^p_j``, ``b = softmax(s^{k-1} W_2 M^p)``,
    the state moves on ``s^k = GRU(s^{k-1}, x^k)``, and the step predicts
    ``P^k = softmax(W_3 [s^k; x^k; |s^k - x^k|; s^k * x^k])``. The answer is the
    average of the ``P^k``: during training each example drops each step's
    prediction with probability ``prediction_dropout`` (stochastic prediction
    dropout; all are kept if all would drop), at inference all are averaged.

    Returns class probabilities [N, num_classes] (float32).
    """

    def __init__(self, num_classes, steps=5, prediction_dropout=0.1, dropout=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        if num_classes < 2 or steps < 1 or not 0.0 <= prediction_dropout < 1.0:
            raise ValueError(f"SAN needs num_classes >= 2, steps >= 1 and 0 <= prediction_dropout < 1, got "
                             f"{num_classes}, {steps}, {prediction_dropout}")
        self.num_classes, self.steps = int(num_classes), int(steps)
        self.prediction_dropout, self.dropout, self.seed = float(prediction_dropout), float(dropout), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shapes):
        dim = input_shapes[0][-1]
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.w1 = keras.layers.Dense(1, kernel_initializer=init, dtype=self.dtype_policy, name="summary")
        self.w2 = keras.layers.Dense(dim, use_bias=False, kernel_initializer=init, dtype=self.dtype_policy,
                                     name="bilinear")
        self.gru = keras.layers.GRUCell(dim, dtype=self.dtype_policy, name="gru")
        self.w3 = keras.layers.Dense(self.num_classes, kernel_initializer=init, dtype="float32", name="classifier")
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.w1.build((None, None, dim))
        self.w2.build((None, dim))
        self.gru.build((None, dim))
        self.w3.build((None, 4 * dim))

    def step_probabilities(self, sequence, segment_ids, padding_mask, training=False):
        """[N, steps, num_classes]: every step's prediction."""
        if not self.built:
            self.build([tuple(sequence.shape)])
            self.built = True
        valid = ops.cast(padding_mask, "bool")
        premise = valid & ops.equal(segment_ids, 0)
        hypothesis = valid & ops.equal(segment_ids, 1)
        memory = self.drop(sequence, training=training)
        alpha = _masked_softmax(ops.squeeze(self.w1(memory), -1), hypothesis)
        state = ops.einsum("nl,nld->nd", ops.cast(alpha, memory.dtype), memory)
        outputs = []
        for _ in range(self.steps):
            beta = _masked_softmax(ops.einsum("nd,nld->nl", self.w2(state), memory), premise)
            x = ops.einsum("nl,nld->nd", ops.cast(beta, memory.dtype), memory)
            state, _ = self.gru(x, [state], training=training)
            features = ops.concatenate([state, x, ops.abs(state - x), state * x], axis=-1)
            outputs.append(ops.softmax(self.w3(ops.cast(features, "float32")), axis=-1))
        return ops.stack(outputs, axis=1)

    def call(self, inputs, training=False):
        sequence, segment_ids, padding_mask = inputs
        probs = self.step_probabilities(sequence, segment_ids, padding_mask, training=training)
        if training and self.prediction_dropout > 0:
            keep = keras.random.uniform(ops.shape(probs)[:2], seed=self.seed_generator) >= self.prediction_dropout
            keep = ops.where(ops.any(keep, axis=1, keepdims=True), keep, ops.ones_like(keep))
            weights = ops.cast(keep, "float32")
            return ops.sum(probs * weights[..., None], axis=1) / ops.sum(weights, axis=1, keepdims=True)
        return ops.mean(probs, axis=1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.num_classes)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "steps": self.steps,
                "prediction_dropout": self.prediction_dropout, "dropout": self.dropout, "seed": self.seed}
