"""Checkpoint disk budget: keep the local checkpoints of the best K trials only.

Every trial's folder gets `BEST_MODEL_FILE` (BestEpochKeeper in callbacks.py; it is
also the checkpoint a continued trial loads, in place of keras-tuner's
`checkpoint.weights.h5`, which projects of earlier versions hold); a long search
fills the disk. After each trial we delete the checkpoint files of every trial
that is neither among the best K nor still needed by Hyperband: a trial of
round r may be continued in round r+1 of its bracket until that round is full,
and one chosen to continue is needed until its successor has finished (the
successor loads its checkpoint). The trial's best model stays in
MLflow (see `--log-models`); trial.json and build_config.json stay (tiny, and
keras-tuner reads them on resume).
"""

import os
import shutil
from pathlib import Path

from search.kt import compat as kt_compat
from search.kt.hooks import TrialHook

BEST_MODEL_FILE = "best_model.keras"
FINISHED = ("COMPLETED", "FAILED", "INVALID")


def still_needed(oracle):
    """Ids of trials a later Hyperband round may still load, or None when this
    oracle does not say (a distributed worker's OracleClient)."""
    brackets = kt_compat.open_brackets(oracle)
    if brackets is None:
        return None
    needed = set()
    for bracket_num, rounds in brackets:
        for round_num, this_round in enumerate(rounds[:-1]):
            next_round = rounds[round_num + 1]
            successors = {info["past_id"]: info["id"] for info in next_round}
            next_full = len(next_round) >= kt_compat.round_size(oracle, bracket_num,
                                                                round_num + 1)
            for info in this_round:
                successor = successors.get(info["id"])
                if successor is None:
                    if not next_full:
                        needed.add(info["id"])  # may still be chosen
                elif _status(oracle, successor) not in FINISHED:
                    needed.add(info["id"])  # its successor has yet to load it
    return needed


def _status(oracle, trial_id):
    trial = oracle.trials.get(trial_id)
    return trial.status if trial is not None else None


def trials_to_prune(oracle, keep):
    """Trials whose checkpoints can go: finished, not in the best `keep`, not needed."""
    needed = still_needed(oracle)
    if needed is None:
        return []
    best = {t.trial_id for t in oracle.get_best_trials(keep)}
    return sorted(trial_id for trial_id, trial in oracle.trials.items()
                  if trial.status in FINISHED and trial_id not in best | needed)


def checkpoint_paths(tuner, trial_id):
    return [Path(kt_compat.checkpoint_path(tuner, trial_id)),
            Path(tuner.get_trial_dir(trial_id)) / BEST_MODEL_FILE]


def prune(tuner, keep, spare=()):
    """Delete the checkpoints of prunable trials except `spare`; return how many
    trials lost files."""
    pruned = 0
    for trial_id in trials_to_prune(tuner.oracle, keep):
        if trial_id in spare:
            continue
        removed = False
        for path in checkpoint_paths(tuner, trial_id):
            if path.is_dir():
                shutil.rmtree(path)
                removed = True
            elif path.exists():
                path.unlink()
                removed = True
        pruned += removed
    return pruned


def disk_usage_mb(folder):
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # removed meanwhile
    return total / (1024 * 1024)


def trials_with_checkpoints(tuner):
    return sum(any(p.exists() for p in checkpoint_paths(tuner, trial_id))
               for trial_id in tuner.oracle.trials)


class CheckpointBudget(TrialHook):
    """--keep-checkpoints as a trial hook: before a trial is logged, other trials'
    checkpoints over the budget go and the disk figures join its metrics; once
    every hook has it (MLflow has its model), its own checkpoint may go too."""

    def __init__(self, tuner, keep):
        self.tuner, self.keep = tuner, keep

    def trial_end(self, report):
        report.metrics.update(self._prune(spare={report.trial_id}))

    def trial_closed(self, report):
        self._prune()

    def _prune(self, spare=()):
        """Apply the budget; return the disk figures to log (none on a worker,
        whose oracle cannot say which checkpoints Hyperband still needs)."""
        if still_needed(self.tuner.oracle) is None:
            return {}
        prune(self.tuner, self.keep, spare)
        return {"project_dir_mb": disk_usage_mb(self.tuner.project_dir),
                "trials_with_checkpoints": trials_with_checkpoints(self.tuner)}
