"""The embedded NLU corpus (groundwork of the MT-DNN issue): deterministic, every task answerable,
and built so that a bag of words cannot solve what needs word order."""
import collections

import numpy as np
import pytest

from suite.data import nlu
from suite.nlu import pretraining


def test_deterministic_per_seed_and_split():
    for task in nlu.TASKS:
        assert nlu.task_examples(task, 20, seed=3) == nlu.task_examples(task, 20, seed=3)
        assert nlu.task_examples(task, 20, seed=3) != nlu.task_examples(task, 20, seed=4)
        assert nlu.task_examples(task, 20, split="train") != nlu.task_examples(task, 20, split="validation")
    assert nlu.documents(5, seed=1) == nlu.documents(5, seed=1)
    with pytest.raises(ValueError, match="unknown embedded task 'mnli'"):
        nlu.task_examples("mnli", 3)
    with pytest.raises(ValueError, match="unknown split"):
        nlu.task_examples("sst", 3, split="dev")


def test_every_word_is_in_the_declared_vocabulary():
    words = set(nlu.vocabulary_words())
    texts = [s for doc in nlu.documents(50) for s in doc]
    for task in nlu.TASKS:
        for ex in nlu.task_examples(task, 200):
            texts += [x for x in ex if isinstance(x, str)]
            texts += [c for x in ex if isinstance(x, list) for c in x]
    assert {w for t in texts for w in t.split()} <= words


def test_labels_are_balanced_enough():
    for task, n in (("cola", 2), ("sst", 2), ("nli", 3)):
        counts = collections.Counter(label for *_, label in nlu.task_examples(task, 3000))
        assert len(counts) == n and min(counts.values()) > 0.8 * 3000 / n, (task, counts)
    scores = collections.Counter(s for *_, s in nlu.task_examples("sts", 3000))
    assert set(scores) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
    answers = collections.Counter(i for *_, i in nlu.task_examples("qnli", 2000))
    assert set(answers) == {0, 1, 2, 3} and min(answers.values()) > 400


def _grammatical(sentence):
    import re

    alt = lambda words: "(?:" + "|".join(words) + ")"  # noqa: E731
    n, a, o, p = alt(nlu.NAMES), alt(nlu.ADJECTIVES), alt(nlu.NOUNS), alt(nlu.PLACES)
    past, part, base = (alt(v[i] for v in nlu.VERBS) for i in range(3))
    verb = f"(?:{past}|did not {base})"
    obj, where = f"the (?:{a} )?{o}", f"(?: in the {p})?"
    forms = (f"{n} {verb} {obj} to {n}{where}", f"{n} {verb} {n} {obj}{where}",
             f"{obj} was (?:not )?{part} to {n} by {n}{where}")
    return any(re.fullmatch(f, sentence) for f in forms)


def test_word_order_carries_the_meaning():
    # cola: acceptable sentences follow the grammar; unacceptable ones do not, but one swap of
    # neighbours (the same bag of words) turns them back into grammatical sentences
    examples = nlu.task_examples("cola", 400)
    for sentence, label in examples:
        assert _grammatical(sentence) == bool(label), sentence
        if not label:
            w = sentence.split()
            assert any(_grammatical(" ".join(w[:i] + [w[i + 1], w[i]] + w[i + 2:])) for i in range(len(w) - 1))
    # sts: a swap of agent and recipient keeps every word and scores 3 of 5
    swapped = [(a, b, s) for a, b, s in nlu.task_examples("sts", 500) if sorted(a.split()) == sorted(b.split())]
    assert swapped and {s for *_, s in swapped} <= {3.0, 5.0}
    # qnli: exactly one candidate answers, the others mostly reuse its words
    for q, candidates, answer in nlu.task_examples("qnli", 50):
        assert len(candidates) == 4 and 0 <= answer < 4
        assert len(set(candidates)) == 4


def _bag_of_words_accuracy(task, classes):
    import keras

    words = nlu.vocabulary_words()
    index = {w: i for i, w in enumerate(words)}

    def bags(examples):
        x = np.zeros((len(examples), len(words)), "float32")
        for i, (text, _) in enumerate(examples):
            for w in text.split():
                x[i, index[w]] += 1
        return x, np.array([label for _, label in examples])

    xtr, ytr = bags(nlu.task_examples(task, 3000))
    xva, yva = bags(nlu.task_examples(task, 600, split="validation"))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((len(words),)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, epochs=20, batch_size=64, verbose=0)
    return model.evaluate(xva, yva, verbose=0)[1]


def test_a_bag_of_words_cannot_solve_acceptability_or_contrastive_sentiment():
    """A bag-of-words MLP stays at chance on cola and far from perfect on sst (only its
    single-clause third is solvable without word order)."""
    assert _bag_of_words_accuracy("cola", 2) < 0.6
    assert _bag_of_words_accuracy("sst", 2) < 0.75


def test_pretraining_documents_are_stories():
    for doc in nlu.documents(20, seed=2):
        assert 3 <= len(doc) <= 8
    # the object passes on: every sentence of a story names the same noun
    for doc in nlu.documents(20, seed=2):
        nouns = [{w for w in s.split() if w in nlu.NOUNS + nlu.POLYSEMOUS} for s in doc]
        assert set.intersection(*nouns)


def _tense_and_voice(sentence):
    words = sentence.split()
    voice = "passive" if " by " in sentence else "active" if " to " in sentence else "double_object"
    tense = "future" if "will" in words else "present" if {"is", *map(nlu.present, (v[2] for v in nlu.VERBS))} & set(
        words) else "past"
    return tense, voice


def test_a_story_keeps_its_tense_and_voice_so_a_random_next_sentence_mostly_breaks_them():
    docs = nlu.documents(300, seed=3)
    kinds = [{_tense_and_voice(s) for s in doc} for doc in docs]
    assert all(len(k) == 1 for k in kinds), [d for d, k in zip(docs, kinds) if len(k) > 1][:2]
    counts = collections.Counter(k.pop() for k in kinds)
    assert len(counts) == 9 and min(counts.values()) > 15, counts  # every tense in every voice
    # next-sentence prediction's negatives: a sentence of another story breaks the tense or the voice 8 times in 9
    pairs = pretraining.next_sentence_pairs(docs, seed=0)
    negatives = [(a, b) for a, b, label in pairs if label == 0]
    broken = np.mean([_tense_and_voice(a) != _tense_and_voice(b) for a, b in negatives])
    assert 0.8 < broken < 0.95, broken
    assert all(_tense_and_voice(a) == _tense_and_voice(b) for a, b, label in pairs if label == 1)
