"""`bridge-search run --dry-run`: the Hyperband plan and a wall-time estimate,
without searching.

The estimate times a mid-sized member of the space (every hyperparameter at the
middle of its range or list; the defaults are usually the smallest model) on the
real training split: epoch 1
carries tracing and compilation, epoch 2 is the steady per-epoch cost. It also
times the one save a trial makes: its best model (also the checkpoint a
continued trial loads). So
  estimate = total epochs x epoch 2
           + total trials x (build + epoch 1 - epoch 2 + model save),
which leaves out MLflow logging and what early stopping saves, and assumes the
middle model's speed for every architecture.
"""

import tempfile
import math
import time
from pathlib import Path

import keras

from search import data as data_module
from search.tuning import checkpoints, kt_compat
from search.tuning.callbacks import EpochTimer
from search.tuning.device import configure_devices
from search.tuning.plan import format_plan, hyperband_plan
from search.tuning.progress import format_seconds


# Said first, because the dry run does train (one model, to time it).
DRY_RUN_NOTE = ("Dry run: trains one mid-sized model of the space for 2 epochs to time it; "
                "nothing is searched or logged to MLflow.")


def dry_run(config, out=print):
    kt_compat.quiet_keras_tuner()
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    out(DRY_RUN_NOTE)
    out(f"Hyperband plan: max_epochs {config.max_epochs}, min_epochs {config.min_epochs}, "
        f"factor {config.factor}, {config.hyperband_iterations} iteration(s)")
    out(format_plan(plan))
    timing = time_middle_model(config)
    out(estimate_line(plan, timing))
    return {"total_trials": plan.total_trials, "total_epochs": plan.total_epochs,
            "estimated_seconds": estimate_seconds(plan, timing), **timing}


def time_middle_model(config):
    from search.runner import load_checked_space
    configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = load_checked_space(config.space, image_data)
    keras.utils.set_random_seed(config.seed)
    hp = middle_hyperparameters(hypermodel)
    keras.backend.clear_session()
    started = time.perf_counter()
    model = hypermodel.build(hp)
    if config.jit_compile:  # as the tuner does
        model.jit_compile = True
    build_seconds = time.perf_counter() - started
    timer = EpochTimer()
    model.fit(image_data.pipeline("train", config.batch_size, config.seed), epochs=2,
              validation_data=image_data.pipeline("val", config.batch_size, config.seed),
              callbacks=[timer], verbose=0)
    first, steady = timer.epoch_seconds
    model_save = _save_seconds(model)
    params = model.count_params()
    keras.backend.clear_session()
    return {"epoch_seconds": steady,
            "trial_overhead_seconds": build_seconds + max(first - steady, 0) + model_save,
            "timed_params": params, "timed_on": image_data.source,
            "timed_hyperparameters": dict(hp.values)}


def middle_hyperparameters(hypermodel):
    """HyperParameters with each of the space's hps at the middle of its range."""
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares the space
    for item in hp.space:
        hp.values[item.name] = _middle(item)
    return hp


def _middle(item):
    config = item.get_config()
    if "values" in config:  # Choice
        return config["values"][len(config["values"]) // 2]
    if "min_value" not in config:  # Boolean, Fixed
        return item.default if hasattr(item, "default") else config.get("value")
    low, high, step = config["min_value"], config["max_value"], config.get("step")
    if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) \
            and type(item).__name__ == "Int":
        step = step or 1
        return low + ((high - low) // step // 2) * step
    if config.get("sampling") == "log":
        return math.sqrt(low * high)
    if step:
        return low + round((high - low) / step / 2) * step
    return (low + high) / 2


def _save_seconds(model):
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model.save(Path(folder) / checkpoints.BEST_MODEL_FILE)
        return time.perf_counter() - started


def _short(values):
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())


def estimate_seconds(plan, timing):
    return (plan.total_epochs * timing["epoch_seconds"]
            + plan.total_trials * timing["trial_overhead_seconds"])


def estimate_line(plan, timing):
    return (f"Estimated wall time: {format_seconds(estimate_seconds(plan, timing))} = "
            f"{plan.total_epochs} epochs x {timing['epoch_seconds']:.2f} s + "
            f"{plan.total_trials} trials x {timing['trial_overhead_seconds']:.2f} s build, "
            f"compile and save. How: a mid-sized model of the space "
            f"({timing['timed_params']:,} params; {_short(timing['timed_hyperparameters'])}) "
            f"trained 2 epochs on the "
            f"{timing['timed_on']} training split; epoch 2 is the per-epoch cost, "
            f"build + epoch 1 - epoch 2 + saving the model the per-trial cost. "
            f"Early stopping can only shorten it; MLflow logging is not counted; timed on "
            f"this machine as loaded now.")
