"""Human action recognition: single-frame, late/early/slow fusion (Karpathy et al. 2014) and
two-stream (Simonyan and Zisserman 2014).

- networks and presets: ``models.py``; training task, clip/video evaluation, serving: ``training.py``
- data: ``suite/data/video.py`` (embedded motion videos, UCF-101/HMDB-51/TFDS readers, optical flow)
- layers: ``suite/layers/video.py`` (local response normalization, frame and flow inputs)
- recipe: ``recipes/action.py``; benchmark: ``benchmarks/action.py``; tests: ``tests/test_action.py``,
  ``tests/test_recipe_action.py``
"""
