"""The winner's steps, after the search: pick the best trial, train it afresh on
train+val (--retrain), score it on the test split, export and register it, log
the report, and write the summary."""

import logging
import shlex
import time
from pathlib import Path

from search.core.export_dir import default_export_dir
from search.core.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.core.crashpoints import crash_point
from search.core.errors import SearchFailed, last_line
from search.core.state import write_json
from search.tracking import description, models, report
from search.tracking.links import store_option
from search.plan import budget
from search.kt import callbacks, training
from search.kt.hp_values import user_values
from search.kt.safe_load import load_model_safely
from search.kt.progress import format_seconds
from search.winner import export, select, tflite

log = logging.getLogger(__name__)


def finish(config, plan, tuner, tracker, image_data, timings, keys):
    """Pick the winner (--select), train it afresh on train+val (--retrain), score
    it on the test split, export and register it, and write the summary. `keys`:
    the space's summary keys (spaces.summary_keys), its question first; `plan`: the
    search's SearchPlan (its Hyperband settings, and with --time-budget its deadline)."""
    deadline = plan.deadline
    trials = _trials_or_fail(tuner)
    chosen, top = select.choose(config.select, tuner.oracle, tracker)
    model, metrics = _final_model(config, tuner, tracker, image_data, chosen, deadline)
    model = training.inference_model(model)  # no augmentation layers in what is shipped
    export_dir = _export(config, tracker, image_data, model, metrics, chosen)
    crash_point("export")  # tests: killed between the export and the registry
    name, version = models.log_winner(tracker, model, image_data.x_val, {
        "search_val_accuracy": chosen[0].score, "test_accuracy": metrics.get("test_accuracy"),
        "retrained": config.retrain != "none"})
    tflite.log_tflite(tracker, export_dir)
    crash_point("registered")  # tests: killed between the registry and the parent run's end
    summary = {"experiment_id": tracker.experiment_id, "parent_run_id": tracker.parent_run_id,
               **choice_summary(config.select, chosen, top), "export_dir": str(export_dir),
               **_counts(trials, tuner, timings), **_scores(metrics, trials, keys),
               "registered_model": name, "registered_version": version,
               **_mlflow_seconds(tracker, timings)}
    if deadline is not None:
        summary.update(budget.used(config, deadline))
    _record_on_parent_run(tracker, summary, keys, chosen, top)
    if config.summary_json:
        write_json(config.summary_json, summary, indent=2)
    description.log_description(tracker, config, plan, summary, image_data.description())
    _log_result(config.select, metrics, summary)
    return summary


def _trials_or_fail(tuner):
    trials = list(tuner.oracle.trials.values())
    if all(t.status != "COMPLETED" for t in trials):
        raise SearchFailed(f"all {len(trials)} trials failed; the first failure was: "
                           f"{_first_failure(trials)}")
    return trials


def _final_model(config, tuner, tracker, image_data, chosen, deadline):
    """The model to export and its metrics: the chosen trial's best model, or
    (--retrain) its hyperparameters trained afresh, scored on the test split."""
    trial, run = chosen
    local_model = Path(tuner.best_model_path(trial.trial_id))
    if local_model.is_file():
        model = load_model_safely(local_model)
    else:  # trained by a worker on another machine: take it from MLflow
        model, _ = models.load_trial_model(tracker.client, run.info.run_id, run=run)
    metrics = {"best_val_accuracy": trial.score}
    if config.retrain != "none":
        model, metrics = _retrain(config, run, trial, tuner.build_fresh, image_data, model,
                                  metrics, deadline)
    if image_data.x_test is not None:
        # The test split never reaches the tuner; it only scores the winner here.
        _, metrics["test_accuracy"] = model.evaluate(
            image_data.pipeline("test", config.batch_size, config.seed), verbose=0)
    return model, metrics


def _export(config, tracker, image_data, model, metrics, chosen):
    trial, run = chosen
    export_dir = Path(config.export_dir or default_export_dir(config.experiment,
                                                              tracker.parent_run_id))
    export.export_model(model, export_dir, owner=config.search_identity(), info={
        **models.trial_info(run), "search_metrics": metrics,
        # the values as keras-tuner drew them, each of its own type
        "hyperparameters": user_values(trial.hyperparameters.values),
        "parent_run_id": tracker.parent_run_id, "data": image_data.description()},
        extra_files={RESOLVED_CONFIG_FILE: config_to_toml(config)},  # reproduces the search
        quantize=config.quantize)
    return export_dir


def _counts(trials, tuner, timings):
    # The whole search's wall time: the parts before a resume too (core/elapsed.py).
    wall = time.perf_counter() - timings["started"] + timings.get("earlier_seconds", 0.0)
    return {"n_trials": len(trials), "n_failed_trials": sum(t.status != "COMPLETED"
                                                            for t in trials),
            "wall_seconds": wall, "search_seconds": timings["search_seconds"],
            "earlier_seconds": timings.get("earlier_seconds", 0.0),  # of them, before a resume
            "resampled_draws": getattr(tuner.limit_checker, "refused", 0),  # over a limit
            # --sampler bohb: new configurations the model proposed (in this process)
            "sampler_model_draws": getattr(getattr(tuner.oracle, "model_sampler", None),
                                           "from_model", 0)}


def _scores(metrics, trials, keys):
    question = next(iter(keys), None)
    return {"test_accuracy": metrics.get("test_accuracy"),
            "search_model_test_accuracy": metrics.get("search_model_test_accuracy"),
            "retrain_epochs": metrics.get("retrain_epochs"),
            "retrain_seconds": metrics.get("retrain_seconds"),
            "summary_keys": keys,
            f"best_per_{question}": best_scores_per_value(trials, question)}


def _mlflow_seconds(tracker, timings):
    return {"mlflow_seconds": tracker.seconds_in_mlflow,
            "mlflow_epoch_seconds": tracker.seconds_in_epoch_logging,
            "mlflow_trial_seconds": timings["mlflow_trial_seconds"]}


def _record_on_parent_run(tracker, summary, keys, chosen, top):
    """The summary's numbers as metrics (one per value of the question too) and
    which trial won and was exported as tags of the parent run."""
    question = next(iter(keys), None)
    tracker.log_search_metrics({
        **{k: v for k, v in summary.items()
           if isinstance(v, (int, float)) and not isinstance(v, bool)},
        **{f"best_val_accuracy_{value}": best["val_accuracy"]
           for value, best in summary[f"best_per_{question}"].items()}})
    tracker.set_search_tags({"best_run_id": top[1].info.run_id,
                             "best_trial_id": top[0].trial_id,
                             "selected_run_id": chosen[1].info.run_id,
                             "selected_trial_id": chosen[0].trial_id,
                             "registered_model": f"{summary['registered_model']}/"
                                                 f"{summary['registered_version']}"})


def log_report(tracker):
    """Trial table and plots as artifacts on the parent run. The search and its
    winner are already stored, so a failing report only warns (and can be
    rebuilt from the store with `bridge-search report`)."""
    rebuild = (f"bridge-search report --experiment {shlex.quote(tracker.experiment_name)} "
               f"--run-id {tracker.parent_run_id}{store_option(tracker.tracking_uri)}")
    try:
        report.log_search_report(tracker.client, tracker.experiment_name, tracker.parent_run_id)
    except Exception as error:  # noqa: BLE001 - see docstring
        log.warning(f"warning: the search report was not logged ({type(error).__name__}: "
                    f"{error}); build it with: {rebuild}")
        return
    log.info(f"Report (trial table, plots): artifacts {report.REPORT_ARTIFACT}/ of run "
             f"{tracker.parent_run_id}; print it again: {rebuild}")


def _retrain(config, best_run, best_trial, build, image_data, search_model, metrics,
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
        epochs = _retrain_epochs_left(deadline, best_run, image_data, epochs)
        if epochs == 0:
            log.warning("Too little time left in --time-budget for a final training as long "
                        "as the winner's own: exporting the search's best model.")
            return search_model, metrics
    log.info(f"Training the winner afresh on train+val for {epochs} epochs (--retrain).")
    started = time.perf_counter()
    stop = None if deadline is None else callbacks.StopBefore(deadline.final_training_end())
    model = training.retrain_on_train_and_val(
        build, best_trial.hyperparameters, image_data, epochs, config.batch_size,
        config.seed, config.lr_schedule, callbacks=[stop] if stop else [])
    if stop and stop.epochs_done < epochs:
        log.warning(f"Time budget: the final training ran slower than its trial and "
                    f"stopped after {stop.epochs_done} of {epochs} epochs.")
        epochs = stop.epochs_done
    metrics.update({"retrain_epochs": epochs,
                    "retrain_seconds": time.perf_counter() - started})
    return model, metrics


def _retrain_epochs_left(deadline, best_run, image_data, epochs):
    """The final training's epochs that fit what is left of --time-budget: at the
    winner's own seconds per epoch (its trial's, when logged), after building and
    tracing a fresh model; 0 when fewer than the winner trained fit."""
    own = best_run.data.metrics.get("seconds_per_epoch") or deadline.epoch_seconds
    per_epoch = budget.retrain_epoch_seconds({"epoch_seconds": own}, image_data)
    least = min(epochs, max(int(best_run.data.metrics.get("best_epoch") or 1), 1))
    return deadline.retrain_epochs(epochs, per_epoch, deadline.trial_overhead_seconds, least)


def choice_summary(select_text, selected, top):
    """The summary's keys for the exported trial (`selected_*`, what --select picked)
    and the highest val_accuracy (`best_*`): the same trial under --select best."""
    keys = {}
    for prefix, (trial, run) in (("best", top), ("selected", selected)):
        keys.update({f"{prefix}_run_id": run.info.run_id, f"{prefix}_trial_id": trial.trial_id,
                     f"{prefix}_hyperparameters": user_values(trial.hyperparameters.values),
                     f"{prefix}_val_accuracy": trial.score})
    return {**keys, "select": select_text}


def result_line(select_text, summary, test=None):
    """What was exported and, when --select picked another trial, the best beside it."""
    how = select.describe(select_text)
    head = "Best trial" if how == "best" else f"Selected ({how}): trial"
    line = (f"{head} {summary['selected_trial_id']}: val_accuracy "
            f"{summary['selected_val_accuracy']:.4f}"
            + (f", test_accuracy {test:.4f}" if test is not None else "")
            + f" | {summary['selected_hyperparameters']}")
    if how != "best":
        line += (f"; best trial {summary['best_trial_id']} val_accuracy "
                 f"{summary['best_val_accuracy']:.4f}")
    return line


def _log_result(select_text, metrics, summary):
    log.info(result_line(select_text, summary, metrics.get("test_accuracy")))
    question, label = next(iter(summary["summary_keys"].items()), (None, None))
    if summary.get(f"best_per_{question}"):
        log.info(f"Best val_accuracy per {label}: " + ", ".join(
            f"{value} {best['val_accuracy']:.4f}"
            for value, best in summary[f"best_per_{question}"].items()))
    log.info(f"{summary['n_trials']} trials ({summary['n_failed_trials']} failed) in "
             f"{format_seconds(summary['wall_seconds'])}; winner exported to "
             f"{summary['export_dir']}, registered as {summary['registered_model']} "
             f"v{summary['registered_version']}.")


def _first_failure(trials):
    failed = [t for t in trials if t.message]
    return last_line(failed[0].message) if failed else "unknown"


def best_scores_per_value(trials, question):
    """{value: {val_accuracy, trial_id, hyperparameters}} of the best completed
    trial of each value of the space's question (its first summary key: `bridge`
    for the default space), so every search answers "which bridge, on this data"."""
    best = {}
    for trial in trials:
        value = trial.hyperparameters.values.get(question)
        if value is None or trial.status != "COMPLETED" or trial.score is None:
            continue
        if value not in best or trial.score > best[value]["val_accuracy"]:
            best[value] = {"val_accuracy": float(trial.score), "trial_id": trial.trial_id,
                           "hyperparameters": user_values(trial.hyperparameters.values)}
    return dict(sorted(best.items(), key=lambda item: str(item[0])))
