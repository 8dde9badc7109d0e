"""GANs: the one training mechanism (``gan.py``), losses (``losses.py``), metrics (SWD, MS-SSIM,
FID: ``metrics.py``), the TensorBoard monitor (``callbacks.py``), PGGAN (``pggan.py``) and
GAN/DCGAN/WGAN/WGAN-GP (``classic.py``).

- data: ``suite/data/images.py`` (embedded shapes scenes, image folders, TFDS)
- layers: ``suite/layers/gan.py`` (pixel norm, minibatch stddev, equalized layers, fade-in, maxout)
- recipes: ``recipes/pggan.py``, ``recipes/gan.py``, ``recipes/dcgan.py``, ``recipes/wgan.py``
  (shared: ``recipes/_gan.py``, ``recipes/_classic_gan.py``), ``recipes/predict.py`` (samples of an export);
  benchmarks: ``benchmarks/pggan.py``, ``benchmarks/gans.py``; tests: ``tests/test_gan_*.py``,
  ``tests/test_recipe_pggan.py``, ``tests/test_recipe_gans.py``
"""
