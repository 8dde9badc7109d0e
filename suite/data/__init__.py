"""THE tf.data input layer of the suite: readers, embedded datasets, preprocessing."""
from suite.data.errors import DataError  # noqa: F401
from suite.data.images import (  # noqa: F401
    EMBEDDED,
    check_resolution,
    image_pipeline,
    image_source,
    list_image_files,
    render_shapes,
    sample_images,
    to_float,
    to_uint8,
)
