"""`--time-budget`: pick the Hyperband budget that fits, and keep to the deadline.

- `plan_within_budget`: times the search's first draws (search/plan/dry_run.py),
  keeps back a reserve for the final training (shrunk, down to none, when short) and
  the end of the command, and picks the largest Hyperband plan whose estimate fits.
- The oracle asks `Deadline.may_start_trial` before each trial: keras-tuner's search
  loop ends cleanly once it says no (a STOPPED trial, see search/plan/hyperband.py).
- `DeadlineStop` (search/kt/callbacks.py) ends a fit after the epoch past which
  another would eat into the reserve, and cuts an epoch that runs past it; the trial
  completes with its best epoch. The deadline uses the slower of the timed and
  observed seconds per epoch. `StopBefore` (same module) ends the final training
  early when its epochs run slower than counted.
- `run --confirm-seeds K`: the reserve holds the confirm stage too
  (search/plan/confirm_cost.py); when the whole does not fit, the confirm stage
  gets fewer seeds (down to none) before the search or its final training shrink.
"""

import dataclasses
import logging
import math
import time

from search.core.errors import UsageError
from search.plan import confirm_cost
from search.plan.dry_run import MLFLOW_TRIAL_SECONDS, estimate_seconds, time_draws
from search.plan.hyperband import SearchPlan, format_plan, hyperband_plan
from search.kt.progress import format_seconds

logger = logging.getLogger(__name__)

# The plans tried, from which the one with most epochs that fits is chosen.
FACTORS = (3, 2)
MAX_EPOCHS = range(1, 31)
ITERATIONS = (1, 2, 3)
# The end of a command besides the final training, test scorings and tracings (timed):
# load, exports, MLflow model, registry, exit (measured: docs/budget.md).
FINISH_SECONDS = 25.0
# The end of the command besides its exports and test scorings: loading the winner,
# logging it to MLflow and registering it, the report's plots, exit (docs/budget.md,
# "The least budget, measured").
FINISHED_REST_SECONDS = 12.0
# The end's exports per timed SavedModel export: the SavedModel, the TFLite
# conversion (longer than a SavedModel export) and MLflow's copy of the model.
EXPORTS_PER_SAVED_MODEL = 2.5
# The end of the command grows with the trials (the report's table and plots, the
# winner's pick; docs/budget.md): reserved per trial started.
REPORT_SECONDS_PER_TRIAL = 0.5
# Margin for what the estimate leaves out (a slower trial, a busy machine).
SAFETY = 0.9
# Share of the budget for timing the search's first draws (the first always).
TIMING_SHARE = 0.1
# Least share of an epoch of the cheapest model that a budget with room for no
# whole trial must leave for a one-trial search (the deadline cuts its epoch).
TINY_EPOCH_SHARE = 0.5
# Most of the budget the final training's reserve may take (docs/budget.md).
RETRAIN_SHARE = 1 / 3


@dataclasses.dataclass
class Deadline:
    end: float                  # time.perf_counter() by which the command must be done
    reserve_seconds: float      # kept back for the final training and export
    epoch_seconds: float        # timed per-epoch cost (raised by what trials show)
    trial_overhead_seconds: float
    val_seconds: float = 0.0    # scoring the validation split, after a cut epoch
    finish_seconds: float = FINISH_SECONDS  # the end of the command but the final training
    first_trial_values: dict | None = None  # a one-trial plan: the cheapest timed model
    confirm_seeds: int = 0          # the seeds the confirm stage has room for
    confirm_seconds: float = 0.0    # kept back for it, after the final training
    trials_refused: int = 0
    trials_started: int = 0
    epochs_cut: int = 0

    def search_left(self):
        return self.end - self.reserve_seconds - self.report_seconds() - time.perf_counter()

    def report_seconds(self):
        return REPORT_SECONDS_PER_TRIAL * self.trials_started

    def may_start_trial(self):
        """A trial needs its overhead and at least one epoch; the first always
        starts (the plan left room for it, and without it nothing is exported)."""
        if not self.trials_started or \
                self.search_left() >= self.trial_overhead_seconds + self.epoch_seconds:
            self.trials_started += 1
            return True
        self.trials_refused += 1
        return False

    def observe_epoch(self, seconds):
        self.epoch_seconds = max(self.epoch_seconds, seconds)

    def final_training_end(self):
        """When the final training must be over: the end of the command (and the
        confirm stage, when planned) follows."""
        return self.end - self.finish_seconds - self.report_seconds() - self.confirm_seconds

    def retrain_epochs(self, epochs, seconds_per_epoch, fixed_seconds=0.0, least=1):
        """The final training's epochs, cut to the time left before the end (after
        `fixed_seconds` of building and tracing); 0 when fewer than `least` fit (a
        final training shorter than the winner's own: the search's model is
        exported)."""
        left = self.final_training_end() - time.perf_counter() - fixed_seconds
        fits = max(0, min(epochs, int(left // max(seconds_per_epoch, 1e-6))))
        return fits if fits >= least else 0


def finish_seconds(timing):
    """The end of the command but the final training: scoring the test split twice
    (the search's best model and the exported one), the exports, and the rest.
    With the first timed model's SavedModel export timed (`export_seconds`):
    FINISHED_REST_SECONDS + EXPORTS_PER_SAVED_MODEL exports like it. Without it, as
    before: FINISH_SECONDS and twice a trial's overhead (a 1m glyphs28 run's end
    took ~38 s against 28.5 reserved), 2-3x what a digits run's end takes
    (docs/budget.md, "The least budget")."""
    test = 2 * timing.get("test_seconds", 0.0)
    if timing.get("export_seconds") is not None:
        return FINISHED_REST_SECONDS + test + EXPORTS_PER_SAVED_MODEL * timing["export_seconds"]
    return FINISH_SECONDS + test + 2 * timing.get("trial_overhead_seconds", 0.0)


def reserve_seconds(config, timing, image_data, max_epochs, retrain_cap=None):
    """Time kept for the end of the command: the final training on train+val (at
    most max(max_epochs, --min-retrain-epochs) epochs, and at most `retrain_cap`,
    each (train+val)/train as long as a search epoch) and `finish_seconds`."""
    if config.retrain == "none":
        return finish_seconds(timing)
    epochs = max(max_epochs, config.min_retrain_epochs)
    if retrain_cap is not None:
        epochs = min(epochs, retrain_cap)
    build = timing["trial_overhead_seconds"] if epochs else 0.0  # a fresh model: traced again
    return finish_seconds(timing) + build + epochs * retrain_epoch_seconds(timing, image_data)


def retrain_epoch_seconds(timing, image_data):
    train = len(image_data.y_train)
    return timing["epoch_seconds"] * (train + len(image_data.y_val)) / max(train, 1)


def choose_plan(search_seconds, timing, min_epochs, fits_reserve):
    """The plan with most epochs (then fewest iterations) whose estimate fits
    `search_seconds`; `fits_reserve(max_epochs)` says whether the final training
    of a winner from that plan still fits. None when nothing fits."""
    best = None
    for factor in FACTORS:
        for max_epochs in MAX_EPOCHS:
            if max_epochs < min_epochs:
                continue
            # A plan's epochs and trials, and the reserve, grow with max_epochs
            # (factors 2 and 3, max_epochs 1-30): past the first that does not
            # fit, none does.
            if not fits_reserve(max_epochs) or _with_report(
                    hyperband_plan(max_epochs, factor, 1, min_epochs), timing) > search_seconds:
                break
            for iterations in ITERATIONS:
                plan = hyperband_plan(max_epochs, factor, iterations, min_epochs)
                estimate = estimate_seconds(plan, timing)
                if _with_report(plan, timing) > search_seconds:
                    break  # more iterations only cost more
                key = (plan.total_epochs, -iterations, factor)
                if best is None or key > best[0]:
                    best = (key, max_epochs, factor, iterations, plan, estimate)
    return None if best is None else best[1:]


def _with_report(plan, timing):
    return estimate_seconds(plan, timing) + plan.total_trials * REPORT_SECONDS_PER_TRIAL


def fitting_plan(search_seconds, timing, min_epochs):
    """choose_plan where `search_seconds(max_epochs)` is what is left for the
    search once a winner of that plan has its final training."""
    chosen = choose_plan(search_seconds(1), timing, min_epochs,
                         lambda m: search_seconds(m) > 0)
    if chosen is not None:  # the reserve grows with max_epochs: re-check with it
        chosen = choose_plan(search_seconds(chosen[0]), timing, min_epochs,
                             lambda m: search_seconds(m) > 0 and m <= chosen[0])
    return chosen


def retrain_caps(config, most):
    """The final training's epochs to try, most first: the whole (None) unless
    over `most`, then fewer and fewer down to 0 (the search's model exported)."""
    if config.retrain == "none":
        return [None]
    if most < max(MAX_EPOCHS[-1], config.min_retrain_epochs):
        return list(range(max(most, 0), -1, -1))
    return [None, *range(config.min_retrain_epochs - 1, -1, -1)]


def tiny_plan(search_seconds, timing, min_epochs):
    """A budget with room for no whole trial: one trial of the cheapest timed
    model, if its overhead and TINY_EPOCH_SHARE of an epoch fit (the deadline
    cuts the epoch); else None."""
    cheapest = timing["cheapest"]
    need = (cheapest["trial_overhead_seconds"] + MLFLOW_TRIAL_SECONDS
            + TINY_EPOCH_SHARE * cheapest["epoch_seconds"])
    if search_seconds < need:
        return None, need
    plan = hyperband_plan(min_epochs, FACTORS[0], 1, min_epochs)
    return (min_epochs, FACTORS[0], 1, plan, min(need, search_seconds)), need


def plan_within_budget(config, image_data, hypermodel, started):
    """The SearchPlan the budget picks: its Hyperband settings, Deadline and the
    figures to log (the config itself is left as asked)."""
    budget = config.time_budget_seconds
    timing = time_draws(config, image_data, hypermodel, TIMING_SHARE * budget)
    end = started + budget
    stage = confirm_cost.ConfirmStage(config, timing, image_data, hypermodel)
    (max_epochs, factor, iterations, plan, estimate), cap, seeds = choose_within(
        config, timing, image_data, end, started, stage)
    confirm_seconds = stage.seconds(max_epochs, seeds)
    reserve = reserve_seconds(config, timing, image_data, max_epochs, cap) + confirm_seconds
    pinned = timing["cheapest"]["timed_hyperparameters"] if plan.total_trials == 1 else None
    _log_plan(config, timing, reserve, (max_epochs, factor, iterations, plan, estimate), cap,
              pinned)
    stage.log_seeds(seeds, confirm_seconds)
    deadline = Deadline(end, reserve, timing["epoch_seconds"], timing["trial_overhead_seconds"],
                        timing["val_seconds"], finish_seconds(timing), pinned,
                        confirm_seeds=seeds, confirm_seconds=confirm_seconds)
    params = {"time_budget_seconds": budget, "budget_estimated_search_seconds": round(estimate, 1),
              "budget_reserve_seconds": round(reserve, 1),
              "budget_timed_epoch_seconds": round(timing["epoch_seconds"], 3),
              "budget_timed_models": timing["timed_models"],
              "budget_retrain_cap": "none" if cap is None else cap,
              **stage.params(seeds, confirm_seconds)}
    return SearchPlan(max_epochs, factor, iterations, config.min_epochs, deadline,
                      tuple(params.items()))


def choose_within(config, timing, image_data, end, started, stage):
    """(chosen plan, cap on the final training's epochs (None: no cap), the confirm
    stage's seeds) for a command that must end at `end`: the confirm stage gets
    fewer seeds, down to none, then the final training shrinks, down to none,
    before the search does; then one trial of the cheapest timed model; else
    exit 2 with the least budget that would do."""
    def left(max_epochs, cap, seeds):
        return SAFETY * (end - time.perf_counter() - stage.seconds(max_epochs, seeds)
                         - reserve_seconds(config, timing, image_data, max_epochs, cap))

    most = int(RETRAIN_SHARE * (end - started) // retrain_epoch_seconds(timing, image_data))
    caps = retrain_caps(config, most)
    for seeds in range(config.confirm_seeds, 0, -1):  # with the whole final training
        chosen = fitting_plan(lambda m: left(m, caps[0], seeds), timing, config.min_epochs)
        if chosen is not None:
            return chosen, caps[0], seeds
    for cap in caps:
        chosen = fitting_plan(lambda m: left(m, cap, 0), timing, config.min_epochs)
        if chosen is not None:
            return chosen, cap, 0
    chosen, need = tiny_plan(left(config.min_epochs, cap, 0), timing, config.min_epochs)
    if chosen is None:
        need = time.perf_counter() - started + finish_seconds(timing) + need / SAFETY
        # Up to whole 5 s: asked again with the quote, the start-up's jitter (its
        # seconds count too) must not refuse it by a second or two.
        need = 5 * math.ceil(need / 5)
        raise UsageError(f"--time-budget {config.time_budget} is too short for one trial "
                         f"on this data and machine; accepted: at least about "
                         f"{format_seconds(need)}.")
    return chosen, cap, 0


def _log_plan(config, timing, reserve, chosen, cap, pinned):
    max_epochs, factor, iterations, plan, estimate = chosen
    logger.info(f"Time budget {config.time_budget}: {timing['epoch_seconds']:.2f} s per epoch and "
        f"{timing['trial_overhead_seconds']:.2f} s per trial measured "
        f"({timing['timed_models']} model(s) timed in {timing['timing_seconds']:.0f} s); "
        f"{format_seconds(reserve)} kept for the final training and export"
        f"{'' if cap is None else f' (final training cut to at most {cap} epochs)'}; "
        f"Hyperband max_epochs {max_epochs}, factor {factor}, {iterations} iteration(s): "
        f"{plan.total_trials} trials, {plan.total_epochs} epochs, estimated "
        f"{format_seconds(estimate)}.")
    if pinned:
        logger.info(f"Time budget: room for one trial only: the cheapest timed ({pinned}).")
    logger.info(format_plan(plan))


def used(config, deadline):
    """Summary figures of a budgeted search (also logged as parent-run metrics)."""
    budget = config.time_budget_seconds  # the deadline is the command's start + budget
    wall = time.perf_counter() - (deadline.end - budget)
    return {"time_budget_seconds": budget, "budget_used_seconds": wall,
            "budget_used_fraction": wall / budget,
            "budget_trials_refused": deadline.trials_refused,
            "budget_epochs_cut": deadline.epochs_cut,
            **({"budget_confirm_seeds": deadline.confirm_seeds} if config.confirm_seeds else {})}
