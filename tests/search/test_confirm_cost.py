"""What the confirm stage costs, said before training (issue 24, item 4): the dry
run's estimate of `run --confirm-seeds K`; with --time-budget, the plan keeps room
for it, or gives it fewer seeds (down to none) before the search or its final
training shrink, and says so; the stage stops before a run that would end past
the budget (tests/search/test_time_budget.py runs it end to end)."""

from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest

import spaces
from search.core.config import SearchConfig
from search.plan import budget, confirm_cost

TIMING = {"epoch_seconds": 2.0, "trial_overhead_seconds": 3.0}


@pytest.mark.parametrize("seeds, max_epochs, min_retrain, epochs", [
    (1, 2, 1, 2), (3, 2, 1, 2), (2, 4, 8, 8)])
def test_estimate_is_values_times_seeds_runs_of_the_final_training(seeds, max_epochs,
                                                                   min_retrain, epochs):
    config = SearchConfig(space="bridge-small", confirm_seeds=seeds, max_epochs=max_epochs,
                          min_retrain_epochs=min_retrain)
    runs, planned_epochs, seconds = confirm_cost.confirm_estimate(config, TIMING)
    assert runs == 4 * seeds and planned_epochs == epochs  # 4 bridges
    # digits: trained on train + val (1,221 + 216 images) as the final training.
    per_epoch = 2.0 * (1221 + 216) / 1221
    assert seconds == pytest.approx(runs * (epochs * per_epoch + 3.0))
    assert f"{runs} runs of at most {epochs} epochs" in confirm_cost.dry_run_line(config, TIMING)



# The budget's figures (as tests/search/test_budget_short.py): 4 s per epoch, 2 s
# per trial, on 80 train + 20 val images without a test split.
BUDGET_TIMING = {"epoch_seconds": 4.0, "trial_overhead_seconds": 2.0, "val_seconds": 0.5,
                 "test_seconds": 0.5, "cheapest": {"epoch_seconds": 2.0,
                                                   "trial_overhead_seconds": 1.0,
                                                   "timed_hyperparameters": {"a": 1}}}
DATA = SimpleNamespace(y_train=np.zeros(80), y_val=np.zeros(20), x_test=None)
HYPERMODEL = spaces.load_space("bridge-small", (8, 8, 1), 10, 16.0)  # 4 bridges


def _choose(seconds_left, seeds, **config):
    """choose_within with its clock stopped, and the confirm stage's seconds of
    the plan it chose."""
    config = SearchConfig(confirm_seeds=seeds, **config)
    stage = confirm_cost.ConfirmStage(config, BUDGET_TIMING, DATA, HYPERMODEL)
    now = 1000.0  # exact: end - started is the budget to the last bit
    with mock.patch.object(budget.time, "perf_counter", lambda: now):
        chosen, cap, planned = budget.choose_within(config, BUDGET_TIMING, DATA,
                                                    now + seconds_left, now, stage)
    return chosen, cap, planned, stage


@pytest.mark.parametrize("asked", [1, 3, 5])
def test_the_budget_gives_the_confirm_stage_the_most_seeds_that_fit(asked):
    """The rule over budgets from 40 s to 40 min: never more seeds than asked;
    more budget never fewer seeds; with seeds, the whole final training (at most
    a third of the budget, as always); the search and the stage fit together;
    one more seed would not have fit."""
    most = 0
    for seconds in [40, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 2400]:
        chosen, cap, seeds, stage = _choose(seconds, asked)
        max_epochs, *_, plan, estimate = chosen
        assert 0 <= seeds <= asked and seeds >= most, (seconds, seeds)
        most = seeds
        if seeds:
            most_epochs = int(budget.RETRAIN_SHARE * seconds
                              // budget.retrain_epoch_seconds(BUDGET_TIMING, DATA))
            assert cap == budget.retrain_caps(stage.config, most_epochs)[0], (seconds, seeds)
            kept = budget.reserve_seconds(stage.config, BUDGET_TIMING, DATA, max_epochs, cap)
            assert estimate + kept + stage.seconds(max_epochs, seeds) <= seconds
        if seeds < asked:  # one more seed leaves no plan at all with the whole training
            more = SearchConfig(confirm_seeds=seeds + 1)
            fits = budget.fitting_plan(
                lambda m: budget.SAFETY * (seconds - stage.seconds(m, seeds + 1) - budget
                                           .reserve_seconds(more, BUDGET_TIMING, DATA, m, cap)),
                BUDGET_TIMING, 1)
            assert fits is None, (seconds, seeds)
    assert most == asked  # 40 minutes hold every seed


def test_no_room_for_the_stage_leaves_the_plan_as_without_it():
    without, cap_without, _, _ = _choose(60, 0)
    chosen, cap, seeds, _ = _choose(60, 5)
    assert seeds == 0 and (chosen, cap) == (without, cap_without)


def test_the_deadline_ends_the_final_training_before_the_stage():
    deadline = budget.Deadline(end=1000.0, reserve_seconds=300.0, epoch_seconds=1.0,
                               trial_overhead_seconds=1.0, finish_seconds=20.0,
                               confirm_seeds=2, confirm_seconds=200.0)
    assert deadline.final_training_end() == 1000.0 - 20.0 - 200.0


@pytest.mark.parametrize("seeds, message", [
    (3, "estimated 1:40 more (each value"),
    (2, "estimated 1:40 more (--time-budget leaves room for 2 of the 3 seeds)")])
def test_the_dry_run_shows_what_the_budget_kept_for_the_stage(seeds, message):
    config = SearchConfig(space="bridge-small", confirm_seeds=3, time_budget="10m")
    line = confirm_cost.dry_run_line(config, {
        "max_epochs": 4, "budget_confirm_seeds": seeds, "budget_confirm_runs": 4 * seeds,
        "budget_confirm_seconds": 100.0})
    assert f"{4 * seeds} runs of at most 8 epochs" in line  # --min-retrain-epochs 8 and message in line
