"""One search per project directory: a lock file holding the owner's pid and host.

Two processes writing the same keras-tuner project (oracle.json, trial folders,
the MLflow parent run id) would corrupt each other's state, so `run` takes a lock
before it writes anything. The file lives next to keras-tuner's project folder,
not inside it, because `--overwrite` makes keras-tuner delete that folder.

Distributed workers share the project directory by design, so the lock is per
keras-tuner tuner id (`KERASTUNER_TUNER_ID`): one chief, one process per worker id.

A process killed with SIGKILL cannot remove its lock; the next run sees that the
pid is gone (or now belongs to a process started later) and takes the lock over.
Two runs may find the same stale lock at once: the takeover happens under an
flock on a side file (`LOCK.takeover`, released by the kernel even if its holder
is killed), and the stale lock is removed only if it is still the very file that
was judged stale, so a takeover never deletes the lock another run just took.
"""

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from search.errors import UsageError


def lock_path(project_dir, project_name, tuner_id):
    return Path(project_dir) / f".{project_name}.{tuner_id}.lock"


def _process_start(pid):
    """Start time of `pid` in clock ticks since boot (Linux), to tell a reused pid
    from the original owner; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])  # field 22: starttime


def _alive(owner):
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    started = owner.get("process_start")
    return started is None or _process_start(pid) in (None, started)


class ProjectLock:
    """`with ProjectLock(path): ...` holds the lock; raises UsageError (exit 2)
    when a live process on this host holds it, or any process on another host."""

    def __init__(self, path, flag_value=None):
        self.path = Path(path)
        self.flag_value = flag_value or str(self.path.parent)
        self.took_over = None  # the stale owner replaced, for a message
        self.held = False

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "hostname": socket.gethostname(),
              "process_start": _process_start(os.getpid()), "since": time.time()}
        for _ in range(5):  # a stale lock is removed once, then created afresh
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._refuse_or_clear()
                time.sleep(0.1)
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            self.held = True
            return self
        raise UsageError(f"--project-dir {self.flag_value!r}: could not take the lock "
                         f"{self.path}; another search keeps taking it.")

    def check_free(self):
        """Raise UsageError (naming the owner's pid) when a live process holds
        this lock; take nothing. `launch` asks it of the chief's and workers'
        locks before it starts any process."""
        found = self._read()
        if found is not None:
            self._refuse_if_held(found[1])

    def _refuse_or_clear(self):
        found = self._read()
        if found is None:
            return  # the owner is writing it right now, or just removed it
        self._refuse_if_held(found[1])
        with _takeover_guard(self.path):
            # Under the guard no other takeover removes or replaces the file: if it
            # is still the one judged stale, nobody holds the lock and it can go.
            if self._read() == found:
                self.path.unlink()
                self.took_over = found[1]

    def _refuse_if_held(self, owner):
        if owner.get("hostname") != socket.gethostname():
            raise UsageError(
                f"--project-dir {self.flag_value!r} is in use by process {owner.get('pid')} "
                f"on host {owner.get('hostname')}; wait for it, choose another "
                f"--project-dir, or delete {self.path} if that process is gone.")
        if _alive(owner):
            raise UsageError(
                f"--project-dir {self.flag_value!r} is in use by process {owner['pid']} "
                f"on this host ({owner.get('hostname')}); wait for it to finish, stop it, "
                f"or choose another --project-dir.")

    def _read(self):
        """(file identity, owner) of the lock file now, or None while it is absent
        or being written."""
        try:
            stat = self.path.stat()
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        identity = (stat.st_ino, stat.st_mtime_ns, text)
        try:
            return identity, json.loads(text)
        except ValueError:
            # Half-written by an owner killed mid-write (or right now by a live
            # one): old enough means stale.
            if time.time() - stat.st_mtime > 5:
                return identity, {"pid": -1, "hostname": socket.gethostname()}
            return None

    def release(self):
        self.held = False
        try:
            owner = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if owner.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self if self.held else self.acquire()

    def __exit__(self, *exc):
        self.release()


@contextlib.contextmanager
def _takeover_guard(lock_file):
    """One takeover at a time per lock; the kernel drops the flock if we die."""
    guard = Path(f"{lock_file}.takeover")
    with open(guard, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
