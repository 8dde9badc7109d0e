"""Where a test session's CPU goes: samples every Python process's CPU time twice a second and adds
each one's growth to its job, until killed; rewrites OUT (JSON) as it goes.

usage: python tests/scripts/cpu_by_job.py OUT &      (then run the suite; kill this when it ends)

Jobs: ``run:KEY`` (a shared run of tests/runs.py, both of a killed run's processes), ``replicas``
(the replica matrices), ``main`` (the pytest process itself), ``mod:NAME`` (``python -m NAME``
children: recipes refusing bad input, the quality classifier, benchmarks), ``python-c`` (the
TensorFlow-only serving checks), ``script:NAME``. OUT also holds the machine's busy share every 30 s
(1.0: both cores busy). A process younger than half a second can be missed; the suite's budget is
a matter of its minutes-long jobs. The fork server's children (tests/scripts/forkserver.py) all show
its command line: with SUITE_FORK_LOG set to the same file for both, each is named by the command
the server noted for it there. The wall-clock seconds of each run are in SUITE_RUNS_REPORT; this
is their CPU, which does not depend on what ran beside them.
"""
import json
import os
import re
import sys
import time

RUN = re.compile(r"--logdir \S*/trained\d*/([^/\s]+)/logs")


def job(cmd):
    m = RUN.search(cmd)
    if "replicas.py" in cmd:
        return "replicas"
    if m:
        return "run:" + m.group(1)
    if re.search(r"-m pytest|bin/pytest", cmd):
        return "main"
    m = re.search(r" -m (\S+)", cmd)
    if m:
        return "mod:" + m.group(1)
    if " -c " in cmd:
        return "python-c"
    m = re.search(r"python\S* (\S+\.py)", cmd)
    return "script:" + os.path.basename(m.group(1)) if m else "other"


def busy_and_total():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


_FORKS = {}


def forked(pid, cmd):
    """The command the fork server noted for its child ``pid`` (SUITE_FORK_LOG), else ``cmd``."""
    path = os.environ.get("SUITE_FORK_LOG")
    if pid not in _FORKS and path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                number, _, command = line.rstrip("\n").partition(" ")
                _FORKS[int(number)] = command
    return _FORKS.get(pid, cmd)


def main(out):
    hz = os.sysconf("SC_CLK_TCK")
    last, totals, timeline = {}, {}, []
    start = time.time()
    mark, (b0, t0) = start + 30, busy_and_total()
    while True:
        seen = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended between the listing and the read
                continue
            if "python" not in cmd or "cpu_by_job" in cmd:
                continue
            if "forkserver.py" in cmd:
                cmd = forked(int(pid), cmd)
            key = (pid, cmd)
            seen[key] = (int(fields[11]) + int(fields[12])) / hz  # utime + stime
            name = job(cmd)
            totals[name] = totals.get(name, 0.0) + seen[key] - last.get(key, 0.0)
        last = seen
        if time.time() >= mark:
            b1, t1 = busy_and_total()
            timeline.append([round(mark - start), round((b1 - b0) / max(t1 - t0, 1), 3)])
            mark, b0, t0 = mark + 30, b1, t1
        with open(out + ".tmp", "w") as f:
            json.dump({"cpu_seconds": dict(sorted(totals.items(), key=lambda kv: -kv[1])), "busy": timeline}, f,
                      indent=1)
        os.replace(out + ".tmp", out)
        time.sleep(0.5)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    main(sys.argv[1])
