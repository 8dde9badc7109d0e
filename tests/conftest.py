import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# generated corpora (the espeak-ng speech) are written once and shared by every test and recipe run
os.environ.setdefault("SUITE_CACHE", os.path.join(tempfile.gettempdir(), "suite-test-cache"))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
# every process the tests start (recipe runs, the replica matrix, the fork server and the serving worker) allocates
# with jemalloc where the Debian package libjemalloc2 is installed (.ci/run installs it): the same arithmetic, 2-8%
# fewer CPU-seconds (python -m benchmarks allocator measures it); SUITE_TEST_JEMALLOC=0 keeps glibc's malloc
from benchmarks.allocator import LIBRARIES  # noqa: E402

if os.environ.get("SUITE_TEST_JEMALLOC", "1") != "0" and os.path.isfile(LIBRARIES["jemalloc"]) \
        and "LD_PRELOAD" not in os.environ:
    os.environ["LD_PRELOAD"] = LIBRARIES["jemalloc"]


class _ForkedChild:
    """A child of the fork server, as much of ``subprocess.Popen`` as the tests use (``pid``, ``poll``,
    ``wait``, ``kill``, ``returncode``); its output goes to the files it was given."""

    def __init__(self, server, pid):
        self.server, self.pid, self.returncode = server, pid, None

    def poll(self):
        if self.returncode is None:
            self.returncode = self.server.exits.get(self.pid)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.server.ended:
            while self.poll() is None:
                if not self.server.alive():
                    raise AssertionError(f"the fork server ended while its child {self.pid} ran:\n"
                                         f"{self.server.stderr_tail()}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(f"child {self.pid}", timeout)
                self.server.ended.wait(min(left, 1.0) if left is not None else 1.0)
        return self.returncode

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # ended already
            pass


class _ForkServer:
    """The client of tests/scripts/forkserver.py: recipes and scripts the tests run start as its forked
    children, with TensorFlow, Keras and the suite imported already (2-3 CPU-seconds less a process).
    ``SUITE_TEST_FORK=0`` runs them as new processes instead."""

    def __init__(self):
        import threading

        self.proc, self.lock, self.ended = None, threading.Lock(), threading.Condition()
        self.pids, self.exits, self.next_id = {}, {}, 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-4000:]

    def _start(self):
        import threading

        self.stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "scripts", "forkserver.py")],
                                     cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            message = json.loads(line)
            with self.ended:
                if "exit" in message:
                    self.exits[message["pid"]] = message["exit"]
                else:
                    self.pids[message["id"]] = message["pid"]
                self.ended.notify_all()
        with self.ended:
            self.ended.notify_all()

    def spawn(self, args, cwd, env, stdout, stderr):
        """Starts ``python ARGS`` (``-m MODULE ...`` or ``SCRIPT.py ...``) as a child writing to the files
        ``stdout`` and ``stderr``; returns its ``_ForkedChild``."""
        with self.lock:
            if not self.alive():
                self._start()
            self.next_id += 1
            request = {"id": self.next_id, "args": [str(a) for a in args], "cwd": str(cwd), "env": env,
                       "stdout": str(stdout), "stderr": str(stderr)}
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            key = self.next_id
        with self.ended:
            while key not in self.pids:
                if not self.alive():
                    raise AssertionError(f"the fork server ended:\n{self.stderr_tail()}")
                self.ended.wait(1.0)
            return _ForkedChild(self, self.pids.pop(key))

    def stop(self):
        if self.alive():
            self.proc.stdin.close()
            self.proc.wait()


_fork_server = _ForkServer()


def forkable(args):
    """Whether ``python ARGS`` may start as a child of the fork server: a module or a script, not ``-c``."""
    return os.environ.get("SUITE_TEST_FORK", "1") != "0" and bool(args) and (
        args[0] == "-m" or str(args[0]).endswith(".py"))


def start_python(args, cwd, env, stdout, stderr):
    """``python ARGS`` started with its output into the open files ``stdout`` and ``stderr``: a child
    of the fork server where ``forkable``, else a new process. Returns it (``Popen``-like)."""
    if forkable(args):
        # the child opens this process's files by their /proc names (anonymous temporary files have no other)
        return _fork_server.spawn(args, cwd, env, f"/proc/{os.getpid()}/fd/{stdout.fileno()}",
                                  f"/proc/{os.getpid()}/fd/{stderr.fileno()}")
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=stdout, stderr=stderr)


def run_python(args, *, env=None, timeout=600, cwd=None, check=True):
    """Runs ``python ARGS`` from the repository root; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    args = [str(a) for a in args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = start_python(args, cwd or ROOT, full_env, out, err)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        proc = subprocess.CompletedProcess([sys.executable, *args], proc.returncode, out.read(), err.read())
    if check and proc.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def python():
    return run_python


def result_json(stdout):
    """The JSON result line a recipe prints last."""
    import json

    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def serve_generator(path, latent_dim, count, cwd):
    """Calls an exported generator's serving_default in a process that imports TensorFlow only;
    returns the shape of the uint8 images it returned."""
    return tuple(tensorflow_only(
        f"m = tf.saved_model.load({str(path)!r})\n"
        "sig = m.signatures['serving_default']\n"
        f"img = sig(latents=tf.random.normal([{count}, {latent_dim}]))['images']\n"
        "assert img.dtype == tf.uint8, img.dtype\n"
        "assert int(tf.reduce_max(img)) > int(tf.reduce_min(img))\n"
        "out = img.shape.as_list()\n", cwd))


def assert_refused_cleanly(args, message, tmp_path):
    """Runs a recipe with ``args`` into tmp_path/logs and tmp_path/export: it must stop with exit
    status 2 and ``message`` on stderr, no traceback, and nothing written to either."""
    logdir, export_dir = tmp_path / "logs", tmp_path / "export"
    refused(run_python([*args, "--logdir", str(logdir), "--export-dir", str(export_dir)], check=False), message)
    assert not export_dir.exists() and not logdir.exists()


def assert_bad_text_refused(args, tmp_path):
    """A text recipe (``args``) refuses an empty, a binary and a non-UTF-8 ``--data`` file cleanly
    (``assert_refused_cleanly``), naming the file."""
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "latin1.txt").write_bytes("café olé\n".encode("latin-1"))
    for name, message in (("empty.txt", "no words in it"), ("binary.txt", "a binary file"),
                          ("latin1.txt", "not UTF-8 text")):
        assert_refused_cleanly([*args, "--data", str(tmp_path / name)], f"{name}: {message}", tmp_path)


def refused(proc, message):
    """``proc`` stopped with exit status 2 and ``message`` on stderr, without a traceback."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def snapshot(root):
    """{relative path: (size, mtime)} of every file under ``root`` but the run lock (an empty file
    a recipe holds while it runs in that log directory)."""
    return {os.path.relpath(os.path.join(d, f), root): (os.stat(os.path.join(d, f)).st_size,
                                                         os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, files in os.walk(root) for f in files if f != ".run.lock"}


def refused_on_a_copy(run, args, message, tmp_path):
    """Runs a recipe with ``args`` on a copy of the shared ``run``'s log directory and on its export
    directory: it must stop with exit status 2 and ``message`` on stderr, no traceback, and change
    nothing in either."""
    import shutil

    logdir, export_dir = tmp_path / "logs", run.export_dir
    shutil.copytree(run.logdir, logdir)
    before = snapshot(logdir), snapshot(export_dir)
    refused(run_python([*args, "--logdir", str(logdir), "--export-dir", str(export_dir)], check=False), message)
    assert (snapshot(logdir), snapshot(export_dir)) == before, "a refused run wrote something"


# The worker of ``tensorflow_only``: reads one JSON request a line ({"body", "cwd", "forbidden"}) and
# answers each with one line, "REPLY" + JSON: {"out"}, {"error": the traceback}, or {"stale": modules}
# when a module the request forbids was imported by an earlier request (the client starts a new
# worker); "rss": its resident memory in kB.
_WORKER = """
import gc, json, os, sys, traceback
import tensorflow as tf
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["cwd"])
    forbidden = tuple(request["forbidden"])
    stale = [k for k in sys.modules if k.startswith(forbidden)]
    if stale:
        reply = {"stale": stale}
    else:
        tf.random.set_seed(None)
        scope = {"json": json, "os": os, "sys": sys, "tf": tf}
        try:
            exec(request["body"], scope)
            imported = [k for k in sys.modules if k.startswith(forbidden)]
            assert not imported, "imported the suite: " + ", ".join(sorted(imported)[:5])
            reply = {"out": json.loads(json.dumps(scope["out"]))}
        except BaseException:
            reply = {"error": traceback.format_exc()}
        del scope
        gc.collect()
    with open("/proc/self/status") as f:
        reply["rss"] = int(next(l for l in f if l.startswith("VmRSS")).split()[1])
    sys.stdout.write("REPLY" + json.dumps(reply) + "\\n")
    sys.stdout.flush()
"""


class _TensorFlowOnlyWorker:
    """One Python process that imports TensorFlow and nothing of the suite, kept for the session: every
    serving check runs in it instead of in a new process each (~3 CPU-seconds of TensorFlow's import
    each, ~60 checks). A new one is started when a check fails, when a request forbids a module an
    earlier one imported, and when it holds more than RSS_LIMIT kB (every export it loaded)."""

    RSS_LIMIT = 4_000_000

    def __init__(self):
        self.proc = None

    def _start(self):
        self.stderr = tempfile.TemporaryFile()
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=tempfile.gettempdir(), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr)
        self.buffer = b""

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _stderr_tail(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-6000:]

    def _reply(self, timeout):
        import select

        deadline = time.monotonic() + timeout
        while True:
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                ready = select.select([self.proc.stdout], [], [], max(0.0, left))[0] if left > 0 else []
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16) if ready else b""
                if not chunk:
                    why = "timed out" if left <= 0 or not ready else f"exited {self.proc.poll()}"
                    tail = self._stderr_tail()
                    self.stop()
                    raise AssertionError(f"the TensorFlow-only worker {why}\n{tail}")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.startswith(b"REPLY"):  # other lines: something the body printed
                break
        return json.loads(line[len("REPLY"):])

    def run(self, body, cwd, forbidden, timeout=600):
        for _ in range(2):
            if self.proc is None:
                self._start()
            request = json.dumps({"body": body, "cwd": str(cwd), "forbidden": list(forbidden)})
            self.proc.stdin.write(request.encode() + b"\n")
            self.proc.stdin.flush()
            reply = self._reply(timeout)
            if "stale" not in reply:
                break
            self.stop()
        else:
            raise AssertionError(f"a new TensorFlow-only process has imported {reply['stale'][:5]} already")
        if "error" in reply or reply["rss"] > self.RSS_LIMIT:
            tail = self._stderr_tail() if "error" in reply else ""
            self.stop()
            if "error" in reply:
                raise AssertionError(f"a TensorFlow-only check failed\n{reply['error']}\n{tail}")
        return reply["out"]


_worker = _TensorFlowOnlyWorker()


def tensorflow_only(body, cwd, forbidden=("suite", "recipes")):
    """Runs ``body`` (Python that leaves its answer in ``out``; ``json``, ``os``, ``sys`` and ``tf`` are
    imported) in a process that must import no module of ``forbidden`` (a client of an export has
    TensorFlow, not the suite), from ``cwd``; returns ``out`` through JSON. The process is shared
    by the session's checks (``_TensorFlowOnlyWorker``)."""
    return _worker.run(body, cwd, forbidden)


def replay_warmup(path, cwd):
    """Reads an export's TF Serving warm-up records (PredictionLog protos) and replays each through the
    signature it names, in a TensorFlow-only process; returns {signature: {output: shape}} (every
    signature of the export must have its request).

    Every export's replay is also the serving half of the bad-input matrix (the flag half:
    tests/test_bad_input.py): each signature gets its request with every batched input cut to no
    example, and must answer with every per-example output empty; and its request with one more
    dimension on each input in turn, and must refuse it with an InvalidArgumentError naming that input."""
    return tensorflow_only(
        "from tensorflow_serving.apis import prediction_log_pb2\n"
        f"m = tf.saved_model.load({str(path)!r})\n"
        "out = {}\n"
        f"for record in tf.data.TFRecordDataset(os.path.join({str(path)!r}, 'assets.extra', "
        "'tf_serving_warmup_requests')):\n"
        "    request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request\n"
        "    name = request.model_spec.signature_name\n"
        "    sig = m.signatures[name]\n"
        "    inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}\n"
        "    res = sig(**inputs)\n"
        "    out[name] = {k: v.shape.as_list() for k, v in res.items()}\n"
        "    n = next((v.shape[0] for v in inputs.values() if v.shape.rank), None)  # the request's examples\n"
        "    batched = [k for k, v in inputs.items() if v.shape.rank and v.shape[0] == n]\n"
        "    if batched:  # no example: an empty answer (outputs that are not per example, class names, stay)\n"
        "        empty = sig(**{k: v[:0] if k in batched else v for k, v in inputs.items()})\n"
        "        for k, v in res.items():\n"
        "            if v.shape.rank and v.shape[0] == n:\n"
        "                assert empty[k].shape[0] == 0, (name, k, empty[k].shape)\n"
        "    for k in inputs:  # a wrong rank: refused, naming the input\n"
        "        try:\n"
        "            sig(**{**inputs, k: inputs[k][..., None]})\n"
        "        except tf.errors.InvalidArgumentError as e:\n"
        "            assert k in e.message, (name, k, e.message[:500])\n"
        "        else:\n"
        "            raise AssertionError(f'{name} accepted {k} of rank {inputs[k].shape.rank + 1}')\n"
        "assert sorted(out) == sorted(m.signatures), (sorted(out), sorted(m.signatures))\n", cwd)


def serve_cases(path, cases, cwd):
    """Calls an export's signatures in a TensorFlow-only process; ``cases``: [(signature, {input: a
    TensorFlow expression})] -> per case {output: its shape}, or {"error": the message} of an
    InvalidArgumentError (a request the export refuses)."""
    return tensorflow_only(
        f"m = tf.saved_model.load({str(path)!r})\n"
        "out = []\n"
        f"for sig, inputs in json.loads({json.dumps(json.dumps(cases))}):\n"
        "    try:\n"
        "        res = m.signatures[sig](**{k: eval(v) for k, v in inputs.items()})\n"
        "        out.append({k: v.shape.as_list() for k, v in res.items()})\n"
        "    except tf.errors.InvalidArgumentError as e:\n"
        "        out.append({'error': e.message})\n", cwd)


def serve_random_uint8(path, inputs, cwd):
    """Calls an export's serving_default with random uint8 tensors of the given shapes ({name: shape})
    in a TensorFlow-only process; returns the outputs as lists."""
    return tensorflow_only(
        f"m = tf.saved_model.load({str(path)!r})\n"
        f"shapes = json.loads({json.dumps(json.dumps(inputs))})\n"
        "args = {k: tf.cast(tf.random.uniform(s, 0, 256, tf.int32, seed=1), tf.uint8) for k, s in shapes.items()}\n"
        "res = m.signatures['serving_default'](**args)\n"
        "out = {k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist() for k, v in res.items()}\n",
        cwd)


# ---------------------------------------------------------------------------------------------
# One training run per model for the whole session: its learning, export, serving, TensorBoard and
# resume checks all read the same run, so nothing trains twice for a check a shared run can show.
class TrainedRun:
    """A finished recipe run: ``result`` (its printed JSON), ``logdir``, ``export_dir``, ``stdout``,
    ``stderr`` (of the last process), ``resumed_at`` (the step the second process resumed from
    when the run was killed on purpose, else None)."""

    def __init__(self, result, logdir, export_dir, stdout, stderr, resumed_at=None):
        self.result, self.logdir, self.export_dir = result, logdir, export_dir
        self.stdout, self.stderr, self.resumed_at = stdout, stderr, resumed_at

    @property
    def export(self):
        return self.result["export"]


def checkpoint_step(logdir):
    index = os.path.join(logdir, "checkpoints", "checkpoint")
    if not os.path.exists(index):
        return 0
    text = open(index).read()
    return int(text.split('"')[1].rsplit("-", 1)[1]) if '"' in text else 0


def train_killed_and_resumed(args, logdir, export_dir, kill_at, timeout=1700, cwd=None, env=None):
    """Runs ``python ARGS`` until its checkpoint reaches ``kill_at`` steps, kills it with SIGKILL,
    checks that nothing was exported, then runs the same command to the end. Returns the second
    process (CompletedProcess) and the step it resumed from."""
    extra = env or {}
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    cmd = [sys.executable, *args, "--logdir", str(logdir), "--export-dir", str(export_dir)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = start_python(cmd[1:], cwd or ROOT, env, out, err)
        deadline = time.time() + timeout
        while time.time() < deadline and proc.poll() is None and checkpoint_step(logdir) < kill_at:
            time.sleep(0.2)
        if proc.poll() is not None:
            err.seek(0)
            raise AssertionError(f"{' '.join(args)} ended (exit {proc.returncode}) before it could be killed at "
                                 f"step {kill_at}\n{err.read()[-4000:]}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not os.path.exists(export_dir) or not os.listdir(export_dir), "a killed run left an export"
    second = run_python([*args, "--logdir", str(logdir), "--export-dir", str(export_dir)], timeout=timeout, cwd=cwd,
                        env=extra)
    resumed = [line for line in second.stderr.splitlines() if line.startswith("Resumed from")]
    assert resumed, second.stderr[-3000:]
    assert f"taking over the lock of process {proc.pid}" in second.stderr  # the killed run's
    return second, int(resumed[0].rsplit(" ", 1)[1])


class TrainedRuns:
    """The session's training runs (``tests/runs.py``), started in the background by ``start``; ``get``
    waits for one and returns its ``TrainedRun``."""

    def __init__(self, root, jobs=2):
        import concurrent.futures

        self.root, self.jobs = root, max(1, jobs)
        self.pool = concurrent.futures.ThreadPoolExecutor(max(1, jobs))
        self.futures = {}
        self.started, self.times = time.time(), {}  # key: (start, seconds) of its job, from the session's start
        # side by side, each run takes one core: two TensorFlow processes with a thread pool per core
        # each fight over the cores (measured: 1.44x the throughput of one run alone with one thread
        # each, 1.32x with the default pools)
        one = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self.env = one if jobs > 1 else {}

    def _train(self, key):
        start = time.time()
        try:
            return self._train_run(key)
        finally:
            self.times[key] = (round(start - self.started, 1), round(time.time() - start, 1))

    def _train_run(self, key):
        from runs import REPLICA_GROUPS, RUNS

        if key in REPLICA_GROUPS:
            # (its two replicas' all-reduces wait for each other: never a single inter-op thread)
            return replica_matrix(REPLICA_GROUPS[key], self.root / key,
                                  {k: v for k, v in self.env.items() if k != "TF_NUM_INTEROP_THREADS"})
        args, kill_at, _ = RUNS[key]
        logdir, export_dir = self.root / key / "logs", self.root / key / "export"
        if kill_at:
            proc, resumed_at = train_killed_and_resumed(args, logdir, export_dir, kill_at, env=self.env)
        else:
            proc = run_python([*args, "--logdir", str(logdir), "--export-dir", str(export_dir)], timeout=1700,
                              env=self.env)
            resumed_at = None
        run = TrainedRun(result_json(proc.stdout), logdir, export_dir, proc.stdout, proc.stderr, resumed_at)
        print(json.dumps({"run": key, "initial": run.result.get("initial"), "history": run.result.get("history")}))
        return run

    def start(self, keys):
        from runs import schedule

        plan = schedule(set(keys) - set(self.futures), self.jobs)
        for key in sorted(plan, key=lambda k: plan[k][0]):
            self.futures[key] = self.pool.submit(self._train, key)

    def get(self, key):
        self.start([key])
        result = self.futures[key].result()
        report = os.environ.get("SUITE_RUNS_REPORT")  # every finished run's figures, for the README's tables,
        if report:  # and its job's start and seconds (the costs in tests/runs.py)
            done = {k: f.result() for k, f in self.futures.items() if f.done() and not f.exception()}
            with open(report, "w") as fh:
                json.dump({k: {**({"kinds": v} if isinstance(v, dict) else {"result": v.result,
                                                                             "resumed_at": v.resumed_at}),
                               "job": self.times.get(k)} for k, v in done.items()}, fh, indent=1, default=str)
        return result


def replica_matrix(kinds, workdir, env=None):
    """tests/scripts/replicas.py on ``kinds``: {kind: its figures}."""
    os.makedirs(workdir, exist_ok=True)
    proc = run_python(["tests/scripts/replicas.py", *kinds], timeout=1500, env={"TMPDIR": str(workdir), **(env or {})})
    return {r["kind"]: r for r in (json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
                                   if line.startswith("RESULT "))}


_TRAINED = {}
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def pytest_configure(config):
    config.addinivalue_line("markers", "trained(key): the test reads the shared training run KEY (tests/runs.py)")


def pytest_unconfigure(config):
    _worker.stop()
    _fork_server.stop()


def pytest_collection_modifyitems(session, config, items):
    """Tests that read a shared run go last: the others run while the runs train in the background;
    among them, the tests of the run expected to finish first go first (``runs.schedule``), so they
    run while the later runs still train. Their wait for a run is not a hang: pytest.ini's per-test
    timeout does not apply to them (the runs have their own)."""
    from runs import schedule

    def keys(item):
        return [m.args[0] for m in item.iter_markers("trained")]

    unmarked = [item.nodeid for item in items if keys(item) and item.get_closest_marker("slow") is None]
    if unmarked:  # the developer loop (-m "not slow") must never wait for a training run
        raise pytest.UsageError(f"tests reading a shared run must be marked slow too: {', '.join(unmarked)}")
    plan = schedule({k for item in items for k in keys(item)}, shared_run_jobs())
    items.sort(key=lambda item: (bool(keys(item)), max((plan[k][1] for k in keys(item)), default=0.0)))
    for item in items:
        if item.get_closest_marker("trained") is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(0))


def pytest_collection_finish(session):
    keys = {m.args[0] for item in session.items for m in item.iter_markers("trained")}
    if keys and not session.config.option.collectonly and not _XDIST_WORKER:
        trained_runs(session.config).start(keys)


def shared_run_jobs():
    """How many shared runs train side by side (``SUITE_TEST_JOBS``, default 2)."""
    return int(os.environ.get("SUITE_TEST_JOBS", "2"))


def trained_runs(config):
    if "runs" not in _TRAINED:
        root = config._tmp_path_factory.mktemp("trained")  # noqa: SLF001 - pytest's own session directory
        _TRAINED["runs"] = TrainedRuns(root, shared_run_jobs())
    return _TRAINED["runs"]


@pytest.fixture(scope="session")
def trained(pytestconfig):
    """The session's shared training runs: ``trained.get(KEY)`` (see tests/runs.py)."""
    if _XDIST_WORKER:  # each pytest-xdist worker would train every run again
        pytest.fail("the shared training runs train once per session: run the tests that read them without -n "
                    "(pytest-xdist is for the developer loop, -m \"not slow\")", pytrace=False)
    return trained_runs(pytestconfig)


def tensorboard_tags(logdir):
    """{plugin: set of tags} of the event files in ``logdir``, and the HParams of the run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    tags = {}
    for tag in acc.Tags()["tensors"]:
        tags.setdefault(acc.SummaryMetadata(tag).plugin_data.plugin_name, set()).add(tag)
    hparams = {}
    contents = acc.PluginTagToContent("hparams") if "hparams" in tags else {}
    for tag, content in contents.items():
        info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        for name, value in info.hparams.items():
            hparams[name] = value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
    return tags, hparams


def loss_curve(logdir, tag="loss"):
    """[(step, value)] of scalar ``tag`` in ``logdir``'s event files, across a kill and resume (the
    resumed process's values replace those the killed one logged past its checkpoint). The driver
    logs step 1, the untrained model's loss, then the mean of every logging interval."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def learned(initial, final, reported):
    """The share of the way from ``initial`` (the untrained model's figure) to ``reported`` (what
    the README reports for the same run) that ``final`` went, for figures that rise (accuracy) or
    fall (error rates, distances) alike. A learning test asserts it is at least 0.5: a model that
    learned less than half of what the README says fails."""
    assert reported != initial, (initial, reported)
    return (final - initial) / (reported - initial)


def readme_figure(run, metric):
    """What the README's table of tiny runs ("What the tests' tiny runs reach") reports for
    ``run`` and ``metric``: the learning tests hold each run to half of it, so the README and the
    tests cannot drift apart."""
    import re

    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("### What the tests' tiny runs reach", 1)[1].split("\n#", 1)[0]
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0] == run and cells[3] == metric:
            return float(re.sub(r"[^0-9.eE+-]", "", cells[5]))
    raise KeyError(f"README.md's tiny-run table has no row for {run} / {metric}")
