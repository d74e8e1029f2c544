"""The search report (table + plots from the store alone, logged on the parent
run) and what the real MLflow UI server shows of a search."""

from pathlib import Path

import pytest
import requests

from search.core import ownership
from search.tracking import pareto, report
from search.tracking.trial_logger import INACTIVE
from tests.conftest import child_runs, run_cli_here
from tests.search.servers import mlflow_server

REPORT_FILES = {report.REPORT_FILE, report.CSV_FILE, report.CURVES_PLOT, report.PARAMS_PLOT,
                report.BRACKETS_PLOT, pareto.PARETO_PLOT, pareto.TRADEOFF_FILE}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_search_logs_its_report_and_plots_on_the_parent_run(tiny_search, mlflow_client, tmp_path):
    import mlflow
    _, summary, _ = tiny_search
    logged = mlflow_client.list_artifacts(summary["parent_run_id"], report.REPORT_ARTIFACT)
    assert {Path(a.path).name for a in logged} == REPORT_FILES
    folder = Path(mlflow.artifacts.download_artifacts(
        run_id=summary["parent_run_id"], artifact_path=report.REPORT_ARTIFACT,
        dst_path=str(tmp_path), tracking_uri=mlflow_client.tracking_uri))
    text = (folder / report.REPORT_FILE).read_text()
    for run in child_runs(mlflow_client, summary):
        assert run.info.run_id in text  # every trial is a row
    assert "## Best trial per bridge" in text
    assert f"val_accuracy {summary['best_val_accuracy']:.4f}" in text  # the winner line
    for plot in (report.CURVES_PLOT, report.PARAMS_PLOT, report.BRACKETS_PLOT):
        data = (folder / plot).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_report_command_rebuilds_the_same_report_from_the_store(tiny_search, tracking_uri,
                                                                 mlflow_client, tmp_path):
    import mlflow
    config, summary, _ = tiny_search
    result = run_cli_here("report", "--experiment", config.experiment, "--tracking-uri",
                          tracking_uri, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in (tmp_path / "out").iterdir()} == {*REPORT_FILES,
                                                              ownership.REPORT_MARKER_FILE}
    logged = Path(mlflow.artifacts.download_artifacts(
        run_id=summary["parent_run_id"], artifact_path=f"{report.REPORT_ARTIFACT}/"
        f"{report.REPORT_FILE}", dst_path=str(tmp_path / "logged"),
        tracking_uri=mlflow_client.tracking_uri)).read_text()
    assert (tmp_path / "out" / report.REPORT_FILE).read_text() == logged
    assert result.stdout.strip() == logged.strip()
    header = "| trial | bridge | depth | width | params | epochs | best val_acc | wall s |"
    assert header in result.stdout
    bridges = {r.data.params["bridge"] for r in child_runs(mlflow_client, summary)}
    best_rows = result.stdout.split("## Best trial per bridge")[1]
    assert all(f"| {bridge} |" in best_rows for bridge in bridges)


def test_report_command_by_run_id_and_default_out_folder(tiny_search, tracking_uri, tmp_path):
    config, summary, _ = tiny_search
    result = run_cli_here("report", "--experiment", config.experiment, "--run-id",
                          summary["parent_run_id"], "--tracking-uri", tracking_uri, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "reports" / config.experiment / summary["parent_run_id"]
    assert {p.name for p in out.iterdir()} == {*REPORT_FILES, ownership.REPORT_MARKER_FILE}


@pytest.mark.parametrize("args,message", [
    (["--experiment", "no-such-experiment"], "--experiment 'no-such-experiment': no such "
                                             "experiment in this tracking store"),
    (["--experiment", "tiny-search", "--run-id", "0123abcd"],
     "--run-id '0123abcd' is not a search (parent) run of experiment 'tiny-search'"),
])
def test_report_of_unknown_experiment_or_run_exits_2(tiny_search, tracking_uri, tmp_path, args,
                                                      message):
    result = run_cli_here("report", *args, "--tracking-uri", tracking_uri, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_every_trial_has_the_same_param_and_metric_names(tiny_search, mlflow_client):
    _, summary, _ = tiny_search
    runs = child_runs(mlflow_client, summary)
    assert len({frozenset(r.data.params) for r in runs}) == 1
    assert len({frozenset(r.data.metrics) for r in runs}) == 1
    pools = {r.data.params["bridge"] == "flatten": r.data.params["flatten_pool"] for r in runs}
    assert set(pools) == {True, False}, "the search should draw flatten and another bridge"
    assert pools[False] == INACTIVE and pools[True] in ("1", "2")


def test_mlflow_ui_server_shows_every_run_param_and_metric_history(tiny_search, tracking_uri,
                                                                   mlflow_client, tmp_path):
    """The real `mlflow ui` process, asked through the REST API its pages use."""
    config, summary, _ = tiny_search
    expected = {r.info.run_id: r for r in child_runs(mlflow_client, summary)}
    with mlflow_server(tracking_uri, tmp_path, ui=True) as ui:
        assert "<html" in requests.get(ui, timeout=10).text.lower()  # the UI page itself
        api = f"{ui}/ajax-api/2.0/mlflow"
        experiment = requests.get(f"{api}/experiments/get-by-name", timeout=10, params={
            "experiment_name": config.experiment}).json()["experiment"]
        shown = requests.post(f"{api}/runs/search", timeout=10, json={
            "experiment_ids": [experiment["experiment_id"]], "max_results": 1000,
            "filter": f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"}).json()["runs"]
        assert {r["info"]["run_id"] for r in shown} == set(expected)
        param_names = {frozenset(p["key"] for p in r["data"]["params"]) for r in shown}
        metric_names = {frozenset(m["key"] for m in r["data"]["metrics"]) for r in shown}
        assert len(param_names) == 1 and len(metric_names) == 1  # columns line up
        assert {"bridge", "residual_blocks", "dense_units", "flatten_pool"} <= next(iter(
            param_names))
        for run_id, run in expected.items():
            for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
                history = requests.get(f"{api}/metrics/get-history", timeout=10, params={
                    "run_id": run_id, "metric_key": metric}).json()["metrics"]
                assert len(history) == run.data.metrics["epochs_trained"]
        # The chart view's bulk query, for all trials at once.
        bulk = requests.get(f"{api}/metrics/get-history-bulk-interval", timeout=10, params={
            "run_ids": list(expected), "metric_key": "val_accuracy",
            "max_results": 1000}).json()["metrics"]
        assert {m["run_id"] for m in bulk} == set(expected)
        assert len(bulk) == sum(r.data.metrics["epochs_trained"] for r in expected.values())
