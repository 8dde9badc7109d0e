"""GAN metrics. Sliced Wasserstein distance as in Karras et al. 2018 (appendix D).

From each level of a Laplacian pyramid (from the full resolution down to
16x16) ``descriptors_per_image`` random 7x7 neighbourhoods are taken per
image, each set is normalised per colour channel to zero mean and unit
standard deviation, and the sliced Wasserstein distance between the real and
the generated descriptors is estimated with random projections (4 repeats of
128 directions). Values are reported x 1e3, as in the paper; lower is better.
Images smaller than 16x16 give one level, with patches of min(7, size).

The diversity measure of the same paper (MS-SSIM between pairs of generated
images, 5.2) and the Frechet Inception Distance (Heusel et al. 2017) are here
too, so that every GAN recipe logs the same figures.
"""
import numpy as np

_GAUSS = np.float32([1, 4, 6, 4, 1])
_GAUSS = np.outer(_GAUSS, _GAUSS) / 256.0


def _blur(images):
    """5x5 Gaussian per channel with reflect padding; images [N, H, W, C]."""
    p = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    h, w = images.shape[1:3]
    out = np.zeros_like(images)
    for dy in range(5):
        for dx in range(5):
            out += _GAUSS[dy, dx] * p[:, dy:dy + h, dx:dx + w]
    return out


def _pyr_down(images):
    return _blur(images)[:, ::2, ::2]


def _pyr_up(images):
    n, h, w, c = images.shape
    up = np.zeros((n, h * 2, w * 2, c), np.float32)
    up[:, ::2, ::2] = images * 4.0
    return _blur(up)


def laplacian_pyramid(images, min_size=16):
    """[finest band, ..., coarsest Gaussian level] down to ``min_size`` (or the image size)."""
    levels, current = [], np.asarray(images, np.float32)
    while current.shape[1] > min_size:
        down = _pyr_down(current)
        levels.append(current - _pyr_up(down))
        current = down
    levels.append(current)
    return levels


def _descriptors(images, patch, per_image, rng):
    n, h, w, c = images.shape
    ys = rng.integers(0, h - patch + 1, size=(n, per_image))
    xs = rng.integers(0, w - patch + 1, size=(n, per_image))
    dy, dx = np.meshgrid(np.arange(patch), np.arange(patch), indexing="ij")
    rows = ys[..., None, None] + dy  # [n, per, p, p]
    cols = xs[..., None, None] + dx
    idx = np.arange(n)[:, None, None, None]
    d = images[idx, rows, cols]  # [n, per, p, p, c]
    d = d.reshape(-1, patch, patch, c)
    d = (d - d.mean(axis=(0, 1, 2))) / (d.std(axis=(0, 1, 2)) + 1e-8)
    return d.reshape(d.shape[0], -1)


def sliced_wasserstein(a, b, dir_repeats=4, dirs_per_repeat=128, rng=None):
    """Approximate SWD between two equally sized sets of descriptors [M, D]."""
    rng = rng or np.random.default_rng(0)
    results = []
    for _ in range(dir_repeats):
        dirs = rng.standard_normal((a.shape[1], dirs_per_repeat)).astype(np.float32)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def sliced_wasserstein_distance(real, fake, descriptors_per_image=128, patch=7, min_size=16, seed=0):
    """SWD x 1e3 per pyramid level (finest first) and their mean.

    ``real`` and ``fake``: images [N, H, W, C] in [-1, 1] (numpy or tensors),
    same N. Returns ``{"levels": {resolution: swd}, "mean": swd}``.
    """
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    if real.shape != fake.shape:
        raise ValueError(f"real {real.shape} and fake {fake.shape} image sets differ in shape")
    rng = np.random.default_rng(seed)
    out = {}
    for lr, lf in zip(laplacian_pyramid(real, min_size), laplacian_pyramid(fake, min_size)):
        p = min(patch, lr.shape[1])
        per = min(descriptors_per_image, (lr.shape[1] - p + 1) ** 2 * 4)
        da = _descriptors(lr, p, per, rng)
        db = _descriptors(lf, p, per, rng)
        out[lr.shape[1]] = 1e3 * sliced_wasserstein(da, db, rng=rng)
    return {"levels": out, "mean": float(np.mean(list(out.values())))}


def ms_ssim_diversity(images, pairs=256, seed=0, max_scales=5):
    """Mean MS-SSIM between random pairs of different images (Karras et al. 2018, 5.2; Odena et al. 2017).

    ``images``: [N, H, W, C] in [-1, 1]. Lower means more diverse; a collapsed
    generator scores near 1. Small images use as many scales as their size
    allows (each scale halves it; the 11-tap Gaussian window is shrunk to fit)
    with the standard weights of those scales renormalised.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    n = int(images.shape[0])
    if n < 2:
        raise ValueError(f"MS-SSIM diversity needs at least 2 images, got {n}")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, pairs)
    b = (a + rng.integers(1, n, pairs)) % n  # never the same image
    size = min(int(images.shape[1]), int(images.shape[2]))
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    scales = max(1, min(max_scales, int(np.log2(size / 4)) + 1 if size >= 4 else 1))
    filt = max(1, min(11, size // 2 ** (scales - 1)))
    power = tuple(w / sum(weights[:scales]) for w in weights[:scales])
    x, y = [(tf.gather(images, i) + 1.0) / 2.0 for i in (a, b)]
    value = tf.image.ssim_multiscale(x, y, max_val=1.0, power_factors=power, filter_size=filt)
    return float(tf.reduce_mean(value))


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (Heusel et al. 2017), in float64.

    ``tr((S1 S2)^(1/2))`` is the sum of the square roots of the eigenvalues of
    ``S1 S2``, which are real and non-negative for covariance matrices.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if s1.shape != s2.shape or mu1.shape != mu2.shape:
        raise ValueError(f"feature statistics differ in shape: {mu1.shape}/{s1.shape} vs {mu2.shape}/{s2.shape}")
    eig = np.linalg.eigvals(s1 @ s2)
    covmean_trace = np.sum(np.sqrt(np.clip(eig.real, 0.0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * covmean_trace)


def feature_statistics(features):
    """Mean and covariance of features [N, D] (rows are samples)."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


class InceptionFeatures:
    """The 2048-d pool features of InceptionV3 (Szegedy et al. 2016) that FID compares.

    ``weights`` is a Keras weights file of ``keras.applications.InceptionV3``
    without its top (``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``,
    fetched once where the internet is reachable): nothing is downloaded here.
    Images in [-1, 1] (InceptionV3's own input range) are resized bilinearly to
    ``size`` (299, the standard; FIDs at other sizes are not comparable).
    """

    def __init__(self, weights, size=299, batch_size=50):
        import os

        import keras

        from suite.data.errors import DataError

        weights = os.fspath(weights)
        if not os.path.isfile(weights):
            raise DataError(f"--fid-weights {weights}: no such file")
        if size < 75:
            raise ValueError(f"InceptionV3 needs images of at least 75x75, got size {size}")
        try:
            self.model = keras.applications.InceptionV3(include_top=False, weights=weights, pooling="avg",
                                                        input_shape=(size, size, 3))
        except Exception as e:  # h5py, shape and layer-count errors all mean the same thing here
            raise DataError(f"--fid-weights {weights}: not the weights of InceptionV3 without its top "
                            f"({type(e).__name__}: {e})") from e
        self.size, self.batch_size = int(size), int(batch_size)

    def __call__(self, images):
        import tensorflow as tf

        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape[-1] == 1:
            images = tf.image.grayscale_to_rgb(images)
        out = []
        for i in range(0, int(images.shape[0]), self.batch_size):
            x = tf.image.resize(images[i:i + self.batch_size], (self.size, self.size), method="bilinear")
            out.append(self.model(x, training=False).numpy())
        return np.concatenate(out).astype(np.float64)

    def statistics(self, images):
        return feature_statistics(self(images))


def frechet_inception_distance(features, real, fake):
    """FID between two image sets [N, H, W, C] in [-1, 1] (``real`` may be precomputed (mu, sigma))."""
    mu1, s1 = real if isinstance(real, tuple) else features.statistics(real)
    mu2, s2 = features.statistics(fake)
    return frechet_distance(mu1, s1, mu2, s2)
