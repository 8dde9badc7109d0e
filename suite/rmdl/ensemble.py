"""The RMDL ensemble: random deep learners trained side by side in one graph, chosen on validation, voting.

Every training step reads one batch of features (decoded and featurised once)
and updates every member with its own optimizer: the members share nothing
but the input, so the gradient of the summed losses with respect to a
member's weights is that of its own loss. A member whose loss or gradients
become non-finite is not updated again; at the end of the epoch it is
replaced by a new draw of its slot (``suite.rmdl.specs``) and the log says
which and why. Each member keeps ``best``, a copy of its network with the
weights of its best validation accuracy so far (the validation split is
carved from the training data; the test split is never read to choose);
the vote and the export use those.
"""
import keras
import numpy as np
import tensorflow as tf

from suite.rmdl.members import build_member, feature_of
from suite.rmdl.specs import draw_spec
from suite.training.optimizers import OptimizerSpec

VOTES = ("majority", "average")


def vote(probabilities, mode="majority"):
    """``probabilities`` [M, N, C] of M members -> (class [N], mean probabilities [N, C], vote shares
    [N, C]). ``majority``: the class most members pick, a tie broken by the summed probability
    (which, divided by M + 1, is below one vote); ``average``: the class of the mean probability."""
    probabilities = tf.cast(probabilities, tf.float32)
    m = tf.cast(tf.shape(probabilities)[0], tf.float32)
    classes = tf.shape(probabilities)[-1]
    mean = tf.reduce_mean(probabilities, 0)
    votes = tf.reduce_sum(tf.one_hot(tf.argmax(probabilities, -1), classes), 0)
    if mode == "average":
        return tf.argmax(mean, -1, output_type=tf.int32), mean, votes / m
    if mode != "majority":
        raise ValueError(f"unknown vote {mode!r}: choose one of {', '.join(VOTES)}")
    score = votes + tf.reduce_sum(probabilities, 0) / (m + 1.0)
    return tf.argmax(score, -1, output_type=tf.int32), mean, votes / m


class Member(tf.Module):
    """One deep learner: its ``spec``, the trained ``net``, its ``best`` copy (best validation
    accuracy so far, ``best_accuracy``) and its own ``optimizer``."""

    def __init__(self, spec, config, featurizer, slot, embeddings=None):
        super().__init__(name=f"member{slot}")
        self.spec, self.slot = spec, slot
        self.feature = feature_of(config.modality, spec.kind)
        self.net = build_member(spec, config, featurizer, embeddings, name=f"member{slot}")
        # the chosen copy: private, so that model_variables (what training moves) leaves it out
        self._best = build_member(spec, config, featurizer, embeddings, name=f"member{slot}_best")
        self._best.set_weights(self.net.get_weights())
        self.best_accuracy = tf.Variable(-1.0, trainable=False, name="best_accuracy")
        self.optimizer = OptimizerSpec(name=spec.optimizer, learning_rate=spec.learning_rate).build()
        self.optimizer.build(self.net.trainable_variables)

    @property
    def best(self):
        return self._best

    def keep_best(self, accuracy):
        """Copies the weights into ``best`` if ``accuracy`` (on validation) beats the best so far."""
        if accuracy > float(self.best_accuracy.numpy()):
            for target, value in zip(self.best.weights, self.net.weights, strict=True):
                target.assign(value)
            self.best_accuracy.assign(accuracy)
            return True
        return False


class Slots(tf.Module):
    """The members as attributes ``slot0``, ``slot1``... (a slot's member can be replaced and the
    checkpoint follows it)."""


class RMDL:
    """The ensemble as the fit driver sees it (``train_step``, ``checkpoint_objects``)."""

    def __init__(self, config, featurizer, specs, seed=0, embeddings=None):
        self.config, self.featurizer, self.seed, self.embeddings = config, featurizer, int(seed), embeddings
        self.slots, self.count, self._predict = Slots(), len(specs), {}
        for slot, spec in enumerate(specs):
            setattr(self.slots, f"slot{slot}", Member(spec, config, featurizer, slot, embeddings))

    @property
    def members(self):
        return [getattr(self.slots, f"slot{i}") for i in range(self.count)]

    @property
    def specs(self):
        return [m.spec for m in self.members]

    def checkpoint_objects(self):
        return {"members": self.slots}

    # ------------------------------------------------------------ training
    def train_step(self, batch, step=0):
        features, labels = batch
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        members = self.members
        with tf.GradientTape() as tape:
            losses, accuracies = [], []
            for m in members:
                probs = m.net(features[m.feature], training=True)
                ce = keras.losses.sparse_categorical_crossentropy(labels, probs)
                losses.append(tf.reduce_sum(ce) / tf.cast(tf.size(ce) * replicas, tf.float32))
                accuracies.append(tf.reduce_mean(tf.cast(tf.equal(
                    tf.argmax(probs, -1, output_type=tf.int32), tf.cast(labels, tf.int32)), tf.float32)))
            # each member's loss scaled by its own optimizer (loss scaling under mixed_float16)
            total = tf.add_n([m.optimizer.scale_loss(loss) for m, loss in zip(members, losses)])
        variables = [m.net.trainable_variables for m in members]
        grads = tape.gradient(total, variables)
        logs, finite_losses = {}, []
        for m, loss, acc, g in zip(members, losses, accuracies, grads):
            finite = tf.logical_and(tf.math.is_finite(loss),
                                    tf.reduce_all([tf.reduce_all(tf.math.is_finite(x)) for x in g]))
            # a diverged member stops learning (and is replaced at the end of the epoch)
            m.optimizer.apply([tf.where(finite, x, tf.zeros_like(x)) for x in g], m.net.trainable_variables)
            local = tf.where(finite, loss * replicas, 0.0)
            finite_losses.append(local)
            logs[f"member{m.slot}/loss"] = local
            logs[f"member{m.slot}/accuracy"] = acc
            logs[f"member{m.slot}/failed"] = 1.0 - tf.cast(finite, tf.float32)
        logs["loss"] = tf.add_n(finite_losses) / len(members)
        return logs

    # ------------------------------------------------------------ prediction
    def probabilities(self, features, best=True, members=None):
        """[M, N, C] of the members' (``best``: chosen) networks on a batch of features."""
        members = self.members if members is None else members
        return tf.stack([(m.best if best else m.net)(features[m.feature], training=False) for m in members])

    def predict_features(self, feature_batches, best=True):
        """[M, N, C] numpy over an iterable of feature batches."""
        key = (best, tuple(id(m) for m in self.members))
        if self._predict.get("key") != key:  # traced once per set of members (a replacement traces again)
            self._predict = {"key": key, "fn": tf.function(lambda f: self.probabilities(f, best), reduce_retracing=True)}
        fn = self._predict["fn"]
        return np.concatenate([fn(f).numpy() for f in feature_batches], axis=1)

    def replace(self, slot, ranges):
        """A new draw for ``slot`` (same kind, next draw number); returns the new member."""
        old = getattr(self.slots, f"slot{slot}")
        spec = draw_spec(old.spec.kind, ranges, self.seed, slot, old.spec.draw + 1)
        member = Member(spec, self.config, self.featurizer, slot, self.embeddings)
        setattr(self.slots, f"slot{slot}", member)
        return member
