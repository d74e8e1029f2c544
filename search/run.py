"""run_search(config): preflight -> prepare (data, space, plan) -> search session
(Hyperband with trial hooks, MLflow) -> winner step.

This is the one place that wires the layers together, top to bottom. The process
role (plain, chief or worker) is read once here and passed down; the config is
never replaced: --time-budget's choice is a SearchPlan beside it.
"""

import contextlib
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import keras

import spaces
from search import data as data_module
from search import tracking
from search.core import elapsed, ownership
from search.core.config import SearchConfig
from search.core.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.core.errors import SearchFailed
from search.core.lock import ProjectLock, lock_path
from search.core.state import STATE_FILE
from search.core.stores import check_reachable
from search.core.state import read_state as _read_state, write_state as _write_state
from search.distributed import chief_oracle, roles as distributed, worker_link
from search.kt import compat as kt_compat, limits, space_check
from search.kt.checkpoints import CheckpointBudget
from search.kt.device import configure_devices
from search.kt.oracle import search_oracle
from search.kt.progress import Progress, finished_trials
from search.kt.resources import GraphRelease, long_lived_objects_frozen
from search.kt.tuner import BridgeHyperband
from search.plan import budget
from search.plan.hyperband import SearchPlan
from search.preflight import answer_finished, finished_state
from search.tracking import lineage, links, resume, run_names, warm_start, workers
from search.tracking.trial_logger import MlflowTrialLogger
from search.winner.finish import finish, log_report

log = logging.getLogger(__name__)


class Prepared(NamedTuple):
    """What a search reads before it writes anything."""
    strategy: object
    device: dict
    image_data: object
    hypermodel: object
    plan: SearchPlan


def run_search(config: SearchConfig, started: float | None = None,
               preflight_done: bool = False) -> dict:
    """Run one search (or this process's part of a distributed one) and return its
    summary. Messages go to the "search" logger (silent unless configured).
    `started`: the command's start on the perf_counter clock (default: now), from
    which --time-budget counts. `preflight_done`: the caller (the CLI) has run the
    TF-free checks already (the store answers; the search has not finished, or its
    answer was given), so they are not run twice."""
    started = time.perf_counter() if started is None else started
    role = distributed.role()  # read once: None (one process), "chief" or "worker"
    if role != "worker" and not preflight_done:
        # The same search again: report (export again if asked), train and register
        # nothing; the same experiment with other options: exit 2 (search/preflight.py).
        finished = answer_finished(config)
        if finished:
            return finished
    prepared = _prepare(config, role, started, preflight_done)
    # Everything above only reads; from here on the project dir and MLflow are written.
    with _project_lock(config):
        if role == "worker":
            return _run_worker(config, prepared)
        return _search(config, started, prepared, role)


def _prepare(config, role, started, preflight_done):
    """Devices, data, the checked space and the plan; every refusal here (an
    unreachable store, a warm start or limits nothing meets, a budget too short)
    comes before the project folder or the experiment exist."""
    log.debug(f"config: {config.as_params()}")
    kt_compat.quiet_keras_tuner()
    if not preflight_done:  # an unreachable server: exit 2 before anything slow
        check_reachable(config.resolved_tracking_uri())
    if role != "worker":
        warm_start.check_source(config)
    strategy, device = configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = space_check.load_checked_space(config.space, image_data)
    if role != "worker":
        limits.check_feasible(hypermodel, limits.Limits(config.max_params, config.max_latency_ms),
                              config.space)
    for note in image_data.notes:
        log.info(note)
    plan = SearchPlan.of(config)
    if config.time_budget and role != "worker":  # times the first draws, picks the plan
        plan = budget.plan_within_budget(config, image_data, hypermodel, started)
    return Prepared(strategy, device, image_data, hypermodel, plan)


def _project_lock(config):
    lock = ProjectLock(lock_path(config.project_dir, config.project_name, distributed.tuner_id()),
                       config.project_dir).acquire()
    if lock.took_over:
        log.info(f"Took over the lock of process {lock.took_over.get('pid')}, which is gone.")
    return lock


def _open_tracker(config, hypermodel):
    tracker = tracking.SearchTracker(config.resolved_tracking_uri(), config.experiment,
                                     config.store_retry_seconds)
    tracker.open_experiment()
    tracker.summary_keys = spaces.summary_keys(hypermodel)  # names each trial's run
    return tracker


def _fit_data(config, image_data):
    return (image_data.pipeline("train", config.batch_size, config.seed),
            image_data.pipeline("val", config.batch_size, config.seed))


def _search(config, started, prepared, role):
    tracker = _open_tracker(config, prepared.hypermodel)
    project_folder = Path(config.project_dir) / config.project_name
    tuner, earlier, oracle_timings = _open_search(config, started, prepared, role, tracker,
                                                  project_folder)
    train, val = _fit_data(config, prepared.image_data)
    try:
        mlflow_before, search_started = tracker.seconds_in_mlflow, time.perf_counter()
        with tracker.system_metrics(node_id=distributed.tuner_id() if role else None), \
                long_lived_objects_frozen():
            tuner.search(train, validation_data=val, epochs=prepared.plan.max_epochs,
                         verbose=0)
        if role == "chief":
            _log_oracle_timings(oracle_timings, project_folder)
        # Every trial is over: a run still RUNNING was left by a dead worker (or by a
        # create_run retried after a lost answer); it must not stay so for good.
        resume.settle_interrupted_runs(tracker, tuner, config.log_models, when="Search end")
        timings = {"started": started, "earlier_seconds": earlier,
                   "search_seconds": time.perf_counter() - search_started,
                   "mlflow_trial_seconds": tracker.seconds_in_mlflow - mlflow_before}
        summary = finish(config, prepared.plan, tuner, tracker, prepared.image_data, timings,
                         tracker.summary_keys)
        # Named by its answer before the report, which shows the parent run's name.
        run_names.rename_search(tracker, run_names.finished_name(
            config.experiment, summary["best_hyperparameters"], summary["best_val_accuracy"],
            tracker.summary_keys))
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
    tracker.end_search()
    state_path = project_folder / STATE_FILE
    _write_state(state_path, {**_read_state(state_path),
                              **finished_state(config, summary, summary["export_dir"])})
    return summary


def _open_search(config, started, prepared, role, tracker, project_folder):
    """The project folder (ours, marked), the tuner with its queued first trials, and
    the parent run (a resumed search's own); returns (tuner, seconds of the parts
    before a resume, the chief's oracle timings or None)."""
    state_path = project_folder / STATE_FILE
    resume_run_id = None if config.overwrite else _read_state(state_path).get("parent_run_id")
    # Before the tuner saves the oracle again: the interrupted part's share.
    earlier = 0.0 if resume_run_id is None else elapsed.carried_over(_read_state(state_path),
                                                                     project_folder)
    if config.overwrite:  # ours, checked again now: keras-tuner is not asked to delete it
        ownership.remove_project(project_folder)
    ownership.mark_project(project_folder)  # created and marked before keras-tuner writes
    # Read before the tuner reloads the oracle: which worker held which trial.
    held = {} if config.overwrite else chief_oracle.saved_ongoing_trials(project_folder)
    warm, warm_values = warm_start.first_values(tracker, config, prepared.hypermodel)
    deadline = prepared.plan.deadline
    pinned = deadline.first_trial_values if deadline is not None else None  # one-trial plan
    tuner = _make_tuner(config, prepared, tracker, role, first_values=warm or pinned)
    oracle_timings = (chief_oracle.prepare_chief(tuner.oracle, project_folder, held)
                      if role == "chief" else None)  # a restarted chief: workers keep trials
    parent_run_id = _start_parent_run(config, prepared, tracker, warm_values, resume_run_id)
    earlier = earlier if resume_run_id == parent_run_id else 0.0
    _write_state(state_path, {"parent_run_id": parent_run_id,
                              "experiment_id": tracker.experiment_id,
                              **elapsed.part_fields(earlier, started)})
    if resume_run_id == parent_run_id:  # a killed run may have left child runs RUNNING
        resume.settle_interrupted_runs(tracker, tuner, config.log_models)
    _log_start(config, prepared, tracker, role, resumed=resume_run_id == parent_run_id)
    return tuner, earlier, oracle_timings


def _start_parent_run(config, prepared, tracker, warm_values, resume_run_id):
    parent_run_id = tracker.start_search(
        run_name=run_names.running_name(config.experiment),
        params={**config.as_params(), **prepared.plan.as_params(),
                **prepared.image_data.description(), **prepared.device,
                "space_class": type(prepared.hypermodel).__name__},
        tags={"code_version": _code_version(), "keras_version": keras.__version__,
              tracking.TAG_SUMMARY_KEYS: json.dumps(tracker.summary_keys), **warm_values},
        resume_run_id=resume_run_id)
    tracker.log_search_text(config_to_toml(config), RESOLVED_CONFIG_FILE)
    tracker.log_datasets(parent_run_id, lineage.split_inputs(prepared.image_data))
    return parent_run_id


def _log_start(config, prepared, tracker, role, resumed):
    schedule, data = prepared.plan.schedule, prepared.image_data
    log.info(f"Searching space '{config.space}' on {data.source} {data.input_shape} "
             f"({data.num_classes} classes) on {prepared.device['device']}: Hyperband plans "
             f"{schedule.total_trials} trials, {schedule.total_epochs} epochs.")
    log.info(f"MLflow: {tracker.tracking_uri} experiment '{config.experiment}' "
             f"run {tracker.parent_run_id}" + (" (resumed)" if resumed else ""))
    if role == "chief":
        log.info("Chief: serving the Hyperband oracle; workers train the trials.")


def _log_oracle_timings(oracle_timings, project_folder):
    timings_file = oracle_timings.write(project_folder)
    summary = oracle_timings.summary()
    log.info(f"Chief: {summary['requests']} oracle requests, {summary['mean_ms'] or 0:.2f} ms "
             f"each on average ({timings_file.name}).")


def _make_tuner(config, prepared, tracker, role, first_values=None):
    """The tuner with its oracle (search/kt/oracle.py) and its trial hooks, in
    order: the checkpoint budget (its disk figures are logged, so it measures
    before the MLflow logger and prunes after), MLflow logging, graph release,
    progress. keras-tuner never deletes the project folder (overwrite=False):
    --overwrite removed it above, after checking it is ours."""
    keras.utils.set_random_seed(config.seed)
    oracle, limit_checker = search_oracle(config, prepared.hypermodel, prepared.plan,
                                          first_values)
    tuner = BridgeHyperband(
        oracle, prepared.hypermodel, patience=config.patience, jit_compile=config.jit_compile,
        lr_schedule=config.lr_schedule,
        precision_policy="mixed_float16" if config.mixed_precision else "float32",
        distribution_strategy=prepared.strategy, directory=config.project_dir,
        project_name=config.project_name, overwrite=False, deadline=prepared.plan.deadline,
        fetch_predecessor=workers.predecessor_fetcher(tracker))
    tuner.limit_checker = limit_checker
    tuner.progress = Progress(prepared.plan.schedule.total_trials, keys=tracker.summary_keys,
                              prefix=f"{tuner.tuner_id} " if role else "",
                              done=0 if role else finished_trials(tuner.oracle))
    tuner.hooks = [CheckpointBudget(tuner, config.keep_checkpoints),
                   MlflowTrialLogger(tracker, tuner, config.log_models),
                   GraphRelease(), tuner.progress]
    return tuner


def _run_worker(config, prepared):
    """Train the trials the chief hands out, logging them under its parent run."""
    tracker = _open_tracker(config, prepared.hypermodel)
    parent_run_id = workers.wait_for_parent_run(tracker, distributed.tuner_id(),
                                                timeout=config.chief_timeout)
    tracker.attach_search(parent_run_id)
    # Its trials are written there too (a worker never deletes it).
    ownership.mark_project(Path(config.project_dir) / config.project_name)
    tuner = _make_tuner(config, prepared, tracker, "worker")
    worker_link.guard(tuner.oracle, tuner.tuner_id, distributed.chief_address(),
                      config.chief_timeout)
    worker_link.pause_when_idle(tuner)
    log.info(f"Worker {tuner.tuner_id}: logging into parent run {parent_run_id}.")
    # A restarted worker: its previous life may have died between keras-tuner
    # recording a trial and MLflow closing the run (crash point "trial_end").
    resume.settle_interrupted_runs(tracker, tuner, config.log_models, tuner_id=tuner.tuner_id,
                                   when=f"Worker {tuner.tuner_id}")
    train, val = _fit_data(config, prepared.image_data)
    with tracker.system_metrics(node_id=tuner.tuner_id), long_lived_objects_frozen():
        tuner.search(train, validation_data=val, epochs=prepared.plan.max_epochs, verbose=0)
    log.info(f"Worker {tuner.tuner_id}: done after {tuner.progress.done} trials.")
    return {"role": "worker", "tuner_id": tuner.tuner_id, "parent_run_id": parent_run_id,
            "trials_run": tuner.progress.done}


def _interrupted():
    return isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _code_version():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
