"""The embedded quality score (suite/gan/quality.py): scene labels, and the classifier trained once
on them (cached by seed, shared with the GAN runs) as a judge of reals, noise and blur."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import images
from suite.gan import quality


def scenes(seed, count):
    out = [images.shapes_labels(i, 32, seed) for i in range(count)]
    return (images.to_float(tf.stack([o[0] for o in out])).numpy(), np.array([int(o[1]) for o in out]),
            np.stack([o[2].numpy() for o in out]))


def test_scene_labels_are_what_the_scene_shows():
    for i in range(40):
        image, kind, shown = images.shapes_labels(i, 32, 3)
        drawn = images.shapes_labels(i, 32, 3, visible=0.0)[2].numpy()
        covered_allowed = images.shapes_labels(i, 32, 3, visible=1.0)[2].numpy()
        np.testing.assert_array_equal(image, images.render_shapes(i, 32, 3))
        # a kind on show was drawn; a kind shown whole is on show; every scene draws a shape
        assert np.all(shown.numpy() <= drawn) and np.all(covered_allowed <= shown.numpy()) and drawn.max() == 1
        assert 0 <= int(kind) < 3
    _, kinds, shown = scenes(3, 600)
    # every background kind, and each shape kind in about 0.58 of scenes (1 to 3 shapes of 3 kinds)
    assert set(kinds) == {0, 1, 2} and np.all(np.abs(shown.mean(axis=0) - 0.58) < 0.06)


def test_a_covered_shape_is_not_on_show():
    """Scenes where a shape is drawn but mostly covered: labelled absent at 0.5, present at 0."""
    found = 0
    for i in range(300):
        half = images.shapes_labels(i, 32, 0)[2].numpy()
        drawn = images.shapes_labels(i, 32, 0, visible=0.0)[2].numpy()
        found += int(np.any(drawn > half))
    assert 3 <= found <= 60, found


def test_images_of_any_size_are_scored_at_the_classifier_resolution():
    x = np.zeros((2, 64, 64, 1), np.float32)
    assert quality.to_resolution(x).shape == (2, 32, 32, 3)
    assert quality.to_resolution(np.zeros((2, 8, 8, 3), np.float32)).shape == (2, 32, 32, 3)


def test_training_batches_hold_negatives_without_shapes():
    x, y = next(iter(quality.scene_training_data(seed=1, count=64, batch_size=256)))
    none = y["background"].numpy() == quality.NONE
    assert x.shape == (256, 32, 32, 3) and 0.15 < none.mean() < 0.35
    assert np.all(y["shapes"].numpy()[none] == 0) and np.all(y["shapes"].numpy()[~none].max(axis=1) == 1)


@pytest.fixture(scope="module")
def scorer():
    return quality.embedded_scorer(0, progress=False)


@pytest.mark.slow  # trains the classifier once per cache (about 3 minutes on 2 cores)
def test_the_classifier_finds_scenes_in_reals_and_not_in_noise_or_blur(scorer):
    a, kinds, shown = scenes(11, 512)
    b, _, _ = scenes(12, 512)
    out = scorer.outputs(a)
    assert np.mean(out["background"].argmax(axis=1) == kinds) > 0.95
    assert np.mean((out["shapes"] > 0.5) == shown) > 0.8
    rng = np.random.default_rng(0)
    noise = np.clip(rng.standard_normal(a.shape) * 0.5, -1, 1).astype(np.float32)
    blurred = np.stack([quality._gaussian_blur(tf.constant(x), 2.0).numpy() for x in a])
    reference = scorer.statistics(a)
    reals, noisy, blurry = (scorer.score(reference, x) for x in (b, noise, blurred))
    # measured: found in 0.97 of held-out reals, none of the noise or the blurred scenes
    assert reference[2] > 0.9 and reals["found"] > 0.9
    assert noisy["found"] < 0.05 and blurry["found"] < 0.05
    # the embedded FID: reals against other reals about 2, noise or blur against reals a hundred times that
    assert noisy["fid"] > 100 and blurry["fid"] > 100 and reals["fid"] < 0.05 * min(noisy["fid"], blurry["fid"])


@pytest.mark.slow
def test_the_trained_classifier_is_cached_and_read_back(scorer):
    again = quality.embedded_scorer(0, progress=False)
    x, _, _ = scenes(13, 16)
    np.testing.assert_allclose(again.outputs(x)["features"], scorer.outputs(x)["features"], atol=1e-5)
