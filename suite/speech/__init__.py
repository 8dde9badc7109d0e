"""Speech recognition: DeepSpeech 1 and 2 acoustic models trained with CTC.

- vocabulary: ``text.py``; networks and presets: ``models.py``; CTC task, decoding, error rates,
  serving: ``training.py``
- data: ``suite/data/speech.py`` (espeak-ng corpus, LJSpeech, LibriSpeech, TFDS readers)
- layers: ``suite/layers/audio.py`` (log-mel spectrogram, SpecAugment, context window)
- recipe: ``recipes/deepspeech.py``; benchmark: ``benchmarks/speech.py``; tests:
  ``tests/test_speech.py``, ``tests/test_recipe_speech.py``
"""
