"""`--time-budget` (issue 12 item 1): parsing, the plan that fits, and a tiny real
search that ends inside its budget with an exported, registered winner."""

import json
import time

import pytest

from search.core.config import SearchConfig, parse_duration
from search.core.errors import UsageError
from search.plan import budget
from search.plan.dry_run import estimate_seconds
from tests.conftest import run_cli_here

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("2h", 7200),
                                           ("1.5h", 5400), (" 40s ", 40)])
def test_durations_in_seconds_minutes_and_hours(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15", "15 minutes", "1d", "-1m", "5s", "0h", "m", "1e3s"])
def test_bad_durations_name_the_value_and_the_accepted_form(text):
    with pytest.raises(UsageError, match=rf"--time-budget '{text}' is invalid: expected a "
                                         rf"number and a unit s, m or h .*at least 10s"):
        SearchConfig(time_budget=text)


def test_a_bad_duration_on_the_command_line_is_exit_2_and_one_line(tmp_path):
    result = run_cli_here("run", "--time-budget", "ten minutes", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "bridge-search: error: --time-budget 'ten minutes' is invalid: expected a number and a unit s, m or "
        "h (e.g. 90s, 15m, 2h), at least 10s and at most 720h (30 days; leave --time-budget "
        "out for no limit)."]


def test_a_later_command_in_the_same_process_counts_its_budget_from_its_own_call(
        monkeypatch):
    """The first main() of a process counts from the CLI's import (TensorFlow's
    import is part of `bridge-search run`); a later one, e.g. a Python caller's
    second search, from its own call: counted from the import, a 60s budget in a
    test process minutes old was "too short for one trial"."""
    from search import cli
    monkeypatch.setattr(cli, "_main_called", False)
    assert cli._command_started() == cli.IMPORTED_AT
    before = time.perf_counter()
    assert before <= cli._command_started() <= time.perf_counter()


TIMING = {"epoch_seconds": 2.0, "trial_overhead_seconds": 1.0}


def test_the_plan_with_most_epochs_that_fits_is_chosen():
    max_epochs, factor, iterations, plan, estimate = budget.choose_plan(
        200, TIMING, 1, lambda m: True)
    assert estimate <= 200 and estimate == estimate_seconds(plan, TIMING)
    # every other plan that fits trains fewer epochs
    for other_factor in budget.FACTORS:
        for other in budget.MAX_EPOCHS:
            other_plan = budget.hyperband_plan(other, other_factor)
            if estimate_seconds(other_plan, TIMING) <= 200:
                assert other_plan.total_epochs <= plan.total_epochs


def test_nothing_fits_a_budget_below_one_trial():
    assert budget.choose_plan(2.5, TIMING, 1, lambda m: True) is None


def test_the_deadline_refuses_a_later_trial_that_would_eat_the_reserve():
    import time
    deadline = budget.Deadline(end=time.perf_counter() + 10, reserve_seconds=8,
                               epoch_seconds=1.5, trial_overhead_seconds=1.0)
    assert deadline.may_start_trial()  # the first one always starts
    assert not deadline.may_start_trial() and deadline.trials_refused == 1
    deadline.reserve_seconds = 2
    assert deadline.may_start_trial()


def test_a_tiny_budget_ends_in_time_with_an_exported_registered_winner(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    """With the confirm stage asked for (issue 24 item 4): the plan keeps room for
    the seeds that fit (here the figures and the runs in MLflow agree), and the
    whole command, confirm stage included, ends within the budget."""
    summary_path = tmp_path / "summary.json"
    began = time.perf_counter()
    result = run_cli_here("run", "--time-budget", "60s", "--space", "bridge-small",
                          "--min-retrain-epochs", 2, "--experiment", experiment_name,
                          "--tracking-uri", tracking_uri, "--project-dir", tmp_path / "project",
                          "--export-dir", tmp_path / "export", "--summary-json", summary_path,
                          "--confirm-seeds", 2, cwd=tmp_path)
    wall = time.perf_counter() - began
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Time budget 60s:" in result.stderr and "kept for the final training" in result.stderr
    _check_confirm_stage(result.stderr, summary_path, mlflow_client, wall)
    summary = json.loads(summary_path.read_text())
    assert summary["time_budget_seconds"] == 60
    assert summary["budget_used_fraction"] <= 1.0, summary
    assert (tmp_path / "export" / "model.keras").is_file()
    assert summary["registered_version"]
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.data.params["time_budget"] == "60s"
    assert float(parent.data.params["budget_reserve_seconds"]) > 0
    assert parent.data.metrics["budget_used_seconds"] <= 60
    print("budget figures:", {k: v for k, v in summary.items()
                              if k.startswith(("budget", "wall", "n_trials", "test_acc"))},
          "plan:", parent.data.params["max_epochs"], parent.data.params["factor"],
          parent.data.params["hyperband_iterations"])


def test_a_budget_too_short_leaves_no_folder_and_no_experiment(tmp_path, tracking_uri,
                                                              experiment_name, mlflow_client):
    """Issue 27 "a refused command leaves nothing": the budget is planned (and
    refused) before the project folder and the experiment are made."""
    result = run_cli_here("run", "--time-budget", "10s", "--space", "bridge-small",
                          "--experiment", experiment_name, "--tracking-uri", tracking_uri,
                          "--project-dir", "project", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "--time-budget 10s is too short for one trial" in result.stderr
    assert list(tmp_path.iterdir()) == []
    assert mlflow_client.get_experiment_by_name(experiment_name) is None


def _check_confirm_stage(stderr, summary_path, mlflow_client, wall):
    summary = json.loads(summary_path.read_text())
    seeds = summary["budget_confirm_seeds"]
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert int(parent.data.params["budget_confirm_seeds"]) == seeds
    confirm = mlflow_client.search_runs(
        [summary["experiment_id"]], filter_string=f"tags.mlflow.parentRunId = "
                                                  f"'{summary['parent_run_id']}' and "
                                                  f"tags.`bridge_search.stage` = 'confirm'")
    if seeds == 0:
        assert "no room for the confirm stage" in stderr and not confirm
    elif "the confirm stage stopped after" not in stderr:
        assert len(confirm) == 4 * seeds  # every bridge, every seed the plan kept
    print(f"confirm seeds planned {seeds} of 2, runs {len(confirm)}, command {wall:.1f} s")
    assert wall <= 60 + 5  # the budget counts from the import; the call a little less
