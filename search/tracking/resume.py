"""Settle what a killed search left behind in MLflow before it goes on.

keras-tuner resumes its own state from the project directory: finished trials
stay finished and the trial that was running is queued to run again. MLflow needs
the same care, for the child runs the killed process left RUNNING:

- trial finished in keras-tuner, its run still RUNNING (killed while closing the
  run): the run is completed from the trial folder (epochs still queued for
  MLflow come from the trial's journal, the best model from its BEST_MODEL_FILE)
  and marked FINISHED, so the trial has its one FINISHED run;
- trial failed in keras-tuner: the run is marked FAILED with the reason;
- anything else (the trial was interrupted and will run again): KILLED.

The journal (`epochs.jsonl` in the trial folder) gets one line per epoch, synced
to disk (fsync) before the epoch is sent to MLflow, so no logged point is lost by
a kill or a power cut.
"""

import json
import logging
import math
import os
import time
from pathlib import Path

from mlflow.entities import Metric, RunTag

from search import tracking
from search.core.errors import last_line

log = logging.getLogger(__name__)

JOURNAL_FILE = "epochs.jsonl"
TAG_RECOVERED = "recovered_after_kill"


def append_journal(path, run_id, step, logs):
    metrics = {k: float(v) for k, v in logs.items()
               if k in tracking.EPOCH_METRICS and math.isfinite(float(v))}
    created = not os.path.exists(path)
    with open(path, "a") as journal:
        journal.write(json.dumps({"run_id": run_id, "step": step, "metrics": metrics}) + "\n")
        # On disk before the point is sent to MLflow (and so before the run is
        # closed): a kill leaves it in the OS cache, a power cut would not.
        journal.flush()
        os.fsync(journal.fileno())
    if created:  # the new file's name must be on disk too
        _fsync_dir(os.path.dirname(os.path.abspath(path)))


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path, run_id):
    """{step: metrics} this run journaled; a line cut by the kill is skipped."""
    epochs = {}
    if not Path(path).is_file():
        return epochs
    for line in Path(path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("run_id") == run_id:
            epochs[int(entry["step"])] = entry["metrics"]
    return epochs


def settle_interrupted_runs(tracker, tuner, log_models="all", tuner_id=None,
                            when="Resume"):
    """Close every child run of the search that is still RUNNING (only those
    logged by `tuner_id` when given: a restarted worker settles its own)."""
    runs = tracker.trial_runs()
    finished = {r.data.tags.get(tracking.TAG_TRIAL_ID) for r in runs
                if r.info.status == "FINISHED"}
    # A restarted chief's oracle gives each live worker its trial back
    # (search/distributed/chief_oracle.py): those runs are still being trained.
    held = {t.trial_id for t in (getattr(tuner.oracle, "ongoing_trials", None) or {}).values()}
    for run in runs:
        if run.info.status != "RUNNING" or (
                tuner_id is not None and run.data.tags.get("tuner_id") != tuner_id):
            continue
        if run.data.tags.get(tracking.TAG_TRIAL_ID) in held:
            continue
        trial_id = run.data.tags.get(tracking.TAG_TRIAL_ID)
        trial = _oracle_trial(tuner, trial_id)
        status = trial.status if trial is not None else None
        if status == "COMPLETED" and trial_id not in finished:
            _complete(tracker, tuner, run, trial, log_models)
            finished.add(trial_id)
            log.info(f"{when}: trial {trial_id} had finished; completed its MLflow run "
                     f"{run.info.run_id}.")
        elif status == "FAILED":
            _close(tracker, run.info.run_id, "FAILED", {
                tracking.TAG_STATUS: "FAILED",
                tracking.TAG_FAILURE: last_line(trial.message)})
        else:
            _close(tracker, run.info.run_id, "KILLED", {tracking.TAG_STATUS: "KILLED"})
            log.info(f"{when}: trial {trial_id} was interrupted; its run {run.info.run_id} "
                     f"is marked KILLED" + ("." if status == "COMPLETED" else
                                            " and the trial runs again."))


def _oracle_trial(tuner, trial_id):
    """The oracle's record of a trial, or None. On a distributed worker the oracle
    is an OracleClient (no `.trials`): ask the chief over gRPC."""
    trials = getattr(tuner.oracle, "trials", None)
    if trials is not None:
        return trials.get(trial_id)
    try:
        return tuner.oracle.get_trial(trial_id)
    except Exception:  # noqa: BLE001 - grpc's error for an id the chief never made
        return None


def _complete(tracker, tuner, run, trial, log_models):
    run_id = run.info.run_id
    trial_dir = Path(tuner.get_trial_dir(trial.trial_id))
    epochs = read_journal(trial_dir / JOURNAL_FILE, run_id)
    missing = _missing_points(tracker.client, run_id, epochs)
    summary = {"epochs_trained": len(epochs), "best_val_accuracy": trial.score}
    with tracker.timed():
        for start in range(0, len(missing), 1000):  # MLflow's batch limit
            tracker.client.log_batch(run_id, metrics=missing[start:start + 1000])
        tracker.client.log_batch(run_id, metrics=tracking._metrics(summary, step=0))
        model = Path(tuner.best_model_path(trial.trial_id))
        best = tuner.oracle.get_best_trials(1)
        is_best = bool(best) and best[0].trial_id == trial.trial_id
        if model.is_file() and logs_model(log_models, is_best) and not tracker.client.list_artifacts(
                run_id, tracking.BEST_MODEL_ARTIFACT):
            tracker.client.log_artifact(run_id, str(model), tracking.BEST_MODEL_ARTIFACT)
    _close(tracker, run_id, "FINISHED", {tracking.TAG_STATUS: "COMPLETED",
                                         TAG_RECOVERED: "true"})


def _missing_points(client, run_id, epochs):
    points = []
    names = {name for metrics in epochs.values() for name in metrics}
    for name in names:
        logged = {m.step for m in client.get_metric_history(run_id, name)}
        now = int(time.time() * 1000)
        points += [Metric(name, metrics[name], now, step) for step, metrics in epochs.items()
                   if name in metrics and step not in logged]
    return points


def _close(tracker, run_id, status, tags):
    with tracker.timed():
        tracker.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        tracker.client.set_terminated(run_id, status=status)


def logs_model(log_models, is_best):
    """Whether a trial's best model goes to MLflow (--log-models; `best`: only
    trials that beat every earlier one)."""
    return log_models == "all" or (log_models == "best" and is_best)


def kill_interrupted_search(tracking_uri, parent_run_id, project_folder):
    """An interrupted `launch` (SIGINT, SIGTERM), once its chief and workers are
    stopped: the parent run and every trial run still RUNNING become KILLED now,
    not at the next resume. A run whose trial keras-tuner had already recorded
    COMPLETED stays RUNNING: the resume completes it from the trial's journal."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    parent = client.get_run(parent_run_id)
    running = client.search_runs(
        [parent.info.experiment_id], max_results=10000,
        filter_string=f"tags.{tracking.MLFLOW_PARENT_RUN_ID} = '{parent_run_id}' "
                      f"and attributes.status = 'RUNNING'")
    killed = 0
    for run in running:
        trial_id = run.data.tags.get(tracking.TAG_TRIAL_ID)
        if _recorded_status(project_folder, trial_id) == "COMPLETED":
            continue
        client.log_batch(run.info.run_id, tags=[RunTag(tracking.TAG_STATUS, "KILLED")])
        client.set_terminated(run.info.run_id, status="KILLED")
        killed += 1
    if parent.info.status == "RUNNING":
        client.set_terminated(parent_run_id, status="KILLED")
    return killed


def _recorded_status(project_folder, trial_id):
    """The status keras-tuner saved for a trial (trial_ID/trial.json), or None."""
    try:
        return json.loads((Path(project_folder) / f"trial_{trial_id}" / "trial.json")
                          .read_text()).get("status")
    except (OSError, ValueError):
        return None
