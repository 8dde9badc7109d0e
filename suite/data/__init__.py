"""THE tf.data input layer of the suite: readers, embedded datasets, preprocessing.

The names below load on first use, so that a recipe can name its data modules
without importing TensorFlow before ``--help`` or its strategy.
"""
from suite import lazy_exports

_EXPORTS = {
    "DataError": "errors",
    **{name: "images" for name in ("EMBEDDED", "check_resolution", "image_pipeline", "image_source",
                                   "list_image_files", "render_shapes", "sample_images", "to_float", "to_uint8", "image_grid", "write_png")},
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
