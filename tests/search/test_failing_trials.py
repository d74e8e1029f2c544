"""Failing trials (NaN loss, out of memory, a build that raises) are recorded as
FAILED child runs with the reason as a tag; the search goes on and counts them.
When every trial fails, `run` ends with exit 1 and one clear line."""

import json

import pytest

from search import tracking
from search.tracking.trial_logger import FAILURE_ARTIFACT
from tests.conftest import REPO_ROOT, run_cli_here
from tests.fixtures_spaces.faulty import FAULTS

FAULTY = REPO_ROOT / "tests" / "fixtures_spaces" / "faulty.py"
EXPECTED_REASON = {"nan": "FailedTrialError: loss became nan",
                   "oom": "ResourceExhaustedError: OOM when allocating tensor",
                   "build": "ValueError: this space cannot build a model with fault=build"}


def child_runs(client, summary):
    return client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")


@pytest.fixture(scope="module")
def faulty_search(tmp_path_factory, tracking_uri):
    work = tmp_path_factory.mktemp("faulty")
    result = run_cli_here("run", "--space", f"{FAULTY}:Faulty", "--max-epochs", 4, "--factor", 2,
                          "--seed", 3, "--retrain", "none",
                          "--experiment", "faulty", "--project-dir", work / "project",
                          "--tracking-uri", tracking_uri, "--summary-json", work / "summary.json",
                          "--export-dir", work / "export", cwd=work)
    return work, result


def test_failed_trials_are_failed_runs_with_a_reason_and_the_search_goes_on(
        faulty_search, mlflow_client):
    work, result = faulty_search
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    runs = child_runs(mlflow_client, summary)
    faults = [r.data.params["fault"] for r in runs]
    assert {"none", "nan", "oom", "build"} <= set(faults), faults  # every kind happened
    for run in runs:
        fault = run.data.params["fault"]
        if fault == "none":
            assert run.info.status == "FINISHED"
            continue
        assert run.info.status == "FAILED"
        assert run.data.tags[tracking.TAG_STATUS] == "FAILED"
        assert EXPECTED_REASON[fault] in run.data.tags[tracking.TAG_FAILURE]
        traceback = mlflow_client.download_artifacts(run.info.run_id, FAILURE_ARTIFACT,
                                                     str(work / run.info.run_id))
        assert "Traceback (most recent call last)" in open(traceback).read()
    assert summary["n_failed_trials"] == sum(f != "none" for f in faults)
    assert summary["n_trials"] == len(runs)
    assert f"({summary['n_failed_trials']} failed)" in result.stderr
    assert "failed: " in result.stderr  # the progress says why


def test_a_failed_build_does_not_report_the_previous_models_size(faulty_search, mlflow_client):
    work, _ = faulty_search
    summary = json.loads((work / "summary.json").read_text())
    for run in child_runs(mlflow_client, summary):
        if run.data.params["fault"] == "build":
            assert "param_count" not in run.data.metrics


def test_when_every_trial_fails_run_exits_1_with_one_clear_line(tmp_path, tracking_uri,
                                                                 mlflow_client):
    result = run_cli_here("run", "--space", f"{FAULTY}:AlwaysOOM", "--max-epochs", 1, "--factor", 2,
                          "--experiment", "always-oom", "--project-dir", tmp_path / "project",
                          "--tracking-uri", tracking_uri, cwd=tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bridge-search: search failed: all ") and "trials failed" in last
    assert "ResourceExhaustedError: OOM when allocating tensor" in last
    experiment = mlflow_client.get_experiment_by_name("always-oom")
    parent = mlflow_client.search_runs([experiment.experiment_id],
                                       filter_string="tags.`bridge_search.role` = 'search'")
    assert [p.info.status for p in parent] == ["FAILED"]


def test_a_user_space_is_shown_by_its_own_hyperparameters(faulty_search, mlflow_client, tmp_path):
    """Faulty names no summary keys: its first hyperparameters (fault, units) are what
    the progress line, the run names and the report show, not blank bridge columns."""
    from search.tracking import report
    work, result = faulty_search
    summary = json.loads((work / "summary.json").read_text())
    assert summary["summary_keys"] == {"fault": "fault", "units": "units"}
    assert "fault=" in result.stderr and "units=" in result.stderr
    assert "bridge=" not in result.stderr
    for run in child_runs(mlflow_client, summary):
        params = run.data.params
        assert run.info.run_name.split()[1:] == [params["fault"], f"u{params['units']}"]
    text, _ = report.build_report(mlflow_client, "faulty", tmp_path)
    assert "| trial | fault | units | params |" in text
    assert "## Best trial per fault" in text and "bridge" not in text.replace("bridge-search", "")
    assert set(summary["best_per_fault"]) <= set(FAULTS)
