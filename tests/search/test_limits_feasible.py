"""Issue 27 item 12: limits that no model of the space meets are exit 2 before
training, naming the smallest model; a tight limit that some models meet trains
the search's whole plan (draws over a limit are walked into it)."""

import keras_tuner
import pytest

from search import SearchConfig, run_search
from search.data import load_digits
from search.core.errors import UsageError
from search.kt import feasible, compat as kt_compat, limits
from search.plan.hyperband import hyperband_plan
from tests.conftest import child_runs, run_cli_here
import spaces


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


def _space(name, data):
    return spaces.load_space(name, data.input_shape, data.num_classes, data.pixel_max)


# The smallest models the space rule lets train on digits (measured over the
# whole grid): a pooled bridge needs >= 2 residual blocks in `bridge` (>= 1 in
# `bridge-small`), so the 5.8k and 1.1k models of fewer blocks never train.
@pytest.mark.parametrize("space, max_params, smallest", [
    ("bridge-small", 1633, 1634), pytest.param("bridge", 20_000, 21_050, marks=pytest.mark.slow)])
def test_a_limit_no_model_meets_names_the_smallest(digits, space, max_params, smallest):
    with pytest.raises(UsageError) as refused:
        limits.check_feasible(_space(space, digits), limits.Limits(max_params), space)
    assert str(refused.value).startswith(
        f"--max-params {max_params}: the smallest model of space {space!r} that may train "
        f"has {smallest:,} parameters (")
    assert f"accepted: --max-params {smallest} or more" in str(refused.value)


@pytest.mark.parametrize("space, max_params", [("bridge-small", 1634), ("bridge", 21_050),
                                               ("bridge-small", None)])
def test_a_limit_some_model_meets_is_accepted(digits, space, max_params):
    limits.check_feasible(_space(space, digits), limits.Limits(max_params), space)


@pytest.mark.parametrize("limit, words", [
    (["--max-latency-ms", "0.001"], "--max-latency-ms 0.001: the fastest model of space "
                                    "'bridge-small' found takes"),
    (["--max-params", "1"], "--max-params 1: the smallest model of space 'bridge-small'"),
])
def test_an_unmeetable_limit_is_exit_2_before_anything_is_created(limit, words, tmp_path,
                                                                  tracking_uri,
                                                                  experiment_name):
    result = run_cli_here("run", "--space", "bridge-small", "--time-budget", "1m", *limit,
                          "--experiment", experiment_name, "--project-dir", "proj",
                          "--tracking-uri", tracking_uri, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert words in line, line
    assert line.endswith("Nothing was trained."), line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("item, expected", [
    (lambda hp: hp.Int("a", 0, 1), [0, 1]),
    (lambda hp: hp.Int("a", 0, 3), [0, 1, 2, 3]),
    (lambda hp: hp.Float("d", 0.0, 0.5, step=0.25), [0.0, 0.25, 0.5]),
    (lambda hp: hp.Int("w", 8, 512, step=8), [8, 80, 152, 224, 296, 368, 440, 512]),
    (lambda hp: hp.Float("lr", 1e-3, 1e-2, sampling="log"), [1e-3, 1e-2]),
    (lambda hp: hp.Choice("c", ["x", "y"]), ["x", "y"]),
    (lambda hp: hp.Boolean("b"), [False, True]),
    (lambda hp: hp.Fixed("f", 3), [3]),
])
def test_the_descent_tries_both_ends_of_every_range(item, expected):
    hp = keras_tuner.HyperParameters()
    item(hp)
    assert feasible.grid(hp.space[0]) == expected


def test_a_filtered_draw_that_keeps_failing_is_repaired():
    oracle = keras_tuner.oracles.HyperbandOracle(objective="val_accuracy", max_epochs=3,
                                                 factor=3, seed=0)
    oracle.hyperparameters.Int("units", 1, 50)
    kt_compat.filter_random_draws(oracle, lambda values: False, 5,
                                  repair=lambda values: {"units": 1})
    assert oracle._random_values() == {"units": 1}


def test_walk_towards_stops_at_the_first_accepted_value_set():
    start, target = {"a": 9, "b": 9, "c": 9}, {"a": 1, "b": 1, "c": 1}
    walked = feasible.walk_towards(start, target, lambda v: sum(v.values()) <= 11)
    assert sorted(walked.values()) == [1, 1, 9]
    assert feasible.walk_towards(start, target, lambda v: False) == target


@pytest.mark.slow
def test_a_tight_limit_trains_the_whole_plan(tmp_path, tracking_uri, experiment_name,
                                             mlflow_client):
    """--max-params 21050 on `bridge`: only gap/gmp after 2 residual blocks of 16
    filters and a 32-wide head, 1 draw in 64; keras-tuner's draws used to be
    refused ~64 times a trial (up to 200, then no trial at all)."""
    config = SearchConfig(space="bridge", max_epochs=2, factor=2, retrain="none",
                          log_models="none", max_params=21_050, experiment=experiment_name,
                          project_dir=str(tmp_path / "p"), tracking_uri=tracking_uri,
                          export_dir=str(tmp_path / "e"))
    summary = run_search(config)
    runs = child_runs(mlflow_client, summary)
    plan = hyperband_plan(2, 2)
    assert len(runs) == plan.total_trials and summary["n_failed_trials"] == 0
    assert max(r.data.metrics["param_count"] for r in runs) <= 21_050
    new_trials = sum(r.trials for r in plan.rounds if r.round == 0)
    per_draw = limits.MAX_RANDOM_DRAWS + 7  # the random draws, then a walk of <= 7 values
    assert summary["resampled_draws"] <= per_draw * new_trials
