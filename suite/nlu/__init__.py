"""Multi-task NLU: the lexicon encoder (WordPiece in core TensorFlow ops: ``lexicon.py``), BERT and
its pre-training (``bert.py``, ``pretraining.py``), MT-DNN (``mtdnn.py``), GLUE metrics
(``metrics.py``), serving signatures (``serving.py``).

- data: ``suite/data/nlu.py`` (embedded stories and tasks), ``suite/data/glue.py`` (GLUE TSV, TFDS)
- layers: ``suite/layers/nlu.py`` (the stochastic answer network)
- recipes: ``recipes/bert.py``, ``recipes/mtdnn.py``; benchmark: ``benchmarks/mtdnn.py``;
  tests: ``tests/test_nlu_*.py``, ``tests/test_data_nlu.py``, ``tests/test_recipe_nlu.py``
"""
