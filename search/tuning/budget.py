"""`--time-budget`: pick the Hyperband budget that fits, and keep to the deadline.

Three parts:
- `plan_within_budget`: times the space on this data and device (the middle model,
  search/tuning/dry_run.py), keeps back a reserve for the winner's final training,
  export and registry, and picks the largest Hyperband plan (max_epochs, factor,
  iterations) whose estimate fits what is left.
- The oracle asks `Deadline.may_start_trial` before each trial: keras-tuner's search
  loop ends cleanly once it says no (a STOPPED trial, see search/tuning/plan.py).
- `DeadlineStop` ends a trial's fit after the epoch past which another one would eat
  into the reserve; the trial completes with its best epoch so far.
The estimate is calibrated as the search goes: the deadline uses the slower of the
timed and the observed seconds per epoch.
"""

import dataclasses
import logging
import time

import keras

from search.errors import UsageError
from search.tuning.plan import format_plan, hyperband_plan
from search.tuning.progress import format_seconds

logger = logging.getLogger(__name__)

# The plans tried, from which the one with most epochs that fits is chosen.
FACTORS = (3, 2)
MAX_EPOCHS = range(1, 31)
ITERATIONS = (1, 2, 3)
# Seconds of the end of a command besides the final training: loading the best
# model, scoring it, exporting (.keras, SavedModel), logging and registering the
# MLflow model, the report: measured 6-9 s on digits on a local sqlite store when
# idle, and about twice that on 2 CPUs shared with other TensorFlow jobs (a 2m budget
# ran 132 s with 12 s here: scripts/bench_budget.py).
FINISH_SECONDS = 25.0
# Margin for what the estimate leaves out (a slower trial, a busy machine).
SAFETY = 0.9


@dataclasses.dataclass
class Deadline:
    end: float                  # time.perf_counter() by which the command must be done
    reserve_seconds: float      # kept back for the final training and export
    epoch_seconds: float        # timed per-epoch cost (raised by what trials show)
    trial_overhead_seconds: float
    trials_refused: int = 0

    def search_left(self):
        return self.end - self.reserve_seconds - time.perf_counter()

    def may_start_trial(self):
        """A trial needs its overhead and at least one epoch."""
        if self.search_left() >= self.trial_overhead_seconds + self.epoch_seconds:
            return True
        self.trials_refused += 1
        return False

    def observe_epoch(self, seconds):
        self.epoch_seconds = max(self.epoch_seconds, seconds)

    def retrain_epochs(self, epochs, seconds_per_epoch):
        """The final training's epochs, cut to the time left before the end (0: no
        time for it; the search's own best model is exported)."""
        left = self.end - time.perf_counter() - FINISH_SECONDS
        return max(0, min(epochs, int(left // max(seconds_per_epoch, 1e-6))))


class DeadlineStop(keras.callbacks.Callback):
    """Stops a trial's fit when another epoch would not end before the search's
    share of the budget is spent."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def on_train_begin(self, logs=None):
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not self._first:  # a fit's first epoch carries tracing: a per-trial cost
            self.deadline.observe_epoch(time.perf_counter() - self._started)
        self._first = False
        if self.deadline.search_left() < self.deadline.epoch_seconds:
            self.model.stop_training = True

    def __deepcopy__(self, memo):  # keras-tuner copies callbacks; the deadline is shared
        return DeadlineStop(self.deadline)


def reserve_seconds(config, timing, image_data, max_epochs):
    """Time kept for the end of the command: the final training on train+val (at
    most max(max_epochs, --min-retrain-epochs) epochs, each (train+val)/train as
    long as a search epoch) and FINISH_SECONDS."""
    if config.retrain == "none":
        return FINISH_SECONDS
    epochs = max(max_epochs, config.min_retrain_epochs)
    return FINISH_SECONDS + epochs * retrain_epoch_seconds(timing, image_data)


def retrain_epoch_seconds(timing, image_data):
    train = len(image_data.y_train)
    return timing["epoch_seconds"] * (train + len(image_data.y_val)) / max(train, 1)


def choose_plan(search_seconds, timing, min_epochs, fits_reserve):
    """The plan with most epochs (then fewest iterations) whose estimate fits
    `search_seconds`; `fits_reserve(max_epochs)` says whether the final training
    of a winner from that plan still fits. None when nothing fits."""
    from search.tuning.dry_run import estimate_seconds
    best = None
    for factor in FACTORS:
        for max_epochs in MAX_EPOCHS:
            if max_epochs < min_epochs or not fits_reserve(max_epochs):
                continue
            for iterations in ITERATIONS:
                plan = hyperband_plan(max_epochs, factor, iterations, min_epochs)
                estimate = estimate_seconds(plan, timing)
                if estimate > search_seconds:
                    break  # more iterations only cost more
                key = (plan.total_epochs, -iterations, factor)
                if best is None or key > best[0]:
                    best = (key, max_epochs, factor, iterations, plan, estimate)
    return None if best is None else best[1:]


def plan_within_budget(config, image_data, hypermodel, started):
    """(config with the chosen Hyperband settings, Deadline, params to log)."""
    from search.tuning.dry_run import time_space
    budget = config.time_budget_seconds
    timing = time_space(config, image_data, hypermodel, corners=False)
    end = started + budget
    search_seconds = lambda max_epochs: SAFETY * (  # noqa: E731
        end - time.perf_counter() - reserve_seconds(config, timing, image_data, max_epochs))
    chosen = choose_plan(search_seconds(1), timing, config.min_epochs,
                         lambda m: search_seconds(m) > 0)
    if chosen is not None:  # the reserve grows with max_epochs: re-check with it
        chosen = choose_plan(search_seconds(chosen[0]), timing, config.min_epochs,
                             lambda m: search_seconds(m) > 0 and m <= chosen[0])
    if chosen is None:
        need = (time.perf_counter() - started + timing["epoch_seconds"]
                + timing["trial_overhead_seconds"]
                + reserve_seconds(config, timing, image_data, config.min_epochs)) / SAFETY
        raise UsageError(f"--time-budget {config.time_budget} is too short for one trial and "
                         f"the final training on this data and machine; accepted: at least "
                         f"about {format_seconds(need)} (or --retrain none to need less).")
    max_epochs, factor, iterations, plan, estimate = chosen
    reserve = reserve_seconds(config, timing, image_data, max_epochs)
    logger.info(f"Time budget {config.time_budget}: {timing['epoch_seconds']:.2f} s per epoch and "
        f"{timing['trial_overhead_seconds']:.2f} s per trial measured; "
        f"{format_seconds(reserve)} kept for the final training and export; Hyperband "
        f"max_epochs {max_epochs}, factor {factor}, {iterations} iteration(s): "
        f"{plan.total_trials} trials, {plan.total_epochs} epochs, estimated "
        f"{format_seconds(estimate)}.")
    logger.info(format_plan(plan))
    deadline = Deadline(end, reserve, timing["epoch_seconds"], timing["trial_overhead_seconds"])
    params = {"time_budget_seconds": budget, "budget_estimated_search_seconds": round(estimate, 1),
              "budget_reserve_seconds": round(reserve, 1),
              "budget_timed_epoch_seconds": round(timing["epoch_seconds"], 3)}
    config = dataclasses.replace(config, max_epochs=max_epochs, factor=factor,
                                 hyperband_iterations=iterations)
    return config, deadline, params


def used(config, deadline):
    """Summary figures of a budgeted search (also logged as parent-run metrics)."""
    budget = config.time_budget_seconds
    wall = time.perf_counter() - (deadline.end - budget)
    return {"time_budget_seconds": budget, "budget_used_seconds": wall,
            "budget_used_fraction": wall / budget,
            "budget_trials_refused": deadline.trials_refused}
