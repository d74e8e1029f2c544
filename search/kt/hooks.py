"""Trial hooks: the work around each trial, outside keras-tuner's loop.

The tuner measures each trial once, into a `TrialReport`, and hands it to its
hooks in order, as optuna-integration's MLflowCallback and Ray Tune's callbacks
do. The tuner knows nothing of MLflow, of the checkpoint budget or of the
progress line: a search without any hook trains exactly the same models.
"""

from dataclasses import dataclass, field


@dataclass
class TrialReport:
    """What the tuner measured of one finished trial."""
    trial: object                 # keras-tuner's Trial
    status: str                   # keras-tuner's: COMPLETED, FAILED, INVALID, ...
    metrics: dict                 # wall_seconds, epochs_trained, param_count, best_epoch...
    tags: dict = field(default_factory=dict)  # e.g. where a continued trial's weights came from
    model_path: str | None = None  # the best epoch's model file (completed trials only)
    score: float | None = None     # this trial's best objective value
    best_score: float | None = None  # the search's best so far, this trial included
    is_best: bool = False          # this trial is the search's best so far
    failure: str | None = None     # why it failed, in one line (not completed)

    @property
    def completed(self) -> bool:
        return self.status == "COMPLETED"

    @property
    def trial_id(self) -> str:
        return self.trial.trial_id


class TrialHook:
    """Every method is optional. `trial_end` may add metrics or tags to the
    report for the hooks after it; `trial_closed` runs once every hook has had
    `trial_end` (e.g. to delete a checkpoint only after it was logged)."""

    def trial_begin(self, trial) -> None:
        pass

    def fit_callbacks(self, trial) -> list:
        """Keras callbacks for this trial's fit (not deep-copied)."""
        return []

    def trial_end(self, report: TrialReport) -> None:
        pass

    def trial_closed(self, report: TrialReport) -> None:
        pass
