"""GPT (suite.lm.gpt): the causal mask, the paper preset's size, the text stream and its windows, and
generation over the key/value cache against generation without one."""
import numpy as np
import pytest
import tensorflow as tf

from suite.lm import gpt
from suite.nlu.lexicon import RESERVED, Lexicon

WORDS = ["alice", "gave", "bob", "the", "red", "book", "in", "park", "was", "to", "by", "##s"]


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon(list(RESERVED) + WORDS, 16)


@pytest.fixture(scope="module")
def net(lexicon):
    import keras

    keras.utils.set_random_seed(3)
    config = gpt.get_config("tiny", sequence_length=16)
    return config, gpt.build_network(config, lexicon.vocabulary_size)


def test_a_later_token_never_changes_an_earlier_positions_output(net, lexicon):
    config, network = net
    rng = np.random.default_rng(0)
    ids = rng.integers(5, lexicon.vocabulary_size, (3, 12)).astype("int32")
    ones = np.ones_like(ids)
    base = network({"token_ids": ids, "padding_mask": ones})["logits"].numpy()
    for j in (1, 6, 11):
        changed = ids.copy()
        changed[:, j] = (changed[:, j] + 1 - 5) % (lexicon.vocabulary_size - 5) + 5
        out = network({"token_ids": changed, "padding_mask": ones})["logits"].numpy()
        np.testing.assert_allclose(out[:, :j], base[:, :j], atol=1e-5)
        assert np.abs(out[:, j:] - base[:, j:]).max() > 1e-4  # and it does change its own and later ones


def test_the_paper_preset_is_gpt1_size():
    config = gpt.get_config("paper")
    assert (config.num_layers, config.hidden_dim, config.num_heads, config.intermediate_dim,
            config.sequence_length, config.vocabulary_size) == (12, 768, 12, 3072, 512, 40478)
    # tied embedding 40,478 x 768, positions 512 x 768, 12 blocks of attention (4 x 768^2 + biases),
    # two layer norms and the 768-3,072-768 feed-forward: 116.5M, the paper's "117M"
    per_block = 4 * (768 * 768 + 768) + 2 * 2 * 768 + (768 * 3072 + 3072) + (3072 * 768 + 768)
    assert 40478 * 768 + 512 * 768 + 12 * per_block == 116_534_784
    small = gpt.get_config("tiny")
    network = gpt.build_network(small)
    per_block = 4 * (64 * 64 + 64) + 4 * 64 + (64 * 256 + 256) + (256 * 64 + 64)
    assert network.count_params() == 256 * 64 + 32 * 64 + 2 * per_block
    with pytest.raises(ValueError, match="not a multiple of num_heads"):
        gpt.get_config("tiny", hidden_dim=65)


def test_the_stream_puts_sep_before_each_sentence_and_windows_start_at_sentences(lexicon):
    ids, starts = gpt.token_stream(lexicon, ["alice gave bob", "the red books", "bob"])
    sep = lexicon.sep_id
    v = {t: i for i, t in enumerate(lexicon.vocabulary)}
    assert ids.tolist() == [sep, v["alice"], v["gave"], v["bob"], sep, v["the"], v["red"], v["book"], v["##s"],
                            sep, v["bob"]]
    assert starts.tolist() == [0, 4, 9]
    assert gpt.window_starts(ids, starts, 5).tolist() == [0, 4]  # 9 has no 6 tokens after it
    assert gpt.windows(ids, np.array([4]), 5).tolist() == [ids[4:10].tolist()]
    with pytest.raises(ValueError, match="too few for one window"):
        gpt.window_starts(ids, starts, 11)
    ds = gpt.lm_dataset(ids, starts, 5, 2, seed=1)
    first = [b["token_ids"].numpy().tolist() for b in ds.take(3)]
    again = [b["token_ids"].numpy().tolist() for b in gpt.lm_dataset(ids, starts, 5, 2, seed=1, start=1).take(2)]
    assert again == first[1:] and sorted(map(tuple, first[0])) == sorted([tuple(ids[0:6]), tuple(ids[4:10])])


def test_detokenize_joins_pieces_and_the_unigram_bar():
    vocab = tf.constant(["[PAD]", "the", "book", "##s", "red"])
    out = gpt.detokenize(vocab, tf.ragged.constant([[1, 4, 2, 3], [], [3]]))
    assert out.numpy().tolist() == [b"the red books", b"", b"s"]
    train = np.array([1, 1, 1, 2])  # add-one counts over 3 tokens: 1, 4, 2 of 7
    held = np.array([[0, 1, 2]])
    assert gpt.unigram_perplexity(train, held, 3) == pytest.approx(np.exp(-(np.log(4 / 7) + np.log(2 / 7)) / 2))


def test_greedy_generation_over_the_cache_is_argmax_over_the_whole_prefix(net, lexicon):
    import keras_hub

    config, network = net
    prompts = ["alice gave", "the red book was given to bob in the park by alice", "", "red park"]
    out = gpt.generate(network, config, lexicon, tf.constant(prompts), 6, keras_hub.samplers.GreedySampler())
    for prompt, completion, n in zip(prompts, out["completion"].numpy(), out["num_tokens"].numpy()):
        ids = [lexicon.sep_id] + lexicon.tokenize(tf.constant(prompt)).numpy().tolist()
        ids = ids[-(config.sequence_length - 6):]  # a long prompt's last tokens, leaving room for 6 new ones
        drawn = []
        while len(drawn) < 6 and len(ids) < config.sequence_length:  # no cache: the whole prefix each time
            x = np.array([ids], np.int32)
            token = int(np.argmax(network({"token_ids": x, "padding_mask": np.ones_like(x)})["logits"][0, -1]))
            if token == lexicon.sep_id:
                break
            drawn.append(token)
            ids.append(token)
        assert n == len(drawn)
        expected = gpt.detokenize(tf.constant(lexicon.vocabulary), tf.ragged.constant([drawn], dtype=tf.int32))
        assert completion == expected.numpy()[0]
    assert max(out["num_tokens"].numpy()) >= 3  # the cache was read for several steps somewhere
    # a prompt longer than the positions keeps its last tokens and still gets its new ones
    long = gpt.generate(network, config, lexicon, tf.constant(["alice gave bob the red book " * 40]), 4,
                        keras_hub.samplers.GreedySampler())
    assert long["num_tokens"].numpy()[0] <= 4


def test_generation_runs_under_the_mixed_bfloat16_policy(lexicon):
    """A --mixed-precision bfloat16 run exports the same generation: the cache takes the blocks' dtype."""
    import keras
    import keras_hub

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        config = gpt.get_config("tiny", sequence_length=16)
        network = gpt.build_network(config, lexicon.vocabulary_size)
        out = gpt.generate(network, config, lexicon, tf.constant(["alice gave", ""]), 5,
                           keras_hub.samplers.GreedySampler())
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out["completion"].shape == (2,) and all(0 <= n <= 5 for n in out["num_tokens"].numpy())
