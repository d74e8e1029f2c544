"""MLflow logging of a search: one parent run, one nested child run per trial.

Everything goes through `MlflowClient` with explicit run ids (no fluent "active
run" state), so the same code works in one process, in resumed searches and in
keras-tuner workers that share a tracking server. The time spent in MLflow calls
is summed in `seconds_in_mlflow` for the overhead benchmark.
"""

import contextlib
from collections.abc import Iterator
import logging
import time

import mlflow
from mlflow.entities import Metric, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from search.core.errors import UsageError
from search.core.lock import store_opening
from search.core.ownership import path_slug
from search.core.stores import resolve_store
from search.tracking.sender import BackgroundSender
from search.tracking.retry import RetryingClient, StoreRetry, bound_mlflow_http_retries

# Tag names (stable: the report and other tools query them).
TAG_ROLE = "bridge_search.role"  # "search" on the parent, "trial" on children
TAG_TRIAL_ID = "trial_id"
TAG_BRACKET = "hyperband_bracket"
TAG_ROUND = "hyperband_round"
TAG_CONTINUES = "continues_trial"
TAG_STATUS = "trial_status"
TAG_FAILURE = "failure_reason"
# The parent run's id, on the parent and on every trial: one UI filter lists both.
TAG_SEARCH = "bridge_search.search_run_id"
# On the parent: JSON of the space's summary keys ({hyperparameter: label}), which
# the report reads to show a user space's own columns.
TAG_SUMMARY_KEYS = "bridge_search.summary_keys"
# A conditional hyperparameter's param when it does not apply (every trial logs the
# same param names, so MLflow's compare views line up).
INACTIVE = "n/a"
# MLflow 3's UI kind of an experiment: the value it shows as "Machine learning".
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
BEST_MODEL_ARTIFACT = "best_model"  # folder holding model.keras on each child run
EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


class SearchTracker:
    """Writes one search into one MLflow experiment."""

    def __init__(self, tracking_uri: str, experiment_name: str,
                 store_retry_seconds: float = 300) -> None:
        self.tracking_uri, self._artifact_root = resolve_store(tracking_uri)
        bound_mlflow_http_retries()
        # Every store call (here, in resume and in the winner's registry tags)
        # rides out a transient outage: see search/tracking/retry.py.
        self.client = RetryingClient(open_client(self.tracking_uri),
                                     StoreRetry(self.tracking_uri, store_retry_seconds))
        self.experiment_name = experiment_name
        self.experiment_id = None
        self.parent_run_id = None
        # Only a resumed search (or a shared one) can find runs left RUNNING by a
        # killed process; a fresh one skips that query on every trial.
        self.may_have_stale_runs = False
        self.summary_keys = {}  # {hyperparameter: label} that name each trial's run
        self.seconds_in_mlflow = 0.0
        self.seconds_in_epoch_logging = 0.0  # the per-epoch part of it: send + drain
        self._sender = BackgroundSender(self.client)

    @contextlib.contextmanager
    def timed(self, epoch_logging=False):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds_in_mlflow += time.perf_counter() - start
            if epoch_logging:
                self.seconds_in_epoch_logging += time.perf_counter() - start

    # ----- the search ---------------------------------------------------------
    def open_experiment(self) -> str:
        with self.timed():
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is not None and experiment.lifecycle_stage == "deleted":
                raise UsageError(
                    f"--experiment {self.experiment_name!r} was deleted in MLflow; restore "
                    f"it (`mlflow experiments restore --experiment-id "
                    f"{experiment.experiment_id}`) or choose another name.")
            if experiment is None:
                # A slug: the name may hold '/' or '..', the artifacts stay in their root.
                location = self._artifact_root and \
                    f"{self._artifact_root}/{path_slug(self.experiment_name)}"
                self.experiment_id = self._create_experiment(location)
            else:
                self.experiment_id = experiment.experiment_id
                if EXPERIMENT_KIND_TAG not in experiment.tags:  # made by an older version
                    self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND_TAG,
                                                   MODEL_TRAINING_KIND)
        return self.experiment_id

    def _create_experiment(self, location):
        try:
            return self.client.create_experiment(
                self.experiment_name, artifact_location=location,
                tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
        except mlflow.exceptions.MlflowException as error:
            # A chief and its workers on several hosts start at once (srun): another
            # one created it between our lookup and our create.
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(self.experiment_name).experiment_id

    def start_search(self, run_name: str, params: dict, tags: dict,
                     resume_run_id: str | None = None) -> str:
        """Create the parent run, or reopen `resume_run_id` when resuming."""
        with self.timed():
            if resume_run_id and self._run_exists(resume_run_id):
                self.parent_run_id = resume_run_id
                self.may_have_stale_runs = True
                self.client.update_run(resume_run_id, status="RUNNING")
                self.client.set_tag(resume_run_id, TAG_SEARCH, resume_run_id)  # older runs lack it
                return self.parent_run_id
            run = self.client.create_run(self.experiment_id, run_name=run_name,
                                         tags={TAG_ROLE: "search", **tags})
            self.parent_run_id = run.info.run_id
            self.client.log_batch(self.parent_run_id, params=_params(params),
                                  tags=[RunTag(TAG_SEARCH, self.parent_run_id)])
        return self.parent_run_id

    def attach_search(self, parent_run_id: str) -> None:
        """Log trials under a parent run another process created (a distributed
        worker). Runs of a trial a lost worker left RUNNING may exist."""
        self.parent_run_id = parent_run_id
        self.may_have_stale_runs = True

    def log_search_text(self, text: str, file_name: str) -> None:
        """A text artifact on the parent run, e.g. the resolved config file."""
        self.log_text(self.parent_run_id, text, file_name)

    def log_datasets(self, run_id: str, dataset_inputs: list) -> None:
        """Dataset inputs (search/tracking/lineage.py) of a run; logging the same
        ones again, as a resumed search does, adds nothing."""
        with self.timed():
            self.client.log_inputs(run_id, datasets=dataset_inputs)

    @contextlib.contextmanager
    def system_metrics(self, node_id: str | None = None) -> Iterator[None]:
        """MLflow's own system metrics (CPU, memory, disk, network and, with pynvml,
        GPU utilisation, every 10 s) on the parent run while this process trains.
        Per-trial peaks MLflow does not measure come from tuning/resources.py.
        `node_id` (a distributed worker's tuner id) keeps processes apart."""
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no INFO lines
        monitor = SystemMetricsMonitor(self.parent_run_id, node_id=node_id,
                                       resume_logging=True, tracking_uri=self.tracking_uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()

    def log_search_metrics(self, metrics: dict) -> None:
        with self.timed():
            self.client.log_batch(self.parent_run_id, metrics=_metrics(metrics, step=0))

    def set_search_tags(self, tags: dict) -> None:
        with self.timed():
            for key, value in tags.items():
                self.client.set_tag(self.parent_run_id, key, str(value))

    def end_search(self, status: str = "FINISHED") -> None:
        with self.timed():
            self.client.set_terminated(self.parent_run_id, status=status)

    def _run_exists(self, run_id):
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except mlflow.exceptions.MlflowException:
            return False

    # ----- trials -------------------------------------------------------------
    def trial_runs(self, trial_id: str | None = None) -> list:
        """Child runs of this search (of one trial when `trial_id` is given)."""
        query = f"tags.{MLFLOW_PARENT_RUN_ID} = '{self.parent_run_id}'"
        if trial_id is not None:
            query += f" and tags.{TAG_TRIAL_ID} = '{trial_id}'"
        with self.timed():
            return self.client.search_runs([self.experiment_id], filter_string=query,
                                           max_results=10000)

    def start_trial(self, trial_id: str, params: dict, tags: dict) -> str:
        """Create the child run of a trial. A RUNNING run left for the same trial
        by a killed process is closed as KILLED first, so each trial ends with one
        FINISHED run and no duplicates."""
        for stale in self.trial_runs(trial_id) if self.may_have_stale_runs else []:
            if stale.info.status == "RUNNING":
                with self.timed():
                    self.client.set_tag(stale.info.run_id, TAG_STATUS, "KILLED")
                    self.client.set_terminated(stale.info.run_id, status="KILLED")
        with self.timed():
            run = self.client.create_run(
                self.experiment_id,
                tags={MLFLOW_PARENT_RUN_ID: self.parent_run_id,
                      MLFLOW_RUN_NAME: trial_run_name(trial_id, params, self.summary_keys),
                      TAG_ROLE: "trial", TAG_TRIAL_ID: trial_id, TAG_SEARCH: self.parent_run_id,
                      **{k: str(v) for k, v in tags.items()}})
            self.client.log_batch(run.info.run_id, params=_params(params))
        return run.info.run_id

    def log_epoch(self, run_id: str, epoch: int, logs: dict) -> None:
        """Per-epoch metrics, step = epoch, sent by a background thread so training
        does not wait for the store (drained at trial end)."""
        metrics = {name: logs[name] for name in EPOCH_METRICS if name in logs}
        with self.timed(epoch_logging=True):
            self._sender.send(run_id, _metrics(metrics, step=epoch))

    def log_search_artifact(self, path, artifact_path: str) -> None:
        """A local file as an artifact of the search's parent run."""
        with self.timed():
            self.client.log_artifact(self.parent_run_id, str(path), artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        with self.timed():
            self.client.log_text(run_id, text, artifact_file)

    def end_trial(self, run_id: str, metrics: dict, tags: dict, status: str,
                  model_path: str | None = None) -> None:
        with self.timed(epoch_logging=True):
            self._sender.drain()
        with self.timed():
            self.client.log_batch(run_id, metrics=_metrics(metrics, step=0),
                                  tags=[RunTag(k, str(v)) for k, v in tags.items()])
            if model_path is not None:
                self.client.log_artifact(run_id, str(model_path), BEST_MODEL_ARTIFACT)
            self.client.set_terminated(run_id, status=status)


def holds_run(tracking_uri: str, run_id: str) -> bool:
    """Whether the store holds run `run_id` (another URI of the same store does)."""
    try:
        MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    return True


def open_client(tracking_uri: str) -> MlflowClient:
    """A client of the store (a search's, or for commands that only read it):
    MLflow creates a new sqlite store on this first open, one process at a time."""
    with store_opening(tracking_uri):
        return MlflowClient(tracking_uri=tracking_uri)


def trial_run_name(trial_id, hyperparameters, keys):
    """`0003 flatten d3 w64`: the trial id and what the space's summary keys
    (`keys`: {hyperparameter: label}) show of it, so the UI's run list reads
    without extra columns: the question's value, then each other value after its
    label's first letter. Hyperparameters a trial does not have are left out."""
    parts = [str(trial_id)]
    for position, (name, label) in enumerate(keys.items()):
        if name in hyperparameters:
            value = hyperparameters[name]
            parts.append(str(value) if position == 0 else f"{label[:1]}{value}")
    return " ".join(parts)


def _params(values):
    from mlflow.entities import Param
    return [Param(str(k), str(v)[:6000]) for k, v in values.items()]


def _metrics(values, step):
    now = int(time.time() * 1000)
    return [Metric(str(k), float(v), now, int(step)) for k, v in values.items()
            if v is not None]


def finished_status(trial_status):
    """keras-tuner trial status -> MLflow run status."""
    return RunStatus.to_string(RunStatus.FINISHED if trial_status == "COMPLETED"
                               else RunStatus.FAILED)
