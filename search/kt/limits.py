"""`--max-params` / `--max-latency-ms`: models over a limit are never trained.

keras-tuner's own `max_model_size` fails such a trial (a FAILED run, a slot of
the Hyperband plan lost). Here the oracle's random draw is filtered instead
(kt_compat.filter_random_draws): a value set whose model is over a limit is
dropped before any trial exists and another one is drawn, so the plan keeps its
number of trials and none fails. Continued Hyperband trials reuse an accepted
value set, so they are within the limits too, and so is the winner.

Limits that no model of the space meets are exit 2 before the search
(`check_feasible`, search/kt/feasible.py). When MAX_RANDOM_DRAWS draws in a
row are over a limit (a limit only a corner of the space meets), the last one is
walked towards a model within the limits until it is within them itself:
every draw gives a trial, however tight the limit.

The check builds the drawn model (milliseconds for these spaces) and, with a
latency limit, times a few batch-1 calls of it (search/kt/cost.py).
"""

import logging
from dataclasses import dataclass

import keras

from search.kt import cost, feasible, hp_values, compat as kt_compat

logger = logging.getLogger(__name__)
# Draws in a row that the space's rule may refuse before the search gives up drawing
# (the oracle then stops starting new trials, as on a space with no new value sets).
MAX_REFUSED_DRAWS = 200
# Random draws in a row over a limit before the last is walked into the limits.
MAX_RANDOM_DRAWS = 10
PROBE_CALLS = 7  # latency probe of an untrained model: cheap, the median of 7 calls


@dataclass(frozen=True)
class Limits:
    max_params: int | None = None
    max_latency_ms: float | None = None

    def __bool__(self):
        return self.max_params is not None or self.max_latency_ms is not None


class LimitChecker:
    """accept(values) for the oracle: builds the model of a drawn value set and
    says whether it is within the limits; counts what it refused. repair(values):
    a value set within the limits, walked from `values` (see the module doc)."""

    def __init__(self, hypermodel, oracle, model_limits, space_name=""):
        self.hypermodel, self.oracle, self.limits = hypermodel, oracle, model_limits
        self.space_name = space_name  # for a refusal (a latency limit met only by chance)
        self.refused, self.repaired, self._within = 0, 0, None

    def __call__(self, values):
        hp = self.oracle.get_space()
        hp.values.update(values)
        keras.backend.clear_session()  # as keras-tuner does before each build
        reason = over_limits(self.hypermodel.build(hp), self.limits)
        keras.backend.clear_session()
        if reason:
            self.refused += 1
            logger.debug("Drawing again: %s (values %s).", reason, values)
        return reason is None

    def repair(self, values):
        if self._within is None:  # a model within the limits, found once
            self._within = feasible.check_limits(self.hypermodel, self.limits,
                                                 self.space_name, measures)
        rejects = getattr(self.hypermodel, "rejects", lambda v: None)
        self.repaired += 1
        space = self.oracle.hyperparameters
        walked = feasible.walk_towards(
            values, self._within, lambda v: rejects(v) is None and self(v),
            normalize=lambda v: hp_values.complete_values(space, v) or v, seed=self.repaired)
        logger.info("%d draws in a row were over the limits: training %s instead, the "
                    "last one moved within them.", MAX_RANDOM_DRAWS, walked)
        return walked


def measures(model, model_limits):
    """{"params": ..., "latency_ms": ... (only with a latency limit)} of `model`."""
    found = {"params": model.count_params()}
    if model_limits.max_latency_ms is not None:
        found["latency_ms"] = cost.latency_ms(model, 1, calls=PROBE_CALLS)
    return found


def over_limits(model, model_limits):
    """Why `model` is over a limit, or None when it is within all of them."""
    found = measures(model, model_limits)
    params = found["params"]
    if model_limits.max_params is not None and params > model_limits.max_params:
        return f"{params} parameters > --max-params {model_limits.max_params}"
    if model_limits.max_latency_ms is not None:
        latency = found["latency_ms"]
        if latency > model_limits.max_latency_ms:
            return (f"{latency:.2f} ms per image > --max-latency-ms "
                    f"{model_limits.max_latency_ms}")
    return None


def check_feasible(hypermodel, model_limits, space_name):
    """Before the search: exit 2 when no model of the space is within the limits."""
    if model_limits:
        feasible.check_limits(hypermodel, model_limits, space_name, measures)


def install_space_rule(oracle, hypermodel):
    """Filter `oracle`'s random draws by the space's own rule, when it has one:
    `hypermodel.rejects(values)` -> why the value set is not worth training, or
    None (HyperBridgeNet: a pooled bridge needs >= 2 residual blocks, Flatten a
    learning rate <= 3e-3).
    keras-tuner cannot express a rule between two hyperparameters; a refused set
    is drawn again like one over a limit. Queued values (--warm-start: an
    earlier search's best) are trained as given, unlike those over a limit."""
    rejects = getattr(hypermodel, "rejects", None)
    if rejects is None:
        return

    def accept(values):
        reason = rejects(values)
        if reason:
            logger.debug("Drawing again: %s (values %s).", reason, values)
        return reason is None

    kt_compat.filter_random_draws(oracle, accept, MAX_REFUSED_DRAWS, keep_queued=True)


def install(oracle, hypermodel, model_limits, space_name=""):
    """Filter `oracle`'s random draws by `model_limits`; returns the checker (or
    None when there is no limit)."""
    if not model_limits:
        return None
    checker = LimitChecker(hypermodel, oracle, model_limits, space_name)
    kt_compat.filter_random_draws(oracle, checker, MAX_RANDOM_DRAWS, repair=checker.repair)
    return checker
