"""The confirm stage's statistics, on plain numbers: per value its mean and
spread over seeds, and for each value against the best the paired difference
over seeds with a 95% Student t-interval, in words.

Paired: seed s of value A and seed s of value B start from the same random
state, so their difference removes what the seed does to both. The interval is
mean(d) +- t(0.975, n-1) * sd(d) / sqrt(n) over the n common seeds (a
t-interval, not a bootstrap: with 3-5 seeds a bootstrap has too few distinct
resamples to mean anything). No SciPy: the t quantile is computed here, from the
regularized incomplete beta function.
"""

import math
from dataclasses import dataclass

LEVEL = 0.95
AHEAD, BEHIND, WITHIN_NOISE, NO_INTERVAL = "ahead", "behind", "within noise", "no interval"


def mean(values):
    return sum(values) / len(values) if values else None


def std(values):
    """Sample standard deviation (n - 1); None below two values."""
    if len(values) < 2:
        return None
    centre = mean(values)
    return math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1))


def _beta_fraction(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return result


def incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t, df):
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p, df):
    """The t value with P(T <= t) = p (0.5 < p < 1), by bisection on t_cdf."""
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2.0


@dataclass(frozen=True)
class PairedDifference:
    """value minus reference over their common seeds; low/high None below 2 seeds."""
    n: int
    mean: float | None
    low: float | None
    high: float | None

    @property
    def verdict(self):
        if self.low is None:
            return NO_INTERVAL
        if self.low > 0:
            return AHEAD
        if self.high < 0:
            return BEHIND
        return WITHIN_NOISE


def paired_difference(values, reference, level=LEVEL):
    """`values` and `reference`: {seed: score}. The t-interval of value - reference."""
    seeds = sorted(set(values) & set(reference))
    diffs = [values[s] - reference[s] for s in seeds]
    if not diffs:
        return PairedDifference(0, None, None, None)
    centre = mean(diffs)
    if len(diffs) < 2:
        return PairedDifference(1, centre, None, None)
    half = t_quantile(0.5 + level / 2.0, len(diffs) - 1) * std(diffs) / math.sqrt(len(diffs))
    return PairedDifference(len(diffs), centre, centre - half, centre + half)


def mean_interval(values, level=LEVEL):
    """(low, high) of the t-interval of the mean of `values`; None below two."""
    if len(values) < 2:
        return None
    half = t_quantile(0.5 + level / 2.0, len(values) - 1) * std(values) / math.sqrt(len(values))
    return mean(values) - half, mean(values) + half


def summarise(results):
    """`results`: [{value, seed, accuracy, param_count, latency_ms, ...}] -> one row
    per value, best mean accuracy first: mean/std of accuracy, parameters and
    latency, and the paired difference to the best value ("best" on its own row)."""
    by_value = {}
    for row in results:
        by_value.setdefault(row["value"], []).append(row)
    rows = []
    for value, runs in by_value.items():
        row = {"value": value, "seeds": sorted(r["seed"] for r in runs),
               "refused": next((r["refused"] for r in runs if r.get("refused")), None)}
        for metric in ("accuracy", "param_count", "latency_ms"):
            numbers = [r[metric] for r in runs if r.get(metric) is not None]
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean(numbers), std(numbers)
        row["scores"] = {r["seed"]: r["accuracy"] for r in runs}
        rows.append(row)
    rows.sort(key=lambda r: -(r["accuracy_mean"] if r["accuracy_mean"] is not None else -1))
    for row in rows:
        row["difference"] = (None if row is rows[0] else
                             paired_difference(row["scores"], rows[0]["scores"]))
    return rows


def verdict_words(row, best):
    """`gap: behind flatten by 1.2 points (95% CI -2.0 to -0.4)`, in points of accuracy."""
    difference = row["difference"]
    if difference is None:
        return f"{row['value']}: best"
    said = f"{row['value']}: {difference.verdict}"
    if difference.mean is not None:
        said += f" vs {best['value']} ({100 * difference.mean:+.1f} points"
        said += (f", 95% CI {100 * difference.low:+.1f} to {100 * difference.high:+.1f})"
                 if difference.low is not None else "; one seed: no interval)")
    return said
