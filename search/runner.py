"""run_search(config): data -> space -> Hyperband with MLflow logging -> winner export.

This is the one place that wires the modules together, top to bottom.
"""

import contextlib
import json
import shlex
import subprocess
import time
from pathlib import Path

import keras

import spaces
from search import data as data_module
from search import ownership, tracking
from search.distributed import chief_oracle, roles as distributed
from search.winner import export, select, tflite
from search.tracking import description, lineage, links, resume, warm_start
from search.tuning import budget, kt_compat, training
from search.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.tuning.device import configure_devices
from search.errors import SearchFailed, UsageError
from search.crashpoints import crash_point
from search.state import STATE_FILE, finished_summary, report_finished  # noqa: F401
from search.state import read_state as _read_state, write_state as _write_state
from search.distributed import worker_link
from search.distributed.lock import ProjectLock, lock_path
from search.tuning.plan import hyperband_plan
from search.tuning.progress import format_seconds
from search.tuning.resources import long_lived_objects_frozen
from search.tuning.limits import Limits
from search.tuning.tuner import BridgeHyperband


def run_search(config, say=print, started=None):
    """Run one search (or this process's part of a distributed one). `started`: the
    command's start on the perf_counter clock (default: now)."""
    started = time.perf_counter() if started is None else started
    finished = finished_summary(config) if distributed.role() != "worker" else None
    if finished:  # the same command again: report, train and register nothing
        return report_finished(config, finished, say)
    kt_compat.quiet_keras_tuner()
    # Before anything slow (devices, data): an unreachable server fails in seconds.
    tracking.check_reachable(config.resolved_tracking_uri())
    strategy, device = configure_devices(config, say)
    image_data = data_module.load_from_config(config)
    hypermodel = load_checked_space(config.space, image_data)
    for note in image_data.notes:
        say(note)
    # Everything above only reads; from here on the project dir and MLflow are written.
    with _project_lock(config, say):
        return _search(config, say, started, strategy, device, image_data, hypermodel)


def _project_lock(config, say):
    lock = ProjectLock(lock_path(config.project_dir, config.project_name, distributed.tuner_id()),
                       config.project_dir).acquire()
    if lock.took_over:
        say(f"Took over the lock of process {lock.took_over.get('pid')}, which is gone.")
    return lock


def _search(config, say, started, strategy, device, image_data, hypermodel):
    tracker = tracking.SearchTracker(config.resolved_tracking_uri(), config.experiment,
                                     config.store_retry_seconds, say)
    tracker.open_experiment()
    project_folder = Path(config.project_dir) / config.project_name
    state_path = project_folder / STATE_FILE
    fit_data = (image_data.pipeline("train", config.batch_size, config.seed),
                image_data.pipeline("val", config.batch_size, config.seed))
    if distributed.role() == "worker":
        return _run_worker(config, hypermodel, tracker, strategy, state_path, fit_data, say)

    resume_run_id = None if config.overwrite else _read_state(state_path).get("parent_run_id")
    if config.overwrite:  # checked at start too; the folder may have changed since
        ownership.check_project_overwrite(config.project_dir, config.project_name)
    deadline, budget_params = None, {}
    if config.time_budget:  # replaces max_epochs/factor/iterations by what fits
        config, deadline, budget_params = budget.plan_within_budget(
            config, image_data, hypermodel, started, say)
    # Read before the tuner reloads the oracle: which worker held which trial.
    held = {} if config.overwrite else chief_oracle.saved_ongoing_trials(project_folder)
    tuner = _make_tuner(config, hypermodel, tracker, strategy, overwrite=config.overwrite,
                        deadline=deadline)
    if distributed.role() == "chief":  # a restarted chief: its workers keep their trials
        oracle_timings = chief_oracle.prepare_chief(tuner.oracle, project_folder, held)
    warm_values = warm_start.seed_tuner(tuner, tracker, config, hypermodel, say)
    ownership.mark_project(project_folder)  # so a later --overwrite may delete it
    parent_run_id = tracker.start_search(
        run_name=f"search-{time.strftime('%Y%m%d-%H%M%S')}",
        params={**config.as_params(), **image_data.description(), **device,
                "space_class": type(hypermodel).__name__, **budget_params},
        tags={"code_version": _code_version(), "keras_version": keras.__version__,
              **warm_values},
        resume_run_id=resume_run_id)
    _write_state(state_path, {"parent_run_id": parent_run_id,
                              "experiment_id": tracker.experiment_id})
    tracker.log_search_text(config_to_toml(config), RESOLVED_CONFIG_FILE)
    tracker.log_datasets(parent_run_id, lineage.split_inputs(image_data))
    if resume_run_id == parent_run_id:  # a killed run may have left child runs RUNNING
        resume.settle_interrupted_runs(tracker, tuner, say)
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    say(f"Searching space '{config.space}' on {image_data.source} "
        f"{image_data.input_shape} ({image_data.num_classes} classes) on {device['device']}: "
        f"Hyperband plans {plan.total_trials} trials, {plan.total_epochs} epochs.")
    say(f"MLflow: {tracker.tracking_uri} experiment '{config.experiment}' "
        f"run {parent_run_id}" + (" (resumed)" if resume_run_id == parent_run_id else ""))
    if distributed.role() == "chief":
        say("Chief: serving the Hyperband oracle; workers train the trials.")
    try:
        mlflow_before, search_started = tracker.seconds_in_mlflow, time.perf_counter()
        node = distributed.tuner_id() if distributed.role() else None
        with tracker.system_metrics(node_id=node), long_lived_objects_frozen():
            tuner.search(*fit_data[:1], validation_data=fit_data[1], epochs=config.max_epochs,
                         verbose=0)
        if distributed.role() == "chief":
            timings_file = oracle_timings.write(project_folder)
            say(f"Chief: {oracle_timings.summary()['requests']} oracle requests, "
                f"{oracle_timings.summary()['mean_ms'] or 0:.2f} ms each on average "
                f"({timings_file.name}).")
        # Every trial is over: a run still RUNNING was left by a dead worker (or by a
        # create_run retried after a lost answer); it must not stay so for good.
        resume.settle_interrupted_runs(tracker, tuner, say, when="Search end")
        timings = {"started": started, "search_seconds": time.perf_counter() - search_started,
                   "mlflow_trial_seconds": tracker.seconds_in_mlflow - mlflow_before}
        summary = _finish(config, tuner, tracker, image_data, timings, say, deadline)
        _log_report(tracker, say)
        for line in links.link_lines(tracker.client, tracker.tracking_uri, tracker.experiment_id,
                                     tracker.parent_run_id):
            say(line)
    except BaseException:
        with contextlib.suppress(SearchFailed):  # the store itself may be what failed
            tracker.end_search(status="KILLED" if _interrupted() else "FAILED")
        raise
    tracker.end_search()
    _write_state(state_path, {**_read_state(state_path), "finished": summary})
    return summary


def _make_tuner(config, hypermodel, tracker, strategy, overwrite, deadline=None):
    keras.utils.set_random_seed(config.seed)
    return BridgeHyperband(
        hypermodel, tracker, patience=config.patience, jit_compile=config.jit_compile,
        lr_schedule=config.lr_schedule,
        precision_policy="mixed_float16" if config.mixed_precision else "float32",
        max_epochs=config.max_epochs, factor=config.factor, min_epochs=config.min_epochs,
        hyperband_iterations=config.hyperband_iterations, seed=config.seed,
        keep_checkpoints=config.keep_checkpoints, log_models=config.log_models,
        model_limits=Limits(config.max_params, config.max_latency_ms),
        distribution_strategy=strategy, directory=config.project_dir,
        project_name=config.project_name, overwrite=overwrite, deadline=deadline)


def _run_worker(config, hypermodel, tracker, strategy, state_path, fit_data, say):
    """Train the trials the chief hands out, logging them under its parent run."""
    parent_run_id = distributed.wait_for_parent_run(tracker, timeout=config.chief_timeout)
    tracker.attach_search(parent_run_id)
    # Never overwrite on a worker: the project directory is the chief's.
    tuner = _make_tuner(config, hypermodel, tracker, strategy, overwrite=False)
    worker_link.guard(tuner.oracle, tuner.tuner_id, distributed.chief_address(),
                      config.chief_timeout)
    worker_link.pause_when_idle(tuner)
    say(f"Worker {tuner.tuner_id}: logging into parent run {parent_run_id}.")
    # A restarted worker: its previous life may have died between keras-tuner
    # recording a trial and MLflow closing the run (crash point "trial_end").
    resume.settle_interrupted_runs(tracker, tuner, say, tuner_id=tuner.tuner_id,
                                   when=f"Worker {tuner.tuner_id}")
    with tracker.system_metrics(node_id=tuner.tuner_id), long_lived_objects_frozen():
        tuner.search(*fit_data[:1], validation_data=fit_data[1], epochs=config.max_epochs,
                     verbose=0)
    say(f"Worker {tuner.tuner_id}: done after {tuner.progress.done} trials.")
    return {"role": "worker", "tuner_id": tuner.tuner_id, "parent_run_id": parent_run_id,
            "trials_run": tuner.progress.done}


def load_checked_space(spec, image_data):
    """Load the space and build one model from it, so a broken space is a usage
    error before anything is logged or trained."""
    hypermodel = spaces.load_space(spec, image_data.input_shape, image_data.num_classes,
                                   image_data.pixel_max)
    data_module.check_fits_space(image_data, hypermodel, spec)
    import keras_tuner
    try:
        model = hypermodel.build(keras_tuner.HyperParameters())
    except Exception as error:
        raise UsageError(f"--space {spec}: building a model failed: "
                         f"{type(error).__name__}: {error}") from error
    else:
        if export.code_layers(model):  # found now, not when loading the winner at the end
            raise UsageError(
                f"--space {spec}: the model has Lambda layer(s) "
                f"{', '.join(export.code_layers(model))}; they hold Python code that Keras "
                f"safe mode refuses to load. Write them as layer subclasses registered "
                f"with @keras.saving.register_keras_serializable().")
    finally:
        keras.backend.clear_session()
    return hypermodel


def _finish(config, tuner, tracker, image_data, timings, say, deadline=None):
    """Pick the winner, train it afresh on train+val (--retrain), score it on the
    test split, export and register it, and write the summary."""
    trials = list(tuner.oracle.trials.values())
    failed = sum(t.status != "COMPLETED" for t in trials)
    if failed == len(trials):
        raise SearchFailed(f"all {len(trials)} trials failed; the first failure was: "
                           f"{tracking_reason(trials)}")
    best_trial, best_run = select.choose(config.select, tuner.oracle, tracker)  # --select
    local_model = Path(tuner.get_trial_dir(best_trial.trial_id)) / "best_model.keras"
    if local_model.is_file():
        model = export.load_model_safely(local_model)
    else:  # trained by a worker on another machine: take it from MLflow
        model, _ = export.load_trial_model(tracker.client, best_run.info.run_id)
    metrics = {"best_val_accuracy": best_trial.score}
    if config.retrain != "none":
        model, metrics = _retrain(config, best_run, best_trial, tuner.build_fresh, image_data,
                                  model, metrics, say, deadline)
    if image_data.x_test is not None:
        # The test split never reaches the tuner; it only scores the winner here.
        _, metrics["test_accuracy"] = model.evaluate(
            image_data.pipeline("test", config.batch_size, config.seed), verbose=0)
    export_dir = Path(config.export_dir or Path("exports") /
                      ownership.path_slug(config.experiment) / tracker.parent_run_id)
    export.export_model(model, export_dir, owner=config.search_identity(), info={
        **export.trial_info(best_run), "search_metrics": metrics,
        "parent_run_id": tracker.parent_run_id, "data": image_data.description()},
        extra_files={RESOLVED_CONFIG_FILE: config_to_toml(config)},  # reproduces the search
        quantize=config.quantize)
    crash_point("export")  # tests: killed between the export and the registry
    name, version = export.log_winner(tracker, model, image_data.x_val, {
        "search_val_accuracy": best_trial.score, "test_accuracy": metrics.get("test_accuracy"),
        "retrained": config.retrain != "none"})
    tflite.log_tflite(tracker, export_dir)
    crash_point("registered")  # tests: killed between the registry and the parent run's end
    wall = time.perf_counter() - timings["started"]
    summary = {"experiment_id": tracker.experiment_id, "parent_run_id": tracker.parent_run_id,
               "best_run_id": best_run.info.run_id,
               "best_hyperparameters": _user_values(best_trial.hyperparameters.values),
               "best_val_accuracy": best_trial.score, "export_dir": str(export_dir),
               "n_trials": len(trials), "n_failed_trials": failed, "wall_seconds": wall,
               "resampled_draws": getattr(tuner.limit_checker, "refused", 0),  # over a limit
               "test_accuracy": metrics.get("test_accuracy"),
               "search_model_test_accuracy": metrics.get("search_model_test_accuracy"),
               "retrain_epochs": metrics.get("retrain_epochs"),
               "retrain_seconds": metrics.get("retrain_seconds"),
               "best_per_bridge": training.best_per_bridge(trials),
               "registered_model": name, "registered_version": version,
               "search_seconds": timings["search_seconds"],
               "mlflow_seconds": tracker.seconds_in_mlflow,
               "mlflow_epoch_seconds": tracker.seconds_in_epoch_logging,
               "mlflow_trial_seconds": timings["mlflow_trial_seconds"]}
    if deadline is not None:
        summary.update(budget.used(config, deadline))
    tracker.log_search_metrics({
        **{k: v for k, v in summary.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool)},
        **{f"best_val_accuracy_{bridge}": best["val_accuracy"]
           for bridge, best in summary["best_per_bridge"].items()}})
    tracker.set_search_tags({"best_run_id": best_run.info.run_id,
                             "best_trial_id": best_trial.trial_id,
                             "registered_model": f"{name}/{version}"})
    if config.summary_json:
        Path(config.summary_json).parent.mkdir(parents=True, exist_ok=True)
        Path(config.summary_json).write_text(json.dumps(summary, indent=2))
    description.log_description(tracker, config, {**summary, "best_trial_id": best_trial.trial_id},
                                image_data.description())
    _say_result(say, best_trial, metrics, summary)
    return summary


def _log_report(tracker, say):
    """Trial table and plots as artifacts on the parent run. The search and its
    winner are already stored, so a failing report only warns (and can be
    rebuilt from the store with `bridge-search report`)."""
    from search.tracking import report
    rebuild = (f"bridge-search report --experiment {shlex.quote(tracker.experiment_name)} "
               f"--run-id {tracker.parent_run_id}")
    try:
        report.log_search_report(tracker.client, tracker.experiment_name, tracker.parent_run_id)
    except Exception as error:  # noqa: BLE001 - see docstring
        say(f"warning: the search report was not logged ({type(error).__name__}: {error}); "
            f"build it with: {rebuild}")
        return
    say(f"Report (trial table, plots): artifacts {report.REPORT_ARTIFACT}/ of run "
        f"{tracker.parent_run_id}; print it again: {rebuild}")


def _retrain(config, best_run, best_trial, build, image_data, search_model, metrics, say,
             deadline=None):
    """The exported model: the winner's hyperparameters trained afresh on
    train + val. The search's own best model is scored on test too, so the
    summary shows what the final training added."""
    if image_data.x_test is not None:
        _, metrics["search_model_test_accuracy"] = search_model.evaluate(
            image_data.pipeline("test", config.batch_size, config.seed), verbose=0)
    epochs = training.retrain_epochs(best_run.data.metrics.get("best_epoch"),
                                     config.min_retrain_epochs)
    if deadline is not None:  # --time-budget: what is left of it
        epochs = deadline.retrain_epochs(epochs, budget.retrain_epoch_seconds(
            {"epoch_seconds": deadline.epoch_seconds}, image_data))
        if epochs == 0:
            say("No time left in --time-budget for the final training: exporting the "
                "search's best model.")
            return search_model, metrics
    say(f"Training the winner afresh on train+val for {epochs} epochs (--retrain).")
    started = time.perf_counter()
    model = training.retrain_on_train_and_val(
        build, best_trial.hyperparameters, image_data, epochs, config.batch_size,
        config.seed, config.lr_schedule)
    metrics.update({"retrain_epochs": epochs,
                    "retrain_seconds": time.perf_counter() - started})
    return model, metrics


def _say_result(say, best_trial, metrics, summary):
    test = metrics.get("test_accuracy")
    say(f"Best trial {best_trial.trial_id}: val_accuracy {best_trial.score:.4f}"
        + (f", test_accuracy {test:.4f}" if test is not None else "")
        + f" | {summary['best_hyperparameters']}")
    if summary["best_per_bridge"]:
        say("Best val_accuracy per bridge: " + ", ".join(
            f"{bridge} {best['val_accuracy']:.4f}"
            for bridge, best in summary["best_per_bridge"].items()))
    say(f"{summary['n_trials']} trials ({summary['n_failed_trials']} failed) in "
        f"{format_seconds(summary['wall_seconds'])}; winner exported to "
        f"{summary['export_dir']}, registered as {summary['registered_model']} "
        f"v{summary['registered_version']}.")


def tracking_reason(trials):
    failed = [t for t in trials if t.message]
    return (failed[0].message.strip().splitlines() or ["unknown"])[-1] if failed else "unknown"


def _user_values(values):
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}


def _interrupted():
    import sys
    return isinstance(sys.exc_info()[1], KeyboardInterrupt)


def _code_version():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
