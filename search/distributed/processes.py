"""The processes `launch` starts, as one unit with it.

- Each child gets the parent-death signal (Linux `PR_SET_PDEATHSIG`): a launcher
  killed with SIGKILL (which no `finally` survives) still takes its MLflow server,
  chief and workers with it. The server gets SIGTERM, which `mlflow server`
  forwards to its uvicorn process; the others SIGKILL.
- `launch.json` in the project folder records every process, the launcher's
  own pid included, with each one's start time (to tell a reused pid from it).
- A new launch on the same project stops what a dead launch left running (a
  child whose parent-death signal was lost: started by an older version, or
  moved under another parent) before it starts anything.
"""

import ctypes
import logging
import os
import signal
import time
from pathlib import Path

from search.core.state import read_state, write_json

log = logging.getLogger(__name__)

LAUNCH_FILE = "launch.json"  # pids of the processes, for users and tests
STARTS_KEY = "process_start"  # {name: start time in clock ticks since boot}
LAUNCHER = "launcher"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def process_start(pid):
    """Start time of `pid` in clock ticks since boot (Linux), to tell a reused pid
    from the original process; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])  # field 22: starttime

def dies_with_parent(signum=signal.SIGKILL):
    """A Popen `preexec_fn`: the child gets `signum` when the launcher dies."""
    def set_parent_death_signal():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: launch.json's cleanup remains
            pass
    return set_parent_death_signal


def write_record(project, processes):
    """launch.json: {name: pid} of the launcher and each `processes` entry, and
    each one's start time; written whole (a reader never sees half of it)."""
    pids = {LAUNCHER: os.getpid(), **{name: p.pid for name, p in processes.items()}}
    write_json(Path(project) / LAUNCH_FILE,
                {**pids, STARTS_KEY: {name: process_start(pid) for name, pid in pids.items()}})


def _still_theirs(record, name):
    """Whether the pid recorded as `name` is still that very process."""
    pid = record.get(name)
    started = record.get(STARTS_KEY, {}).get(name)
    return isinstance(pid, int) and pid > 0 and started is not None \
        and process_start(pid) == started


def stop_leftovers(project, grace_seconds=10):
    """Stop the processes a dead launch of this project left running; return
    their names. Nothing is done while that launch itself is alive (its own
    lock refuses this one) or for a pid that now belongs to another process."""
    path = Path(project) / LAUNCH_FILE
    if not path.is_file():
        return []
    record = read_state(path)
    if _still_theirs(record, LAUNCHER) and record.get(LAUNCHER) != os.getpid():
        return []
    names = [name for name in record if name not in (LAUNCHER, STARTS_KEY)
             and _still_theirs(record, name)]
    for name in names:
        _signal(record[name], signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(_still_theirs(record, n) for n in names):
        time.sleep(0.2)
    for name in names:
        if _still_theirs(record, name):
            _signal(record[name], signal.SIGKILL)
    if names:
        log.warning(f"launch: stopped what the dead launch {record.get(LAUNCHER)} left "
                    f"running: {', '.join(f'{n} (pid {record[n]})' for n in names)}.")
    return names


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
