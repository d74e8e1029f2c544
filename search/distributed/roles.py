"""keras-tuner's own distributed mode: a chief oracle and workers over gRPC.

Roles come from keras-tuner's environment variables (KERASTUNER_TUNER_ID,
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT): the chief serves the Hyperband
oracle and, once every trial is done, exports the winner; each worker asks the
chief for trials, trains them and logs them into the chief's MLflow parent run.
Workers need no directory shared with the chief: the parent run id comes from
MLflow (below), a continued trial's checkpoint too when another host trained its
predecessor (search/distributed/shared_checkpoint.py).
"""

import os
import time

from search import tracking
from search.core.errors import SearchFailed
from search.kt import compat as kt_compat


def role():
    """'chief', 'worker', or None for a plain single-process search."""
    if not kt_compat.has_chief_oracle():
        return None
    return "chief" if kt_compat.is_chief_oracle() else "worker"


def tuner_id():
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def chief_address():
    return (f"{os.environ.get('KERASTUNER_ORACLE_IP')}:"
            f"{os.environ.get('KERASTUNER_ORACLE_PORT')}")


def wait_for_parent_run(tracker, timeout=300.0, poll=0.5):
    """A worker waits until the chief has opened this search's parent run, and
    finds it in MLflow (so a worker needs no directory shared with the chief):
    the newest RUNNING search run of the experiment. A chief that resumes its
    search sets its parent run RUNNING again, so workers find the same run."""
    query = f"tags.`{tracking.TAG_ROLE}` = 'search' and attributes.status = 'RUNNING'"
    deadline = time.monotonic() + timeout
    while True:  # asks at least once, also with timeout 0
        runs = tracker.client.search_runs([tracker.experiment_id], filter_string=query,
                                          order_by=["attributes.start_time DESC"], max_results=1)
        if runs:
            return runs[0].info.run_id
        if time.monotonic() >= deadline:
            break
        time.sleep(poll)
    raise SearchFailed(f"worker {tuner_id()}: no chief opened a search in experiment "
                       f"'{tracker.experiment_name}' on {tracker.tracking_uri} within "
                       f"{timeout:.0f} s; start the chief first, with the same --experiment "
                       f"and --tracking-uri.")
