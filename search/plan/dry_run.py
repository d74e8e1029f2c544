"""`bridge-search run --dry-run`: the Hyperband plan and a wall-time estimate,
without searching.

The estimate times the models the search will train: keras-tuner's random
draws, replayed with the search's oracle class and seed (at most MAX_TIMED_DRAWS
of them, those that train the most epochs; the others count as their mean).
Each trains 2 short epochs of `TIMING_STEPS` batches on the real training split
(with validation batches in the same proportion as a real epoch), then scores
those validation batches alone: epoch 1 carries tracing and compilation, epoch
2 and the scoring give seconds per training and per validation batch, scaled to
the splits' real batch counts. It also times the one save a trial makes: its
best model. Each model is weighed by the epochs its bracket gives it:
  estimate = sum over brackets of (first-round epochs x each model's epoch
             seconds + the bracket's later epochs x its models' mean)
           + trials x (build + epoch 1 - epoch 2 + model save + MLflow's share),
which leaves out what early stopping saves. `--time-budget` times the first
draws the same way, as many as fit a share of the budget (`time_draws`).
"""

import tempfile
import math
import time
from pathlib import Path

import keras
import keras_tuner

from search import data as data_module
from search.kt import checkpoints, compat as kt_compat, limits, space_check
from search.kt.callbacks import EpochTimer
from search.kt.device import apply_jit_compile, configure_devices
from search.kt.oracle import search_oracle
from search.plan.hyperband import format_plan, hyperband_plan
from search.kt.progress import format_seconds


# Said first, because the dry run does train (the models the search will draw, to time them).
DRY_RUN_NOTE = ("Dry run: trains the models the search will draw (at most "
                "8) for 2 short epochs each to time them; nothing is searched or logged to "
                "MLflow.")
# The drawn models timed at most (those that train the most epochs first); the
# others count as the mean of the timed ones.
MAX_TIMED_DRAWS = 8


def dry_run(config, out=print):
    """The plan of the given Hyperband settings and its estimated time."""
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
    configure_devices(config)
    image_data = data_module.load_from_config(config)
    hypermodel = space_check.load_checked_space(config.space, image_data)
    check_limits(config, hypermodel)
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


def check_limits(config, hypermodel):
    """As the search does before it draws: exit 2 naming the space when no model of
    it is within --max-params / --max-latency-ms."""
    limits.check_feasible(hypermodel, limits.Limits(config.max_params, config.max_latency_ms),
                          config.space)


def planned_draws(config, hypermodel, plan):
    """Per bracket of the plan, in the order the search runs them: its first
    round's drawn values (with each one's epoch weight), the epochs and trials of
    its later rounds."""
    oracle = _search_oracle(config, hypermodel)
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


def search_draws(config, hypermodel, count):
    """The values of the first `count` new trials the search will draw."""
    oracle = _search_oracle(config, hypermodel)
    return [v for v in (kt_compat.draw_values(oracle) for _ in range(count)) if v is not None]


def _search_oracle(config, hypermodel):
    """An oracle that draws as the search's will."""
    # As the search's oracle is made (search/run.py): keras-tuner takes a seed of 0 as
    # none and draws its own from `random`, which this seeds.
    keras.utils.set_random_seed(config.seed)
    oracle, _ = search_oracle(config, hypermodel)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    oracle.update_space(hp)
    return oracle


def _hyperparameters(hypermodel, values):
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values.update(values)
    return hp


def time_draws(config, image_data, hypermodel, time_limit):
    """--time-budget: per-epoch and per-trial seconds of the models the search
    draws first (keras-tuner's draws replayed with the search's seed), in order,
    averaged; the next one is timed only while the seconds spent so far plus one
    more model's share stay within `time_limit` (at least one, at most
    MAX_TIMED_DRAWS). A random sample of the space, so the mean does not lean to
    its cheap or its dear corner; "cheapest" is the cheapest of them."""
    draws = search_draws(config, hypermodel, MAX_TIMED_DRAWS)
    started, timings = time.perf_counter(), []
    for values in draws:
        spent = time.perf_counter() - started
        if timings and spent * (len(timings) + 1) / len(timings) > time_limit:
            break
        timings.append(_time_model(config, image_data, hypermodel,
                                   _hyperparameters(hypermodel, values),
                                   time_export=not timings))  # the end's exports, once
    mean = {key: sum(t[key] for t in timings) / len(timings) for key in TIMED_SECONDS}
    return {**timings[0], **mean, "trial_overhead_seconds":
            mean["trial_overhead_seconds"] + MLFLOW_TRIAL_SECONDS,
            "export_seconds": timings[0]["export_seconds"],
            "timed_models": len(timings), "timed_on": image_data.source,
            "timing_seconds": time.perf_counter() - started,
            "cheapest": min(timings, key=lambda t: t["epoch_seconds"])}


# MLflow's share of a trial (child run, params, tags, epoch metrics, its best model
# as an artifact), measured on a local sqlite store: scripts/bench_budget.py.
MLFLOW_TRIAL_SECONDS = 1.0
# Training batches of each timed epoch (the whole split when it has fewer than
# twice as many: the two timed epochs must not run out of data).
TIMING_STEPS = 30
TIMED_SECONDS = ("epoch_seconds", "trial_overhead_seconds", "val_seconds", "test_seconds")


def _time_model(config, image_data, hypermodel, hp, time_export=False):
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
    export = _export_seconds(model) if time_export else None
    params = model.count_params()
    keras.backend.clear_session()
    return {"epoch_seconds": batches["train"] * train_batch + batches["val"] * val_batch,
            "val_seconds": batches["val"] * val_batch,
            "test_seconds": batches["test"] * val_batch,
            "trial_overhead_seconds": build_seconds + max(first - steady, 0) + model_save,
            "export_seconds": export,
            "timed_params": params,
            # the model's own values: not a flatten_pool left from building the space
            "timed_hyperparameters": {name: value for name, value in hp.values.items()
                                      if hp.is_active(name)}}


def _save_seconds(model):
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model.save(Path(folder) / checkpoints.BEST_MODEL_FILE)
        return time.perf_counter() - started


def _export_seconds(model):
    """A SavedModel export of the model (it traces the model again, as the end of
    the command's exports do: budget.finish_seconds scales it to all of them)."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        model.export(str(Path(folder) / "saved_model"), format="tf_saved_model", verbose=False)
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
        how = (f"the first {timing['timed_models']} model(s) the search draws "
               f"({timing['timed_params']:,} params; {_short(timing['timed_hyperparameters'])})")
    return (f"Estimated wall time: {format_seconds(estimate_seconds(plan, timing))} = "
            f"{plan.total_epochs} epochs x {timing['epoch_seconds']:.2f} s + "
            f"{plan.total_trials} trials x {timing['trial_overhead_seconds']:.2f} s build, "
            f"compile, save and MLflow (means; each model weighed by its epochs). How: {how} "
            f"trained 2 short epochs each on the {timing['timed_on']} training split; "
            f"epoch 2 is the per-batch cost, build + epoch 1 - epoch 2 + saving the model + "
            f"{MLFLOW_TRIAL_SECONDS:.1f} s of MLflow the per-trial cost. Early stopping can "
            f"only shorten it; timed on this machine as loaded now.")
