"""One line per finished trial: count, bracket/round, score, best so far, elapsed.

The line goes to the "search" logger at INFO; its format is fixed (users and
tests grep it)."""

import logging
import time

from search.kt.hooks import TrialHook

log = logging.getLogger(__name__)


def format_seconds(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


ENDED = ("COMPLETED", "FAILED", "INVALID")  # keras-tuner's TrialStatus values


def finished_trials(oracle):
    """Trials that ended in the oracle as it was reloaded from the project dir."""
    return sum(trial.status in ENDED for trial in getattr(oracle, "trials", {}).values())


class Progress(TrialHook):
    """The progress line as a trial hook (and a failed trial's reason)."""

    def __init__(self, total_trials, prefix="", keys=None, done=0):
        """`keys`: {hyperparameter: label} shown of each trial (spaces.summary_keys);
        `done`: trials a resumed search finished before (finished_trials), so the
        count goes on where it stopped."""
        self.total_trials = total_trials
        self.prefix = prefix
        self.keys = dict(keys or {})
        self.started = time.perf_counter()
        self.done = done
        if done:
            log.info(f"{prefix}resuming the search: {done} trial(s) finished before")

    def trial_done(self, trial, score, best_score):
        """`score`: the trial's best val_accuracy (None when it failed); passed in
        because on a distributed worker the local trial object never gets one."""
        self.done += 1
        values = trial.hyperparameters.values
        score = "failed" if score is None else f"{score:.4f}"
        best = "-" if best_score is None else f"{best_score:.4f}"
        log.info(
            f"{self.prefix}[trial {self.done}/~{self.total_trials}] id {trial.trial_id} "
            f"bracket {values.get('tuner/bracket', '-')} round {values.get('tuner/round', '-')} "
            f"epochs {values.get('tuner/epochs', '-')} "
            + "".join(f"{label}={values.get(name, '-')} " for name, label in self.keys.items())
            + f"| val_accuracy {score} | best {best} | "
            f"elapsed {format_seconds(time.perf_counter() - self.started)}")

    def trial_closed(self, report):
        if not report.completed:
            log.warning(f"trial {report.trial_id} failed: {report.failure}")
        self.trial_done(report.trial, report.score, report.best_score)
