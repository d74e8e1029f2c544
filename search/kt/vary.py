"""One hyperparameter varied around the winner: the values it takes in the
space, and the winner's hyperparameters with it set to one of them (the confirm
stage). Public keras-tuner API only."""

import keras
import keras_tuner

from search.core.errors import UsageError
from search.kt.hp_values import complete_values

KINDS = "a Choice, an Int, a Boolean or a Float with a step"


def space_hyperparameters(hypermodel):
    """The space's hyperparameters, declared by one build."""
    hps = keras_tuner.HyperParameters()
    hypermodel.build(hps)
    keras.backend.clear_session()
    return hps


def values_of(space_hps, name):
    """Every value the hyperparameter `name` takes: a categorical one's choices, an
    integer's range, a Float's grid when it has a step. A continuous Float or a
    fixed value has nothing to compare: UsageError."""
    item = next((p for p in space_hps.space if p.name == name), None)
    if item is None:
        raise UsageError(f"--vary {name!r} is not a hyperparameter of the space; accepted: "
                         f"{', '.join(p.name for p in space_hps.space)}.")
    kind, config = type(item).__name__, item.get_config()
    if kind == "Choice":
        return list(config["values"])
    if kind == "Boolean":
        return [False, True]
    if kind == "Int":
        return list(range(config["min_value"], config["max_value"] + 1, config["step"] or 1))
    if kind == "Float" and config.get("step"):
        count = round((config["max_value"] - config["min_value"]) / config["step"])
        return [round(config["min_value"] + i * config["step"], 12) for i in range(count + 1)]
    what = "continuous (a Float without a step)" if kind == "Float" else "fixed to one value"
    raise UsageError(f"--vary {name!r} is {what} in this space: there are no values to "
                     f"compare; accepted: {KINDS}, e.g. {_varied_names(space_hps)}.")


def _varied_names(space_hps):
    names = [p.name for p in space_hps.space if type(p).__name__ in ("Choice", "Int", "Boolean")
             or (type(p).__name__ == "Float" and p.get_config().get("step"))]
    return ", ".join(names) or "none in this space"


def with_value(space_hps, winner_values, name, value):
    """A HyperParameters of the winner's values with `name` set to `value`; a
    conditional hyperparameter that becomes active takes its default."""
    values = complete_values(space_hps, {**winner_values, name: value})
    hps = space_hps.copy()
    hps.values = dict(values)
    return hps


def refused_by(hypermodel, values):
    """The space's own rule that would refuse these values (HyperBridgeNet.rejects),
    or None: such values are trained anyway and marked."""
    rejects = getattr(hypermodel, "rejects", None)
    return rejects(values) if callable(rejects) else None
