"""The Hyperband schedule: brackets, rounds, trials and epochs, before training.

The sizes come from keras-tuner's own HyperbandOracle formulas (we ask an oracle
instance rather than re-deriving them), so the plan equals what a search runs,
minus epochs saved by early stopping.
"""

from dataclasses import dataclass

import keras_tuner


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


def hyperband_plan(max_epochs, factor, iterations=1):
    oracle = keras_tuner.oracles.HyperbandOracle(
        objective="val_accuracy", max_epochs=max_epochs, factor=factor,
        hyperband_iterations=iterations)
    rounds = []
    for iteration in range(iterations):
        # keras-tuner runs brackets from the most exploratory (most trials, fewest
        # epochs) down to bracket 0 (few trials trained for max_epochs).
        for bracket in reversed(range(oracle._get_num_brackets())):
            previous = 0
            for round_num in range(oracle._get_num_rounds(bracket)):
                epochs = oracle._get_epochs(bracket, round_num)
                rounds.append(Round(iteration, bracket, round_num,
                                    oracle._get_size(bracket, round_num), epochs,
                                    epochs - previous))
                previous = epochs
    return HyperbandPlan(tuple(rounds))
