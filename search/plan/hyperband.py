"""The Hyperband schedule: brackets, rounds, trials and epochs, before training.

The sizes come from the very oracle class the tuner searches with
(`MinEpochsHyperbandOracle`, keras-tuner's HyperbandOracle with a first-round
budget), asked rather than re-derived, so the plan equals what a search runs,
minus epochs saved by early stopping.
"""

import functools
from dataclasses import dataclass

import keras_tuner

from search.kt import compat as kt_compat


class MinEpochsHyperbandOracle(kt_compat.QueuedValuesMixin,
                               keras_tuner.oracles.HyperbandOracle):
    """HyperbandOracle whose most exploratory bracket trains >= `min_epochs`.

    keras-tuner keeps a `min_epochs` attribute (fixed at 1) that bounds the number
    of brackets: a bracket exists while max_epochs / factor**bracket >= min_epochs.
    Raising it drops the brackets whose first round would train fewer epochs, so
    the smallest budget any trial gets is ceil(max_epochs / factor**b) >= min_epochs.
    The value is part of the oracle's saved state, so a resumed search keeps it.
    """

    may_start_trial = None  # --time-budget: a callable asked before each new trial

    def __init__(self, *args, min_epochs=1, **kwargs):
        super().__init__(*args, **kwargs)
        kt_compat.apply_min_epochs(self, min_epochs)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.may_start_trial is not None and not self.may_start_trial():
            return kt_compat.stopped_trial(self)
        return super().create_trial(tuner_id)


@dataclass(frozen=True)
class Round:
    iteration: int
    bracket: int
    round: int
    trials: int
    epochs: int          # cumulative epochs a model has after this round
    new_epochs: int      # epochs each trial of this round trains


@dataclass(frozen=True)
class HyperbandPlan:
    rounds: tuple

    @property
    def total_trials(self):
        return sum(r.trials for r in self.rounds)

    @property
    def total_epochs(self):
        return sum(r.trials * r.new_epochs for r in self.rounds)


def make_oracle(max_epochs, factor, iterations=1, min_epochs=1, **kwargs):
    return MinEpochsHyperbandOracle(
        objective=kwargs.pop("objective", "val_accuracy"), max_epochs=max_epochs,
        factor=factor, hyperband_iterations=iterations, min_epochs=min_epochs, **kwargs)


@functools.lru_cache(maxsize=512)  # a plan is immutable; --time-budget asks for many
def hyperband_plan(max_epochs, factor, iterations=1, min_epochs=1):
    oracle = make_oracle(max_epochs, factor, iterations, min_epochs)
    rounds = []
    for iteration in range(iterations):
        # keras-tuner runs brackets from the most exploratory (most trials, fewest
        # epochs) down to bracket 0 (few trials trained for max_epochs).
        for bracket in reversed(range(kt_compat.num_brackets(oracle))):
            previous = 0
            for round_num in range(kt_compat.num_rounds(oracle, bracket)):
                epochs = kt_compat.round_epochs(oracle, bracket, round_num)
                rounds.append(Round(iteration, bracket, round_num,
                                    kt_compat.round_size(oracle, bracket, round_num), epochs,
                                    epochs - previous))
                previous = epochs
    return HyperbandPlan(tuple(rounds))


def format_plan(plan):
    """The plan as a table, one line per bracket round, then the totals."""
    lines = [f"{'iteration':>9} {'bracket':>7} {'round':>5} {'trials':>6} "
             f"{'epochs/trial':>12} {'cumulative':>10}"]
    for r in plan.rounds:
        lines.append(f"{r.iteration:>9} {r.bracket:>7} {r.round:>5} {r.trials:>6} "
                     f"{r.new_epochs:>12} {r.epochs:>10}")
    lines.append(f"Total: {plan.total_trials} trials, {plan.total_epochs} epochs")
    return "\n".join(lines)


def user_values(values):
    """A trial's hyperparameter values without the `tuner/` keys Hyperband adds
    (epochs, initial epoch, bracket, round, predecessor)."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}
