"""The embedded quality score (suite/gan/quality.py): scene labels, and the classifier trained once
on them (cached by seed, shared with the GAN runs) as a judge of reals, noise and blur."""
import numpy as np
import pytest
import tensorflow as tf

from suite.data import images
from suite.gan import quality


def scenes(seed, count, resolution=32, **options):
    """(float images, background kinds, shapes on show) of ``count`` scenes."""
    ds = tf.data.Dataset.range(count).map(lambda i: images.shapes_labels(i, resolution, seed, **options))
    ds = ds.batch(count)
    image, kind, shown = next(iter(ds))
    return images.to_float(image).numpy(), kind.numpy(), shown.numpy()


def test_scene_labels_are_what_the_scene_shows():
    x, kinds, shown = scenes(3, 600)
    _, _, drawn = scenes(3, 600, visible=0.0)
    _, _, whole = scenes(3, 600, visible=1.0)
    rendered = tf.data.Dataset.range(600).map(lambda i: images.render_shapes(i, 32, 3)).batch(600)
    np.testing.assert_array_equal(images.to_float(next(iter(rendered))).numpy(), x)
    # a kind on show was drawn; a kind shown whole is on show; every scene draws a shape
    assert np.all(shown <= drawn) and np.all(whole <= shown) and np.all(drawn.max(axis=1) == 1)
    # every background kind, and each shape kind in about 0.58 of scenes (1 to 3 shapes of 3 kinds)
    assert set(kinds) == {0, 1, 2} and np.all(np.abs(shown.mean(axis=0) - 0.58) < 0.06)
    # some drawn shapes are mostly covered by later ones: drawn, not on show
    assert 0.01 < np.mean(np.any(drawn > shown, axis=1)) < 0.2


def test_degraded_scenes_keep_the_layout():
    """Soft edges change only the shapes' borders; a murky background only what lies off the shapes."""
    x, _, _ = scenes(5, 50)
    soft, _, _ = scenes(5, 50, soft=tf.constant(2.0), murky=tf.constant(False))
    murky, _, _ = scenes(5, 50, soft=tf.constant(0.0), murky=tf.constant(True))
    crisp, _, _ = scenes(5, 50, soft=tf.constant(0.0), murky=tf.constant(False))
    np.testing.assert_array_equal(crisp, x)
    edges = np.abs(soft - x).max(axis=-1) > 0.05
    background = np.abs(murky - x).max(axis=-1) > 0.05
    assert 0.01 < edges.mean() < 0.6 and edges.mean() < background.mean()  # around the shapes only


def test_images_of_any_size_are_scored_at_the_classifier_resolution():
    x = np.zeros((2, 64, 64, 1), np.float32)
    assert quality.to_resolution(x).shape == (2, 32, 32, 3)
    assert quality.to_resolution(np.zeros((2, 8, 8, 3), np.float32)).shape == (2, 32, 32, 3)


def test_training_batches_hold_degraded_scenes_and_negatives():
    x, y = next(iter(quality.scene_training_data(seed=1, count=64, batch_size=512)))
    none = y["background"].numpy() == quality.NONE
    no_shape = y["shapes"].numpy().max(axis=1) == 0
    assert x.shape == (512, 32, 32, 3)
    # murky backgrounds (15%) and negatives (15%) have no background kind; soft shapes (15%) and
    # negatives none of the shapes: the rest are clean scenes with both
    assert 0.2 < none.mean() < 0.4 and 0.2 < no_shape.mean() < 0.4 and 0.1 < (none & no_shape).mean() < 0.22


def test_found_needs_confidence_and_the_reals_manifold():
    """A stand-in classifier: its features are the images' mean colour; every image is a confident
    scene. Reals spread over colours; a sample far off every real's 5-NN radius is not found."""
    import keras

    x = keras.Input((32, 32, 3))
    f = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(x, {"features": f, "shapes": keras.layers.Lambda(lambda t: t[:, :3] * 0 + 0.9)(f),
                            "background": keras.layers.Lambda(lambda t: t * 0 + [[0.9, 0.05, 0.05, 0.0]])(
                                keras.layers.Concatenate()([f, f[:, :1]]))})
    scorer = quality.Scorer(model)
    rng = np.random.default_rng(0)
    reals = np.broadcast_to(rng.uniform(-0.5, 0.5, (200, 1, 1, 3)), (200, 32, 32, 3)).astype(np.float32)
    ref = scorer.reference(reals)
    assert ref["found"] > 0.95
    far = np.full((50, 32, 32, 3), 0.95, np.float32)
    near = reals[:50] + 0.001
    assert scorer.score(ref, far)["found"] == 0.0 and scorer.score(ref, near)["found"] > 0.95
    assert scorer.score(ref, near)["fid"] < 0.01 < scorer.score(ref, far)["fid"]


@pytest.fixture(scope="module")
def scorer():
    """The 16x16 classifier of seed 0: the one the tiny classic GAN runs (tests/runs.py) train and
    cache, so that the suite trains it once. (The 32x32 one, for the small PGGAN preset, is the same
    code at twice the size and four times the cost; its figures are the README's.)"""
    return quality.embedded_scorer(0, resolution=16, progress=False)


@pytest.mark.slow  # trains the classifier once per cache (about 1.5 minutes on 2 cores)
def test_the_classifier_finds_scenes_in_reals_and_not_in_noise_or_blur(scorer):
    a, kinds, shown = scenes(11, 512, 16)
    b, _, _ = scenes(12, 512, 16)
    out = scorer.outputs(a)
    assert np.mean(out["background"].argmax(axis=1) == kinds) > 0.9
    # measured at 16x16: background 0.95; shapes on show 0.73 circle, 0.65 square, 0.72 triangle (always
    # guessing the commoner answer: 0.58; the bar is half-way); at 32x32 0.99 and 0.89, 0.74, 0.88
    assert np.mean((out["shapes"] > 0.5) == shown) > 0.64
    rng = np.random.default_rng(0)
    noise = np.clip(rng.standard_normal(a.shape) * 0.5, -1, 1).astype(np.float32)
    blurred = np.stack([quality._gaussian_blur(tf.constant(x), 1.0).numpy() for x in a])
    reference = scorer.reference(a)
    reals, noisy, blurry = (scorer.score(reference, x) for x in (b, noise, blurred))
    # measured: found in 0.33 of the reals (each against the others), 0.31 of held-out reals (at 32x32,
    # where shapes are crisper: 0.79 and 0.76), none of the noise or the blurred scenes
    assert reference["found"] > 0.15 and reals["found"] > 0.15
    assert noisy["found"] < 0.05 and blurry["found"] < 0.05
    # the embedded FID: reals against other reals about 1, noise or blur against reals a hundred times that
    assert noisy["fid"] > 100 and blurry["fid"] > 100 and reals["fid"] < 0.05 * min(noisy["fid"], blurry["fid"])


@pytest.mark.slow
def test_the_trained_classifier_is_cached_and_read_back(scorer):
    again = quality.embedded_scorer(0, resolution=16, progress=False)
    x, _, _ = scenes(13, 16, 16)
    np.testing.assert_allclose(again.outputs(x)["features"], scorer.outputs(x)["features"], atol=1e-5)
