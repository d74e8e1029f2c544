"""One search per project directory: an flock on a lock file beside keras-tuner's
project folder, the file holding the owner's pid and host for the message.

Two processes writing the same keras-tuner project (oracle.json, trial folders,
the MLflow parent run id) would corrupt each other's state, so `run` takes the
lock before it writes anything. The file lives next to keras-tuner's project
folder, not inside it, because `--overwrite` deletes that folder. Distributed
workers share the project directory by design, so the lock is per keras-tuner
tuner id (`KERASTUNER_TUNER_ID`): one chief, one process per worker id.

The kernel releases an flock when its holder dies, however it dies (`kill -9`
included), so there is no stale lock to judge or take over. The file itself
stays: removing a file another process may be locking at that moment would let
two processes each hold "the" lock. Release only clears its owner line.
"""

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from search.core.errors import UsageError


def lock_path(project_dir, project_name, tuner_id):
    return Path(project_dir) / f".{project_name}.{tuner_id}.lock"


class ProjectLock:
    """`with ProjectLock(path): ...` holds the lock; `acquire` raises UsageError
    (exit 2) naming the holder's pid when another process holds it. `took_over`:
    the owner line a holder that died left behind (its pid, for a message)."""

    def __init__(self, path, flag_value=None):
        self.path = Path(path)
        self.flag_value = flag_value or str(self.path.parent)
        self.took_over = None
        self.held = False
        self._handle = None

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        if not _try_lock(handle):
            owner = _owner(handle)
            handle.close()
            raise self._in_use(owner)
        self.took_over = _owner(handle) or None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "hostname": socket.gethostname()}))
        handle.flush()
        self._handle, self.held = handle, True
        return self

    def check_free(self):
        """Raise the same UsageError when another process holds the lock; take
        nothing (`launch` asks it of the chief's and workers' locks before it
        starts any process)."""
        if not self.path.is_file():
            return
        with open(self.path, "a+") as handle:
            if not _try_lock(handle):
                raise self._in_use(_owner(handle))

    def release(self):
        if not self.held:
            return
        self._handle.seek(0)
        self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle, self.held = None, False

    def _in_use(self, owner):
        pid, host = owner.get("pid", "?"), owner.get("hostname", "?")
        where = (f"this host ({host})" if host == socket.gethostname() else f"host {host}")
        return UsageError(f"--project-dir {self.flag_value!r} is in use by process {pid} on "
                          f"{where}; wait for it to finish, stop it, or choose another "
                          f"--project-dir.")

    def __enter__(self):
        return self if self.held else self.acquire()

    def __exit__(self, *exc):
        self.release()


def _try_lock(handle):
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _owner(handle):
    """The owner line in the lock file ({} when empty or cut short by a kill)."""
    handle.seek(0)
    try:
        owner = json.loads(handle.read() or "{}")
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


@contextlib.contextmanager
def store_opening(tracking_uri):
    """Held while this process opens a local sqlite store: MLflow creates (and
    migrates) the database on its first open, and two processes doing that at once
    race in its migrations ("duplicate column name", "Online migration expected to
    match one row"). An flock on DB.lock beside the database makes the second wait,
    then find the tables made. The file stays (see above). Not for a server or a
    database, nor a folder this process cannot write in (a store it only reads)."""
    db = Path(tracking_uri[len("sqlite:///"):].partition("?")[0])
    try:
        handle = (open(db.with_name(db.name + ".lock"), "a")
                  if tracking_uri.startswith("sqlite:///") else None)
    except OSError:
        handle = None
    with handle or contextlib.nullcontext():
        if handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # closing the file releases it
        yield
