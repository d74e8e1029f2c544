"""What a distributed worker reads from MLflow: the chief's parent run, and a
continued Hyperband trial's starting point when hosts share no disk.

keras-tuner continues a trial of round r+1 from its predecessor's checkpoint in
the project directory. On separate hosts the predecessor may have been trained
by another worker, whose project directory this one cannot read; the
predecessor's MLflow run holds the same model (artifact best_model/, the
best epoch's weights), so the worker downloads it from the tracking server.
"""

import logging
import os
import tempfile
import time
from pathlib import Path

from search import tracking
from search.core.errors import SearchFailed

logger = logging.getLogger(__name__)


def predecessor_fetcher(tracker):
    """BridgeHyperband's `fetch_predecessor`: a trial another host trained, from MLflow."""
    return lambda model, trial_id: "mlflow:" + load_predecessor_weights(model, tracker,
                                                                         trial_id)


def load_predecessor_weights(model, tracker, trial_id, timeout=300.0, poll=1.0):
    """Load trial `trial_id`'s best model from its MLflow run into `model`; return
    that run's id. Waits for the run to finish: the chief hands out the successor
    as soon as the oracle records the predecessor, which its worker does just
    before it uploads the model."""
    run = _finished_run(tracker, trial_id, timeout, poll)
    with tempfile.TemporaryDirectory() as scratch:
        model_file = _download_model(tracker, run, scratch, trial_id)
        model.load_weights(model_file)
    logger.info("Loaded trial %s's checkpoint from MLflow run %s.", trial_id, run.info.run_id)
    return run.info.run_id


def _finished_run(tracker, trial_id, timeout, poll):
    deadline = time.monotonic() + timeout
    while True:
        finished = [r for r in tracker.trial_runs(trial_id) if r.info.status == "FINISHED"]
        if finished:
            return finished[0]
        if time.monotonic() > deadline:
            raise SearchFailed(f"trial {trial_id} continues a trial that has no FINISHED MLflow "
                               f"run after {timeout:.0f} s, so its checkpoint cannot be loaded "
                               f"on this host; share --project-dir between the hosts or check "
                               f"the worker that trained trial {trial_id}.")
        time.sleep(poll)


def _download_model(tracker, run, scratch, trial_id):
    # No progress bar in the worker's log for a one-file download (unless asked for).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    try:
        folder = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path=tracking.BEST_MODEL_ARTIFACT,
            dst_path=scratch, tracking_uri=tracker.tracking_uri)
        return str(next(Path(folder).glob("*.keras")))
    except (StopIteration, OSError, mlflow.exceptions.MlflowException):
        raise SearchFailed(f"trial {trial_id}'s MLflow run {run.info.run_id} has no "
                           f"{tracking.BEST_MODEL_ARTIFACT}/ model to continue from; with "
                           f"separate project directories per host run the search with "
                           f"--log-models all, or share --project-dir.") from None


def wait_for_parent_run(tracker, worker_id, timeout=300.0, poll=0.5):
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
    raise SearchFailed(f"worker {worker_id}: no chief opened a search in experiment "
                       f"'{tracker.experiment_name}' on {tracker.tracking_uri} within "
                       f"{timeout:.0f} s; start the chief first, with the same --experiment "
                       f"and --tracking-uri.")
