"""The Hyperband schedule: brackets, rounds, trials and epochs, before training.

The sizes come from the very oracle class the tuner searches with
(search/kt/oracle.py: keras-tuner's HyperbandOracle with a first-round
budget), asked rather than re-derived, so the plan equals what a search runs,
minus epochs saved by early stopping.
"""

import functools
from dataclasses import dataclass

from search.kt import compat as kt_compat
from search.kt.oracle import make_oracle


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


@dataclass(frozen=True)
class SearchPlan:
    """The Hyperband settings a search runs with, beside its config (which is never
    replaced): the config's own, or (--time-budget) the budget's choice with its
    Deadline and the figures to log."""
    max_epochs: int
    factor: int
    hyperband_iterations: int
    min_epochs: int
    deadline: object = None  # search/plan/budget.py's Deadline, with --time-budget
    budget_params: tuple = ()  # (name, value) pairs for the parent run

    @classmethod
    def of(cls, config):
        return cls(config.max_epochs, config.factor, config.hyperband_iterations,
                   config.min_epochs)

    @property
    def schedule(self):
        return hyperband_plan(self.max_epochs, self.factor, self.hyperband_iterations,
                              self.min_epochs)

    def as_params(self):
        """What the parent run logs of the plan (it overrides the config's settings)."""
        return {"max_epochs": self.max_epochs, "factor": self.factor,
                "hyperband_iterations": self.hyperband_iterations, **dict(self.budget_params)}


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
