"""The Hyperband plan, `--min-epochs`, and `run --dry-run` against a real run."""

import json
import re

import keras_tuner
import pytest

from search.kt import compat as kt_compat
from search.kt.oracle import MinEpochsHyperbandOracle
from search.plan.hyperband import hyperband_plan
from tests.conftest import run_cli_here

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def test_plan_matches_keras_tuner_for_the_default_budget():
    plan = hyperband_plan(9, 3)
    assert (plan.total_trials, plan.total_epochs) == (23, 75)
    assert [r.bracket for r in plan.rounds if r.round == 0] == [2, 1, 0]


@pytest.mark.parametrize("max_epochs, factor", [(9, 3), (27, 3), (10, 2), (4, 4)])
def test_min_epochs_1_is_keras_tuners_own_oracle(max_epochs, factor):
    stock = keras_tuner.oracles.HyperbandOracle(objective="val_accuracy",
                                                max_epochs=max_epochs, factor=factor)
    ours = MinEpochsHyperbandOracle(objective="val_accuracy", max_epochs=max_epochs,
                                    factor=factor, min_epochs=1)
    assert kt_compat.num_brackets(ours) == kt_compat.num_brackets(stock)
    assert kt_compat.open_brackets(ours) == kt_compat.open_brackets(stock)


@pytest.mark.parametrize("max_epochs, factor, min_epochs, brackets", [
    (9, 3, 3, 2), (9, 3, 2, 2), (9, 3, 9, 1), (27, 3, 3, 3), (8, 2, 2, 3)])
def test_min_epochs_drops_the_brackets_that_train_fewer(max_epochs, factor, min_epochs,
                                                        brackets):
    plan = hyperband_plan(max_epochs, factor, min_epochs=min_epochs)
    first_rounds = [r for r in plan.rounds if r.round == 0]
    assert len(first_rounds) == brackets
    assert min(r.new_epochs for r in first_rounds) >= min_epochs
    assert max(r.epochs for r in plan.rounds) == max_epochs


def test_min_epochs_above_max_epochs_is_a_usage_error(tmp_path):
    result = run_cli_here("run", "--max-epochs", 3, "--min-epochs", 4, "--dry-run", cwd=tmp_path)
    assert result.returncode == 2
    assert "--min-epochs 4 is invalid" in result.stderr and "Traceback" not in result.stderr


BUDGET = ["--space", "bridge-small", "--max-epochs", 4, "--factor", 2, "--min-epochs", 2,
          "--patience", 9]  # patience > max_epochs: early stopping cannot cut a trial short


@pytest.fixture(scope="module")
def dry_and_real(tmp_path_factory, tracking_uri):
    work = tmp_path_factory.mktemp("plan")
    untouched_store = work / "never.db"
    dry = run_cli_here("run", *BUDGET, "--dry-run",
                       "--tracking-uri", f"sqlite:///{untouched_store}",
                       "--project-dir", work / "dry-project", cwd=work)
    real = run_cli_here("run", *BUDGET, "--retrain", "none", "--experiment", "plan-real",
                        "--tracking-uri", tracking_uri,
                        "--project-dir", work / "project", "--export-dir", work / "export",
                        "--summary-json", work / "summary.json", cwd=work)
    return work, dry, real, untouched_store


def test_dry_run_prints_every_round_and_an_estimate_without_training(dry_and_real):
    _, dry, _, untouched_store = dry_and_real
    assert dry.returncode == 0, dry.stderr[-3000:]
    plan = hyperband_plan(4, 2, min_epochs=2)
    rows = [line.split() for line in dry.stdout.splitlines() if re.fullmatch(r"[\d\s]+", line)]
    assert [[int(v) for v in row] for row in rows] == [
        [r.iteration, r.bracket, r.round, r.trials, r.new_epochs, r.epochs] for r in plan.rounds]
    assert f"Total: {plan.total_trials} trials, {plan.total_epochs} epochs" in dry.stdout
    assert re.search(r"Estimated wall time: \d+:\d\d = .* How: the \d+ of the \d+ models "
                     r"the search draws", dry.stdout)
    assert not untouched_store.exists()  # nothing logged to MLflow


def test_dry_run_totals_equal_the_real_runs_trials_and_epochs(dry_and_real, mlflow_client):
    work, dry, real, _ = dry_and_real
    assert real.returncode == 0, real.stderr[-3000:]
    trials, epochs = map(int, re.search(r"Total: (\d+) trials, (\d+) epochs", dry.stdout).groups())
    summary = json.loads((work / "summary.json").read_text())
    runs = mlflow_client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
    assert len(runs) == summary["n_trials"] == trials
    assert sum(r.data.metrics["epochs_trained"] for r in runs) == epochs
    first_round = [r for r in runs if r.data.tags["hyperband_round"] == "0"]
    assert min(r.data.metrics["epochs_trained"] for r in first_round) == 2  # --min-epochs 2


def test_dry_run_says_first_that_it_trains_the_drawn_models_and_writes_no_mlflow(
        dry_and_real):
    from search.plan.dry_run import DRY_RUN_NOTE
    work, dry, _, untouched_store = dry_and_real  # the real run names its own folders
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert dry.stdout.splitlines()[0] == (
        "Dry run: trains the models the search will draw (at most 8) for 2 short epochs "
        "each to time them; nothing is searched or logged to MLflow.") == DRY_RUN_NOTE
    drawn = sum(r.trials for r in hyperband_plan(4, 2, min_epochs=2).rounds if r.round == 0)
    assert f"the {min(drawn, 8)} of the {drawn} models the search draws" in dry.stdout
    assert not untouched_store.exists() and not (work / "mlruns").exists()
    assert not (work / "dry-project").exists()


def test_the_dry_run_replays_the_models_the_search_draws(tmp_path):
    """The same seed gives the same draws as the search's own tuner, the space's
    rules included (keras-tuner takes a seed of 0 as none and draws one from
    `random`, which the runner seeds)."""
    import keras
    import spaces
    from search.core.config import SearchConfig
    from search.kt import compat as kt_compat
    from search.plan.dry_run import planned_draws
    from tests.search.tuner_helpers import bare_tuner
    config = SearchConfig(max_epochs=3, factor=2, seed=0)
    hypermodel = spaces.load_space("bridge", (8, 8, 1), 10, 16)
    plan = hyperband_plan(3, 2)
    drawn = [values for bracket in planned_draws(config, hypermodel, plan)
             for values, _ in bracket["draws"]]
    keras.utils.set_random_seed(0)  # as search/run.py does
    tuner = bare_tuner(hypermodel, tmp_path, max_epochs=3, factor=2, seed=0)
    assert drawn == [kt_compat.draw_values(tuner.oracle) for _ in drawn]
    assert not [values for values in drawn if hypermodel.rejects(values)]
    assert len(drawn) == sum(r.trials for r in plan.rounds if r.round == 0)


def test_a_budgeted_dry_run_shows_the_plan_the_budget_picks(tmp_path):
    """Issue 27 item 13: `--dry-run --time-budget 3m` printed the default plan
    (--max-epochs 4, --factor 3) and never named the budget."""
    import re
    from search.plan.hyperband import format_plan, hyperband_plan
    store = tmp_path / "never.db"
    result = run_cli_here("run", "--space", "bridge-small", "--dry-run", "--time-budget", "3m",
                          "--tracking-uri", f"sqlite:///{store}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    picked = re.search(r"^Time budget 3m: Hyperband plan: max_epochs (\d+), min_epochs 1, "
                       r"factor (\d+), (\d+) iteration\(s\)", result.stdout, re.MULTILINE)
    assert picked, result.stdout
    max_epochs, factor, iterations = map(int, picked.groups())
    assert format_plan(hyperband_plan(max_epochs, factor, iterations)) in result.stdout
    assert "kept for the final training and export" in result.stdout
    assert not re.search(r"^Hyperband plan:", result.stdout, re.MULTILINE)  # the default one
    assert not store.exists() and list(tmp_path.iterdir()) == []
