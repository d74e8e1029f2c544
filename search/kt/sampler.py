"""`--sampler bohb`: Hyperband whose new configurations come from a density model
of the finished trials (BOHB: Falkner, Klein and Hutter, ICML 2018), instead of
at random.

Hyperband draws values only for the first round of a bracket; the later rounds
promote trials already drawn. So the model replaces just that draw
(keras-tuner's `_random_values`), and everything installed over it still
applies: the space's rule, --max-params / --max-latency-ms and the queued first
trial (--warm-start) (search/kt/oracle.py installs them in that order).

The model, as BOHB's: take the largest budget (epochs a trial trained) with
enough finished trials; split them into the best 15% ("good") and the rest
("bad"); fit a Gaussian kernel density to each, over the hyperparameters mapped
to [0, 1] by keras-tuner's own `value_to_prob`; sample candidates around the
good trials (bandwidths widened 3x) and keep the one with the highest
good/bad density ratio. A third of the draws stay random, as in BOHB, so the
model cannot lock onto an early mistake. Before enough trials finish, every draw
is random. The model is read from the oracle's trials at each draw: it needs no
state of its own, so a resumed search and a chief serving workers both use it.

Written here (~100 lines, numpy) rather than taken from Optuna or HpBandSter:
both bring their own trial store and search loop, and keras-tuner's oracle has
to stay the one that runs Hyperband (chief/worker mode, resume).
"""

import logging

import keras_tuner
import numpy as np

from search.kt import compat as kt_compat

logger = logging.getLogger(__name__)

RANDOM_FRACTION = 1 / 3     # BOHB's default share of random draws
GOOD_FRACTION = 0.15        # BOHB's top_n_percent
CANDIDATES = 64             # BOHB's num_samples
BANDWIDTH_FACTOR = 3.0      # BOHB's: sample wider than the fitted density
MIN_BANDWIDTH = 1e-3        # BOHB's: a dimension where all good trials agree


class ModelSampler:
    """Draws a new configuration's values: from the density model when it can
    (and a random share of the time not), else keras-tuner's random draw."""

    def __init__(self, oracle, seed, random_fraction=RANDOM_FRACTION):
        self.oracle, self.seed, self.random_fraction = oracle, int(seed), random_fraction
        self.draw_random = None  # keras-tuner's draw: the queue of first values, then random
        self.draws = 0
        self.from_model = 0

    def __call__(self):
        if getattr(self.oracle, "queued_values", None):  # chosen values go first
            return self.draw_random()
        rng = np.random.default_rng([self.seed, self.draws, len(self.oracle.trials)])
        self.draws += 1
        if rng.random() < self.random_fraction:  # decided first: no model fitted for it
            return self.draw_random()
        dimensions = modelled_hyperparameters(self.oracle.hyperparameters)
        model = fit_model(finished_trials(self.oracle), dimensions)
        if model is None:
            return self.draw_random()
        values = self._complete(dict(zip([d.name for d in dimensions],
                                         model.propose(rng, dimensions))), rng)
        if kt_compat.tried_before(self.oracle, values):
            return self.draw_random()
        self.from_model += 1
        logger.debug("Model-based draw (budget %s epochs, %d trials): %s",
                     model.budget, model.trials, values)
        return values

    def _complete(self, proposed, rng):
        """The proposed values, plus the conditional hyperparameters (left out of
        the model: their trials are too few) drawn at random where active."""
        hps = keras_tuner.HyperParameters()
        for item in self.oracle.hyperparameters.space:
            hps.merge([item])
            if hps.is_active(item):
                hps.values[item.name] = proposed.get(
                    item.name, item.random_sample(int(rng.integers(2**31))))
        return dict(hps.values)


def install(oracle, sampler, seed):
    """Make `oracle` draw with `sampler` ("random": keras-tuner's own draw, left
    as it is); returns the ModelSampler or None. Install before the filters."""
    if sampler == "random":
        return None
    model_sampler = ModelSampler(oracle, seed)

    def draw_with_model(draw_random):
        model_sampler.draw_random = draw_random
        return model_sampler

    kt_compat.replace_draw(oracle, draw_with_model)
    return model_sampler


def modelled_hyperparameters(space_hps):
    """The hyperparameters the model learns: those always active and not fixed."""
    return [item for item in space_hps.space
            if not item.conditions and type(item).__name__ != "Fixed"]


def finished_trials(oracle):
    """(budget in epochs, hyperparameter values, score) of each completed trial."""
    found = []
    for trial in oracle.trials.values():
        if trial.status == "COMPLETED" and trial.score is not None:
            values = trial.hyperparameters.values
            found.append((values.get("tuner/epochs", 0), values, trial.score))
    return found


class DensityModel:
    def __init__(self, good, bad, budget, trials):
        self.good, self.bad, self.budget, self.trials = good, bad, budget, trials
        self.good_bandwidth, self.bad_bandwidth = bandwidths(good), bandwidths(bad)

    def propose(self, rng, dimensions):
        """The candidate with the highest good/bad density ratio, as values."""
        centres = self.good[rng.integers(len(self.good), size=CANDIDATES)]
        spread = BANDWIDTH_FACTOR * self.good_bandwidth
        candidates = np.clip(rng.normal(centres, spread), 0.0, 1.0)
        ratio = (log_density(candidates, self.good, self.good_bandwidth)
                 - log_density(candidates, self.bad, self.bad_bandwidth))
        best = candidates[int(np.argmax(ratio))]
        return [item.prob_to_value(float(np.clip(p, 1e-6, 1 - 1e-6)))
                for item, p in zip(dimensions, best)]


def fit_model(trials, dimensions, maximize=True):
    """The density model at the largest budget with enough finished trials
    (BOHB: at least len(dimensions) + 1 in each of good and bad, so
    len(dimensions) + 2 trials at least); None while no budget has them."""
    if not dimensions:
        return None
    least = len(dimensions) + 1
    by_budget = {}
    for budget, values, score in trials:
        by_budget.setdefault(budget, []).append((values, score))
    for budget in sorted(by_budget, reverse=True):
        found = by_budget[budget]
        if len(found) < least + 1:
            continue
        found.sort(key=lambda pair: pair[1], reverse=maximize)
        points = np.array([[item.value_to_prob(values[item.name]) for item in dimensions]
                           for values, _ in found])
        n_good = max(least, int(GOOD_FRACTION * len(found)))
        n_bad = max(least, len(found) - n_good)
        return DensityModel(points[:n_good], points[-n_bad:], budget, len(found))
    return None


def bandwidths(points):
    """Scott's rule per dimension, at least MIN_BANDWIDTH."""
    n, d = points.shape
    spread = points.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
    return np.maximum(spread * n ** (-1.0 / (d + 4)), MIN_BANDWIDTH)


def log_density(x, points, bandwidth):
    """log of the product-Gaussian kernel density of `points` at each row of x."""
    z = (x[:, None, :] - points[None, :, :]) / bandwidth
    per_point = -0.5 * (z ** 2).sum(axis=2) - np.log(bandwidth).sum()
    top = per_point.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(per_point - top).mean(axis=1, keepdims=True)))[:, 0]
