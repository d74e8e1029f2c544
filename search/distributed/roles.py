"""keras-tuner's own distributed mode: a chief oracle and workers over gRPC.

Roles come from keras-tuner's environment variables (KERASTUNER_TUNER_ID,
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT): the chief serves the Hyperband
oracle and, once every trial is done, exports the winner; each worker asks the
chief for trials, trains them and logs them into the chief's MLflow parent run.
The parent run id travels through the shared project directory (keras-tuner
already needs it shared: a continued trial loads its predecessor's checkpoint).
"""

import json
import os
import time
from pathlib import Path

from keras_tuner.src.distribute import utils as kt_dist

from search.errors import SearchFailed


def role():
    """'chief', 'worker', or None for a plain single-process search."""
    if not kt_dist.has_chief_oracle():
        return None
    return "chief" if kt_dist.is_chief_oracle() else "worker"


def tuner_id():
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def chief_address():
    return (f"{os.environ.get('KERASTUNER_ORACLE_IP')}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT')}")


def wait_for_parent_run(state_path, started_after=0.0, timeout=300.0, poll=0.5):
    """A worker waits until the chief has written this search's parent run id."""
    deadline = time.monotonic() + timeout
    path = Path(state_path)
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_mtime >= started_after:
            try:
                return json.loads(path.read_text())["parent_run_id"]
            except (ValueError, KeyError):
                pass  # the chief is writing it right now
        time.sleep(poll)
    raise SearchFailed(f"worker {tuner_id()}: no chief wrote {path} within {timeout:.0f} s; "
                       f"start the chief first and share --project-dir with it.")
