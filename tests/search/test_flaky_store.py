"""A flaky MLflow store does not end a search (issue 11, item 4).

Transient failures (connection refused or reset, HTTP 5xx, sqlite "database is
locked") are retried for up to --store-retry-seconds; only a longer outage fails
the search, with exit 1 and one line, and the same command resumes it. The
end-to-end tests kill a real `mlflow server` under a real search and start it
again on the same port."""

import json
import logging
import os
import subprocess
import sys
import time

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from search import SearchConfig, tracking
from search.distributed.launch_checks import free_port
from search.core.errors import SearchFailed, UsageError
from search.tracking.retry import StoreRetry, bound_mlflow_http_retries, is_transient
from tests.conftest import REPO_ROOT, run_cli_here
from tests.search.servers import mlflow_server

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

DOWN_SECONDS = 15  # the restart gap


# ----- the retry helper on its own (milliseconds) --------------------------------
def _locked():
    return MlflowException("(sqlite3.OperationalError) database is locked",
                           error_code="TEMPORARILY_UNAVAILABLE")


def _refused():
    return MlflowException("API request to http://127.0.0.1:5/api/2.0/mlflow/runs/create "
                           "failed with exception HTTPConnectionPool(host='127.0.0.1', port=5): "
                           "Max retries exceeded with url (Caused by NewConnectionError("
                           "'Failed to establish a new connection: [Errno 111] Connection "
                           "refused'))")


def _http_error(status):
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} error", response=response)


TRANSIENT = {"sqlite_locked": _locked, "connection_refused": _refused,
             "connection_reset": lambda: ConnectionResetError(104, "Connection reset by peer"),
             "requests_connection_error": lambda: requests.ConnectionError("refused"),
             "http_503": lambda: _http_error(503)}
PERMANENT = {"missing_run": lambda: MlflowException("Run 'x' not found",
                                                    error_code="RESOURCE_DOES_NOT_EXIST"),
             "bad_param": lambda: MlflowException("Changing param values is not allowed",
                                                  error_code="INVALID_PARAMETER_VALUE"),
             "http_404": lambda: _http_error(404), "bug": lambda: KeyError("x")}


@pytest.mark.parametrize("name", TRANSIENT)
def test_transient_failures_are_recognised(name):
    assert is_transient(TRANSIENT[name]())


@pytest.mark.parametrize("name", PERMANENT)
def test_other_failures_are_not_retried(name):
    assert not is_transient(PERMANENT[name]())
    calls = []

    def fails():
        calls.append(1)
        raise PERMANENT[name]()

    with pytest.raises(type(PERMANENT[name]())):
        StoreRetry("store", 60).call(fails)
    assert len(calls) == 1


def test_a_store_that_comes_back_is_waited_for(caplog):
    caplog.set_level(logging.INFO, logger="search")
    failures = [_refused(), _locked()]

    def flaky():
        if failures:
            raise failures.pop(0)
        return "stored"

    assert StoreRetry("http://store", 60).call(flaky) == "stored"
    said = [record.getMessage() for record in caplog.records]
    assert said[0].startswith("MLflow store http://store did not answer (MlflowException: "
                              "Connection refused); retrying")
    assert "retrying for up to 60 s" in said[0]
    assert said[1].startswith("MLflow store http://store answers again after")


def test_a_store_down_longer_than_the_limit_fails_the_search_with_one_line():
    def down():
        raise _refused()

    with pytest.raises(SearchFailed, match=r"^the MLflow store http://store has not answered "
                                           r"for \d+ s \(--store-retry-seconds 0.3; last error:"
                                           r" MlflowException: .*Run the same command again "
                                           r"to resume") as failure:
        StoreRetry("http://store", 0.3).call(down)
    assert "\n" not in str(failure.value)


def test_mlflow_own_http_retries_are_off_unless_the_user_set_them(monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    bound_mlflow_http_retries()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


def test_store_retry_seconds_is_validated():
    assert SearchConfig().store_retry_seconds == 300
    with pytest.raises(UsageError, match=r"--store-retry-seconds -1 is invalid: must be a "
                                         r"number of seconds from 0 to 2592000 \(30 days\)"):
        SearchConfig(store_retry_seconds=-1)


def test_a_negative_store_retry_seconds_exits_2_with_one_line(capsys):
    from search.cli import main
    assert main(["run", "--store-retry-seconds", "-1"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "bridge-search: error: --store-retry-seconds -1.0 is invalid: must be a number of "
        "seconds from 0 to 2592000 (30 days)."]


# ----- a real server killed under a real search -----------------------------------
def search_args(tmp_path, uri, experiment, *extra):
    return ["run", "--space", "bridge-small", "--max-epochs", 2, "--factor", 2,  # 5 trials
            "--retrain", "none", "--experiment", experiment,
            "--project-dir", tmp_path / "project", "--tracking-uri", uri,
            "--export-dir", tmp_path / "export", "--summary-json", tmp_path / "summary.json",
            *extra]


def start_search(tmp_path, args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(tmp_path / "stdout.log", "w") as out, open(tmp_path / "stderr.log", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "search", *map(str, args)],
                                cwd=tmp_path, env=env, stdout=out, stderr=err)


def wait_for_a_finished_trial(process, store, experiment, timeout=600):
    """Read the server's sqlite store directly until one child run is FINISHED."""
    client = MlflowClient(tracking_uri=store)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the search ended before the store went down"
        found = client.get_experiment_by_name(experiment)
        if found and client.search_runs([found.experiment_id], filter_string=(
                f"tags.{tracking.TAG_ROLE} = 'trial' and attributes.status = 'FINISHED'")):
            return
        time.sleep(0.5)
    pytest.fail("no trial finished")


def assert_search_complete(store, tmp_path):
    """Every completed trial has one FINISHED run with every epoch's metrics, and
    nothing is RUNNING."""
    summary = json.loads((tmp_path / "summary.json").read_text())
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([summary["experiment_id"]], filter_string=(
        f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"))
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert client.get_run(summary["parent_run_id"]).info.status == "FINISHED"
    finished = [r for r in runs if r.info.status == "FINISHED"]
    trial_ids = [r.data.tags[tracking.TAG_TRIAL_ID] for r in finished]
    assert len(trial_ids) == len(set(trial_ids)) == summary["n_trials"] == 5
    for run in finished:
        # Hyperband's own budget for the trial, independent of what was logged.
        first = int(run.data.tags["hyperband_initial_epoch"]) + 1
        last = int(run.data.tags["hyperband_epochs"])
        for name in tracking.EPOCH_METRICS:
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
            assert steps == list(range(first, last + 1)), (run.data.tags, name)
    return runs


def test_a_store_restarted_mid_search_does_not_end_it(tmp_path, experiment_name):
    store = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    artifacts, port = tmp_path / "artifacts", free_port()
    with mlflow_server(store, tmp_path, artifacts, port=port) as uri:
        search = start_search(tmp_path, search_args(tmp_path, uri, experiment_name))
        try:
            wait_for_a_finished_trial(search, store, experiment_name)
        except BaseException:
            search.kill()
            raise
    time.sleep(DOWN_SECONDS)  # the server's process group is gone here
    with mlflow_server(store, tmp_path, artifacts, port=port):
        assert search.poll() is None, "the search ended while the store was down"
        search.wait(timeout=900)
    stderr = (tmp_path / "stderr.log").read_text()
    assert search.returncode == 0, stderr[-4000:]
    assert "did not answer" in stderr and "answers again after" in stderr, stderr[-4000:]
    print(next(line for line in stderr.splitlines() if "answers again" in line))
    assert_search_complete(store, tmp_path)


def test_a_store_down_too_long_fails_with_one_line_and_the_same_command_resumes(
        tmp_path, experiment_name):
    store = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()
    artifacts, port = tmp_path / "artifacts", free_port()
    with mlflow_server(store, tmp_path, artifacts, port=port) as uri:
        args = search_args(tmp_path, uri, experiment_name, "--store-retry-seconds", 5)
        search = start_search(tmp_path, args)
        try:
            wait_for_a_finished_trial(search, store, experiment_name)
        except BaseException:
            search.kill()
            raise
    search.wait(timeout=600)
    stderr = (tmp_path / "stderr.log").read_text()
    assert search.returncode == 1, stderr[-4000:]
    assert "Traceback" not in stderr, stderr[-4000:]
    errors = [line for line in stderr.splitlines() if line.startswith("bridge-search:")]
    assert errors == [stderr.strip().splitlines()[-1]], stderr[-4000:]
    assert errors[0].startswith(f"bridge-search: search failed: the MLflow store {uri} has "
                                f"not answered for ")
    assert "Run the same command again to resume" in errors[0]
    with mlflow_server(store, tmp_path, artifacts, port=port):
        again = run_cli_here(*args, cwd=tmp_path)  # the same command, in this process
    assert again.returncode == 0, again.stderr[-4000:]
    assert "(resumed)" in again.stderr
    assert_search_complete(store, tmp_path)
