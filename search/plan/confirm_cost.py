"""What `run --confirm-seeds K` adds to a search: one run per value of the
space's question and seed, each as long as the winner's final training can be
(max(max_epochs, --min-retrain-epochs) epochs on train + val when there is a
test split, at the timed seconds per epoch) plus a trial's overhead.

`--time-budget` keeps this back for the confirm stage, and gives it fewer seeds
when the whole does not fit (search/plan/budget.py); `--dry-run` prints it.
"""

import logging

import spaces
from search import data as data_module
from search.kt import vary
from search.kt.progress import format_seconds

logger = logging.getLogger(__name__)

# The confirm stage's end besides its runs: reading them back, its report and plot.
CONFIRM_REPORT_SECONDS = 5.0


def question_values(hypermodel):
    """How many values the space's question takes (the confirm stage trains each)."""
    question = next(iter(spaces.summary_keys(hypermodel)))
    return len(vary.values_of(vary.space_hyperparameters(hypermodel), question))


def confirm_epochs(config, max_epochs):
    return max(max_epochs, config.min_retrain_epochs)


def run_seconds(timing, image_data, epochs):
    """One confirm run: trained on train + val when a test split scores it (as the
    final training), on train otherwise; plus building and tracing the model."""
    train = len(image_data.y_train)
    if image_data.x_test is not None:
        train += len(image_data.y_val)
    per_epoch = timing["epoch_seconds"] * train / max(len(image_data.y_train), 1)
    return epochs * per_epoch + timing["trial_overhead_seconds"]


def confirm_estimate(config, timing):
    """(runs, epochs per run, seconds) of the confirm stage, from the dry run's timing."""
    image_data = data_module.load_from_config(config)
    hypermodel = spaces.load_space(config.space, image_data.input_shape,
                                   image_data.num_classes, image_data.pixel_max)
    runs = question_values(hypermodel) * config.confirm_seeds
    epochs = confirm_epochs(config, config.max_epochs)
    return runs, epochs, runs * run_seconds(timing, image_data, epochs)


def dry_run_line(config, timing):
    """The confirm stage's cost: with --time-budget, what the budget kept back for
    it (search/plan/budget.py), else estimated from the dry run's timing."""
    if "budget_confirm_seconds" in timing:
        seeds = timing["budget_confirm_seeds"]
        runs, epochs, seconds = (timing["budget_confirm_runs"],
                                 confirm_epochs(config, timing["max_epochs"]),
                                 timing["budget_confirm_seconds"])
    else:
        seeds = config.confirm_seeds
        runs, epochs, seconds = confirm_estimate(config, timing)
    fewer = (f" (--time-budget leaves room for {seeds} of the {config.confirm_seeds} seeds)"
             if seeds != config.confirm_seeds else "")
    return (f"Confirm stage (--confirm-seeds {config.confirm_seeds}): {runs} runs of at most "
            f"{epochs} epochs, estimated {format_seconds(seconds)} more{fewer} (each value of "
            f"the space's question x seeds, at the timed seconds per epoch).")


class ConfirmStage:
    """The confirm stage's share of a budget (`run --confirm-seeds K`)."""

    def __init__(self, config, timing, image_data, hypermodel):
        self.config, self.timing, self.image_data = config, timing, image_data
        self.values = question_values(hypermodel) if config.confirm_seeds else 0

    def seconds(self, max_epochs, seeds):
        if not seeds:
            return 0.0
        epochs = confirm_epochs(self.config, max_epochs)
        one_run = run_seconds(self.timing, self.image_data, epochs)
        return seeds * self.values * one_run + CONFIRM_REPORT_SECONDS

    def params(self, seeds, seconds):
        if not self.config.confirm_seeds:
            return {}
        return {"budget_confirm_seeds": seeds, "budget_confirm_runs": seeds * self.values,
                "budget_confirm_seconds": round(seconds, 1)}

    def log_seeds(self, seeds, seconds):
        asked = self.config.confirm_seeds
        if not asked:
            return
        rest = (f"run `bridge-search confirm --experiment {self.config.experiment} --seeds "
                f"{asked}` after the search for all {asked}")
        if seeds == 0:
            logger.warning(f"Time budget {self.config.time_budget}: no room for the confirm "
                           f"stage (--confirm-seeds {asked}); {rest}.")
        elif seeds < asked:
            logger.warning(f"Time budget {self.config.time_budget}: the confirm stage gets "
                           f"{seeds} of the {asked} seeds asked ({format_seconds(seconds)}); "
                           f"{rest}.")
        else:
            logger.info(f"Time budget: {format_seconds(seconds)} kept for the confirm stage "
                        f"({self.values} values x {seeds} seeds).")
