"""One search per project directory: a second `run` on a project in use stops
with exit 2 naming the process that holds it; the lock of a process that was
killed is free at once (the kernel drops its flock); distributed workers (other
tuner ids) do not block each other."""

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
from tests.search.lock_helpers import holder


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


def test_a_live_holder_is_refused_and_check_free_says_so_too(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    process = holder(path)
    try:
        message = f"in use by process {process.pid} on this host \\({socket.gethostname()}\\)"
        with pytest.raises(UsageError, match=message):
            ProjectLock(path, str(tmp_path)).acquire()
        with pytest.raises(UsageError, match=message):
            ProjectLock(path, str(tmp_path)).check_free()
    finally:
        process.kill()
        process.wait()


def test_a_killed_holders_lock_is_free_at_once_and_says_whose_it_was(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    process = holder(path)
    process.send_signal(signal.SIGKILL)
    process.wait()
    ProjectLock(path).check_free()
    with ProjectLock(path) as lock:
        assert lock.took_over["pid"] == process.pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert path.read_text() == ""  # released: no owner line, no stale lock


def test_a_lock_file_cut_short_or_foreign_is_no_obstacle(tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    for text in ('{"pid": 12', "[1, 2]", json.dumps({"pid": 4242, "hostname": "gpu-node-7"})):
        path.write_text(text)
        with ProjectLock(path) as lock:
            assert lock.held


def test_distributed_tuner_ids_lock_separately(tmp_path):
    with ProjectLock(lock_path(tmp_path, "p", "chief")), \
            ProjectLock(lock_path(tmp_path, "p", "tuner0")), \
            ProjectLock(lock_path(tmp_path, "p", "tuner1")):
        assert len(list(tmp_path.glob(".p.*.lock"))) == 3


# Each racer waits for the start file, takes the lock or is refused, says so, and
# the winner holds it until the stop file appears.
RACER = """
import pathlib, sys, time
from search.core.lock import ProjectLock
from search.core.errors import UsageError
lock_file, start, stop = map(pathlib.Path, sys.argv[1:4])
while not start.exists():
    time.sleep(0.001)
try:
    lock = ProjectLock(lock_file).acquire()
except UsageError as error:
    print("refused", error, flush=True)
    sys.exit(2)
print("won", flush=True)
while not stop.exists():
    time.sleep(0.01)
lock.release()
"""


@pytest.mark.parametrize("attempt", range(3))
def test_two_processes_taking_one_lock_at_once_one_wins(attempt, tmp_path):
    path = lock_path(tmp_path, "p", "tuner0")
    start, stop = tmp_path / "start", tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(path), str(start), str(stop)],
                               env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(0.5)  # both started and waiting
    start.touch()
    try:
        first_words = [racer.stdout.readline().split(" ")[0].strip() for racer in racers]
    finally:
        stop.touch()
        codes = [racer.wait(timeout=60) for racer in racers]
    assert sorted(first_words) == ["refused", "won"], first_words
    assert sorted(codes) == [0, 2]
