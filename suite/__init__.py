"""The course suite: Keras functional-API model builders per topic.

Data flows one way: ``suite.data`` -> ``suite.<topic>`` (using ``suite.layers``)
-> ``suite.training`` -> ``suite.export``. See ../shared/ARCHITECTURE.md.
"""


def lazy_exports(package, exports):
    """A module ``__getattr__`` that imports ``package.<module>`` on first use of each name of
    ``exports`` ({name: module}): packages whose import must not pull TensorFlow in (a recipe's
    ``--help``, its strategy created before any other TensorFlow op) export their names this way."""
    import importlib

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return __getattr__
