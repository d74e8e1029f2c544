"""A continued Hyperband trial's starting point when hosts share no disk.

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
