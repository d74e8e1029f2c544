"""A search's wall time across the parts of a resumed search.

An interrupted search resumes in a new process, whose clock starts at zero: its
summary said "20 trials in 0:13" after a first part of minutes. Each part notes
in the state file when it began (wall clock) and what the parts before it took;
the next part adds the interrupted one's share, from its start to keras-tuner's
last save of the oracle (after every trial request, so also after a kill -9).
"""

import time
from pathlib import Path

PART_KEY = "part_started"  # time.time() when this part's command began
EARLIER_KEY = "earlier_seconds"  # wall seconds of the parts before it
ORACLE_FILE = "oracle.json"  # keras-tuner's saved oracle, in the project folder


def carried_over(state, project_folder):
    """Wall seconds of the parts before this one, read before this part's tuner
    saves the oracle again."""
    earlier = float(state.get(EARLIER_KEY) or 0.0)
    began = state.get(PART_KEY)
    oracle = Path(project_folder) / ORACLE_FILE
    if isinstance(began, (int, float)) and oracle.is_file():
        earlier += max(0.0, oracle.stat().st_mtime - began)
    return earlier


def part_fields(earlier, started):
    """The state file's fields for a part whose command began at `started`
    (time.perf_counter) after `earlier` seconds of earlier parts."""
    return {EARLIER_KEY: earlier, PART_KEY: time.time() - (time.perf_counter() - started)}
