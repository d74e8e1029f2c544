"""The confirm stage's request and plan, without TensorFlow or MLflow: which
(value, seed) runs a controlled ablation trains, and which of them are left
once the finished ones (found in MLflow) are taken out.

`bridge-search confirm` keeps the winner's hyperparameters, sets the varied one
to each of its values, and trains every value with the same seeds 0..K-1, so
seed s of one value pairs with seed s of another (search/core/confirm_stats.py).
"""

from dataclasses import dataclass

from search.core.errors import UsageError

# Seeds per value at most: the plan lists every (value, seed) run before training, and
# a confirm of more runs than this would not finish anyway (past ~30 seeds the 95%
# interval narrows little). Epochs per run at most, as `run --max-epochs`.
MAX_SEEDS = 100
MAX_EPOCHS = 1000


@dataclass(frozen=True)
class ConfirmRequest:
    """What a confirm was asked for. `vary` None: the space's question; `epochs`
    None: the winner's final-training epochs."""
    seeds: int = 3
    vary: str | None = None
    epochs: int | None = None

    def __post_init__(self):
        check_seeds(self.seeds, "--seeds")
        if self.vary is not None and not self.vary.strip():
            raise UsageError("--vary '' is invalid: expected the name of a categorical or "
                             "integer hyperparameter of the search's space.")
        if self.epochs is not None and (not isinstance(self.epochs, int)
                                        or not 1 <= self.epochs <= MAX_EPOCHS):
            raise UsageError(f"--epochs {self.epochs!r} is invalid: must be an integer >= 1 "
                             f"and at most {MAX_EPOCHS} (leave it out for the winner's own "
                             f"epochs).")


def check_seeds(seeds, flag, allow_zero=False):
    """K seeds: at least 2 give an interval, 1 gives means only; 0 is refused (for
    `run --confirm-seeds`, 0 means no confirm stage)."""
    least = 0 if allow_zero else 1
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not least <= seeds <= MAX_SEEDS:
        hint = " (0: no confirm stage)" if allow_zero else ""
        raise UsageError(f"{flag} {seeds!r} is invalid: must be an integer >= {least}{hint} "
                         f"and at most {MAX_SEEDS}; 2 or more give each difference a 95% "
                         f"interval, 1 gives means only.")


@dataclass(frozen=True)
class PlannedRun:
    value: object
    seed: int

    @property
    def key(self):
        """How MLflow tags tell runs apart: values are stored as text."""
        return (str(self.value), int(self.seed))


def plan_runs(values, seeds):
    """Every (value, seed), seed-major: after a stop, every value has its first
    seeds, so a partial result still compares all values."""
    return [PlannedRun(value, seed) for seed in range(seeds) for value in values]


def runs_left(planned, finished_keys):
    """The planned runs whose (value text, seed) has no finished run yet."""
    done = set(finished_keys)
    return [run for run in planned if run.key not in done]
