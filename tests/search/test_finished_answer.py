"""Issue 27 item 11: "This search already finished" only when the finished search's
recorded options match what was asked; other search options are exit 2 naming
them; other export options export the stored winner again."""

import json
from pathlib import Path

import pytest

from search.core.config import SearchConfig
from search.core.errors import UsageError
from search.preflight import answer_finished, finished_state, record
from search.core.state import state_path, write_state
from tests.conftest import LIST_IMPORTS, imported_tensorflow, run_cli, run_cli_here

STORED = dict(space="bridge-small", max_epochs=1, factor=2, retrain="none",
              log_models="none", tracking_uri="sqlite:////tmp/x/m.db", experiment="stored")


def _finished_project(tmp_path, **options):
    """A state file as a finished search writes it, without the search."""
    config = SearchConfig(**{**STORED, **options}, project_dir=str(tmp_path / "projects"),
                          export_dir=str(tmp_path / "export"))
    (tmp_path / "export").mkdir()
    summary = {"best_run_id": "r1", "parent_run_id": "p1", "best_val_accuracy": 0.9, "best_hyperparameters": {},
               "selected_run_id": "r1", "selected_val_accuracy": 0.9,
               "selected_hyperparameters": {}, "export_dir": str(tmp_path / "export"),
               "registered_model": "stored-classifier", "registered_version": "1"}
    write_state(state_path(config), {"parent_run_id": "p1",  # as every search writes it
                                     **finished_state(config, summary, tmp_path / "export")})
    return config


@pytest.mark.parametrize("changed, named", [
    ({"seed": 5}, "--seed 0 (asked: 5)"),
    ({"data": "npz:/nonexistent.npz"}, "--data digits (asked: npz:/nonexistent.npz)"),
    ({"tracking_uri": "sqlite:////tmp/nowhere/m.db"}, "--tracking-uri sqlite:////tmp/x/m.db "
                                                      "(asked: sqlite:////tmp/nowhere/m.db)"),
    ({"max_epochs": 2}, "--max-epochs 1 (asked: 2)"),
    ({"time_budget": "2m"}, "--time-budget (none) (asked: 120.0)"),
    ({"select": "smallest-within:1pt"}, "--select best (asked: smallest-within:1pt)"),
    ({"space": "bridge"}, "--space bridge-small (asked: bridge)"),
    ({"warm_start": "other"}, "--warm-start (none) (asked: other)"),
    ({"max_params": 5000}, "--max-params (none) (asked: 5000)"),
])
def test_other_search_options_are_exit_2_naming_them(tmp_path, changed, named):
    stored = _finished_project(tmp_path)
    asked = SearchConfig(**{**STORED, **changed}, project_dir=stored.project_dir,
                         export_dir=stored.export_dir)
    with pytest.raises(UsageError) as refused:
        answer_finished(asked)
    message = str(refused.value)
    assert "holds a search that already finished with other options: " + named in message
    assert message.endswith("Pass --overwrite to search again with these options (its "
                            "results are replaced), or choose a new --experiment to keep both.")


@pytest.mark.parametrize("same", [
    {}, {"store_retry_seconds": 5.0}, {"keep_checkpoints": 1}, {"log_models": "all"},
    {"chief_timeout": 9.0}, {"summary_json": "elsewhere/s.json"},
    {"export_dir": None},  # no --export-dir: the search's own export
])
def test_options_that_do_not_change_the_search_are_answered(tmp_path, same):
    stored = _finished_project(tmp_path)
    options = {**STORED, "export_dir": stored.export_dir, **same}
    asked = SearchConfig(**options, project_dir=stored.project_dir)
    with _in(tmp_path):
        assert answer_finished(asked)["best_run_id"] == "r1"
    if same.get("summary_json"):
        assert json.loads((tmp_path / same["summary_json"]).read_text())["best_run_id"] == "r1"


def test_the_same_budget_spelt_otherwise_is_the_same_search(tmp_path):
    stored = _finished_project(tmp_path, time_budget="1m")
    asked = SearchConfig(**STORED, time_budget="60s", project_dir=stored.project_dir,
                         export_dir=stored.export_dir)
    assert answer_finished(asked)["best_run_id"] == "r1"


def test_a_state_file_without_recorded_options_is_exit_2_with_its_result(tmp_path):
    stored = _finished_project(tmp_path)
    path = state_path(stored)
    state = json.loads(path.read_text())
    path.write_text(json.dumps({"finished": state["finished"]}))  # as versions before wrote it
    with pytest.raises(UsageError, match=r"finished \(winner run r1, exported to .*export\) "
                                         r"under an earlier bridge-search that did not record "
                                         r"its options.*pass --overwrite"):
        answer_finished(stored)


def test_the_record_leaves_out_what_does_not_change_the_search():
    names = set(record(SearchConfig()))
    assert {"seed", "data", "space", "tracking_uri", "time_budget", "select"} <= names
    assert not names & {"project_dir", "export_dir", "quantize", "summary_json", "overwrite"}


def test_other_options_are_refused_before_tensorflow_loads(tmp_path):
    stored = _finished_project(tmp_path)
    result = run_cli("run", "--space", "bridge-small", "--max-epochs", 1, "--factor", 2,
                     "--retrain", "none", "--log-models", "none", "--experiment", "stored",
                     "--tracking-uri", "http://127.0.0.1:9", "--seed", 5,
                     "--project-dir", stored.project_dir, cwd=tmp_path, env=LIST_IMPORTS)
    assert result.returncode == 2
    assert not imported_tensorflow(result.stderr)
    [line] = [x for x in result.stderr.splitlines() if not x.startswith("import time:")]
    assert "--seed 0 (asked: 5)" in line and "--tracking-uri sqlite:////tmp/x/m.db" in line


def _in(folder):
    import contextlib
    return contextlib.chdir(folder)


# ----- a real finished search --------------------------------------------------------
def test_a_finished_search_refuses_other_options_and_exports_again_when_asked(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    args = ["run", "--space", "bridge-small", "--max-epochs", 1, "--factor", 2,  # one trial
            "--retrain", "none", "--log-models", "none", "--experiment", experiment_name,
            "--project-dir", "projects", "--tracking-uri", tracking_uri,
            "--export-dir", "export"]
    first = run_cli_here(*args, "--summary-json", "s1.json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads((tmp_path / "s1.json").read_text())
    runs_before = len(mlflow_client.search_runs([summary["experiment_id"]]))

    issue = run_cli_here(*args, "--seed", 5, "--quantize", "--export-dir", "newexport",
                         "--data", "npz:/nonexistent.npz", "--tracking-uri",
                         "http://127.0.0.1:9", cwd=tmp_path)
    assert issue.returncode == 2
    [line] = issue.stderr.strip().splitlines()
    for named in ("--seed 0 (asked: 5)", "--data digits (asked: npz:/nonexistent.npz)",
                  f"--tracking-uri {tracking_uri} (asked: http://127.0.0.1:9)"):
        assert named in line
    assert not (tmp_path / "newexport").exists()

    again = run_cli_here(*args, "--quantize", "--export-dir", "newexport",
                         "--summary-json", "s2.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "exporting its winner (models:/" in again.stderr
    new = tmp_path / "newexport"
    assert {"model.keras", "model.tflite", "model_int8.tflite"} <= {p.name for p in new.iterdir()}
    assert json.loads((tmp_path / "s2.json").read_text())["export_dir"] == "newexport"
    assert f"Exported to newexport" in again.stderr
    assert len(mlflow_client.search_runs([summary["experiment_id"]])) == runs_before

    third = run_cli_here(*args, "--quantize", "--export-dir", "newexport", cwd=tmp_path)
    assert third.returncode == 0 and "exporting its winner" not in third.stderr
    assert "This search already finished" in third.stderr
    assert Path(tmp_path / "export" / "model.keras").is_file()  # the first export stays


def test_an_export_with_the_int8_model_answers_a_command_without_quantize(tmp_path):
    stored = _finished_project(tmp_path, quantize=True)
    asked = SearchConfig(**STORED, project_dir=stored.project_dir, export_dir=stored.export_dir)
    assert answer_finished(asked)["best_run_id"] == "r1"  # no export again: nothing to load


def test_another_uri_of_a_server_that_does_not_answer_is_exit_2(tmp_path):
    stored = _finished_project(tmp_path)
    asked = SearchConfig(**{**STORED, "tracking_uri": "http://127.0.0.1:9"},
                         project_dir=stored.project_dir, export_dir=stored.export_dir)
    with pytest.raises(UsageError, match="the MLflow server does not answer"):
        answer_finished(asked)


def test_another_uri_of_the_same_store_is_the_same_search(tmp_path, tracking_uri,
                                                          mlflow_client):
    """`launch` records the URI of the server it starts; the user's command names
    the store behind it: the parent run is there, so it is the same search."""
    from search.preflight import differences
    experiment = mlflow_client.create_experiment(f"same-store-{tmp_path.name}")
    parent = mlflow_client.create_run(experiment).info.run_id
    stored = _finished_project(tmp_path, tracking_uri="http://127.0.0.1:5999")
    path = state_path(stored)
    state = json.loads(path.read_text())
    state["finished"]["parent_run_id"] = parent
    path.write_text(json.dumps(state))
    asked = SearchConfig(**{**STORED, "tracking_uri": tracking_uri},
                         project_dir=stored.project_dir, export_dir=stored.export_dir)
    assert differences(asked, state["config"])  # the URIs differ ...
    assert answer_finished(asked)["parent_run_id"] == parent  # ... the store holds the search
