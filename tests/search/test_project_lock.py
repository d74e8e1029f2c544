"""One search per project directory: a second `run` on a project in use stops
with exit 2 naming the process that holds it; a stale lock (its process killed)
is taken over; distributed workers (other tuner ids) do not block each other."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from search.core.errors import UsageError
from search.core.lock import ProjectLock, lock_path
from tests.conftest import REPO_ROOT, run_cli


def write_lock(path, **owner):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hostname": socket.gethostname(), **owner}))


def dead_pid():
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_second_run_on_a_project_in_use_exits_2_naming_the_holder(tmp_path, tracking_uri):
    args = ["run", "--space", "bridge-small", "--max-epochs", 2, "--factor", 2,
            "--experiment", "locked", "--project-dir", tmp_path / "project",
            "--tracking-uri", tracking_uri]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    first = subprocess.Popen([sys.executable, "-m", "search", *map(str, args)], cwd=tmp_path,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    lock = lock_path(tmp_path / "project", "locked", "tuner0")
    try:
        deadline = time.monotonic() + 300
        while not lock.is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.is_file(), first.stderr.read()[-2000:] if first.poll() is not None else ""
        second = run_cli(*args, cwd=tmp_path)
        assert first.poll() is None, "the first search must still hold the lock"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert second.returncode == 2, second.stderr[-2000:]
    line = second.stderr.strip().splitlines()[-1]
    assert line.startswith(f"bridge-search: error: --project-dir '{tmp_path / 'project'}' is "
                           f"in use by process {first.pid} on this host")
    assert "Traceback" not in second.stderr


def test_a_live_holder_is_refused(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    holder = subprocess.Popen(["sleep", "60"])
    try:
        from search.core.lock import _process_start
        write_lock(path, pid=holder.pid, process_start=_process_start(holder.pid))
        with pytest.raises(UsageError, match=f"in use by process {holder.pid} on this host"):
            ProjectLock(path, str(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    pid = dead_pid()
    write_lock(path, pid=pid)
    with ProjectLock(path) as lock:
        assert lock.took_over["pid"] == pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    """The pid is alive (this test's own) but started at another time: stale."""
    path = lock_path(tmp_path, "p", "tuner0")
    write_lock(path, pid=os.getppid(), process_start=1)
    with ProjectLock(path) as lock:
        assert lock.took_over["pid"] == os.getppid()


def test_a_lock_cut_short_by_a_kill_is_taken_over(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    path.write_text('{"pid": 12')
    old = time.time() - 60
    os.utime(path, (old, old))
    with ProjectLock(path) as lock:
        assert lock.held


def test_another_hosts_lock_is_refused_with_how_to_clear_it(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 4242, "hostname": "gpu-node-7"}))
    with pytest.raises(UsageError, match=r"in use by process 4242 on host gpu-node-7; .*delete"):
        ProjectLock(path).acquire()


def test_distributed_tuner_ids_lock_separately(tmp_path):
    with ProjectLock(lock_path(tmp_path, "p", "chief")), \
            ProjectLock(lock_path(tmp_path, "p", "tuner0")), \
            ProjectLock(lock_path(tmp_path, "p", "tuner1")):
        assert len(list(tmp_path.glob(".p.*.lock"))) == 3


# Each racer waits for the start file, tries to take the lock over, says "won"
# (and holds the lock until the stop file appears) or "refused". The second
# racer's Path.unlink is slowed down: it has read the stale owner, and removes
# the file only after the first has taken the lock, the window in which a
# non-atomic takeover deletes the winner's fresh lock.
RACER = '''
import pathlib, sys, time
from search.core.lock import ProjectLock
from search.core.errors import UsageError
slow_unlink = pathlib.Path.unlink
def unlink(self, *args, **kwargs):
    time.sleep(float(sys.argv[4]))
    return slow_unlink(self, *args, **kwargs)
pathlib.Path.unlink = unlink
lock_file, start, stop = map(pathlib.Path, sys.argv[1:4])
while not start.exists():
    time.sleep(0.005)
try:
    lock = ProjectLock(lock_file).acquire()
except UsageError as error:
    print("refused", error, flush=True)
    sys.exit(2)
print("won", flush=True)
while not stop.exists():
    time.sleep(0.01)
lock.release()
'''


@pytest.mark.parametrize("attempt", range(4))
def test_two_processes_taking_over_one_stale_lock_one_wins(attempt, tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    write_lock(path, pid=dead_pid())
    start, stop = tmp_path / "start", tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(path), str(start), str(stop),
                                unlink_delay], env=env, stdout=subprocess.PIPE, text=True)
              for unlink_delay in ("0", "0.6")]
    time.sleep(0.5)  # both started and waiting
    start.touch()
    try:
        first_words = []
        for racer in racers:  # the loser exits; the winner prints and holds
            first_words.append(racer.stdout.readline().split(" ")[0].strip())
    finally:
        stop.touch()
        codes = [racer.wait(timeout=60) for racer in racers]
    assert sorted(first_words) == ["refused", "won"], first_words
    assert sorted(codes) == [0, 2]
