"""The course suite: Keras functional-API model builders per topic.

Data flows one way: ``suite.data`` -> ``suite.<topic>`` (using ``suite.layers``)
-> ``suite.training`` -> ``suite.export``. See ../shared/ARCHITECTURE.md.
"""
