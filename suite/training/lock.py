"""One run per log directory: ``LOGDIR/.run.lock``, held with ``flock`` and naming its holder.

The kernel releases an ``flock`` when its process ends, even by SIGKILL, so a
lock left by a killed run is taken over by the next one (with a message
naming the run that is gone), while a second run started on a log directory
in use is refused with the holder's host and process id. The file itself is
never removed (removing a lock file races with a process opening it) but by
a run that wrote nothing else in a log directory it created; a clean release
empties it.
"""
import fcntl
import json
import os
import socket
import sys

LOCK_NAME = ".run.lock"


class RunLock:
    """``with RunLock(logdir):`` holds ``logdir`` for this process; a ValueError if another holds it."""

    def __init__(self, logdir):
        self.logdir = os.fspath(logdir)
        self.path = os.path.join(self.logdir, LOCK_NAME)
        self._file = None
        self._created = False

    def _holder(self, f):
        f.seek(0)
        try:
            return json.loads(f.read() or "null")
        except ValueError:
            return None

    def acquire(self):
        self._created = not os.path.exists(self.logdir)
        try:
            os.makedirs(self.logdir, exist_ok=True)
            f = open(self.path, "a+")
        except OSError as e:
            raise ValueError(f"--logdir {self.logdir}: cannot write {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(f) or {}
            f.close()
            raise ValueError(f"--logdir {self.logdir} is in use by process {holder.get('pid', '?')} on "
                             f"{holder.get('host', '?')} (its lock: {self.path}); wait for that run to end, "
                             "or pass another --logdir") from None
        previous = self._holder(f)
        if previous:
            print(f"--logdir {self.logdir}: taking over the lock of process {previous.get('pid')} on "
                  f"{previous.get('host')}, which ended without releasing it", file=sys.stderr)
        f.seek(0)
        f.truncate()
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, f)
        f.flush()
        self._file = f
        return self

    def release(self):
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        if self._created and os.listdir(self.logdir) == [LOCK_NAME]:  # a run that wrote nothing leaves nothing
            os.remove(self.path)
            os.rmdir(self.logdir)
        self._file.close()  # closing the last descriptor releases the flock
        self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
