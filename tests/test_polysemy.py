"""The polysemy corpus and probe (issue 18): the stories use three words in two senses, one per setting; the
probe's halves meet disjoint contexts; static vectors cannot tell the senses apart, the pre-trained contextual
ones can, and not by their architecture alone."""
import collections

import numpy as np
import pytest

from conftest import learned, readme_figure, tensorboard_tags
from suite.data import nlu
from suite.lm import polysemy


def _setting_of(word):
    return {name for name, kinds in nlu.SETTINGS.items() for words in kinds.values() if word in words}


def test_the_settings_split_the_tasks_objects_places_and_adjectives():
    for kind, every in (("nouns", nlu.NOUNS), ("places", nlu.PLACES), ("adjectives", nlu.ADJECTIVES)):
        home, work = (nlu.SETTINGS[s][kind] for s in nlu.SENSES)
        assert sorted(home + work) == sorted(every) and not set(home) & set(work), kind
    assert not set(nlu.POLYSEMOUS) & set(nlu.NOUNS + nlu.NAMES + nlu.PLACES + nlu.ADJECTIVES)


def test_stories_keep_one_setting_and_use_each_polysemous_word_in_both():
    senses = collections.Counter()
    for doc in nlu.documents(400, seed=1):
        words = {w for s in doc for w in s.split()}
        settings = set().union(*(_setting_of(w) for w in words))
        assert len(settings) == 1, doc  # places, objects and adjectives of one setting
        for w in words & set(nlu.POLYSEMOUS):
            senses[w, next(iter(settings))] += 1
    assert set(senses) == {(w, s) for w in nlu.POLYSEMOUS for s in nlu.SENSES}, senses
    assert min(senses.values()) > 10, senses


def test_the_probe_is_balanced_points_at_its_word_and_its_halves_share_no_place_or_adjective():
    train, test = nlu.polysemy_probe(120, split="train"), nlu.polysemy_probe(120, split="test")
    context = {}
    for name, examples in (("train", train), ("test", test)):
        assert collections.Counter((w, s) for _, _, w, s in examples) == {
            (w, s): 20 for w in nlu.POLYSEMOUS for s in nlu.SENSES}
        seen = set()
        for sentence, at, word, sense in examples:
            words = sentence.split()
            assert words[at] == word and words.count(word) == 1
            cues = [w for w in words if _setting_of(w)]
            assert cues and all(_setting_of(w) == {sense} for w in cues), (sentence, sense)  # the setting's words
            seen.update(cues)
        context[name] = seen
    assert not context["train"] & context["test"], context
    assert sum(s.startswith("in the") for s, *_ in test) > 30  # the place first (GPT reads it) in about half
    assert nlu.polysemy_probe(30, seed=1) == nlu.polysemy_probe(30, seed=1) != nlu.polysemy_probe(30, seed=2)
    with pytest.raises(ValueError, match="unknown split"):
        nlu.polysemy_probe(3, split="dev")


def test_a_static_vector_cannot_tell_the_senses_and_a_linear_probe_finds_a_separable_one():
    train, test = nlu.polysemy_probe(120, split="train"), nlu.polysemy_probe(120, split="test")
    words = ["<unk>", *nlu.vocabulary_words()]
    vectors = np.random.default_rng(0).normal(size=(len(words), 16))
    assert polysemy.probe_accuracy(polysemy.static(words, vectors), train, test)["accuracy"] == 0.5

    def oracle(sentences):  # a vector that holds the setting of the sentence's place: separable
        return [np.array([[1.0 if "home" in set().union(*map(_setting_of, s.split())) else -1.0, i]
                          for i, _ in enumerate(s.split())]) for s in sentences]

    scores = polysemy.probe_accuracy(oracle, train, test)
    assert scores["accuracy"] == 1.0 and set(scores) == {"accuracy", *(f"accuracy/{w}" for w in nlu.POLYSEMOUS)}
    rows = polysemy.sense_neighbours(oracle, test, k=3)
    assert [(w, s) for w, s, _ in rows] == sorted((w, s) for w in nlu.POLYSEMOUS for s in nlu.SENSES)
    assert all(len(near) == 3 and all(_setting_of(w) == {sense} for w in near) for _, sense, near in rows), rows
    assert polysemy.neighbours_markdown(rows).count("\n") == len(rows) + 1


def test_wordpiece_vectors_are_read_at_each_words_first_piece():
    import tensorflow as tf

    from suite.nlu.lexicon import RESERVED, Lexicon

    lexicon = Lexicon([*RESERVED, "the", "mo", "##use", "ran"], 16)
    assert [list(p) for p in polysemy.first_pieces(lexicon, ["the mouse ran", "ran the"])] == [[0, 1, 3], [0, 1]]

    def encode(sentences):
        return lexicon.encode(tf.constant(sentences)), 1

    contextual = polysemy.wordpiece(lexicon, encode, lambda x: tf.cast(x["token_ids"], tf.float32)[..., None])
    (row,) = contextual(["the mouse ran"])
    ids = {t: i for i, t in enumerate(lexicon.vocabulary)}
    assert row[:, 0].tolist() == [ids["the"], ids["mo"], ids["ran"]]


def test_untrained_contextual_networks_give_one_vector_per_word():
    from suite.lm import elmo, gpt
    from suite.nlu import bert
    from suite.nlu.lexicon import Lexicon, train_vocabulary

    sentences = ["in the park alice gave the old mouse to bob", "bob sold it"]
    lexicon = Lexicon(train_vocabulary([s for d in nlu.documents(50) for s in d], 128), 32)
    config = elmo.get_config("tiny")
    generations = {"elmo": polysemy.elmo(elmo.build_network(config), config),
                   "gpt": polysemy.gpt(gpt.build_network(gpt.get_config("tiny"), lexicon.vocabulary_size), lexicon),
                   "bert": polysemy.bert(bert.build_backbone(bert.get_config("tiny"), lexicon.vocabulary_size),
                                         lexicon)}
    for name, contextual in generations.items():
        rows = contextual(sentences)
        assert [len(r) for r in rows] == [10, 3] and np.all(np.isfinite(rows[0])), name
        assert not np.allclose(rows[0][1], rows[0][6]), name  # "the" in two places of one sentence


@pytest.mark.slow
@pytest.mark.trained("elmo")
@pytest.mark.trained("gpt")
@pytest.mark.trained("bert")
@pytest.mark.trained("word2vec_skipgram")
def test_pretrained_contextual_vectors_tell_the_senses_apart_and_static_ones_cannot(trained):
    """The runs' evaluators probe the untrained and the trained model (``polysemy_probe``); the
    skip-gram run's vectors are probed here."""
    from suite.data.nlu import polysemy_probe

    static = polysemy.static(*polysemy.static_of_run(trained.get("word2vec_skipgram").logdir))
    found = {"word2vec": polysemy.probe_accuracy(static, polysemy_probe(300, split="train"),
                                                 polysemy_probe(300, split="test"))["accuracy"]}
    assert found["word2vec"] == 0.5
    for key in ("elmo", "gpt", "bert"):
        r = trained.get(key).result
        found[key] = (r["initial"]["polysemy_probe"], r["eval"]["polysemy_probe"])
    print(found)
    for key in ("elmo", "gpt", "bert"):  # far above the static vectors, and learnt: not the untrained network's
        start, end = found[key]
        assert end >= found["word2vec"] + 0.3 and end >= start + 0.25, found
        assert learned(start, end, readme_figure(key, "polysemy probe accuracy")) >= 0.5, found
    for key in ("elmo", "gpt", "bert"):  # the probe's curve and its sense neighbours in TensorBoard
        tags, _ = tensorboard_tags(trained.get(key).logdir)
        assert "eval/polysemy_probe" in tags["scalars"] and "eval/polysemy_neighbours" in tags["text"], (key, tags)
