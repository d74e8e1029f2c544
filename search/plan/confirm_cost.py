"""What `run --confirm-seeds K` adds to a search, for `--dry-run`: one run per
value of the space's question and seed, each as long as the winner's final
training can be (max(--max-epochs, --min-retrain-epochs) epochs on train + val,
at the dry run's measured seconds per epoch) plus a trial's overhead.

`--time-budget` does not plan the confirm stage yet: together with
`--confirm-seeds` it is refused (search/core/confirm_plan.py, check_budget), and
`bridge-search confirm` runs it after the search instead.
"""

import spaces
from search import data as data_module
from search.kt import vary
from search.kt.progress import format_seconds


def confirm_estimate(config, timing):
    """(runs, epochs per run, seconds) of the confirm stage, from the dry run's timing."""
    image_data = data_module.load_from_config(config)
    hypermodel = spaces.load_space(config.space, image_data.input_shape,
                                   image_data.num_classes, image_data.pixel_max)
    space_hps = vary.space_hyperparameters(hypermodel)
    question = next(iter(spaces.summary_keys(hypermodel)))
    runs = len(vary.values_of(space_hps, question)) * config.confirm_seeds
    epochs = max(config.max_epochs, config.min_retrain_epochs)
    train = len(image_data.y_train)
    if image_data.x_test is not None:  # trained on train + val, as the final training
        train += len(image_data.y_val)
    per_epoch = timing["epoch_seconds"] * train / max(len(image_data.y_train), 1)
    seconds = runs * (epochs * per_epoch + timing["trial_overhead_seconds"])
    return runs, epochs, seconds


def dry_run_line(config, timing):
    runs, epochs, seconds = confirm_estimate(config, timing)
    return (f"Confirm stage (--confirm-seeds {config.confirm_seeds}): {runs} runs of at most "
            f"{epochs} epochs, estimated {format_seconds(seconds)} more (each value of the "
            f"space's question x seeds, at the timed seconds per epoch).")
