"""The MLflow trial hook: one nested child run per trial, opened when the trial
begins, fed each epoch's metrics (through the trial's journal first), and
closed with its summary metrics, status and best model when it ends."""

import logging
import os

import keras

from search import tracking
from search.kt.hooks import TrialHook
from search.kt.hp_values import user_values
from search.tracking import resume
from search.tracking.resume import logs_model

log = logging.getLogger(__name__)

INACTIVE = tracking.INACTIVE  # param value of a conditional hyperparameter that does not apply
# A failed trial's traceback goes to this artifact of its run (keras-tuner's own
# printing of it is off: kt_compat.quiet_keras_tuner), its reason to one line.
FAILURE_ARTIFACT = "failure_traceback.txt"


class EpochLogger(keras.callbacks.Callback):
    """Sends each epoch's metrics to the trial's child run (step = epoch number,
    counted from 1 and continuing across Hyperband rounds), and appends them to
    the trial's local journal first: metrics still queued for MLflow when the
    process is killed are sent from there on resume (see search/tracking/resume.py)."""

    def __init__(self, tracker, run_id, journal_path=None):
        super().__init__()
        self.tracker, self.run_id = tracker, run_id
        self.journal_path = journal_path

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.journal_path:
            resume.append_journal(self.journal_path, self.run_id, epoch + 1, logs)
        self.tracker.log_epoch(self.run_id, epoch + 1, logs)


class MlflowTrialLogger(TrialHook):
    """`tuner`: for each trial's folder (the journal) and its id on distributed
    workers; `log_models`: all | best | none (--log-models)."""

    def __init__(self, tracker, tuner, log_models="all"):
        self.tracker, self.tuner, self.log_models = tracker, tuner, log_models
        self.run_ids = {}  # trial id -> its child run

    def trial_begin(self, trial):
        values = trial.hyperparameters.values
        tags = {tracking.TAG_BRACKET: values.get("tuner/bracket", ""),
                tracking.TAG_ROUND: values.get("tuner/round", ""),
                tracking.TAG_CONTINUES: values.get("tuner/trial_id", ""),
                "hyperband_epochs": values.get("tuner/epochs", ""),
                "hyperband_initial_epoch": values.get("tuner/initial_epoch", 0),
                "tuner_id": self.tuner.tuner_id}
        params = trial_params(trial.hyperparameters)
        self.run_ids[trial.trial_id] = self.tracker.start_trial(trial.trial_id, params, tags)
        log.debug(f"trial {trial.trial_id} started: run {self.run_ids[trial.trial_id]}, "
                  f"{params}")

    def fit_callbacks(self, trial):
        journal = os.path.join(self.tuner.get_trial_dir(trial.trial_id), resume.JOURNAL_FILE)
        return [EpochLogger(self.tracker, self.run_ids[trial.trial_id], journal)]

    def trial_end(self, report):
        run_id = self.run_ids.pop(report.trial_id)
        tags = {tracking.TAG_STATUS: report.status, **report.tags}
        if not report.completed:
            tags[tracking.TAG_FAILURE] = report.failure
            self.tracker.log_text(run_id, report.trial.message or "", FAILURE_ARTIFACT)
        model_path = report.model_path if logs_model(self.log_models, report.is_best) else None
        self.tracker.end_trial(run_id, report.metrics, tags,
                               tracking.finished_status(report.status), model_path)


def trial_params(hp):
    """A trial's hyperparameters as MLflow params. keras-tuner leaves inactive
    conditional ones (flatten_pool when bridge != flatten) out of `hp.values`; they
    are logged as INACTIVE so every trial has the same param names and MLflow's
    compare and parallel-coordinates views line up without setup."""
    params = {p.name: hp.values.get(p.name, INACTIVE) for p in hp.space}
    params.update({k: v for k, v in hp.values.items() if k not in params})
    return user_values(params)
