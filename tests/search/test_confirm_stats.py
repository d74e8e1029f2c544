"""The confirm stage's statistics and plan on synthetic numbers with known
answers (no TensorFlow, no MLflow): Student t quantiles against the printed
table, paired t-intervals worked by hand, the verdict words, the plan of
(value, seed) runs and what is left of it after a stop, and bad requests."""

import math

import pytest

from search.core import confirm_stats as stats
from search.core.confirm_plan import ConfirmRequest, PlannedRun, check_seeds, plan_runs, runs_left
from search.core.errors import UsageError

# Two-sided 95% critical values of Student's t (any statistics table).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 19: 2.093,
           29: 2.045, 120: 1.980}


@pytest.mark.parametrize("df, expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_table(df, expected):
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


@pytest.mark.parametrize("df", [1, 3, 10, 50])
@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.7, 2.5])
def test_t_cdf_is_symmetric_and_inverts(df, t):
    assert stats.t_cdf(t, df) + stats.t_cdf(-t, df) == pytest.approx(1.0, abs=1e-12)
    if t > 0:
        assert stats.t_quantile(stats.t_cdf(t, df), df) == pytest.approx(t, abs=1e-9)


def test_t_cdf_of_one_degree_is_the_cauchy_law():
    for t in (0.3, 1.0, 4.0):
        assert stats.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)


def test_paired_difference_worked_by_hand():
    # Differences 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.3027 -> half-width 2.4841.
    reference = {0: 10.0, 1: 20.0, 2: 30.0}
    values = {0: 11.0, 1: 22.0, 2: 33.0}
    difference = stats.paired_difference(values, reference)
    assert difference.n == 3 and difference.mean == pytest.approx(2.0)
    assert difference.low == pytest.approx(2.0 - 4.302653 / math.sqrt(3), abs=1e-5)
    assert difference.high == pytest.approx(2.0 + 4.302653 / math.sqrt(3), abs=1e-5)
    assert difference.verdict == stats.WITHIN_NOISE  # 2 +- 2.48 spans 0


def test_paired_beats_unpaired_when_the_seed_moves_both():
    """A seed that lifts every value alike cancels in the pairs: a constant gap of
    one point is 'behind' although the seeds spread each value by 10 points."""
    best = {0: 0.80, 1: 0.90, 2: 0.70, 3: 0.85}
    other = {seed: score - 0.01 for seed, score in best.items()}
    difference = stats.paired_difference(other, best)
    assert difference.mean == pytest.approx(-0.01)
    assert difference.low == pytest.approx(-0.01) and difference.high == pytest.approx(-0.01)
    assert difference.verdict == stats.BEHIND


@pytest.mark.parametrize("values, reference, verdict", [
    ({0: 0.9, 1: 0.92, 2: 0.91}, {0: 0.8, 1: 0.81, 2: 0.805}, stats.AHEAD),
    ({0: 0.8, 1: 0.81, 2: 0.805}, {0: 0.9, 1: 0.92, 2: 0.91}, stats.BEHIND),
    ({0: 0.9, 1: 0.8}, {0: 0.8, 1: 0.9}, stats.WITHIN_NOISE),
    ({0: 0.9}, {0: 0.8}, stats.NO_INTERVAL),
    ({0: 0.9, 5: 0.7}, {0: 0.8, 1: 0.9}, stats.NO_INTERVAL),  # one common seed
])
def test_verdicts(values, reference, verdict):
    assert stats.paired_difference(values, reference).verdict == verdict


def test_no_common_seed_has_no_difference():
    assert stats.paired_difference({0: 1.0}, {1: 1.0}) == stats.PairedDifference(0, None, None, None)


def test_mean_std_and_interval_of_known_numbers():
    assert stats.mean([1, 2, 3, 4]) == 2.5
    assert stats.std([2, 4, 4, 4, 5, 5, 7, 9]) == pytest.approx(2.138090, abs=1e-6)
    assert stats.std([3.0]) is None and stats.mean([]) is None
    low, high = stats.mean_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-5)
    assert stats.mean_interval([1.0]) is None


def _results(table):
    return [{"value": value, "seed": seed, "accuracy": score, "param_count": 100,
             "latency_ms": 1.0} for value, scores in table.items()
            for seed, score in enumerate(scores)]


def test_summarise_puts_the_best_first_and_compares_each_to_it():
    rows = stats.summarise(_results({"gap": [0.80, 0.82, 0.81], "flatten": [0.90, 0.93, 0.92],
                                     "gmp": [0.91, 0.90, 0.93]}))
    assert [row["value"] for row in rows] == ["flatten", "gmp", "gap"]
    assert rows[0]["difference"] is None
    assert rows[1]["difference"].verdict == stats.WITHIN_NOISE
    assert rows[2]["difference"].verdict == stats.BEHIND
    assert rows[2]["accuracy_mean"] == pytest.approx(0.81)
    assert rows[2]["accuracy_std"] == pytest.approx(0.01)
    words = stats.verdict_words(rows[2], rows[0])
    assert words.startswith("gap: behind vs flatten (-10.7 points, 95% CI ")


def test_summarise_with_one_seed_says_there_is_no_interval():
    rows = stats.summarise(_results({"gap": [0.8], "flatten": [0.9]}))
    assert rows[1]["difference"].verdict == stats.NO_INTERVAL
    assert "one seed: no interval" in stats.verdict_words(rows[1], rows[0])


def test_plan_is_seed_major_and_resumes_by_key():
    planned = plan_runs(["flatten", "gap", 2], seeds=2)
    assert [(r.value, r.seed) for r in planned] == [
        ("flatten", 0), ("gap", 0), (2, 0), ("flatten", 1), ("gap", 1), (2, 1)]
    left = runs_left(planned, {("gap", 0), ("2", 1), ("other", 0)})
    assert [(r.value, r.seed) for r in left] == [("flatten", 0), (2, 0), ("flatten", 1),
                                                 ("gap", 1)]
    assert PlannedRun(True, 3).key == ("True", 3)


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": 0}, r"--seeds 0 is invalid: must be an integer >= 1"),
    ({"seeds": -2}, r"--seeds -2 is invalid"),
    ({"seeds": True}, r"--seeds True is invalid"),
    ({"vary": "  "}, r"--vary '' is invalid: expected the name of a categorical"),
    ({"epochs": 0}, r"--epochs 0 is invalid: must be an integer >= 1"),
])
def test_bad_requests_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        ConfirmRequest(**kwargs)


def test_zero_seeds_is_no_confirm_stage_for_run_only():
    check_seeds(0, "--confirm-seeds", allow_zero=True)
    with pytest.raises(UsageError, match=r"--confirm-seeds -1 is invalid: .*>= 0 \(0: no"):
        check_seeds(-1, "--confirm-seeds", allow_zero=True)
