"""`bridge-search run --dry-run`: the Hyperband plan and a wall-time estimate,
without searching.

The estimate times three members of the space: its first corner (every
hyperparameter at its first value: with the default space the cheapest model),
a mid-sized one (every hyperparameter at the middle of its range or list) and the
last corner (every hyperparameter at its last value: the dearest), and averages
them. Each trains 2 short epochs of `TIMING_STEPS` batches on the real training
split (with validation batches in the same proportion as a real epoch), then
scores `validation_steps` batches alone: epoch 1 carries tracing and
compilation, epoch 2 and the scoring give seconds per training and per
validation batch, scaled to the splits' real batch counts. It also times the one
save a trial makes: its best model. So
  estimate = total epochs x epoch seconds
           + total trials x (build + epoch 1 - epoch 2 + model save + MLflow's share),
which leaves out what early stopping saves.
"""

import tempfile
import math
import time
from pathlib import Path

import keras

from search import data as data_module
from search.tuning import checkpoints, kt_compat
from search.tuning.callbacks import EpochTimer
from search.tuning.device import apply_jit_compile, configure_devices
from search.tuning.plan import format_plan, hyperband_plan
from search.tuning.progress import format_seconds


# Said first, because the dry run does train (the models the search will draw, to time them).
DRY_RUN_NOTE = ("Dry run: trains the models the search will draw (at most "
                "8) for 2 short epochs each to time them; nothing is searched or logged to "
                "MLflow.")
# The drawn models timed at most (those that train the most epochs first); the
# others count as the mean of the timed ones.
MAX_TIMED_DRAWS = 8


def dry_run(config, out=print):
    kt_compat.quiet_keras_tuner()
    plan = hyperband_plan(config.max_epochs, config.factor, config.hyperband_iterations,
                          config.min_epochs)
    out(DRY_RUN_NOTE)
    out(f"Hyperband plan: max_epochs {config.max_epochs}, min_epochs {config.min_epochs}, "
        f"factor {config.factor}, {config.hyperband_iterations} iteration(s)")
    out(format_plan(plan))
    timing = time_planned_models(config, plan)
    out(estimate_line(plan, timing))
    return {"total_trials": plan.total_trials, "total_epochs": plan.total_epochs,
            "estimated_seconds": timing["estimated_seconds"], **timing}


def time_planned_models(config, plan):
    """Times the models the search will train (keras-tuner's draws, replayed with
    the search's seed) and weighs each by the epochs its bracket gives it: its
    first round, and its bracket's later rounds shared by the bracket's models
    (which of them Hyperband promotes is not known before training)."""
    from search.runner import load_checked_space
    configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = load_checked_space(config.space, image_data)
    brackets = planned_draws(config, hypermodel, plan)
    draws = [(values, weight) for bracket in brackets for values, weight in bracket["draws"]]
    heaviest = sorted(range(len(draws)), key=lambda i: -draws[i][1])[:MAX_TIMED_DRAWS]
    timed = {i: _time_model(config, image_data, hypermodel,
                            _hyperparameters(hypermodel, draws[i][0])) for i in heaviest}
    mean = {key: sum(t[key] for t in timed.values()) / len(timed) for key in TIMED_SECONDS}
    costs = iter([timed.get(i, mean) for i in range(len(draws))])
    total = 0.0
    for bracket in brackets:
        own = [next(costs) for _ in bracket["draws"]]
        per_epoch = sum(c["epoch_seconds"] for c in own) / len(own)
        per_trial = sum(c["trial_overhead_seconds"] for c in own) / len(own) \
            + MLFLOW_TRIAL_SECONDS
        total += bracket["first_epochs"] * sum(c["epoch_seconds"] for c in own) \
            + len(own) * per_trial + bracket["later_epochs"] * per_epoch \
            + bracket["later_trials"] * per_trial
    first = timed[heaviest[0]]
    return {**first, **mean, "trial_overhead_seconds":
            mean["trial_overhead_seconds"] + MLFLOW_TRIAL_SECONDS,
            "timed_models": len(timed), "drawn_models": len(draws),
            "timed_on": image_data.source, "estimated_seconds": total}


def planned_draws(config, hypermodel, plan):
    """Per bracket of the plan, in the order the search runs them: its first
    round's drawn values (with each one's epoch weight), the epochs and trials of
    its later rounds."""
    import keras_tuner
    from search.tuning.plan import make_oracle
    # As the tuner is made (runner._make_tuner): keras-tuner takes a seed of 0 as
    # none and draws its own from `random`, which this seeds.
    keras.utils.set_random_seed(config.seed)
    oracle = make_oracle(config.max_epochs, config.factor, config.hyperband_iterations,
                         config.min_epochs, seed=config.seed)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    oracle.update_space(hp)
    brackets = []
    for r in plan.rounds:
        if r.round == 0:
            brackets.append({"first_epochs": r.new_epochs, "later_epochs": 0, "later_trials": 0,
                             "draws": [kt_compat.draw_values(oracle) for _ in range(r.trials)]})
        else:
            brackets[-1]["later_epochs"] += r.trials * r.new_epochs
            brackets[-1]["later_trials"] += r.trials
    for bracket in brackets:
        share = bracket["later_epochs"] / len(bracket["draws"])
        bracket["draws"] = [(values, bracket["first_epochs"] + share)
                            for values in bracket["draws"] if values is not None]
    return [b for b in brackets if b["draws"]]


def _hyperparameters(hypermodel, values):
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values.update(values)
    return hp


def time_space(config, image_data, hypermodel, corners=True, time_limit=None):
    """Per-epoch and per-trial seconds of the space: the first corner, the middle
    model and the last corner, in that order (the cheapest first), averaged
    (the middle model alone ran 2x fast against a real search: the space's big
    corners dominate). `corners=False`: the middle model only. `time_limit`
    (--time-budget): the next model is timed only while the seconds spent so far,
    times TIMING_GROWTH (each is dearer than the last), stay within it."""
    picks = ([corner_hyperparameters(hypermodel, 0), middle_hyperparameters(hypermodel),
              corner_hyperparameters(hypermodel, -1)] if corners
             else [middle_hyperparameters(hypermodel)])
    started, timings = time.perf_counter(), []
    for hp in picks:
        if timings and time_limit is not None and \
                (time.perf_counter() - started) * TIMING_GROWTH > time_limit:
            break
        timings.append(_time_model(config, image_data, hypermodel, hp))
    mean = {key: sum(t[key] for t in timings) / len(timings) for key in TIMED_SECONDS}
    middle = timings[min(1, len(timings) - 1)] if corners else timings[0]
    return {**middle, **mean, "trial_overhead_seconds":
            mean["trial_overhead_seconds"] + MLFLOW_TRIAL_SECONDS,
            "timed_models": len(timings), "timed_on": image_data.source,
            "timing_seconds": time.perf_counter() - started,
            "cheapest": min(timings, key=lambda t: t["epoch_seconds"])}


# MLflow's share of a trial (child run, params, tags, epoch metrics, its best model
# as an artifact), measured on a local sqlite store: scripts/bench_budget.py.
MLFLOW_TRIAL_SECONDS = 1.0
# Training batches of each timed epoch (the whole split when it has fewer than
# twice as many: the two timed epochs must not run out of data).
TIMING_STEPS = 30
TIMING_GROWTH = 3
TIMED_SECONDS = ("epoch_seconds", "trial_overhead_seconds", "val_seconds", "test_seconds")


def _time_model(config, image_data, hypermodel, hp):
    keras.utils.set_random_seed(config.seed)
    keras.backend.clear_session()
    started = time.perf_counter()
    model = hypermodel.build(hp)
    apply_jit_compile(model, config.jit_compile)  # as the tuner does
    build_seconds = time.perf_counter() - started
    batches = {split: math.ceil(len(y) / config.batch_size) for split, y in
               (("train", image_data.y_train), ("val", image_data.y_val),
                ("test", image_data.y_test if image_data.y_test is not None else ()))}
    steps = batches["train"] if batches["train"] < 2 * TIMING_STEPS else TIMING_STEPS
    val_steps = max(1, round(batches["val"] * steps / batches["train"]))
    timer = EpochTimer()
    val = image_data.pipeline("val", config.batch_size, config.seed)
    model.fit(image_data.pipeline("train", config.batch_size, config.seed), epochs=2,
              steps_per_epoch=steps, validation_data=val, validation_steps=val_steps,
              callbacks=[timer], verbose=0)
    first, steady = timer.epoch_seconds
    scored = time.perf_counter()
    model.evaluate(val, steps=val_steps, verbose=0)  # traced by the fit already
    val_batch = (time.perf_counter() - scored) / val_steps
    train_batch = max(steady - val_steps * val_batch, 0) / steps
    model_save = _save_seconds(model)
    params = model.count_params()
    keras.backend.clear_session()
    return {"epoch_seconds": batches["train"] * train_batch + batches["val"] * val_batch,
            "val_seconds": batches["val"] * val_batch,
            "test_seconds": batches["test"] * val_batch,
            "trial_overhead_seconds": build_seconds + max(first - steady, 0) + model_save,
            "timed_params": params, "timed_hyperparameters": dict(hp.values)}


def corner_hyperparameters(hypermodel, end):
    """Every hyperparameter at its first (end=0) or last (end=-1) value."""
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    for item in hp.space:
        config = item.get_config()
        if "values" in config:
            hp.values[item.name] = config["values"][end]
        elif "min_value" in config:
            hp.values[item.name] = config["max_value" if end else "min_value"]
    return hp


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
    if "estimated_seconds" in timing:  # the dry run's, model by model
        return timing["estimated_seconds"]
    return (plan.total_epochs * timing["epoch_seconds"]
            + plan.total_trials * timing["trial_overhead_seconds"])


def estimate_line(plan, timing):
    if "drawn_models" in timing:
        how = (f"the {timing['timed_models']} of the {timing['drawn_models']} models the "
               f"search draws that train the most epochs (the others as their mean; the "
               f"first: {timing['timed_params']:,} params; "
               f"{_short(timing['timed_hyperparameters'])})")
    else:
        how = (f"{timing['timed_models']} model(s) of the space, cheapest first "
               f"({timing['timed_params']:,} params; {_short(timing['timed_hyperparameters'])})")
    return (f"Estimated wall time: {format_seconds(estimate_seconds(plan, timing))} = "
            f"{plan.total_epochs} epochs x {timing['epoch_seconds']:.2f} s + "
            f"{plan.total_trials} trials x {timing['trial_overhead_seconds']:.2f} s build, "
            f"compile, save and MLflow (means; each model weighed by its epochs). How: {how} "
            f"trained 2 short epochs each on the {timing['timed_on']} training split; "
            f"epoch 2 is the per-batch cost, build + epoch 1 - epoch 2 + saving the model + "
            f"{MLFLOW_TRIAL_SECONDS:.1f} s of MLflow the per-trial cost. Early stopping can "
            f"only shorten it; timed on this machine as loaded now.")
