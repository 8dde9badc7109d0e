"""The embedded language corpus: pre-training documents and four NLU tasks, generated locally.

A small world of people passing objects to each other in places. Every
sentence realises an *event* (agent, verb, object, recipient, place) in one
of several surface forms (active "alice gave the red ball to bob in the
park", double object "alice gave bob the red ball ...", passive "the red ball
was given to bob by alice ...", each possibly negated), so that the same
words in another order mean something else. Each task is built so that a bag
of words cannot solve it:

* ``cola`` (single sentence, acceptability, 2 classes): a sentence, or the
  same words with two adjacent words swapped.
* ``sst`` (single sentence, sentiment, 2 classes): "the food was not good but
  the service was bad" -- mostly two clauses of opposite sentiment, the main
  one decides ("A but B", "B although A"), negation flips; the same words in
  another order carry the other label.
* ``sts`` (pair, similarity, a score in [0, 5]): the number of the five event
  roles two sentences agree on; swapping agent and recipient keeps the words
  and changes the score.
* ``nli`` (pair, 3 classes: entailment, neutral, contradiction): a premise,
  affirmed or denied, and a paraphrase of its event with the same polarity
  (entailment), the opposite one (contradiction), or another event, mostly
  the same words in other roles (neutral, either polarity).
* ``qnli`` (ranking): a question about an event and a group of candidate
  sentences, exactly one of which answers it; the others are the same event
  with roles swapped or one role changed.

Pre-training documents are stories that cohere as a text does: the
recipient of one event passes the same object on in the next, and a story is
told in one tense (past "gave", present "gives", future "will give") and one
voice (active, double object or passive) throughout, so a true next sentence
continues its predecessor while a sentence of another story mostly breaks
its tense or voice (next-sentence prediction is learnable by a small model;
with entities alone it was not), and masked words are predictable from their
context. A story is set at home or at work, which chooses its places, its
object and its adjectives; three words (mouse, file, tablet) are objects in both settings, one
sense in each, for the polysemy probe (``polysemy_probe``). The tasks'
sentences stay in the past tense and draw from every object and place.

Everything is deterministic from ``seed``; lower-case, space-separated.
"""
import dataclasses

import numpy as np

NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "nina",
         "oscar", "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy", "xavier", "yara", "zack")
NOUNS = ("ball", "book", "cup", "key", "lamp", "letter", "coin", "map", "hat", "box", "pen", "phone", "kite",
         "clock", "ring", "vase")
ADJECTIVES = ("red", "blue", "green", "small", "large", "old", "new", "heavy", "shiny", "broken", "yellow", "wooden")
PLACES = ("park", "kitchen", "garden", "library", "station", "market", "school", "office", "harbour", "museum")
# (past, participle, base)
VERBS = (("gave", "given", "give"), ("sent", "sent", "send"), ("showed", "shown", "show"), ("sold", "sold", "sell"),
         ("lent", "lent", "lend"), ("threw", "thrown", "throw"), ("handed", "handed", "hand"),
         ("offered", "offered", "offer"), ("brought", "brought", "bring"), ("passed", "passed", "pass"))
FORMS = ("active", "double_object", "passive")

SENTIMENT_TOPICS = ("food", "service", "music", "film", "hotel", "room", "staff", "view", "coffee", "game", "book",
                    "show")
POSITIVE = ("good", "great", "wonderful", "excellent", "pleasant", "lovely", "superb", "fine")
NEGATIVE = ("bad", "awful", "terrible", "poor", "dreadful", "boring", "horrible", "dull")

# Stories are set at home or at work: a story's places and object come from its setting (tasks draw from
# all). Three words have a sense in each setting (a pet mouse and a computer mouse, a nail file and a
# document file, a pill and a computer tablet), so only the rest of the sentence tells the sense.
SETTINGS = {"home": {"places": ("kitchen", "garden", "park", "harbour", "market"),
                     "nouns": ("ball", "cup", "lamp", "hat", "kite", "clock", "ring", "vase"),
                     "adjectives": ("wooden", "old", "green", "small", "broken", "yellow")},
            "work": {"places": ("office", "library", "school", "station", "museum"),
                     "nouns": ("book", "key", "letter", "coin", "map", "box", "pen", "phone"),
                     "adjectives": ("new", "shiny", "blue", "large", "heavy", "red")}}
POLYSEMOUS = ("mouse", "file", "tablet")
SENSES = tuple(SETTINGS)

TASKS = ("cola", "sst", "sts", "nli", "qnli")
NLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclasses.dataclass(frozen=True)
class Event:
    agent: str
    verb: int
    adjective: str
    noun: str
    recipient: str
    place: str

    def roles(self):
        return (self.agent, self.verb, self.noun, self.recipient, self.place)


def random_event(rng, exclude_agent=None, nouns=NOUNS, places=PLACES, adjectives=ADJECTIVES):
    agent, recipient = rng.choice(len(NAMES), 2, replace=False)
    if exclude_agent is not None and NAMES[agent] == exclude_agent:
        agent, recipient = recipient, agent
    return Event(NAMES[agent], int(rng.integers(len(VERBS))), adjectives[rng.integers(len(adjectives))],
                 nouns[rng.integers(len(nouns))], NAMES[recipient], places[rng.integers(len(places))])


TENSES = ("past", "present", "future")


def present(base):
    """The third person singular present of a base form ("give" -> "gives", "pass" -> "passes")."""
    return base + ("es" if base.endswith(("s", "sh", "ch")) else "s")


def realize(event, form="active", negated=False, place=True, adjective=True, tense="past", place_first=False):
    """The event as a sentence in one surface form and tense (``place_first``: "in the park alice ...")."""
    if place and place_first:
        return f"in the {event.place} " + realize(event, form, negated, False, adjective, tense)
    past, participle, base = VERBS[event.verb]
    obj = f"the {event.adjective} {event.noun}" if adjective else f"the {event.noun}"
    where = f" in the {event.place}" if place else ""
    if tense not in TENSES:
        raise ValueError(f"unknown tense {tense!r}")
    if form in ("active", "double_object"):
        verb = {"past": (past, f"did not {base}"), "present": (present(base), f"does not {base}"),
                "future": (f"will {base}", f"will not {base}")}[tense][int(negated)]
        if form == "active":
            return f"{event.agent} {verb} {obj} to {event.recipient}{where}"
        return f"{event.agent} {verb} {event.recipient} {obj}{where}"
    if form == "passive":
        aux = {"past": ("was", "was not"), "present": ("is", "is not"), "future": ("will be", "will not be")}[tense]
        return f"{obj} {aux[int(negated)]} {participle} to {event.recipient} by {event.agent}{where}"
    raise ValueError(f"unknown form {form!r}")


def _form(rng):
    return FORMS[rng.integers(len(FORMS))]


def _change(rng, event, role):
    """The event with one role replaced by another value."""
    if role == "agent":
        pool = [n for n in NAMES if n not in (event.agent, event.recipient)]
        return dataclasses.replace(event, agent=pool[rng.integers(len(pool))])
    if role == "recipient":
        pool = [n for n in NAMES if n not in (event.agent, event.recipient)]
        return dataclasses.replace(event, recipient=pool[rng.integers(len(pool))])
    if role == "verb":
        return dataclasses.replace(event, verb=int((event.verb + 1 + rng.integers(len(VERBS) - 1)) % len(VERBS)))
    if role == "noun":
        pool = [n for n in NOUNS if n != event.noun]
        return dataclasses.replace(event, noun=pool[rng.integers(len(pool))])
    if role == "place":
        pool = [p for p in PLACES if p != event.place]
        return dataclasses.replace(event, place=pool[rng.integers(len(pool))])
    raise ValueError(role)


def _swap_roles(event):
    return dataclasses.replace(event, agent=event.recipient, recipient=event.agent)


ROLES = ("agent", "verb", "noun", "recipient", "place")


# ------------------------------------------------------------------ pre-training
def documents(num_documents, seed=0, min_sentences=3, max_sentences=8):
    """Stories: each sentence's recipient passes the object on in the next one, the whole story in
    one tense, one voice and one setting (its places, object and adjectives; a polysemous object takes the
    setting's sense); a place is named in 4 sentences of 5, first in 3 of those 10."""
    rng = np.random.default_rng([seed, 1])
    docs = []
    for _ in range(num_documents):
        setting = SETTINGS[SENSES[rng.integers(len(SENSES))]]
        nouns, places, adjectives = setting["nouns"] + POLYSEMOUS, setting["places"], setting["adjectives"]
        event = random_event(rng, nouns=nouns, places=places, adjectives=adjectives)
        tense, form = TENSES[rng.integers(len(TENSES))], _form(rng)
        sentences = []
        for _ in range(int(rng.integers(min_sentences, max_sentences + 1))):
            sentences.append(realize(event, form, negated=False, place=bool(rng.random() < 0.8), tense=tense,
                                     place_first=bool(rng.random() < 0.3)))
            nxt = random_event(rng, exclude_agent=event.recipient, nouns=nouns, places=places, adjectives=adjectives)
            keep_place = rng.random() < 0.5
            event = dataclasses.replace(nxt, agent=event.recipient, adjective=event.adjective, noun=event.noun,
                                        place=event.place if keep_place else nxt.place,
                                        recipient=nxt.recipient if nxt.recipient != event.recipient else nxt.agent)
        docs.append(sentences)
    return docs


def polysemy_probe(count, seed=0, split="train"):
    """The held-out polysemy probe: ``count`` (sentence, word index, word, sense) of story sentences
    with a polysemous word as the object, in each sense in turn (balanced), the setting's place
    named (first in half of them). The train split uses the first two places and three adjectives of
    each setting, the others the rest: a probe trained on one meets places and adjectives it never saw
    in the other, so only what a pre-trained model learnt of those words (which objects go with them)
    carries it over."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    rng = np.random.default_rng([seed, 3, SPLITS[split]])
    out = []
    for i in range(count):
        word, sense = POLYSEMOUS[i % len(POLYSEMOUS)], SENSES[(i // len(POLYSEMOUS)) % len(SENSES)]
        places, adjectives = SETTINGS[sense]["places"], SETTINGS[sense]["adjectives"]
        places, adjectives = (places[:2], adjectives[:3]) if split == "train" else (places[2:], adjectives[3:])
        event = dataclasses.replace(random_event(rng, places=places, adjectives=adjectives), noun=word)
        sentence = realize(event, _form(rng),
                           tense=TENSES[rng.integers(len(TENSES))], place_first=bool(rng.random() < 0.5))
        out.append((sentence, sentence.split().index(word), word, sense))
    return out


# ------------------------------------------------------------------ tasks
def _cola(rng):
    sentence = realize(random_event(rng), _form(rng), negated=bool(rng.random() < 0.3),
                       place=bool(rng.random() < 0.7), adjective=bool(rng.random() < 0.7)).split()
    if rng.random() < 0.5:
        return " ".join(sentence), 1
    while True:
        i = int(rng.integers(len(sentence) - 1))
        if sentence[i] != sentence[i + 1]:
            break
    sentence[i], sentence[i + 1] = sentence[i + 1], sentence[i]
    return " ".join(sentence), 0


def _clause(rng):
    positive = rng.random() < 0.5
    negated = rng.random() < 0.4
    adjective = (POSITIVE if positive else NEGATIVE)[rng.integers(len(POSITIVE))]
    topic = SENTIMENT_TOPICS[rng.integers(len(SENTIMENT_TOPICS))]
    text = f"the {topic} was {'not ' if negated else ''}{adjective}"
    return text, int(positive != negated)


def _sst(rng):
    """Mostly two clauses of opposite sentiment, where the main clause decides ("A but B": B;
    "B although A": B), so the same words in another order carry the other label."""
    first, label = _clause(rng)
    if rng.random() < 0.3:
        return first, label
    while True:
        second, label2 = _clause(rng)
        if label2 != label:
            break
    if rng.random() < 0.5:
        return f"{first} but {second}", label2
    return f"{second} although {first}", label2


def _sts(rng):
    """Two sentences scored by the number of the five event roles they agree on. Mostly k random
    roles changed (word overlap tells much of the score), else agent and recipient swapped (same
    words, score 3), possibly with one more role changed; half the pairs share a surface form."""
    event = random_event(rng)
    other = event
    kind = rng.choice(3, p=(0.6, 0.2, 0.2))
    if kind == 0:  # change k random roles
        for role in rng.choice(ROLES, int(rng.integers(0, 6)), replace=False):
            other = _change(rng, other, role)
    elif kind == 1:  # agent and recipient swapped: same words, two roles differ
        other = _swap_roles(event)
    else:  # swapped and one more role changed
        other = _change(rng, _swap_roles(event), ("verb", "noun", "place")[rng.integers(3)])
    score = float(sum(a == b for a, b in zip(event.roles(), other.roles())))
    form = _form(rng)
    return realize(event, form), realize(other, form if rng.random() < 0.5 else _form(rng)), score


def _nli(rng):
    """Premise affirmed or denied; entailment keeps its polarity, contradiction flips it, so
    "not" alone is no cue. A denied premise ("did not give ... in the park") entails nothing
    less specific, so its hypotheses keep every detail."""
    event = random_event(rng)
    denied = bool(rng.random() < 0.5)
    premise = realize(event, _form(rng), negated=denied)

    def detail():
        return {"place": denied or bool(rng.random() < 0.5), "adjective": denied or bool(rng.random() < 0.5)}

    label = int(rng.integers(3))
    if label == 0:  # entailment: a paraphrase
        hypothesis = realize(event, _form(rng), negated=denied, **detail())
    elif label == 2:  # contradiction: the opposite polarity of the same event
        hypothesis = realize(event, _form(rng), negated=not denied, **detail())
    else:  # neutral: another event, mostly the same words in other roles, either polarity
        other = _swap_roles(event) if rng.random() < 0.85 else _change(
            rng, event, ("agent", "recipient", "noun", "verb")[rng.integers(4)])
        hypothesis = realize(other, _form(rng), negated=bool(rng.random() < 0.5), **detail())
    return premise, hypothesis, label


def question(event, rng):
    """A question one role of ``event`` answers, and the roles the question itself names."""
    past, participle, base = VERBS[event.verb]
    kind = rng.integers(4)
    if kind == 0:
        return f"who {past} the {event.noun} to {event.recipient}", ("verb", "noun", "recipient")
    if kind == 1:
        return f"what did {event.agent} {base} to {event.recipient}", ("agent", "verb", "recipient")
    if kind == 2:
        return f"to whom did {event.agent} {base} the {event.noun}", ("agent", "verb", "noun")
    return f"where did {event.agent} {base} the {event.noun} to {event.recipient}", ("agent", "verb", "noun",
                                                                                     "recipient")


def _qnli(rng, group_size=4):
    """Only the true event answers: every distractor contradicts a role the question names
    (agent and recipient swapped, or one named role changed), so none answers it."""
    event = random_event(rng)
    q, named = question(event, rng)
    distractors = [_swap_roles(event)]
    while len(distractors) < group_size - 1:
        d = _change(rng, event, named[rng.integers(len(named))])
        if d not in distractors:
            distractors.append(d)
    candidates = [event, *distractors]
    order = rng.permutation(len(candidates))
    sentences = [realize(candidates[i], _form(rng)) for i in order]
    return q, sentences, int(np.argwhere(order == 0)[0, 0])


GENERATORS = {"cola": _cola, "sst": _sst, "sts": _sts, "nli": _nli, "qnli": _qnli}
SPLITS = {"train": 0, "validation": 1, "test": 2}


def task_examples(task, count, seed=0, split="train"):
    """``count`` examples of ``task``, deterministic from (seed, split).

    cola, sst: (sentence, label); sts: (sentence1, sentence2, score);
    nli: (premise, hypothesis, label); qnli: (question, [candidates], index of the answer).
    """
    if task not in GENERATORS:
        raise ValueError(f"unknown embedded task {task!r}: choose one of {', '.join(TASKS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    rng = np.random.default_rng([seed, 2, TASKS.index(task), SPLITS[split]])
    return [GENERATORS[task](rng) for _ in range(count)]


def vocabulary_words():
    """Every word the generator can emit (for checks; the WordPiece vocabulary is learnt from text)."""
    words = set(NAMES + NOUNS + POLYSEMOUS + ADJECTIVES + PLACES + SENTIMENT_TOPICS + POSITIVE + NEGATIVE)
    for v in VERBS:
        words.update((*v, present(v[2])))
    words.update("the to in by did does will not was is be who what whom where but although".split())
    return sorted(words)


LAYOUT = "one sentence per line, an empty line between documents"


def _documents_of(lines, docs):
    """Appends the documents of ``lines`` (sentences, an empty line ends a document) to ``docs``."""
    current = []
    for line in lines:
        line = line.strip()
        if line:
            current.append(line)
        elif current:
            docs.append(current)
            current = []
    if current:
        docs.append(current)


def tfds_documents(name, count=None):
    """Documents of a TFDS text set prepared in TFDS_DATA_DIR (``wikipedia/20230601.en``: an article
    each, its paragraphs cut into sentences after '.', '!' or '?'); ``count`` caps them (default 100,000)."""
    import re

    from suite.data.text_corpus import tfds_text

    ds, _ = tfds_text(name, "train")
    docs = []
    for text in ds.as_numpy_iterator():
        sentences = [s for line in text.decode("utf-8", "replace").splitlines()
                     for s in re.split(r"(?<=[.!?])\s+", line.strip()) if s]
        if sentences:
            docs.append(sentences)
        if len(docs) >= (count or 100_000):
            break
    return docs


def read_documents(path, count=None, bad=None):
    """Documents (lists of sentences) in BERT's pre-training layout: a text file (one sentence per line,
    an empty line between documents), a folder of .txt files (each one document or more), or a TFDS
    text set (``tfds:NAME``, ``tfds_documents``). A folder's file that is not UTF-8 text is refused or,
    by ``bad`` (``suite.data.files.BadFiles`` of ``--skip-bad-files``), left out and named."""
    import os

    from suite.data.errors import DataError

    docs = []
    if str(path).startswith("tfds:"):
        docs = tfds_documents(str(path)[len("tfds:"):], count)
        files = []
    elif os.path.isdir(path):
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.lower().endswith(".txt"))
        if not files:
            raise DataError(f"--data {path}: no .txt file in the folder (expected 'nlu', a text file or a folder "
                            f"of .txt files: {LAYOUT})")
    elif os.path.isfile(path):
        files = [path]
    else:
        raise DataError(f"--data {path}: no such file or folder (expected 'nlu', a text file or a folder of .txt "
                        f"files: {LAYOUT})")
    def read(name):
        try:
            with open(name, encoding="utf-8-sig") as f:
                found = []
                _documents_of(f, found)
                return found
        except UnicodeDecodeError as e:
            raise DataError(f"--data {name}: not UTF-8 text ({e})") from None

    for name in files:
        docs += (bad.check(read, name) if bad is not None and len(files) > 1 else read(name)) or []
    docs = [d for d in docs if len(d) >= 2]
    if len(docs) < 2:
        raise DataError(f"--data {path}: needs at least 2 documents of 2 or more sentences ({LAYOUT})")
    return docs
