"""Text tasks for MT-DNN: task descriptions, GLUE readers (the standard TSV layout and
``tfds:glue/NAME``), the embedded tasks of ``suite.data.nlu``, and the tf.data pipeline.

A task is one of four kinds (MT-DNN, section 3):

* ``classification``: one sentence -> one of ``labels`` (CoLA, SST-2),
* ``similarity``: two sentences -> a real score (STS-B),
* ``pairwise``: two sentences -> one of ``labels`` (MNLI, RTE, WNLI, QQP, MRPC),
* ``ranking``: a question and a group of candidates -> which one answers it (QNLI).

``--data`` picks the source of every task: ``nlu`` (the embedded tasks
``cola sst sts nli qnli``), ``tfds:glue`` (``glue/NAME`` prepared in
``TFDS_DATA_DIR``) or a GLUE folder as the GLUE download script lays it out
(``CoLA/train.tsv``, ``SST-2/dev.tsv``, ``MNLI/dev_matched.tsv`` ...).

QNLI as ranking: the GLUE rows (question, sentence, entailment or not) are
grouped by question; each entailed sentence makes one group with the
question's other sentences as its negatives (at most ``max_group - 1`` of
them); questions without an entailed sentence have no answer to rank and are
left out. Groups are padded with empty candidates that a mask excludes.
"""
import collections
import csv
import dataclasses
import io
import os

import numpy as np
import tensorflow as tf

from suite.data import nlu
from suite.data.errors import DataError

KINDS = ("classification", "similarity", "pairwise", "ranking")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    labels: tuple = ()  # class names, in the order of the model's outputs
    metrics: tuple = ("accuracy",)  # the first is the task's headline score
    group_size: int = 0  # ranking: candidates per question (padded)
    score_range: tuple = (0.0, 5.0)  # similarity

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: unknown kind {self.kind!r}: choose one of {', '.join(KINDS)}")

    @property
    def pair(self):
        return self.kind != "classification"

    @property
    def num_outputs(self):
        return len(self.labels) if self.kind in ("classification", "pairwise") else 1


@dataclasses.dataclass
class TaskData:
    """Examples of one task. ``first`` [N] strings; ``second`` [N] strings (pairs), [N, G] (ranking:
    the candidates) or None; ``labels`` [N] int class ids, float scores or (ranking) the answer's
    index; ``mask`` [N, G] the real candidates (ranking)."""

    spec: TaskSpec
    first: np.ndarray
    second: np.ndarray | None
    labels: np.ndarray
    mask: np.ndarray | None = None

    def __len__(self):
        return len(self.first)

    def example_request(self):
        """A serving request of the task's signature from the first example: [[first]] (and [[second]]:
        the first candidate of a ranking group)."""
        return [[str(self.first[0])]] + ([] if self.second is None else [[str(self.second.flat[0])]])


# ------------------------------------------------------------------ embedded
EMBEDDED_TASKS = {
    "cola": TaskSpec("cola", "classification", ("unacceptable", "acceptable"), ("mcc", "accuracy")),
    "sst": TaskSpec("sst", "classification", ("negative", "positive"), ("accuracy",)),
    "sts": TaskSpec("sts", "similarity", metrics=("pearson", "spearman")),
    "nli": TaskSpec("nli", "pairwise", nlu.NLI_LABELS, ("accuracy",)),
    "qnli": TaskSpec("qnli", "ranking", metrics=("accuracy", "mrr"), group_size=4),
}
# training examples per task: unequal on purpose, so that sampling in proportion to size matters;
# the tasks that compare words across segments (sts, qnli) get more, they need more steps
EMBEDDED_SIZES = {"cola": 3000, "sst": 1000, "sts": 5000, "nli": 3000, "qnli": 3000}
EMBEDDED_EVAL_SIZE = 500


def embedded_task(name, split="train", seed=0, count=None, flag="--tasks"):
    if name not in EMBEDDED_TASKS:
        raise DataError(f"{flag}: {name!r} is not an embedded task: choose from {', '.join(EMBEDDED_TASKS)}")
    spec = EMBEDDED_TASKS[name]
    count = count or (EMBEDDED_SIZES[name] if split == "train" else EMBEDDED_EVAL_SIZE)
    rows = nlu.task_examples(name, count, seed=seed, split=split)
    if spec.kind == "classification":
        return TaskData(spec, np.array([r[0] for r in rows]), None, np.array([r[1] for r in rows], np.int32))
    if spec.kind == "ranking":
        return TaskData(spec, np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                        np.array([r[2] for r in rows], np.int32), np.ones((count, spec.group_size), bool))
    dtype = np.float32 if spec.kind == "similarity" else np.int32
    return TaskData(spec, np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                    np.array([r[2] for r in rows], dtype))


# ------------------------------------------------------------------ GLUE
@dataclasses.dataclass(frozen=True)
class GlueLayout:
    folder: str
    columns: tuple  # (first, second or None, label): header names, or indices when there is no header
    header: bool = True
    dev_file: str = "dev.tsv"
    tfds_features: tuple = ()  # (first, second or None) feature names of tfds glue/NAME
    tfds_validation: str = "validation"


GLUE_TASKS = {
    "cola": TaskSpec("cola", "classification", ("0", "1"), ("mcc", "accuracy")),
    "sst2": TaskSpec("sst2", "classification", ("0", "1"), ("accuracy",)),
    "stsb": TaskSpec("stsb", "similarity", metrics=("pearson", "spearman")),
    "mnli": TaskSpec("mnli", "pairwise", ("entailment", "neutral", "contradiction"), ("accuracy",)),
    "rte": TaskSpec("rte", "pairwise", ("entailment", "not_entailment"), ("accuracy",)),
    "wnli": TaskSpec("wnli", "pairwise", ("0", "1"), ("accuracy",)),
    "qqp": TaskSpec("qqp", "pairwise", ("0", "1"), ("accuracy", "f1")),
    "mrpc": TaskSpec("mrpc", "pairwise", ("0", "1"), ("accuracy", "f1")),
    "qnli": TaskSpec("qnli", "ranking", metrics=("accuracy", "mrr"), group_size=8),
}
GLUE_LAYOUTS = {
    "cola": GlueLayout("CoLA", (3, None, 1), header=False, tfds_features=("sentence", None)),
    "sst2": GlueLayout("SST-2", ("sentence", None, "label"), tfds_features=("sentence", None)),
    "stsb": GlueLayout("STS-B", ("sentence1", "sentence2", "score"), tfds_features=("sentence1", "sentence2")),
    "mnli": GlueLayout("MNLI", ("sentence1", "sentence2", "gold_label"), dev_file="dev_matched.tsv",
                       tfds_features=("premise", "hypothesis"), tfds_validation="validation_matched"),
    "rte": GlueLayout("RTE", ("sentence1", "sentence2", "label"), tfds_features=("sentence1", "sentence2")),
    "wnli": GlueLayout("WNLI", ("sentence1", "sentence2", "label"), tfds_features=("sentence1", "sentence2")),
    "qqp": GlueLayout("QQP", ("question1", "question2", "is_duplicate"), tfds_features=("question1", "question2")),
    "mrpc": GlueLayout("MRPC", ("#1 String", "#2 String", "Quality"), tfds_features=("sentence1", "sentence2")),
    "qnli": GlueLayout("QNLI", ("question", "sentence", "label"), tfds_features=("question", "sentence")),
}
QNLI_LABELS = ("entailment", "not_entailment")  # tfds glue/qnli's label order


def read_glue_tsv(path, name):
    """Rows (first, second or None, label) of the GLUE file ``path`` of task ``name``.

    Raises DataError naming the file and line for a missing column, a short
    row, or a label outside the task's set (similarity: a score outside its range).
    """
    spec, layout = GLUE_TASKS[name], GLUE_LAYOUTS[name]
    labels = QNLI_LABELS if name == "qnli" else spec.labels
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (GLUE task {name} expects {layout.folder}/train.tsv and "
                        f"{layout.folder}/{layout.dev_file})")
    rows = []
    with open(path, "rb") as f:
        raw_bytes = f.read()
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw_bytes[:e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {raw_bytes[e.start]:#04x} at offset "
                        f"{e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    columns = layout.columns
    if layout.header:
        header = next(reader, None)
        if header is None:
            raise DataError(f"{path}: empty file")
        missing = [c for c in columns if c is not None and c not in header]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {missing} (header: {header})")
        columns = tuple(None if c is None else header.index(c) for c in columns)
    width = max(c for c in columns if c is not None) + 1
    for record in reader:
        line = reader.line_num
        if not record or record == [""]:
            continue
        if len(record) < width:
            raise DataError(f"{path}:{line}: {len(record)} column(s), task {name} needs at least {width}")
        first = record[columns[0]]
        second = None if columns[1] is None else record[columns[1]]
        raw = record[columns[2]].strip()
        if spec.kind == "similarity":
            try:
                label = float(raw)
            except ValueError:
                raise DataError(f"{path}:{line}: score {raw!r} is not a number") from None
            low, high = spec.score_range
            if not low <= label <= high:
                raise DataError(f"{path}:{line}: score {label} outside [{low}, {high}]")
        else:
            if raw not in labels:
                raise DataError(f"{path}:{line}: label {raw!r} is not one of {list(labels)}")
            label = labels.index(raw)
        rows.append((first, second, label))
    if not rows:
        raise DataError(f"{path}: no examples")
    return rows


def tfds_glue_rows(name, split):
    import tensorflow_datasets as tfds

    layout = GLUE_LAYOUTS[name]
    split = layout.tfds_validation if split == "validation" else split
    try:
        ds = tfds.load(f"glue/{name}", split=split, shuffle_files=False)
    except Exception as e:  # noqa: BLE001 - tfds raises many types; the message says which dataset
        raise DataError(f"--data tfds:glue: cannot load glue/{name} split {split!r} ({type(e).__name__}: {e}). "
                        "Prepare it in TFDS_DATA_DIR first (nothing is downloaded here).") from None
    first_key, second_key = layout.tfds_features
    rows = []
    for ex in tfds.as_numpy(ds):
        label = ex["label"]
        if label < 0:  # the unlabelled test split
            continue
        rows.append((ex[first_key].decode("utf-8"), None if second_key is None else ex[second_key].decode("utf-8"),
                     float(label) if name == "stsb" else int(label)))
    return rows


def _ranking_groups(rows, spec):
    """QNLI rows -> (questions [N], candidates [N, G], answers [N], mask [N, G]); see the module doc."""
    by_question = collections.OrderedDict()
    for question, sentence, label in rows:
        by_question.setdefault(question, []).append((sentence, label == 0))
    questions, groups = [], []
    size = spec.group_size
    for question, items in by_question.items():
        negatives = [s for s, entailed in items if not entailed][:size - 1]
        for sentence, entailed in items:
            if entailed:
                questions.append(question)
                groups.append([sentence] + negatives)
    candidates = np.full((len(groups), size), "", dtype=object)
    mask = np.zeros((len(groups), size), bool)
    for i, g in enumerate(groups):
        candidates[i, :len(g)] = g
        mask[i, :len(g)] = True
    return np.array(questions, dtype=object), candidates.astype(str), np.zeros(len(groups), np.int32), mask


def glue_task(name, data, split="train", flag="--tasks"):
    """Task ``name`` from a GLUE folder or ``tfds:glue``."""
    if name not in GLUE_TASKS:
        raise DataError(f"{flag}: {name!r} is not a GLUE task: choose from {', '.join(GLUE_TASKS)}")
    spec, layout = GLUE_TASKS[name], GLUE_LAYOUTS[name]
    if data.startswith("tfds:"):
        rows = tfds_glue_rows(name, split)
    else:
        rows = read_glue_tsv(os.path.join(data, layout.folder, "train.tsv" if split == "train" else layout.dev_file),
                             name)
    if spec.kind == "ranking":
        questions, candidates, answers, mask = _ranking_groups(rows, spec)
        if not len(questions):
            raise DataError(f"GLUE {name} ({split}): no question has an entailed sentence to rank")
        return TaskData(spec, questions.astype(str), candidates, answers, mask)
    first = np.array([r[0] for r in rows])
    second = None if not spec.pair else np.array([r[1] for r in rows])
    labels = np.array([r[2] for r in rows], np.float32 if spec.kind == "similarity" else np.int32)
    return TaskData(spec, first, second, labels)


def task_names(data):
    return tuple(EMBEDDED_TASKS) if data == "nlu" else tuple(GLUE_TASKS)


def load_task(data, name, split="train", seed=0, flag="--tasks"):
    """Task ``name`` from ``--data``: ``nlu`` (embedded, from ``seed``), ``tfds:glue`` or a GLUE folder
    (``flag``: the flag that named it, for the error of an unknown task)."""
    if data == "nlu":
        return embedded_task(name, split, seed, flag=flag)
    if data != "tfds:glue" and data.startswith("tfds:"):
        raise DataError(f"--data {data}: the GLUE tasks come from 'tfds:glue' (glue/NAME)")
    if not data.startswith("tfds:") and not os.path.isdir(data):
        raise DataError(f"--data {data}: no such folder (expected 'nlu', 'tfds:glue' or a GLUE folder)")
    return glue_task(name, data, split, flag)


def load_tasks(data, tasks=None, seed=0):
    """(task names, {task: training TaskData}, {task: development TaskData}) of ``--data`` and a
    ``--tasks`` string (default: every task of the data), each task checked."""
    names = tuple(t for t in (tasks or ",".join(task_names(data))).split(",") if t)
    if len(set(names)) != len(names):
        raise DataError(f"--tasks {tasks}: a task is named twice")
    train = {t: load_task(data, t, "train", seed) for t in names}
    dev = {t: load_task(data, t, "validation", seed) for t in names}
    for t in names:
        check_task(train[t], train[t].spec)
    return names, train, dev


def texts(tasks):
    """Every sentence of ``tasks`` ({name: TaskData}): what a task vocabulary is learnt from."""
    return [s for d in tasks.values() for s in list(d.first) + ([] if d.second is None else
                                                              [x for x in np.ravel(d.second) if x])]


def check_task(data, spec):
    """Checks ``data`` (TaskData) against its spec: labels in range, shapes consistent."""
    n = len(data.first)
    if len(data.labels) != n or (data.second is not None and len(data.second) != n):
        raise DataError(f"task {spec.name}: first, second and labels differ in length")
    if spec.kind in ("classification", "pairwise") and n:
        bad = (data.labels < 0) | (data.labels >= len(spec.labels))
        if bad.any():
            raise DataError(f"task {spec.name}: label {data.labels[bad][0]} outside 0..{len(spec.labels) - 1}")


# ------------------------------------------------------------------ tf.data
ENCODED_BYTES = 256 << 20  # a task's encoded examples held in memory, at most
ENCODE_CHUNK = 4096  # strings a call when encoding a whole task


def encoded_once(data, encoded, budget=None):
    """Every example of ``data`` through ``encoded(first, second, mask)`` (the head's inputs of a batch),
    as arrays with the examples first; None when they would take more than ``budget`` bytes (default
    ``ENCODED_BYTES``) or the task has no example."""
    n = len(data)
    if not n:
        return None
    parts, used = [], 0
    budget = ENCODED_BYTES if budget is None else budget
    for i in range(0, n, ENCODE_CHUNK):
        x = encoded(*(None if v is None else tf.constant(v[i:i + ENCODE_CHUNK])
                      for v in (data.first, data.second, data.mask)))
        parts.append({k: v.numpy() for k, v in x.items()})
        used += sum(v.nbytes for v in parts[-1].values())
        if used * n > budget * min(n, i + ENCODE_CHUNK):  # the whole task's share, from its first chunks
            return None
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def task_dataset(data, encode, batch_size, seed=0, repeat=True, shard=None, start=0, length=None,
                 encoded_bytes=None):
    """Batches of (inputs, targets) of one task for its MT-DNN head: shuffled and repeated (``repeat``,
    from the ``start``-th batch of that seeded order), or every example once in order.

    ``encode(first, second)`` maps string tensors [n] to the encoder's inputs
    (a dict of [n, L] tensors), cut to their first ``length`` positions when given
    (``Lexicon.fitted_length`` of the task: one static length per task, all padding
    beyond it). Ranking batches hold the candidate groups: inputs [B, G, L] and
    ``candidate_mask`` [B, G]; targets are the answers' indices.

    A task whose encoded examples fit in ``encoded_bytes`` (default ``ENCODED_BYTES``) is encoded once,
    when the pipeline is made, in the same order and batches (the encoding is per example); a larger
    one is encoded a batch at a time (MT-DNN's tiny run: 79 -> 62 CPU-seconds over 1,500 steps, and its
    five pipelines made in 1.3 s instead of 7.6: the tokenizer's ragged ops are no longer traced).
    """
    spec = data.spec
    group = spec.group_size

    def cut(x):
        return x if length is None else {k: v[:, :length] for k, v in x.items()}

    def encoded(first, second, mask):  # strings of a batch (or of the whole task) -> the head's inputs
        if spec.kind == "ranking":
            n = tf.shape(first)[0]
            questions = tf.reshape(tf.repeat(first[:, None], group, axis=1), [-1])
            x = cut(encode(questions, tf.reshape(second, [-1])))
            x = {k: tf.reshape(v, [n, group, -1]) for k, v in x.items()}
            x["candidate_mask"] = mask
            return x
        return cut(encode(first, second))

    once = encoded_once(data, encoded, encoded_bytes)
    if once is not None:  # every example encoded when the pipeline is made, not once a batch each epoch
        columns = {"x": once, "labels": data.labels}
    else:
        columns = {"first": data.first, "labels": data.labels}
        if data.second is not None:
            columns["second"] = data.second
        if data.mask is not None:
            columns["mask"] = data.mask
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if shard is not None and shard[0] > 1:
        ds = ds.shard(*shard)
    if repeat:
        ds = ds.shuffle(min(len(data), 50000), seed=seed, reshuffle_each_iteration=True).repeat()
        ds = ds.skip(start * batch_size)

    def to_batch(b):
        if once is not None:
            return b["x"], b["labels"]
        return encoded(b["first"], b.get("second"), b.get("mask")), b["labels"]

    ds = ds.batch(batch_size, drop_remainder=repeat).map(to_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class TaskSet:
    """The tasks one multi-task run trains together, encoded by ``lexicon``: ``train`` and ``dev``
    ({task: TaskData}); each task is cut to its own longest example (``lengths``, its
    ``Lexicon.fitted_length`` over both splits: one static shape per task's step). Iterates the names."""

    def __init__(self, train, dev, lexicon):
        self.names, self.train, self.dev, self.lexicon = list(train), train, dev, lexicon
        self.lengths = {t: max(lexicon.fitted_length(d.first, d.second) for d in (train[t], dev[t]))
                        for t in self.names}
        self.sizes = {t: len(train[t]) for t in self.names}

    def __iter__(self):
        return iter(self.names)

    def train_dataset(self, task, **feed):
        """The task's training batches (``task_dataset``'s keywords: batch_size, seed, shard, start)."""
        return task_dataset(self.train[task], self.lexicon.encode, length=self.lengths[task], **feed)

    def dev_datasets(self, batch_size=128):
        """{task: its development examples once, in order}."""
        return {t: task_dataset(self.dev[t], self.lexicon.encode, batch_size, repeat=False, length=self.lengths[t])
                for t in self.names}

    def example_requests(self):
        """{task: a serving request from its first development example}."""
        return {t: self.dev[t].example_request() for t in self.names}
