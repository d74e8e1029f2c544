"""`--time-budget` when the budget is short (issue 12 item 1): the final training
shrinks (down to none) before the search does, a budget with room for no whole
trial trains one trial of the cheapest timed model, an epoch longer than timed is
cut at the deadline, and the budget times the models the search draws first."""

import time
from types import SimpleNamespace
from unittest import mock

import keras
import numpy as np
import pytest

from search.core.config import SearchConfig
from search.core.errors import UsageError
from search.plan import budget, confirm_cost
from search.kt import callbacks

DATA = SimpleNamespace(y_train=np.zeros(80), y_val=np.zeros(20))  # sizes only
CHEAP = {"epoch_seconds": 2.0, "trial_overhead_seconds": 1.0, "timed_hyperparameters": {"a": 1}}
TIMING = {"epoch_seconds": 4.0, "trial_overhead_seconds": 2.0, "val_seconds": 0.5,
          "test_seconds": 0.5, "cheapest": CHEAP}


def choose(seconds_left, **config):
    """budget.choose_within with its clock stopped: the figures below leave under a
    second of slack, which a busy machine's pause would eat."""
    now = time.perf_counter()
    with mock.patch.object(budget.time, "perf_counter", lambda: now):
        config = SearchConfig(**config)
        no_stage = confirm_cost.ConfirmStage(config, TIMING, DATA, None)
        chosen, cap, _ = budget.choose_within(config, TIMING, DATA, now + seconds_left, now,
                                              no_stage)
        return chosen, cap


def test_a_long_budget_keeps_the_whole_final_training():
    (max_epochs, *_), cap = choose(600)
    assert cap is None and max_epochs >= 1


def test_a_short_budget_shrinks_the_final_training_before_the_search():
    # finish 30 s; the whole final training (8 epochs x 5 s) does not fit with a trial
    (_, _, _, plan, _), cap = choose(30 + 8 + 5 * 3 + 2)
    assert cap is not None and 0 <= cap < 8
    assert plan.total_trials >= 1


def test_room_for_no_whole_trial_gives_one_trial_of_the_cheapest_model():
    # 30 s finish (25 + 2 test scorings + 2 tracings), no final training; 2 s left: < one trial (6 s), >= the cheap one's
    # overhead (1 + 1 s MLflow) and half its epoch (1 s) after the 0.9 safety margin
    (max_epochs, factor, iterations, plan, _), cap = choose(30 + 3.5)
    assert cap == 0 and plan.total_trials == 1 and plan.total_epochs == 1


def test_less_than_that_is_refused_with_the_least_budget_that_would_do():
    # 33-34 s needed, quoted up to whole 5 s so that asking with it again is accepted
    with pytest.raises(UsageError, match=r"too short for one trial .* at least about 0:35\."):
        choose(30 + 1)


def test_the_first_trial_always_starts_later_ones_only_if_they_fit():
    deadline = budget.Deadline(end=time.perf_counter() + 10, reserve_seconds=8,
                               epoch_seconds=1.5, trial_overhead_seconds=1.0)
    assert deadline.may_start_trial()  # the plan left room for it
    assert not deadline.may_start_trial() and deadline.trials_refused == 1
    deadline.reserve_seconds = 2
    assert deadline.may_start_trial()


class SlowBatches(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.batches = batch + 1
        time.sleep(0.02)


def test_an_epoch_longer_than_timed_is_cut_at_the_deadline():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    deadline = budget.Deadline(end=time.perf_counter() + 0.5, reserve_seconds=0,
                               epoch_seconds=0.1, trial_overhead_seconds=0, val_seconds=0.1)
    slow = SlowBatches()
    model.fit(np.zeros((200, 4)), np.zeros((200, 2)), batch_size=1, epochs=1, verbose=0,
              callbacks=[callbacks.DeadlineStop(deadline), slow])
    assert slow.batches < 200 and deadline.epochs_cut == 1


def test_the_budget_times_the_search_s_first_draw_at_least():
    from search import data as data_module
    from search.kt.space_check import load_checked_space
    from search.plan.dry_run import search_draws, time_draws
    config = SearchConfig(data="digits")
    image_data = data_module.load_from_config(config)
    hypermodel = load_checked_space(config.space, image_data)
    timing = time_draws(config, image_data, hypermodel, time_limit=0)
    assert timing["timed_models"] == 1
    assert timing["timed_hyperparameters"] == search_draws(config, hypermodel, 1)[0]
    assert 0 < timing["val_seconds"] < timing["epoch_seconds"] and timing["test_seconds"] > 0


def test_a_final_training_shorter_than_the_winners_own_is_skipped():
    deadline = budget.Deadline(end=time.perf_counter() + 100, reserve_seconds=0,
                               epoch_seconds=1, trial_overhead_seconds=1, finish_seconds=10)
    # 100 - 10 finish - 5 build leaves 85 s: 4 epochs of 20 s
    assert deadline.retrain_epochs(8, 20, fixed_seconds=5, least=3) == 4
    assert deadline.retrain_epochs(8, 20, fixed_seconds=5, least=6) == 0
    assert deadline.retrain_epochs(8, 5, fixed_seconds=5, least=6) == 8


class SlowEpochs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(1.0)


def test_a_final_training_slower_than_counted_stops_before_the_deadline():
    """8 epochs of 1 s counted as fitting before a deadline 3.5 s away: the fit
    stops after the epoch past which another, as slow as the slowest (the first
    may carry a retracing), would end too late: the second or third."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2))
    model.fit(x, x, epochs=1, verbose=0)  # traced now: the epochs below are mostly sleep
    end = time.perf_counter() + 3.5
    stop = callbacks.StopBefore(end)
    history = model.fit(x, x, epochs=8, verbose=0, callbacks=[SlowEpochs(), stop])
    assert time.perf_counter() < end
    assert 2 <= stop.epochs_done == len(history.epoch) < 8


def test_the_final_training_takes_at_most_a_third_of_the_budget():
    # 5 s per final epoch; the whole 8 epochs (40 s + 2 s build) would fit beside a
    # trial in 90 s, but a third of 90 s is 30 s: at most 6 epochs
    (_, _, _, _, _), cap = choose(90)
    assert cap == 6
