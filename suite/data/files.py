"""Checks of image files before training: a file that could fail inside a training step names itself
first.

Decoding every image of COCO or CelebA up front would take minutes; reading each
file's first and last bytes takes a fraction of that and catches what was
observed to crash or silently shrink a run: random bytes, a header over
garbage, and truncation (a JPEG without its end-of-image marker, a PNG without
its IEND chunk).
"""
import os

from suite.data.errors import DataError

MAGIC = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP"}
_TAIL = 4096  # end markers are searched for in the last bytes (some writers pad after them)
_END = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}


def cache_root():
    """Where embedded corpora and trained helpers are kept: ``$SUITE_CACHE`` or ``~/.cache/suite``."""
    return os.environ.get("SUITE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "suite")


def replace_folder(directory, fill):
    """Writes a folder as a whole: ``fill(tmp)`` fills a new folder beside ``directory``, which then
    takes its place (an older one is removed after), so that a reader never finds it half-written."""
    import shutil
    import tempfile

    parent = os.path.dirname(os.path.abspath(directory))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(directory)}-", dir=parent)
    try:
        fill(tmp)
        old = f"{directory}.old-{os.getpid()}"
        if os.path.exists(directory):
            os.rename(directory, old)
        os.rename(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def image_kind(path):
    """'JPEG', 'PNG' or 'BMP' for a whole file of that format; DataError naming ``path`` otherwise."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(max(0, size - _TAIL))
            tail = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    if not head:
        raise DataError(f"{path}: empty image file")
    kind = next((k for m, k in MAGIC.items() if head.startswith(m)), None)
    if kind is None:
        raise DataError(f"{path}: not a JPEG, PNG or BMP file (bad header)")
    if kind == "BMP":  # its header gives its size
        declared = int.from_bytes(head[2:6], "little")
        if declared > size:
            raise DataError(f"{path}: truncated BMP ({size} of {declared} bytes)")
    elif _END[kind] not in tail:
        raise DataError(f"{path}: truncated or corrupt {kind} (no end marker)")
    return kind


class BadFiles:
    """What a reader does with a file that fails its checks: refuse the run, naming the file (the
    default), or, with ``--skip-bad-files``, leave the file out and keep its error in ``skipped`` for
    the run's report."""

    def __init__(self, skip=False):
        self.skip, self.skipped = skip, []

    def check(self, fn, *args):
        """``fn(*args)`` (a check that raises DataError naming the file); None for a skipped file."""
        try:
            return fn(*args)
        except DataError as e:
            if not self.skip:
                raise DataError(f"{e} (--skip-bad-files leaves such files out)") from None
            if str(e) not in self.skipped:  # (a file read twice, for two splits, is one skip)
                self.skipped.append(str(e))
            return None


REFUSE = BadFiles()
