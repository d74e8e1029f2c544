"""Hyperparameter values outside a search's random draws: values given back (an
earlier search's best, a one-trial plan) completed for the space, and trials that
Hyperband must rank first. Public keras-tuner API only."""

import contextlib


def complete_values(space_hps, given):
    """Values for every active hyperparameter of the space: the given ones where
    they are valid, the defaults elsewhere (None if nothing given is valid)."""
    import keras_tuner
    hps, used = keras_tuner.HyperParameters(), 0
    for item in space_hps.space:
        hps.merge([item])
        if not hps.is_active(item):
            continue
        value = given.get(item.name, hps.values.get(item.name))
        if item.name in given and _accepts(item, value):
            hps.values[item.name], used = value, used + 1
    return dict(hps.values) if used else None


def _accepts(item, value):
    config = item.get_config()
    if "values" in config:
        return value in config["values"]
    if "min_value" in config:
        return config["min_value"] <= value <= config["max_value"]
    return True


@contextlib.contextmanager
def ranked_first(oracle, trial_ids):
    """While Hyperband sorts a round's finished trials by score, these come first."""
    top = float("inf") if oracle.objective.direction == "max" else float("-inf")
    saved = {}
    for trial_id in trial_ids:
        trial = oracle.trials.get(trial_id)
        if trial is not None and trial.score is not None:
            saved[trial_id], trial.score = trial.score, top
    try:
        yield
    finally:
        for trial_id, score in saved.items():
            oracle.trials[trial_id].score = score


def user_values(values):
    """A trial's hyperparameter values without the `tuner/` keys Hyperband adds
    (epochs, initial epoch, bracket, round, predecessor)."""
    return {k: v for k, v in values.items() if not k.startswith("tuner/")}
