"""A full disk ends a command with one line: where it was writing and how much
room is left there, not a page of traceback through MLflow or TensorFlow.

The error comes from many writers (Python's open, sqlite's "database or disk is
full" wrapped by SQLAlchemy and MLflow, TensorFlow's file system in C++), so it is
recognised anywhere in the exception's chain, by errno or by the message those
writers use. What was written stays as it was: a search resumes with the same
command once there is room (docs/faults.md).
"""

import errno
import re
import shutil
from pathlib import Path

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_MESSAGES = ("No space left on device", "database or disk is full", "Disk quota exceeded")
# The folders the running command writes (project, store, export): named when
# the error itself does not say which file it was writing.
_written = []


def writes_to(*paths):
    """Record the folders this command writes, for the message of a full disk
    (replacing an earlier command's in the same process)."""
    _written[:] = [Path(p) for p in paths if p]


def full_disk_error(error):
    """The exception in `error`'s chain (causes and contexts) that says the disk
    is full, or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FULL_ERRNOS:
            return error
        if any(text in str(error) for text in FULL_MESSAGES):
            return error
        error = error.__cause__ or error.__context__
    return None


def message(error):
    """One line: the file being written (else, of the folders the command writes,
    the one on the fullest disk) and the room left on its disk."""
    path = getattr(error, "filename", None) or _path_in(str(error))
    place = Path(path) if path else min(_written or [Path.cwd()], key=free_bytes)
    return (f"the disk is full (No space left on device) writing {place} "
            f"({readable(free_bytes(place))} free there); free some space and run the same "
            f"command again: what was written is kept, and a search resumes where it "
            f"stopped.")


def _path_in(text):
    """An absolute path quoted in an error message (TensorFlow names its file so)."""
    match = re.search(r"""['"](/[^'"]+)['"]""", text)
    return match[1] if match else None


def free_bytes(path):
    """Free bytes on the disk holding `path` (or its nearest existing folder)."""
    path = Path(path).absolute()
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("/"))
    return shutil.disk_usage(existing).free


def readable(size):
    for unit in ("bytes", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
