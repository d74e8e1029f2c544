"""`bridge-search run --dry-run`: the Hyperband plan and a wall-time estimate,
without searching.

The estimate times the space's default model (every hyperparameter at its
default: a mid-sized member of the space) on the real training split: epoch 1
carries tracing and compilation, epoch 2 is the steady per-epoch cost. So
  estimate = total epochs x epoch 2 seconds + total trials x (build + epoch 1 - epoch 2),
which leaves out MLflow logging and checkpoint saving (small) and what early
stopping saves, and assumes the default model's speed for every architecture.
"""

import time

import keras

from search import data as data_module
from search.device import configure_devices
from search.plan import format_plan, hyperband_plan
from search.progress import format_seconds


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def dry_run(config, out=print, say=print):
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    out(f"Hyperband plan (dry run, nothing trained or logged): max_epochs "
        f"{config.max_epochs}, min_epochs {config.min_epochs}, factor {config.factor}, "
        f"{config.hyperband_iterations} iteration(s)")
    out(format_plan(plan))
    timing = time_default_model(config, say)
    out(estimate_line(plan, timing))
    return {"total_trials": plan.total_trials, "total_epochs": plan.total_epochs,
            "estimated_seconds": estimate_seconds(plan, timing), **timing}


def time_default_model(config, say):
    from search.runner import load_checked_space
    import keras_tuner
    configure_devices(config, say)
    image_data = data_module.load_from_config(config)
    hypermodel = load_checked_space(config.space, image_data)
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    model = hypermodel.build(keras_tuner.HyperParameters())
    build_seconds = time.perf_counter() - started
    timer = _EpochTimer()
    model.fit(image_data.pipeline("train", config.batch_size, config.seed), epochs=2,
              validation_data=image_data.pipeline("val", config.batch_size, config.seed),
              callbacks=[timer], verbose=0)
    first, steady = timer.seconds
    params = model.count_params()
    keras.backend.clear_session()
    return {"epoch_seconds": steady, "trial_overhead_seconds": build_seconds + max(first - steady, 0),
            "timed_params": params, "timed_on": image_data.source}


def estimate_seconds(plan, timing):
    return (plan.total_epochs * timing["epoch_seconds"]
            + plan.total_trials * timing["trial_overhead_seconds"])


def estimate_line(plan, timing):
    return (f"Estimated wall time: {format_seconds(estimate_seconds(plan, timing))} = "
            f"{plan.total_epochs} epochs x {timing['epoch_seconds']:.2f} s + "
            f"{plan.total_trials} trials x {timing['trial_overhead_seconds']:.2f} s build and "
            f"compile. How: the space's default model ({timing['timed_params']:,} params, every "
            f"hyperparameter at its default) trained 2 epochs on the {timing['timed_on']} "
            f"training split; epoch 2 is the per-epoch cost, build + epoch 1 - epoch 2 the "
            f"per-trial cost. Early stopping can only shorten it; MLflow logging and "
            f"checkpoint saving are not counted.")
