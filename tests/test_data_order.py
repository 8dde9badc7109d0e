"""Every training pipeline is addressable by position: told to start at its s-th batch (what the driver
tells it when a run resumes from a checkpoint), it gives the batches a fresh pipeline gives from its s-th
on, across epoch boundaries, instead of replaying the data from the beginning."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import detection, glue, images, nlu, speech, video
from suite.data.order import epoch_order
from suite.nlu import bert, pretraining
from suite.nlu.lexicon import Lexicon, train_vocabulary

START, BATCHES = 7, 3  # batch 7 of 4 examples is element 28: the third epoch of 12, 10 or 6 examples


def _lexicon():
    docs = nlu.documents(60, seed=0)
    return Lexicon(train_vocabulary([s for d in docs for s in d], 128), 32), docs


def _glue(start):
    lexicon, _ = _lexicon()
    return glue.task_dataset(glue.embedded_task("sts", "validation", count=12), lexicon.encode, 4, seed=1,
                             start=start)


def _bert(start):
    lexicon, docs = _lexicon()
    config = bert.get_config("tiny", vocabulary_size=lexicon.vocabulary_size, sequence_length=32)
    ds = pretraining.pretraining_dataset(lexicon, pretraining.next_sentence_pairs(docs[:6]), config, 4, seed=1,
                                         start=start)
    # the masks are drawn afresh; the pairs are the stream's
    return ds.map(lambda x, y, w: (x["segment_ids"], x["padding_mask"], y["nsp"]))


def _speech(start):
    lengths = np.arange(10) * 100 + 1000
    toy = speech.SpeechSet("toy", ["ab"] * 10, lengths, lambda i: np.full(lengths[i], i, np.float32),
                           [str(i) for i in range(10)])
    return speech.speech_dataset(toy, 4, seed=1, buckets=1, start=start)


PIPELINES = {
    "images": lambda start: images.image_pipeline("shapes", 8, 4, seed=1, num_images=12, start=start),
    "images decoded each epoch": lambda start: images.image_pipeline("shapes", 8, 4, seed=1, num_images=12,
                                                                     start=start, cache=False),
    "glue": _glue,
    "bert": _bert,
    "detection": lambda start: detection.detection_dataset(detection.embedded_set(10, 32, seed=1), 4, 4, seed=1,
                                                           flip=False, start=start),
    "video": lambda start: video.clip_dataset(video.embedded_set(6, size=16, frames=8, seed=1), 4, 4, seed=1,
                                              start=start),
    "speech": _speech,
}


def _numpy(ds, count):
    return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in ds.take(count)]


@pytest.mark.parametrize("name", PIPELINES)
def test_a_pipeline_started_at_batch_s_gives_a_fresh_pipelines_batches_from_s_on(name):
    make = PIPELINES[name]
    straight = _numpy(make(0), START + BATCHES)
    resumed = _numpy(make(START), BATCHES)
    tf.nest.map_structure(np.testing.assert_array_equal, resumed, straight[START:])
    # and it is not the beginning again
    assert any(not np.array_equal(a, b) for a, b in zip(tf.nest.flatten(resumed), tf.nest.flatten(straight)))


def test_epoch_order_visits_every_example_once_per_epoch_in_a_new_order():
    stream = epoch_order(np.arange(5) + 10, [3])
    epochs = [[next(stream) for _ in range(5)] for _ in range(3)]
    assert all(sorted(i for _, i in e) == list(range(10, 15)) and {k for k, _ in e} == {n}
               for n, e in enumerate(epochs))
    assert len({tuple(i for _, i in e) for e in epochs}) == 3
    later = epoch_order(np.arange(5) + 10, [3], start=7)
    assert [next(later) for _ in range(8)] == [p for e in epochs for p in e][7:15]
    with pytest.raises(ValueError, match="empty"):
        next(epoch_order([], [0]))


def _recording_sets(loaded):
    """A detection, a video and a speech set of 10 examples whose loaders record which they read."""
    scene = detection.embedded_set(10, 32, seed=1)

    def load_scene(i):
        loaded.append(i)
        return scene.load(i)

    clips = video.embedded_set(10, size=16, frames=8, seed=1)

    def load_clip(i, start, length):
        loaded.append(i)
        return clips.load_clip(i, start, length)

    lengths = np.full(10, 1600)

    def load_wave(i):
        loaded.append(i)
        return np.full(lengths[i], i, np.float32)

    return {
        "detection": lambda shard: detection.detection_dataset(
            detection.DetectionSet(scene.class_names, 32, 10, load_scene), 1, 4, seed=1, flip=False, shard=shard),
        "video": lambda shard: video.clip_dataset(
            video.VideoSet(clips.labels, clips.class_names, clips.load, clips.keys, 16, load_clip=load_clip,
                           lengths=lambda i: 8, rendered=True), 4, 1, seed=1, shard=shard),
        "speech": lambda shard: speech.speech_dataset(
            speech.SpeechSet("toy", ["ab"] * 10, lengths, load_wave, [str(i) for i in range(10)]), 1, seed=1,
            buckets=1, shard=shard),
    }


@pytest.mark.parametrize("name", ["detection", "video", "speech"])
def test_two_workers_read_disjoint_examples_whose_union_is_the_whole_set(name):
    """Input contexts 0 and 1 of 2 (MultiWorkerMirrored's file-level sharding): over an epoch each reads
    only its own examples, and together all of them."""
    shares = []
    for k in (0, 1):
        loaded = []
        _numpy(_recording_sets(loaded)[name]((2, k)), 5)  # an epoch of its 5 examples, batch 1
        shares.append(set(int(i) for i in loaded))
    assert not shares[0] & shares[1] and shares[0] | shares[1] == set(range(10)), shares
