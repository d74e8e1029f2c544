"""Running the same command again (issue 11, item 6).

A search killed right after its winner was registered (crash point
"registered") resumes without registering a second version; once finished, the
same command only prints the stored result: exit 0, nothing trained, nothing
logged, no new model version."""

import json
import signal
import time

from search.core.crashpoints import ENV as CRASH_ENV
from search.tracking.registry import registered_model_name
from tests.conftest import run_cli, run_cli_here


def test_kill_after_registry_resumes_once_and_a_finished_search_is_a_no_op(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    summary_file = tmp_path / "summary.json"
    args = ["run", "--space", "bridge-small", "--max-epochs", 1, "--factor", 2,  # one trial
            "--retrain", "none", "--log-models", "none", "--experiment", experiment_name,
            "--project-dir", tmp_path / "projects", "--tracking-uri", tracking_uri,
            "--export-dir", tmp_path / "export", "--summary-json", summary_file]
    name = registered_model_name(experiment_name)

    def versions():
        return mlflow_client.search_model_versions(f"name = '{name}'")

    killed = run_cli(*args, cwd=tmp_path, env={CRASH_ENV: "registered"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert len(versions()) == 1

    resumed = run_cli_here(*args, cwd=tmp_path)  # the same command, in this process
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(summary_file.read_text())
    assert len(versions()) == 1 and summary["registered_version"] == "1"
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert versions()[0].run_id == summary["parent_run_id"]
    runs_before = mlflow_client.search_runs([summary["experiment_id"]])
    summary_file.unlink()

    started = time.perf_counter()
    again = run_cli(*args, cwd=tmp_path)
    print(f"rerun of a finished search: {time.perf_counter() - started:.1f} s")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "This search already finished" in again.stderr
    assert f"Winner: run {summary['best_run_id']}, val_accuracy" in again.stderr
    assert f"registered as {name} v1" in again.stderr
    assert f"Exported to {summary['export_dir']}" in again.stderr
    assert "Searching space" not in again.stderr  # nothing was searched
    assert json.loads(summary_file.read_text()) == summary
    assert len(versions()) == 1
    runs_after = mlflow_client.search_runs([summary["experiment_id"]])
    assert [(r.info.run_id, r.info.status, r.info.end_time) for r in runs_after] == \
        [(r.info.run_id, r.info.status, r.info.end_time) for r in runs_before]


def test_a_state_file_that_is_not_ours_is_exit_2_and_overwrite_starts_afresh(
        tmp_path, tracking_uri, experiment_name):
    """A state file that is not JSON (edited by hand, a disk fault) or not an object
    is one line naming it and the way out, not a traceback; --overwrite runs."""
    from search.core.config import SearchConfig
    from search.core.state import state_path
    args = ["run", "--space", "bridge-small", "--max-epochs", 1, "--factor", 2,  # one trial
            "--retrain", "none", "--log-models", "none", "--experiment", experiment_name,
            "--project-dir", tmp_path / "projects", "--tracking-uri", tracking_uri,
            "--export-dir", tmp_path / "export"]
    path = state_path(SearchConfig(experiment=experiment_name,
                                   project_dir=str(tmp_path / "projects")))
    from search.core.ownership import mark_project
    mark_project(path.parent)  # the search's folder, as this version marks it
    for content, what in [(b"{not json", "JSONDecodeError: Expecting property name"),
                          (b"\xff\xfe", "UnicodeDecodeError: 'utf-8' codec"),
                          (b"[1, 2]", "a JSON list, not an object")]:
        path.write_bytes(content)
        refused = run_cli_here(*args, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr[-3000:]
        [line] = refused.stderr.strip().splitlines()
        assert line.startswith(f"bridge-search: error: {path} is not a bridge-search state "
                               f"file ({what}"), line
        assert line.endswith("; move it away to start this search afresh, or pass "
                             "--overwrite."), line
    fresh = run_cli_here(*args, "--overwrite", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert "finished" in json.loads(path.read_text())
