"""ELMo's pieces (suite.layers.sequence, suite.lm.elmo): the highway layer and the LSTM with projection
against their formulas, the masked reversal, the scalar mix, the characters of words in the graph,
the two directions' causality, the paper preset's size, the windows' targets and the frozen features."""
import numpy as np
import pytest
import tensorflow as tf

from suite.layers.sequence import Highway, LSTMPCell, ReverseSequence, ScalarMix
from suite.lm import elmo


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_highway_is_its_formula_and_starts_carrying_its_input():
    layer = Highway()
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    y = layer(x).numpy()
    t = sigmoid(x @ layer.gate.kernel.numpy() + layer.gate.bias.numpy())
    h = np.maximum(x @ layer.transform.kernel.numpy() + layer.transform.bias.numpy(), 0)
    np.testing.assert_allclose(y, t * h + (1 - t) * x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.gate.bias.numpy(), -2.0)  # the gate opens at sigmoid(-2) = 0.12 on average


def test_lstm_with_projection_is_its_formula_with_both_clips():
    import keras

    cell = LSTMPCell(6, 3, cell_clip=0.5, projection_clip=0.2)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(1).normal(size=(2, 4, 5)).astype("float32") * 3
    got = rnn(x).numpy()
    w, b, p = cell.kernel.numpy(), cell.bias.numpy(), cell.projection_kernel.numpy()
    np.testing.assert_allclose(b[6:12], 1.0)  # the forget gate's bias starts at 1
    r, c = np.zeros((2, 3)), np.zeros((2, 6))
    for t in range(4):
        z = np.concatenate([x[:, t], r], -1) @ w + b
        i, f, g, o = np.split(z, 4, -1)
        c = np.clip(sigmoid(f) * c + sigmoid(i) * np.tanh(g), -0.5, 0.5)
        r = np.clip((sigmoid(o) * np.tanh(c)) @ p, -0.2, 0.2)
        np.testing.assert_allclose(got[:, t], r, rtol=1e-4, atol=1e-5)
    assert np.abs(got).max() == pytest.approx(0.2)  # the projection clip bites on these inputs


def test_reverse_sequence_reverses_each_row_within_its_mask_and_twice_is_identity():
    x = np.arange(2 * 4, dtype="float32").reshape(2, 4, 1)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]])
    y = ReverseSequence()(x, mask).numpy()[..., 0]
    assert y.tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]  # the padding stays at the end
    np.testing.assert_array_equal(ReverseSequence()(y[..., None], mask).numpy(), x)


def test_scalar_mix_starts_as_the_mean_and_learns_softmax_weights_times_gamma():
    mix = ScalarMix()
    layers = np.random.default_rng(2).normal(size=(2, 3, 4, 5)).astype("float32")  # [B, T, L, D]
    np.testing.assert_allclose(mix(layers).numpy(), layers.mean(2), rtol=1e-5, atol=1e-6)
    mix.scalars.assign([1.0, 0.0, -1.0, 2.0])
    mix.gamma.assign(0.5)
    s = np.exp([1.0, 0.0, -1.0, 2.0]) / np.exp([1.0, 0.0, -1.0, 2.0]).sum()
    np.testing.assert_allclose(mix(layers).numpy(), 0.5 * np.einsum("btld,l->btd", layers, s), rtol=1e-5, atol=1e-6)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(mix(layers))
    assert all(g is not None and np.any(g.numpy() != 0) for g in tape.gradient(out, [mix.scalars, mix.gamma]))


def test_characters_of_words_are_their_utf8_bytes_between_markers():
    tokens = tf.ragged.constant([["ab", elmo.BOUNDARY], ["é", "abcdefghij"], []])
    ids = elmo.character_ids(tokens, 6).to_list()
    B, E = elmo.BOW, elmo.EOW
    assert ids[0] == [[B, 98, 99, E, 0, 0], [B, elmo.BOUNDARY_CHAR, E, 0, 0, 0]]
    assert ids[1] == [[B, 0xC3 + 1, 0xA9 + 1, E, 0, 0], [B, 98, 99, 100, 101, E]]  # cut to 4 bytes
    assert ids[2] == []


def test_graph_tokenizer_is_the_training_tokenizer():
    from suite.data.text_corpus import tokenize, tokenize_in_graph

    texts = ["Alice gave Bob the red book.", "  (hello), world!! ", "Naïve CAFÉ déjà-vu", "東京 😀 in Tokyo😀", "",
             "--- ... x", "it's 3.5 km_h"]
    got = [[t.decode() for t in row] for row in tokenize_in_graph(tf.constant(texts)).to_list()]
    assert got == [tokenize(t) for t in texts]


@pytest.fixture(scope="module")
def tiny_net():
    import keras

    keras.utils.set_random_seed(0)
    return elmo.build_network(elmo.get_config("tiny"))


def run(net, sentences):
    _, inputs = elmo.sentence_inputs(tf.constant(sentences), 16)
    return net(inputs, training=False), inputs


def test_forward_reads_only_the_words_before_and_backward_only_the_words_after(tiny_net):
    out, _ = run(tiny_net, ["alice gave bob the red book", "alice gave bob the old chair"])
    f, b = out["forward"].numpy(), out["backward"].numpy()
    # positions: <s> alice gave bob the red|old book|chair <s>; the sentences differ from position 5
    np.testing.assert_allclose(f[0, :5], f[1, :5], atol=1e-6)
    assert np.abs(f[0, 5:] - f[1, 5:]).max() > 1e-4
    out, _ = run(tiny_net, ["red book was given to alice", "old chair was given to alice"])
    b = out["backward"].numpy()
    np.testing.assert_allclose(b[0, 3:], b[1, 3:], atol=1e-6)  # after the first two words, the same
    assert np.abs(b[0, :3] - b[1, :3]).max() > 1e-4


def test_a_sentence_reads_the_same_alone_and_beside_a_longer_one(tiny_net):
    alone, _ = run(tiny_net, ["bob gave alice a book"])
    padded, inputs = run(tiny_net, ["bob gave alice a book", "the red book was given to alice in the park"])
    assert inputs["mask"].numpy()[0].sum() == 7
    for a, p in zip(alone["layers"], padded["layers"]):
        np.testing.assert_allclose(a.numpy()[0], p.numpy()[0, :7], rtol=1e-4, atol=1e-5)


def test_paper_preset_is_the_original_elmo_size():
    # 2,048 character filters, 2 highway layers, 2 x 2 LSTMs of 4,096 projected to 512: 93.6M without the softmax
    assert elmo.parameter_count(elmo.get_config("paper")) == 93_600_832


def test_windows_read_each_word_and_predict_the_next_and_the_previous():
    text = {"types": np.arange(10, dtype=np.int32), "words": np.arange(100, 110, dtype=np.int32),
            "starts": np.array([0, 4, 8], np.int64)}
    chars = np.arange(10 * 3, dtype=np.int32).reshape(10, 3)
    w = elmo.window(text, chars, 4, 3)
    np.testing.assert_array_equal(w["characters"], chars[5:8])
    assert w["next"].tolist() == [106, 107, 108] and w["previous"].tolist() == [104, 105, 106]
    assert elmo.window_starts(text, 3).tolist() == [0, 4]  # from 8, no room for 3 + 2 words
    with pytest.raises(ValueError, match="too few for one window of 22"):
        elmo.window_starts(text, 20)


def small_text():
    config = elmo.get_config("tiny", sequence_length=6)
    return config, elmo.load_text("corpus", config, 0, "tiny", 300)


def test_sampled_softmax_trains_a_vocabulary_larger_than_its_noise_words_and_evaluates_with_the_full_one():
    config, text = small_text()
    config = elmo.dataclasses.replace(config, negatives=16)  # the 82 words > 16 noise words
    model = elmo.ElmoLanguageModel(config, len(text["vocabulary"]))
    model.compile()
    batch = next(iter(elmo.lm_dataset(text["train"], text["type_chars"], 6, 8)))
    logs = tf.function(model.train_step)(batch, tf.constant(0, tf.int64))
    assert np.isfinite(float(logs["loss"])) and "accuracy/forward" not in logs  # no full softmax to score
    full = model.test_step(batch)
    assert float(full["loss/forward"]) == pytest.approx(np.log(len(text["vocabulary"])), rel=0.05)  # untrained


def test_task_features_train_the_scalar_mix_and_leave_the_bilm_frozen():
    import keras

    config, text = small_text()
    net = elmo.build_network(config)
    feats = elmo.features(net)
    head = keras.layers.Dense(1)
    batch = next(iter(elmo.lm_dataset(text["train"], text["type_chars"], 6, 4)))
    inputs = {"characters": batch["characters"], "mask": batch["mask"]}
    before = [w.numpy().copy() for w in net.weights]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(head(feats(inputs)) ** 2)
    variables = feats.trainable_variables
    assert sorted(v.path.split("/")[-1] for v in variables) == ["gamma", "scalars"]
    keras.optimizers.SGD(1.0).apply(tape.gradient(loss, variables), variables)
    assert not np.allclose(feats.get_layer("scalar_mix").scalars.numpy(), 0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, net.weights))
