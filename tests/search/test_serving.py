"""Shipping the winner: a search through a real `mlflow server`, the champion alias
across searches, and the champion served over HTTP by `bridge-search serve`."""

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import requests

from search import tracking
from search.tracking import report
from search.data import load_digits
from search.tracking.models import log_winner
from search.tracking.registry import CHAMPION_ALIAS, registered_model_name
from search.distributed.launch_checks import free_port
from tests.conftest import LIST_IMPORTS, imported_tensorflow, run_cli, run_cli_here
from tests.search.servers import http_process, mlflow_server

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


@pytest.fixture(scope="module")
def served_store(tmp_path_factory):
    """A real tracking server (own sqlite store, artifacts served by it) and one
    tiny search run against it from the CLI."""
    work = tmp_path_factory.mktemp("server")
    artifacts = work / "server-artifacts"
    with mlflow_server(f"sqlite:///{work}/server.db", work, artifacts) as uri:
        # Hyperband(2, 3): two trials; the default final training, cut to two epochs.
        result = run_cli_here("run", "--space", "bridge-small", "--max-epochs", 2, "--factor", 3,
                              "--min-retrain-epochs", 1, "--experiment", "served",
                              "--project-dir", work / "project",
                              "--tracking-uri", uri, "--export-dir", work / "export",
                              "--summary-json", work / "summary.json", cwd=work)
        assert result.returncode == 0, result.stderr[-3000:]
        yield uri, json.loads((work / "summary.json").read_text()), artifacts, work


def test_search_through_a_tracking_server_stores_artifacts_through_it(served_store):
    from mlflow.tracking import MlflowClient
    uri, summary, artifacts, _ = served_store
    client = MlflowClient(tracking_uri=uri)
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    names = {Path(a.path).name for a in client.list_artifacts(parent.info.run_id,
                                                               report.REPORT_ARTIFACT)}
    assert report.CURVES_PLOT in names
    best = client.list_artifacts(summary["best_run_id"], tracking.BEST_MODEL_ARTIFACT)
    assert [Path(a.path).name for a in best] == ["best_model.keras"]
    # The files landed in the server's --artifacts-destination, written by the server.
    assert len(list(artifacts.rglob("best_model.keras"))) == summary["n_trials"]
    assert list(artifacts.rglob("MLmodel"))  # the registered winner


def test_unreachable_tracking_uri_exits_2_before_any_training(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    result = run_cli("run", "--space", "bridge-small", "--max-epochs", 2, "--tracking-uri", uri,
                     "--project-dir", tmp_path / "project", cwd=tmp_path)
    seconds = time.monotonic() - started
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("bridge-search")]
    assert lines == [f"bridge-search: error: --tracking-uri {uri}: the MLflow server does not "
                     f"answer (ConnectionError); start it with `mlflow server` or fix the URI."]
    assert "Searching" not in result.stderr and "[trial" not in result.stderr
    assert not (tmp_path / "project").exists()
    print(f"unreachable tracking URI: exit 2 after {seconds:.1f} s (process start included)")


def test_serve_answers_invocations_with_the_keras_models_predictions(served_store):
    uri, summary, _, work = served_store
    port = free_port()
    command = [sys.executable, "-m", "search", "serve", "--experiment", "served",
               "--tracking-uri", uri, "--port", str(port)]
    x = load_digits().x_test[:16]  # raw pixels, 0..16: scaling is inside the model
    expected = keras.models.load_model(Path(summary["export_dir"]) / "model.keras").predict(
        x, verbose=0)
    with http_process(command, f"http://127.0.0.1:{port}/ping", work / "serve.log"):
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", timeout=60,
                               json={"inputs": x.tolist()})
    assert answer.status_code == 200, answer.text[:1000]
    predictions = np.asarray(answer.json()["predictions"])
    np.testing.assert_allclose(predictions, expected, atol=1e-5)
    assert (predictions.argmax(1) == expected.argmax(1)).all()


def test_serve_without_a_registered_model_exits_2_before_tensorflow_loads(tracking_uri,
                                                                           tmp_path):
    result = run_cli("serve", "--experiment", "never-searched", "--tracking-uri", tracking_uri,
                     cwd=tmp_path, env=LIST_IMPORTS)
    assert result.returncode == 2
    assert ("--experiment 'never-searched' --alias 'champion': no model "
            "never-searched-classifier@champion") in result.stderr
    assert "Traceback" not in result.stderr
    assert not imported_tensorflow(result.stderr)


def tiny_model():
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def test_champion_moves_only_to_a_strictly_better_later_search(tracking_uri, experiment_name,
                                                               mlflow_client):
    """Four searches in one experiment score 0.90, 0.80, 0.90 (a tie), 0.95: the
    alias stays on the first until the last beats it."""
    x = load_digits().x_val[:2]
    name = registered_model_name(experiment_name)
    champions = []
    for score in (0.90, 0.80, 0.90, 0.95):
        tracker = tracking.SearchTracker(tracking_uri, experiment_name)
        tracker.open_experiment()
        tracker.start_search(f"search-{score}", params={}, tags={})
        _, version = log_winner(tracker, tiny_model(), x,
                                {"search_val_accuracy": score, "retrained": False})
        tracker.end_search()
        champion = mlflow_client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        champions.append((version, str(champion.version)))
    assert champions == [("1", "1"), ("2", "1"), ("3", "1"), ("4", "4")]
