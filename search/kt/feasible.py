"""Which models of a space are within --max-params / --max-latency-ms.

`least_over` looks for a model within the limits, down to the smallest or fastest
one the space's own rule lets train: from the space's defaults, each
hyperparameter in turn takes the value of its grid (Choice values, Int steps,
Float ends or steps) that lowers the model's worst limit ratio (parameters /
--max-params, ms / --max-latency-ms), until a pass changes nothing. Coordinate
descent, not a proof: a space whose size is not monotone in each value could hide
a smaller model; it builds tens of models where the full grid has hundreds.
- Before the search (`check_limits`): limits that nothing found meets are exit 2,
  naming that model's size, before anything trains or is created.
- While drawing (search/kt/limits.py): a value set over a limit is walked
  towards a model within them one value at a time until it is within them, so every
  draw of a feasible search gives a trial.
"""

import random

import keras
import keras_tuner

from search.core.errors import UsageError
from search.kt import hp_values

GRID_POINTS = 8  # an Int or stepped Float range is tried at most at this many values
PASSES = 4


def grid(item):
    """The values of one hyperparameter tried by the descent."""
    config = item.get_config()
    kind = type(item).__name__
    if kind == "Fixed":
        return [config["value"]]
    if kind == "Boolean":
        return [False, True]
    if "values" in config:
        return list(config["values"])
    low, high, step = config["min_value"], config["max_value"], config.get("step")
    if kind == "Int" or step:
        count = int(round((high - low) / (step or 1))) + 1
        tried = min(count, GRID_POINTS)  # evenly spread, both ends included
        picks = sorted({round(i * (count - 1) / max(tried - 1, 1)) for i in range(tried)})
        return [type(low)(low + i * (step or 1)) for i in picks]
    return [low, high]


class Measure:
    """ratio(values) -> the worst limit ratio of that model (<= 1: within every
    limit); remembers each model's measures, since the descent revisits them."""

    def __init__(self, hypermodel, space_hps, model_limits, over_limits_measures):
        self.hypermodel, self.space, self.limits = hypermodel, space_hps, model_limits
        self.measures_of = over_limits_measures  # (model, limits) -> {params, latency_ms}
        self.seen = {}

    def measures(self, values):
        key = tuple(sorted((k, repr(v)) for k, v in values.items()))
        if key not in self.seen:
            hp = keras_tuner.HyperParameters()
            hp.merge(self.space.space)
            hp.values.update(values)
            keras.backend.clear_session()
            self.seen[key] = self.measures_of(self.hypermodel.build(hp), self.limits)
            keras.backend.clear_session()
        return self.seen[key]

    def ratio(self, values):
        found = self.measures(values)
        ratios = [found["params"] / self.limits.max_params] if self.limits.max_params else []
        if self.limits.max_latency_ms:
            ratios.append(found["latency_ms"] / self.limits.max_latency_ms)
        return max(ratios)


def least_over(measure, start, allowed, enough=1.0):
    """(values, ratio) of the model the descent ends at, from `start`, or of the first
    whose ratio is `enough` (any model within the limits will do; only a refusal
    needs the least). `allowed(values)`: whether the space's rule lets a value set
    train. A move the rule refuses (a pooled bridge needs more residual blocks) is
    tried with each value of one other hyperparameter too, so the rule does not
    pin the descent to one corner."""
    values = start
    best = measure.ratio(values) if allowed(values) else float("inf")
    for _ in range(PASSES):
        changed = False
        for candidate in _moves(measure.space, values, allowed):
            if best <= enough:
                return values, best
            ratio = measure.ratio(candidate)
            if ratio < best:
                values, best, changed = candidate, ratio, True
        if not changed:
            break
    return values, best


def _moves(space, values, allowed):
    """The allowed value sets one value (or, past the rule, two) away from `values`."""
    for item in space.space:
        if item.name not in values:
            continue  # inactive under the current values
        for value in grid(item):
            candidate = _complete(space, {**values, item.name: value})
            if candidate is None or candidate == values:
                continue
            if allowed(candidate):
                yield candidate
                continue
            for other in space.space:
                if other.name == item.name or other.name not in candidate:
                    continue
                for second in grid(other):
                    pair = _complete(space, {**candidate, other.name: second})
                    if pair is not None and allowed(pair):
                        yield pair


def _complete(space, values):
    return hp_values.complete_values(space, values)


def walk_towards(values, target, accept, normalize=dict, seed=0):
    """`values` with more and more of `target`'s values (in a random order), until
    `accept` takes it; `target` at last. `normalize(values)`: the value set the
    space makes of them (conditional values in or out)."""
    names = [name for name in target if values.get(name) != target[name]]
    random.Random(seed).shuffle(names)
    current = dict(values)
    for name in names:
        current = normalize({**current, name: target[name]})
        if accept(current):
            return current
    return dict(target)


def check_limits(hypermodel, model_limits, space_name, over_limits_measures):
    """Exit 2 (UsageError) when no model of the space is within the limits; else the
    values of a model within them."""
    space = keras_tuner.HyperParameters()
    hypermodel.build(space)
    keras.backend.clear_session()
    rejects = getattr(hypermodel, "rejects", lambda values: None)
    measure = Measure(hypermodel, space, model_limits, over_limits_measures)
    start = hp_values.complete_values(space, dict(space.values)) or dict(space.values)
    values, ratio = least_over(measure, start, lambda v: rejects(v) is None)
    if ratio <= 1:  # a model within the limits: the walk's target when draws are over
        return values
    if ratio == float("inf"):
        raise UsageError(f"--space {space_name}: its rule refuses every model bridge-search "
                         f"tried, so no limit can be checked; fix the space's `rejects`.")
    found = measure.measures(values)
    raise UsageError(_refusal(model_limits, space_name, found, values))


def _refusal(model_limits, space_name, found, values):
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in values.items())
    over = []
    if model_limits.max_params is not None and found["params"] > model_limits.max_params:
        over.append(f"--max-params {model_limits.max_params}: the smallest model of space "
                    f"{space_name!r} that may train has {found['params']:,} parameters "
                    f"({shown}); accepted: --max-params {found['params']} or more")
    if model_limits.max_latency_ms is not None and \
            found["latency_ms"] > model_limits.max_latency_ms:
        over.append(f"--max-latency-ms {model_limits.max_latency_ms:g}: the fastest model of "
                    f"space {space_name!r} found takes {found['latency_ms']:.3f} ms per image "
                    f"on this device ({shown}); accepted: a limit above that")
    if not over:  # each limit alone is met, not both by one model
        over.append(f"--max-params {model_limits.max_params} with --max-latency-ms "
                    f"{model_limits.max_latency_ms:g}: no model of space {space_name!r} found "
                    f"meets both ({found['params']:,} parameters, {found['latency_ms']:.3f} ms "
                    f"at best together); accepted: a looser limit")
    return "; ".join(over) + "; or leave the limit out. Nothing was trained."
