"""RMDL's data, input pipeline, its end-of-epoch selection and evaluation, and its serving signatures."""
import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf

from suite.data.images import decode_images
from suite.export import answer_empty_batch
from suite.rmdl.ensemble import vote
from suite.rmdl.specs import MemberSpec
from suite.training.evaluator import Evaluator, heatmap_image

MEMBERS_FILE = "members.json"  # the members' specs now (replacements included), for a resumed run


def _slices(inputs):
    return inputs.astype(str) if inputs.dtype == object else inputs


def training_dataset(featurizer, split, batch_size, seed=0, shard=None, start=0):
    """Endless shuffled batches (features, labels) of ``split`` = (inputs, labels), featurised once
    per batch, from the ``start``-th batch of that seeded order."""
    inputs, labels = split
    ds = tf.data.Dataset.from_tensor_slices((_slices(inputs), labels.astype(np.int32)))
    if shard is not None and shard[0] > 1:
        ds = ds.shard(*shard)
    ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True).repeat().skip(start * batch_size)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.map(lambda x, y: (featurizer(x), y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def feature_batches(featurizer, inputs, batch_size=256):
    """The features of ``inputs`` in order, as a list of batches (evaluation)."""
    ds = tf.data.Dataset.from_tensor_slices(_slices(inputs)).batch(batch_size).map(featurizer)
    return list(ds)


def accuracies(probabilities, labels):
    """Each member's accuracy: [M, N, C] against [N] -> [M]."""
    return (np.argmax(probabilities, -1) == labels[None]).mean(axis=1)


def ensemble_curve(probabilities, labels, mode):
    """The ensemble's accuracy with the first k members, k = 1..M."""
    return [float((vote(probabilities[:k], mode)[0].numpy() == labels).mean())
            for k in range(1, len(probabilities) + 1)]


def agreement_matrix(probabilities):
    """[M, M]: how often two members pick the same class."""
    picks = np.argmax(probabilities, -1)
    return (picks[:, None, :] == picks[None, :, :]).mean(-1)


def write_members(logdir, specs):
    path = os.path.join(logdir, MEMBERS_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump([s.to_json() for s in specs], f, indent=1)
    os.replace(tmp, path)


def read_members(logdir):
    """The specs a previous run of ``logdir`` left (replacements included) when it has a checkpoint to
    resume, or None."""
    path = os.path.join(logdir, MEMBERS_FILE)
    if not os.path.exists(path) or not tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints")):
        return None
    with open(path) as f:
        return [MemberSpec.from_json(v) for v in json.load(f)]


def load(args, config, bad):
    """The run's data: ``set`` (``suite.data.classification``), ``config`` (its number of classes),
    ``featurizer`` (adapted on the training texts), ``embeddings`` (``--embeddings``' vectors for its
    vocabulary) and the drawn member ``specs``."""
    from suite.data.classification import classification_set
    from suite.rmdl import members, specs

    data = classification_set(args.data, args.modality, seed=args.seed, sizes=(config.train_examples,
                              config.test_examples), image_size=config.image_size, num_points=config.num_points, bad=bad)
    config = dataclasses.replace(config, num_classes=data.num_classes)
    featurizer = members.Featurizer(config, data.train[0] if args.modality == "text" else None)
    vectors = None
    if args.embeddings:
        vectors, found = members.read_word_vectors(args.embeddings, featurizer.vocabulary)
        print(f"--embeddings: {found} of {len(featurizer.vocabulary)} words found", flush=True)
    return {"set": data, "config": config, "featurizer": featurizer, "embeddings": vectors,
            "specs": specs.draw_specs(config.counts, config.ranges, args.seed)}


def warmup_request(modality, example):
    """TF Serving's warm-up request per signature from one raw example (a batch of one)."""
    if modality == "text":
        return {"serving_default": [example.astype(str)]}
    if modality == "image":
        return {"serving_default": [example], "image_bytes": [[tf.io.encode_png(example[0]).numpy()]]}
    return {"serving_default": [example]}


class RMDLMonitor(Evaluator):
    """The end of every epoch. On every worker: members whose loss went non-finite are replaced by
    a new draw of their slot (logged, with why); each member's ``best`` takes its weights if its
    accuracy on the *validation* split is its best so far; a checkpoint keeps that choice. On the
    chief: the test split's report (never used to choose): each member's accuracy, the ensemble's
    (``eval/accuracy``), the ensemble's as members are added (``eval/ensemble_of/k``), the median
    and best member's; the member-agreement matrix (image) and every member's architecture (text)."""

    def __init__(self, model, data, config, ranges, logdir):
        super().__init__()
        self.model, self.config, self.ranges, self.logdir = model, config, ranges, logdir
        self.validation = feature_batches(model.featurizer, data.validation[0])
        self.validation_labels = data.validation[1]
        self.test = feature_batches(model.featurizer, data.test[0])
        self.test_labels = data.test[1]
        self.chance = 1.0 / data.num_classes
        self.failed = {}  # slot -> the step at which its loss or gradients were first non-finite
        self.replacements = []  # lines of the log: which member was replaced and why
        self.validation_accuracy = None

    def on_log(self, driver, logs):
        for m in self.model.members:
            if logs.get(f"member{m.slot}/failed", 0) > 0:
                self.failed.setdefault(m.slot, driver.step)

    def replace_failed(self, driver):
        for slot, step in sorted(self.failed.items()):
            old = self.model.members[slot].spec
            with driver.strategy.scope():
                new = self.model.replace(slot, self.ranges).spec
            line = (f"member {slot} replaced at step {driver.step}: its loss or gradients were non-finite from step "
                    f"~{step} ({old.describe()}); new draw: {new.describe()}")
            self.replacements.append(line)
            print(f"[rmdl] {line}", file=sys.stderr, flush=True)
        if self.failed:
            self.failed = {}
            driver.retrace()
            if driver.chief:
                write_members(self.logdir, self.model.specs)
            return True
        return False

    def select(self):
        """Each member's ``best`` from the validation split (its accuracy so far at its best)."""
        probs = self.model.predict_features(self.validation, best=False)
        self.validation_accuracy = accuracies(probs, self.validation_labels)
        for member, accuracy in zip(self.model.members, self.validation_accuracy):
            member.keep_best(float(accuracy))

    def on_stage_end(self, driver, stage):
        self.replace_failed(driver)
        self.select()
        driver.save()  # the choice survives a kill in the next epoch
        super().on_stage_end(driver, stage)

    def evaluate(self):
        probs = self.model.predict_features(self.test, best=True)
        member = accuracies(probs, self.test_labels)
        curve = ensemble_curve(probs, self.test_labels, self.config.vote)
        scores = {"accuracy": curve[-1], "median_member_accuracy": float(np.median(member)),
                  "best_member_accuracy": float(member.max()), "worst_member_accuracy": float(member.min()),
                  "member": {f"{m.slot:02d}": float(a) for m, a in zip(self.model.members, member)},
                  "ensemble_of": {f"{k:02d}": a for k, a in enumerate(curve, 1)}}
        if self.validation_accuracy is not None:
            scores["validation"] = {f"{m.slot:02d}": float(m.best_accuracy.numpy()) for m in self.model.members}
        return scores, agreement_matrix(probs)

    def describe(self, scores):
        return (f"ensemble {scores['accuracy']:.3f}  members median {scores['median_member_accuracy']:.3f} "
                f"best {scores['best_member_accuracy']:.3f} worst {scores['worst_member_accuracy']:.3f}")

    def log_media(self, agreement, step):
        tf.summary.image("eval/member_agreement", heatmap_image(agreement)[None])
        table = "\n".join(f"| {m.slot} | {m.spec.describe()} | {float(m.best_accuracy.numpy()):.3f} |"
                          for m in self.model.members)
        tf.summary.text("members/architecture", "| member | drawn architecture | best validation accuracy |\n"
                                                "|---|---|---|\n" + table)
        if self.replacements:
            tf.summary.text("members/replaced", "\n\n".join(self.replacements))


# ------------------------------------------------------------------ serving
def serving_endpoints(model, config, class_names):
    """``serving_default`` from what a client holds: ``text`` strings [N]; ``images`` uint8 [N, H, W, 3]
    of any size (and ``image_bytes``: string [N] of JPEG/PNG/GIF/BMP files); or ``points`` float32
    [N, P, 6] (x y z r g b) of any P >= 1. Outputs: ``label`` [N] and ``class_id`` [N] (the
    ensemble's vote), ``probabilities`` [N, C] (the members' mean), ``votes`` [N, C] (each class's
    share of the members), ``member_classes`` [N, M], ``member_probabilities`` [N, M, C] and
    ``agreement`` [N] (the share of members that picked the ensemble's class)."""
    names = tf.constant(list(class_names))
    featurizer, members = model.featurizer, model.members

    def answer(raw):
        probs = model.probabilities(featurizer(raw), best=True, members=members)
        label, mean, votes = vote(probs, config.vote)
        picks = tf.transpose(tf.argmax(probs, -1, output_type=tf.int32))
        return {"label": tf.gather(names, label), "class_id": label, "probabilities": mean, "votes": votes,
                "member_classes": picks, "member_probabilities": tf.transpose(probs, [1, 0, 2]),
                "agreement": tf.reduce_mean(tf.cast(tf.equal(picks, label[:, None]), tf.float32), 1)}

    if config.modality == "text":
        @tf.function
        def serve_text(text):
            return answer_empty_batch(answer, text)

        return {"serving_default": (serve_text, [tf.TensorSpec([None], tf.string, name="text")])}
    if config.modality == "image":
        def resized(images):
            return tf.clip_by_value(tf.image.resize(tf.cast(images, tf.float32), [config.image_size] * 2,
                                                    antialias=True), 0.0, 255.0)

        @tf.function
        def serve_images(images):
            shape = tf.shape(images)
            check = tf.debugging.assert_positive(tf.where(shape[0] > 0, shape[1:3], 1),
                                                 message="images must have a height and a width: [N, H, W, 3]")
            with tf.control_dependencies([check]):
                return answer_empty_batch(lambda x: answer(resized(x)), tf.identity(images))

        @tf.function
        def serve_bytes(image_bytes):
            images, _ = decode_images(image_bytes, resized)
            return answer_empty_batch(answer, images)

        return {"serving_default": (serve_images, [tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")]),
                "image_bytes": (serve_bytes, [tf.TensorSpec([None], tf.string, name="image_bytes")])}

    @tf.function
    def serve_points(points):
        checks = [tf.debugging.assert_positive(tf.where(tf.shape(points)[0] > 0, tf.shape(points)[1], 1),
                                               message="points must hold at least one point per set: [N, P, 6]"),
                  tf.debugging.assert_all_finite(points, "points holds a non-finite coordinate or colour")]
        with tf.control_dependencies(checks):
            return answer_empty_batch(answer, tf.identity(points))

    return {"serving_default": (serve_points, [tf.TensorSpec([None, None, 6], tf.float32, name="points")])}


def export_objects(model):
    """What the export tracks: the featurizer's lookup layers and every member's chosen network."""
    f = model.featurizer
    return ([f.tfidf, f.tokens] if model.config.modality == "text" else []) + [m.best for m in model.members]
