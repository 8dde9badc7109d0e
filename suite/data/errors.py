class DataError(ValueError):
    """Bad input data: the message names the file, tensor or flag and what is wrong."""
