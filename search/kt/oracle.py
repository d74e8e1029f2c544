"""The search's oracle: keras-tuner's HyperbandOracle with a first-round budget,
built in one place for the search, the dry run and the time-budget plan."""

import keras_tuner

from search.kt import compat as kt_compat, hp_values, limits, sampler
from search.kt.callbacks import OBJECTIVE



class QueuedValuesMixin:
    """For a HyperbandOracle: `queued_values` (a list of {hp name: value}) are the
    first new trials' values, before random ones.

    Queued values are known good (an earlier search's best, --warm-start), so their
    trial is promoted first in every round of its bracket and trains the bracket's
    full epochs: judged by merit after the first round's single epoch, a warm trial
    lost to a lucky random one and never trained again (docs/budget.md). Uses only
    the public `populate_space` and `Trial.score`. Not kept across a resume: a
    resumed search promotes on merit."""

    queued_values = ()
    _favoured = frozenset()  # trial ids of the queued values and their promotions
    _last_queued = None
    _drawn_here = False  # whether this process has drawn a trial's values yet

    def _random_values(self):
        if not self._drawn_here and self.trials:
            self.queued_values = []  # a resumed search: its first trials were drawn before
        self._drawn_here = True
        while self.queued_values:
            values = hp_values.complete_values(self.hyperparameters, self.queued_values.pop(0))
            if values is not None:
                self._last_queued = dict(values)  # Hyperband adds tuner/ keys to `values`
                return values
        return super()._random_values()

    def populate_space(self, trial_id):
        with hp_values.ranked_first(self, self._favoured):
            result = super().populate_space(trial_id)
        values = result.get("values") or {}
        own = {k: v for k, v in values.items() if not k.startswith("tuner/")}
        if (values.get("tuner/trial_id") in self._favoured
                or (self._last_queued is not None and own == self._last_queued)):
            self._favoured = self._favoured | {trial_id}
            self._last_queued = None
        return result


class MinEpochsHyperbandOracle(QueuedValuesMixin,
                               keras_tuner.oracles.HyperbandOracle):
    """HyperbandOracle whose most exploratory bracket trains >= `min_epochs`.

    keras-tuner keeps a `min_epochs` attribute (fixed at 1) that bounds the number
    of brackets: a bracket exists while max_epochs / factor**bracket >= min_epochs.
    Raising it drops the brackets whose first round would train fewer epochs, so
    the smallest budget any trial gets is ceil(max_epochs / factor**b) >= min_epochs.
    The value is part of the oracle's saved state, so a resumed search keeps it.
    """

    may_start_trial = None  # --time-budget: a callable asked before each new trial

    def __init__(self, *args, min_epochs=1, **kwargs):
        super().__init__(*args, **kwargs)
        kt_compat.apply_min_epochs(self, min_epochs)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        if self.may_start_trial is not None and not self.may_start_trial():
            return kt_compat.stopped_trial(self)
        return super().create_trial(tuner_id)


def make_oracle(max_epochs, factor, iterations=1, min_epochs=1, **kwargs):
    """The bare oracle (no filters): also what the Hyperband plan is read from."""
    if kwargs.get("seed") is not None:  # keras-tuner reads seed 0 as "none": a random one
        kwargs["seed"] += 1
    return MinEpochsHyperbandOracle(
        objective=kwargs.pop("objective", OBJECTIVE), max_epochs=max_epochs,
        factor=factor, hyperband_iterations=iterations, min_epochs=min_epochs, **kwargs)


def search_oracle(config, hypermodel, plan=None, first_values=None):
    """The oracle a search (and its dry run and time-budget plan) draws with: its
    Hyperband settings from `plan` (search/plan/hyperband.py's SearchPlan; default:
    the config's own), its filters in their one order: the space's own rule first
    (it only reads values), over the draw of --sampler (random, or proposed by
    a model of the finished trials: search/kt/sampler.py),
    then --max-params / --max-latency-ms (they build models), then `first_values`
    queued as the first trial's (--warm-start's values, else a one-trial budget's
    pinned model; a resumed search, which drew its first trial before, ignores
    them; queued values skip the space's rule, not the limits). Returns (oracle,
    limit checker or None).
    A failed trial is recorded and the search goes on: keras-tuner's default (stop
    after 3 consecutive failures) would end a long search on a run of too-large
    models; a search with no completed trial fails at its end with one line."""
    plan = plan or config  # the Hyperband settings: a search's plan, else the config's
    oracle = make_oracle(plan.max_epochs, plan.factor, plan.hyperband_iterations,
                         plan.min_epochs, seed=config.seed,
                         max_consecutive_failed_trials=None)
    # Under the filters, so they apply to its proposals too; counted in the summary.
    oracle.model_sampler = sampler.install(oracle, config.sampler, config.seed)
    limits.install_space_rule(oracle, hypermodel)
    checker = limits.install(oracle, hypermodel,
                             limits.Limits(config.max_params, config.max_latency_ms),
                             config.space)
    if first_values:
        oracle.queued_values = [dict(first_values)]
    return oracle, checker


def declared_space(hypermodel):
    """The hyperparameters a hypermodel declares (as keras-tuner populates them)."""
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    return hp
