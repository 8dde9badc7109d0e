"""The tests' fork server: imports TensorFlow, Keras, keras-hub and the suite's common modules once,
then forks a child for each recipe or script a test runs (``python -m recipes.x ...``,
``python tests/scripts/replicas.py ...``), which starts with them imported: a recipe that refuses its
input costs 0.05 CPU-seconds instead of 2-3, and each training run 2-3 fewer (the suite makes ~200
such processes). Nothing is executed by TensorFlow here before the fork (its runtime starts in the
child, which reads TF_NUM_INTRAOP_THREADS and the like from its own environment then).

usage: python tests/scripts/forkserver.py     (tests/conftest.py starts and talks to it)

Requests, one JSON line each on stdin: {"id", "args": ["-m", MODULE, ...] or [SCRIPT.py, ...], "cwd",
"env", "stdout", "stderr" (paths the child writes)}. Replies on stdout, one JSON line each:
{"id", "pid"} when the child is forked, {"pid", "exit"} when it ends (its exit status, or minus the
signal that killed it, as subprocess gives it). The child runs the module or script as ``python`` would,
as ``__main__``, with ``sys.argv``, the working directory and the environment of the request, and
exits through the interpreter's usual shutdown.
"""
import json
import os
import select
import sys

import keras  # noqa: F401
import keras_hub  # noqa: F401
import numpy  # noqa: F401
import tensorflow  # noqa: F401

import suite.data.images  # noqa: F401
import suite.export  # noqa: F401
import suite.training.driver  # noqa: F401
import suite.training.runner  # noqa: F401
from tensorflow.python.eager import context  # noqa: E402

# A child would inherit a started runtime without its thread pools, and could not set its devices
if context.context()._initialized:
    sys.exit("forkserver.py: importing the suite ran a TensorFlow op (a module-level tf.constant or the like): "
             "TensorFlow's runtime must start in each child, not here; move that op into a function")


def child(request):
    """In the forked child: the request's files, directory and environment, then its module or script.
    Returns the exit status."""
    import runpy
    import tempfile
    import traceback

    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # TMPDIR as the request has it
    args = request["args"]
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(args)
            sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
            runpy.run_path(args[0], run_name="__main__")
        return 0
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:  # as python prints an uncaught exception
        traceback.print_exc()
        return 1


def serve():
    """The server's loop; returns the exit status of a forked child (in the child), or 0 when the
    requests end."""
    def reply(message):
        os.write(1, (json.dumps(message) + "\n").encode())

    pending = b""
    forks = os.environ.get("SUITE_FORK_LOG")  # where each child's pid and command are noted (cpu_by_job.py)
    while True:
        while True:  # the children that ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reply({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})
        if not select.select([0], [], [], 0.05)[0]:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return 0
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                return child(request)
            reply({"id": request["id"], "pid": pid})
            if forks:
                with open(forks, "a") as f:
                    f.write(f"{pid} python {' '.join(request['args'])}\n")


if __name__ == "__main__":
    sys.exit(serve())
