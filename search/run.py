"""run_search(config): data -> space -> Hyperband with MLflow logging -> winner export.

This is the one place that wires the modules together, top to bottom.
"""

import contextlib
import json
import logging
import subprocess
import time
from pathlib import Path

import keras

import spaces
from search import data as data_module
from search.core import ownership
from search import tracking
from search.distributed import chief_oracle, roles as distributed
from search.tracking import lineage, links, resume, run_names, warm_start, workers
from search.plan import budget
from search.kt import compat as kt_compat, space_check
from search.core.config import SearchConfig
from search.core.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.kt.device import configure_devices
from search.core.errors import SearchFailed
from search.core.state import STATE_FILE, finished_summary, report_finished  # noqa: F401
from search.core.state import read_state as _read_state, write_state as _write_state
from search.distributed import worker_link
from search.core.lock import ProjectLock, lock_path
from search.plan.hyperband import hyperband_plan
from search.kt.resources import long_lived_objects_frozen
from search.kt.checkpoints import CheckpointBudget
from search.kt.oracle import search_oracle
from search.kt.progress import Progress, finished_trials
from search.kt.resources import GraphRelease
from search.tracking.trial_logger import MlflowTrialLogger
from search.kt.tuner import BridgeHyperband
from search.winner.finish import finish, log_report

log = logging.getLogger(__name__)


def run_search(config: SearchConfig, started: float | None = None) -> dict:
    """Run one search (or this process's part of a distributed one) and return its
    summary. Messages go to the "search" logger (silent unless configured).
    `started`: the command's start on the perf_counter clock (default: now), from
    which --time-budget counts."""
    started = time.perf_counter() if started is None else started
    finished = finished_summary(config) if distributed.role() != "worker" else None
    if finished:  # the same command again: report, train and register nothing
        return report_finished(config, finished)
    log.debug(f"config: {config.as_params()}")
    kt_compat.quiet_keras_tuner()
    # Before anything slow (devices, data): an unreachable server fails in seconds.
    tracking.check_reachable(config.resolved_tracking_uri())
    strategy, device = configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = space_check.load_checked_space(config.space, image_data)
    for note in image_data.notes:
        log.info(note)
    # Everything above only reads; from here on the project dir and MLflow are written.
    with _project_lock(config):
        return _search(config, started, strategy, device, image_data, hypermodel)


def _project_lock(config):
    lock = ProjectLock(lock_path(config.project_dir, config.project_name, distributed.tuner_id()),
                       config.project_dir).acquire()
    if lock.took_over:
        log.info(f"Took over the lock of process {lock.took_over.get('pid')}, which is gone.")
    return lock


def _search(config, started, strategy, device, image_data, hypermodel):
    tracker = tracking.SearchTracker(config.resolved_tracking_uri(), config.experiment,
                                     config.store_retry_seconds)
    tracker.open_experiment()
    tracker.summary_keys = keys = spaces.summary_keys(hypermodel)  # names each trial's run
    project_folder = Path(config.project_dir) / config.project_name
    state_path = project_folder / STATE_FILE
    fit_data = (image_data.pipeline("train", config.batch_size, config.seed),
                image_data.pipeline("val", config.batch_size, config.seed))
    if distributed.role() == "worker":
        return _run_worker(config, hypermodel, tracker, strategy, fit_data)

    resume_run_id = None if config.overwrite else _read_state(state_path).get("parent_run_id")
    if config.overwrite:  # checked at start too; the folder may have changed since
        ownership.check_project_overwrite(config.project_dir, config.project_name)
    deadline, budget_params = None, {}
    if config.time_budget:  # replaces max_epochs/factor/iterations by what fits
        config, deadline, budget_params = budget.plan_within_budget(
            config, image_data, hypermodel, started)
    # Read before the tuner reloads the oracle: which worker held which trial.
    held = {} if config.overwrite else chief_oracle.saved_ongoing_trials(project_folder)
    tuner = _make_tuner(config, hypermodel, tracker, strategy, overwrite=config.overwrite,
                        deadline=deadline)
    if distributed.role() == "chief":  # a restarted chief: its workers keep their trials
        oracle_timings = chief_oracle.prepare_chief(tuner.oracle, project_folder, held)
    if deadline is not None and deadline.first_trial_values and not tuner.oracle.trials:
        tuner.oracle.queued_values = [dict(deadline.first_trial_values)]  # a one-trial plan
    warm_values = warm_start.seed_tuner(tuner, tracker, config, hypermodel)
    ownership.mark_project(project_folder)  # so a later --overwrite may delete it
    parent_run_id = tracker.start_search(
        run_name=run_names.running_name(config.experiment),
        params={**config.as_params(), **image_data.description(), **device,
                "space_class": type(hypermodel).__name__, **budget_params},
        tags={"code_version": _code_version(), "keras_version": keras.__version__,
              tracking.TAG_SUMMARY_KEYS: json.dumps(keys), **warm_values},
        resume_run_id=resume_run_id)
    _write_state(state_path, {"parent_run_id": parent_run_id,
                              "experiment_id": tracker.experiment_id})
    tracker.log_search_text(config_to_toml(config), RESOLVED_CONFIG_FILE)
    tracker.log_datasets(parent_run_id, lineage.split_inputs(image_data))
    if resume_run_id == parent_run_id:  # a killed run may have left child runs RUNNING
        resume.settle_interrupted_runs(tracker, tuner, config.log_models)
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    log.info(f"Searching space '{config.space}' on {image_data.source} "
             f"{image_data.input_shape} ({image_data.num_classes} classes) on "
             f"{device['device']}: Hyperband plans {plan.total_trials} trials, "
             f"{plan.total_epochs} epochs.")
    log.info(f"MLflow: {tracker.tracking_uri} experiment '{config.experiment}' "
             f"run {parent_run_id}" + (" (resumed)" if resume_run_id == parent_run_id else ""))
    if distributed.role() == "chief":
        log.info("Chief: serving the Hyperband oracle; workers train the trials.")
    try:
        mlflow_before, search_started = tracker.seconds_in_mlflow, time.perf_counter()
        node = distributed.tuner_id() if distributed.role() else None
        with tracker.system_metrics(node_id=node), long_lived_objects_frozen():
            tuner.search(*fit_data[:1], validation_data=fit_data[1], epochs=config.max_epochs,
                         verbose=0)
        if distributed.role() == "chief":
            timings_file = oracle_timings.write(project_folder)
            log.info(f"Chief: {oracle_timings.summary()['requests']} oracle requests, "
                     f"{oracle_timings.summary()['mean_ms'] or 0:.2f} ms each on average "
                     f"({timings_file.name}).")
        # Every trial is over: a run still RUNNING was left by a dead worker (or by a
        # create_run retried after a lost answer); it must not stay so for good.
        resume.settle_interrupted_runs(tracker, tuner, config.log_models, when="Search end")
        timings = {"started": started, "search_seconds": time.perf_counter() - search_started,
                   "mlflow_trial_seconds": tracker.seconds_in_mlflow - mlflow_before}
        summary = finish(config, tuner, tracker, image_data, timings, keys, deadline)
        log_report(tracker)
        for line in links.link_lines(tracker.client, tracker.tracking_uri, tracker.experiment_id,
                                     tracker.parent_run_id):
            log.info(line)
    except BaseException:
        status = "KILLED" if _interrupted() else "FAILED"
        with contextlib.suppress(SearchFailed):  # the store itself may be what failed
            run_names.rename_search(tracker, run_names.stopped_name(config.experiment, status))
            tracker.end_search(status=status)
        raise
    run_names.rename_search(tracker, run_names.finished_name(
        config.experiment, summary["best_hyperparameters"], summary["best_val_accuracy"], keys))
    tracker.end_search()
    _write_state(state_path, {**_read_state(state_path), "finished": summary})
    return summary


def _make_tuner(config, hypermodel, tracker, strategy, overwrite, deadline=None):
    """The tuner with its oracle (search/kt/oracle.py) and its trial hooks, in
    order: MLflow logging, the checkpoint budget (its disk figures are logged,
    so it measures before the logger and prunes after), graph release, progress."""
    keras.utils.set_random_seed(config.seed)
    oracle, limit_checker = search_oracle(config, hypermodel)
    tuner = BridgeHyperband(
        oracle, hypermodel, patience=config.patience, jit_compile=config.jit_compile,
        lr_schedule=config.lr_schedule,
        precision_policy="mixed_float16" if config.mixed_precision else "float32",
        distribution_strategy=strategy, directory=config.project_dir,
        project_name=config.project_name, overwrite=overwrite, deadline=deadline,
        fetch_predecessor=workers.predecessor_fetcher(tracker))
    tuner.limit_checker = limit_checker
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    tuner.progress = Progress(plan.total_trials, keys=tracker.summary_keys,
                              prefix=f"{tuner.tuner_id} " if distributed.role() else "",
                              done=0 if distributed.role() else finished_trials(tuner.oracle))
    tuner.hooks = [CheckpointBudget(tuner, config.keep_checkpoints),
                   MlflowTrialLogger(tracker, tuner, config.log_models),
                   GraphRelease(), tuner.progress]
    return tuner


def _run_worker(config, hypermodel, tracker, strategy, fit_data):
    """Train the trials the chief hands out, logging them under its parent run."""
    parent_run_id = workers.wait_for_parent_run(tracker, distributed.tuner_id(),
                                                timeout=config.chief_timeout)
    tracker.attach_search(parent_run_id)
    # Never overwrite on a worker: the project directory is the chief's.
    tuner = _make_tuner(config, hypermodel, tracker, strategy, overwrite=False)
    worker_link.guard(tuner.oracle, tuner.tuner_id, distributed.chief_address(),
                      config.chief_timeout)
    worker_link.pause_when_idle(tuner)
    log.info(f"Worker {tuner.tuner_id}: logging into parent run {parent_run_id}.")
    # A restarted worker: its previous life may have died between keras-tuner
    # recording a trial and MLflow closing the run (crash point "trial_end").
    resume.settle_interrupted_runs(tracker, tuner, config.log_models, tuner_id=tuner.tuner_id,
                                   when=f"Worker {tuner.tuner_id}")
    with tracker.system_metrics(node_id=tuner.tuner_id), long_lived_objects_frozen():
        tuner.search(*fit_data[:1], validation_data=fit_data[1], epochs=config.max_epochs,
                     verbose=0)
    log.info(f"Worker {tuner.tuner_id}: done after {tuner.progress.done} trials.")
    return {"role": "worker", "tuner_id": tuner.tuner_id, "parent_run_id": parent_run_id,
            "trials_run": tuner.progress.done}


def _interrupted():
    import sys
    return isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _code_version():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
