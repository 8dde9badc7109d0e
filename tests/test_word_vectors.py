"""Static word vectors (suite/lm/word_vectors.py, suite/data/text_corpus.py): the tokenizer, negative
sampling's noise distribution, subsampling's rate, skip-gram windows and NNLM contexts by hand, the
similarity and analogy readers and scores on hand-made files, and bad text refused by name."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import text_corpus as data
from suite.data.errors import DataError
from suite.lm import word_vectors as wv


def test_tokenize_lowers_and_splits_punctuation_off():
    assert data.tokenize("Alice gave Bob the ball, (twice)!  Naïve café.") == [
        "alice", "gave", "bob", "the", "ball", ",", "(", "twice", ")!", "naïve", "café", "."]


def test_vocabulary_specials_first_then_by_count():
    v = data.build_vocabulary([["b", "a", "b"], ["c", "b", "a"]], min_count=2)
    assert v.words == ["<unk>", "<s>", "b", "a"] and v.counts.tolist() == [0, 0, 3, 2]
    assert v.ids(["a", "zzz"]).tolist() == [3, 0]
    with pytest.raises(DataError, match="holds nothing but the special tokens"):
        data.build_vocabulary([["a"]], size=2)


def test_negative_sampling_draws_from_the_unigram_distribution_to_the_three_quarters():
    v = data.Vocabulary(["<unk>", "<s>", "a", "b", "c"], np.array([0, 0, 1000, 100, 10]))
    cdf = tf.constant(np.cumsum(v.noise(0.75)), tf.float32)
    seeds = tf.constant([[1, k] for k in range(200)], tf.int64)
    draws = wv.sample_noise(cdf, seeds, [100]).numpy().ravel()
    share = np.bincount(draws, minlength=5) / len(draws)
    expected = np.array([0, 0, 1000, 100, 10]) ** 0.75 / (1000 ** 0.75 + 100 ** 0.75 + 10 ** 0.75)
    assert share[:2].sum() == 0 and np.allclose(share, expected, atol=0.01), (share, expected)


def test_subsampling_keeps_a_word_at_the_papers_rate():
    # "the" (half of the tokens) between rare words (kept always: their frequency is below t)
    sentences = [[w for k in range(10) for w in ("the", f"r{s}_{k}")] for s in range(20)]
    v = data.build_vocabulary(sentences)
    keep = data.keep_probability(v, 0.01)
    assert np.isclose(keep[v.index["the"]], np.sqrt(0.01 / 0.5)) and keep[v.index["r0_0"]] == 1.0
    corpus = data.Corpus.of(sentences, v)
    batch = next(iter(data.window_dataset(corpus, v, 4000, 1, subsample=0.01, seed=3)))
    the = batch["centre"].numpy() == v.index["the"]
    alive = batch["mask"].numpy().sum(1) > 0
    # a "the" window has pairs iff its centre is kept (its neighbours always are): 1 - sqrt(t / f) dropped
    assert abs(alive[the].mean() - np.sqrt(0.02)) < 0.04, alive[the].mean()
    # a rare word's window iff one of its "the" neighbours is (the sentence's first has one neighbour)
    assert 0.15 < alive[~the].mean() < 0.35, alive[~the].mean()


def test_skipgram_windows_shrink_at_random_and_stop_at_the_sentence():
    sentences = [["a", "b", "c", "d", "e"], ["f", "g"]]
    v = data.build_vocabulary(sentences)
    corpus = data.Corpus.of(sentences, v)
    ds = data.window_dataset(corpus, v, 7, 2, subsample=0.0, seed=1)
    seen, radii = {}, set()
    for batch in ds.take(60):
        for centre, contexts, mask in zip(batch["centre"].numpy(), batch["contexts"].numpy(), batch["mask"].numpy()):
            word = v.words[centre]
            valid = mask > 0
            offsets = np.array([-2, -1, 1, 2])[valid]
            if len(offsets):
                radii.add(int(np.abs(offsets).max()))
            seen.setdefault(word, set()).update(v.words[c] for c in contexts[valid])
    assert seen["c"] == {"a", "b", "d", "e"} and seen["a"] == {"b", "c"} and seen["e"] == {"c", "d"}
    assert seen["f"] == {"g"} and seen["g"] == {"f"} and radii == {1, 2}


def test_nnlm_contexts_are_the_preceding_words_padded_with_the_start_token():
    sentences = [["a", "b", "c"], ["d"]]
    v = data.build_vocabulary(sentences)
    contexts, targets = data.ngram_windows(data.Corpus.of(sentences, v), 3)
    s, ids = 1, v.index
    assert targets.tolist() == [ids["a"], ids["b"], ids["c"], ids["d"]]
    assert contexts.tolist() == [[s, s], [s, ids["a"]], [ids["a"], ids["b"]], [s, s]]


def test_similarity_and_analogy_files_and_their_scores(tmp_path):
    (tmp_path / "ws.tsv").write_text("# WordSim-353\nking\tqueen\t8.5\nking\tcabbage\t0.2\nman\twoman\t8.3\n")
    (tmp_path / "simlex.txt").write_text("word1\tword2\tPOS\tSimLex999\tconc(w1)\nking\tqueen\tN\t7.0\t4.2\n"
                                         "man\tcabbage\tN\t0.5\t4.0\n")
    (tmp_path / "q.txt").write_text(": royal\nman king woman queen\nMan King Woman Cabbage\n")
    ws, simlex, q = (data.read_similarity(str(tmp_path / "ws.tsv")), data.read_similarity(str(tmp_path / "simlex.txt")),
                     data.read_analogies(str(tmp_path / "q.txt")))
    assert ws.pairs[0] == ("king", "queen", 8.5) and simlex.pairs == [("king", "queen", 7.0), ("man", "cabbage", 0.5)]
    assert q.questions[0] == ("royal", "man", "king", "woman", "queen")
    words = ["<unk>", "<s>", "king", "queen", "man", "woman", "cabbage"]
    vectors = np.array([[0, 0, 0], [0, 0, 0], [1, 1, 0], [1, -1, 0], [0, 1, 0.1], [0, -1, 0.1], [0, 0, 1]], float)
    assert wv.analogy_score(vectors, words, q.questions) == {"accuracy": 0.5, "coverage": 1.0, "section/royal": 0.5}
    assert wv.similarity_score(vectors, words, ws.pairs + [("king", "unknown", 1.0)])["coverage"] == 0.75
    assert wv.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0 and wv.spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert wv.neighbours(vectors, words, ["king"], k=2)["king"][0][0] in ("queen", "man")
    (tmp_path / "bad.tsv").write_text("king\tqueen\t8.5\nking queen\n")
    with pytest.raises(DataError, match=r"bad.tsv:2: expected 'word1<TAB>word2<TAB>score'"):
        data.read_similarity(str(tmp_path / "bad.tsv"))
    (tmp_path / "bad.txt").write_text(": s\na b c\n")
    with pytest.raises(DataError, match=r"bad.txt:2: expected ': section' or four words"):
        data.read_analogies(str(tmp_path / "bad.txt"))


def test_bad_text_is_refused_naming_the_file(tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)))
    (tmp_path / "latin1.txt").write_bytes("café olé\n".encode("latin-1"))
    for name, message in (("empty.txt", "no words in it"), ("binary.txt", "a binary file"),
                          ("latin1.txt", "not UTF-8 text")):
        with pytest.raises(DataError, match=f"{name}: {message}"):
            data.corpus_sentences(str(tmp_path / name))
    with pytest.raises(DataError, match="no such file or folder"):
        data.corpus_sentences(str(tmp_path / "none.txt"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="no .txt file"):
        data.corpus_sentences(str(tmp_path / "folder"))
    with pytest.raises(DataError, match="tfds:no_such_text_set: cannot load split 'train'.*prepare it into TFDS_DATA_DIR"):
        data.corpus_sentences("tfds:no_such_text_set")


def test_tfds_text_sets_give_sentences_and_hold_out_their_test_split_or_a_tenth():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        train, held = data.corpus_sentences("tfds:lm1b", count=25), data.corpus_sentences("tfds:lm1b", "validation")
        assert len(train) == 25 and all(isinstance(w, str) for s in train for w in s) and held
        wiki = data.tfds_sentences("wikipedia/20230601.en", "train")
        wiki_held = data.tfds_sentences("wikipedia/20230601.en", "validation")
        assert wiki and wiki_held and not {" ".join(s) for s in wiki_held} <= {" ".join(s) for s in wiki}
        with pytest.raises(DataError, match="tfds:mnist: the dataset has no 'text' feature"):
            data.corpus_sentences("tfds:mnist")


@pytest.mark.parametrize("model", wv.MODELS)
def test_a_few_steps_lower_each_models_loss(model):
    sentences = data.corpus_sentences("corpus", count=500)
    v = data.build_vocabulary(sentences)
    c = wv.get_config("tiny", model)
    task = wv.WordVectors(c, v, seed=0)
    task.compile()
    corpus = data.Corpus.of(sentences, v)
    ds = (data.ngram_dataset(corpus, 64, c.order) if model == "nnlm"
          else data.window_dataset(corpus, v, 64, c.window, c.subsample))
    batch = next(iter(ds))
    step = tf.function(task.train_step)
    first = float(step(batch)["loss"])
    for _ in range(10):
        last = float(step(batch)["loss"])
    assert last < first
    paper = wv.build_networks(wv.get_config("paper", model), 10000)
    assert paper["embedding"].count_params() == 10000 * (300 if model != "nnlm" else 100)
