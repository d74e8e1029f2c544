"""What `launch` decides before it starts any process (issue 27, items 5, 18-20, 22,
23): a port or a project in use is exit 2 with one line, what a dead launch left
running is stopped, the chief lets workers go that the time budget stopped, an
interrupted launch's runs are marked KILLED, printed follow-ups name the lasting
store. Real processes where processes are the point; no search is trained here
(the launches themselves are in test_launch_terminated.py and test_launch_budget.py)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

import psutil
import pytest

from search import SearchConfig, tracking
from search.distributed import processes
from search.distributed.launch_checks import free_port, project_claimed
from search.core import stores
from search.core.lock import lock_path
from tests.search.lock_helpers import holder
from tests.conftest import REPO_ROOT, run_cli

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture
def sleepers():
    """Start live processes on demand; all killed afterwards."""
    started = []

    def start(process=None):
        started.append(process or subprocess.Popen(SLEEPER))
        return started[-1]
    yield start
    for process in started:
        process.kill()
        process.wait()


def test_an_oracle_port_in_use_is_exit_2_before_any_process(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = run_cli("launch", "--oracle-port", port, "--project-dir", tmp_path / "project",
                         cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert line == (f"bridge-search: error: --oracle-port {port}: cannot listen on "
                    f"127.0.0.1:{port} (Address already in use); give a free port, or leave "
                    f"--oracle-port out to pick one.")
    assert time.monotonic() - started < 60  # no server, chief or worker was started
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize("holder_id", ["launch", "chief", "tuner0", "tuner2"])
def test_a_project_in_use_is_exit_2_naming_the_pid_before_any_process(
        holder_id, tmp_path, tracking_uri, experiment_name, sleepers):
    """A live launch (its own lock), its chief or a worker, or a plain `run`
    (tuner0) on the project: a second launch starts nothing."""
    config = SearchConfig(experiment=experiment_name, project_dir=str(tmp_path / "project"))
    owner = sleepers(holder(lock_path(config.project_dir, config.project_name, holder_id)))
    started = time.monotonic()
    result = run_cli("launch", "--workers", 2, "--experiment", experiment_name,
                     "--project-dir", tmp_path / "project", "--tracking-uri", tracking_uri,
                     cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"bridge-search: error: --project-dir '{tmp_path / 'project'}' is in "
                           f"use by process {owner.pid} on this host"), line
    assert time.monotonic() - started < 60
    assert not (tmp_path / "project" / config.project_name).exists()  # no launch.json


def test_a_rerun_stops_what_a_dead_launch_left_running_and_nothing_else(
        tmp_path, experiment_name, sleepers):
    """launch.json of a launch killed with SIGKILL: its leftover server and chief
    are stopped; a pid that now belongs to another process (other start time) is not."""
    config = SearchConfig(experiment=experiment_name, project_dir=str(tmp_path / "project"))
    project = tmp_path / "project" / config.project_name
    server, chief, stranger = sleepers(), sleepers(), sleepers()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    processes.write_record(project, {"server": server, "chief": chief, "tuner1": stranger})
    record = json.loads((project / processes.LAUNCH_FILE).read_text())
    record.update(launcher=dead.pid)
    record[processes.STARTS_KEY]["tuner1"] -= 1  # pid reused by a process started later
    (project / processes.LAUNCH_FILE).write_text(json.dumps(record))
    with project_claimed(config, workers=1):
        pass
    assert server.wait(timeout=30) is not None and chief.wait(timeout=30) is not None
    assert stranger.poll() is None


def test_launch_json_records_the_launcher_and_each_start_time(tmp_path, sleepers):
    server = sleepers()
    processes.write_record(tmp_path, {"server": server})
    record = json.loads((tmp_path / processes.LAUNCH_FILE).read_text())
    assert record["launcher"] == os.getpid() and record["server"] == server.pid
    assert record[processes.STARTS_KEY]["server"] == processes.process_start(server.pid)


def test_a_child_dies_with_the_launcher(tmp_path):
    """The parent-death signal: a middle process (the launcher) killed with
    SIGKILL takes its child with it."""
    code = ("import subprocess, sys, time; from search.distributed import processes; "
            f"child = subprocess.Popen({SLEEPER!r}, preexec_fn=processes.dies_with_parent()); "
            "print(child.pid, flush=True); time.sleep(600)")
    launcher = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    child = psutil.Process(int(launcher.stdout.readline()))
    launcher.kill()
    launcher.wait()
    psutil.wait_procs([child], timeout=30)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_the_chief_lets_go_of_workers_the_time_budget_stopped(tmp_path):
    """keras-tuner's chief serves until no trial is ongoing and no tuner id is
    left; the budget's STOPPED answer left the id, and `launch --time-budget` hung."""
    from keras_tuner.src.distribute import oracle_chief

    from search.distributed import chief_oracle
    from search.plan.hyperband import make_oracle
    oracle = make_oracle(2, 2, objective="val_accuracy", seed=0,
                         hyperparameters=_space())
    oracle._set_project_dir(str(tmp_path), "p")
    chief_oracle.prepare_chief(oracle, tmp_path / "p", {})
    trial = oracle.create_trial("tuner1")
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    oracle.may_start_trial = lambda: False  # the budget is spent
    assert oracle.create_trial("tuner1").status == "STOPPED"
    assert oracle.create_trial("tuner2").status == "STOPPED"
    assert oracle_chief.exit_chief(oracle)


def test_an_interrupted_launch_marks_its_running_runs_killed(tmp_path, mlflow_client,
                                                            experiment_name, tracking_uri):
    from search.tracking import resume
    experiment = mlflow_client.create_experiment(experiment_name)
    parent = mlflow_client.create_run(experiment, tags={tracking.TAG_ROLE: "search"}).info.run_id
    runs = {trial: mlflow_client.create_run(experiment, tags={
        "mlflow.parentRunId": parent, tracking.TAG_TRIAL_ID: trial}).info.run_id
        for trial in ("0000", "0001", "0002")}
    mlflow_client.set_terminated(runs["0002"], "FINISHED")
    (tmp_path / "trial_0001").mkdir()  # ended in keras-tuner: the resume completes its run
    (tmp_path / "trial_0001" / "trial.json").write_text(json.dumps({"status": "COMPLETED"}))
    assert resume.kill_interrupted_search(tracking_uri, parent, tmp_path) == 1
    status = {trial: mlflow_client.get_run(run).info.status for trial, run in runs.items()}
    assert status == {"0000": "KILLED", "0001": "RUNNING", "0002": "FINISHED"}
    assert mlflow_client.get_run(parent).info.status == "KILLED"
    assert mlflow_client.get_run(runs["0000"]).data.tags[tracking.TAG_STATUS] == "KILLED"


@pytest.mark.parametrize("store, artifacts, server, option", [
    ("postgresql+psycopg2://u@h/db", "file:///data/art%20s", "bridge-search server --store "
     "postgresql+psycopg2://u@h/db --artifacts '/data/art s'",
     " --tracking-uri postgresql+psycopg2://u@h/db"),
    ("sqlite:////x/m.db", "file:///x/artifacts", "bridge-search server --store "
     "sqlite:////x/m.db --artifacts /x/artifacts", " --tracking-uri sqlite:////x/m.db"),
    (None, None, None, " --tracking-uri http://127.0.0.1:9"),
])
def test_printed_follow_ups_name_the_store_that_outlasts_launch(store, artifacts, server,
                                                                option, monkeypatch):
    from search.tracking import links
    for name, value in ((stores.LAUNCH_STORE_ENV, store), (stores.LAUNCH_ARTIFACTS_ENV, artifacts)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    # The chief's own tracking URI is launch's temporary server.
    assert links.store_option("http://127.0.0.1:9") == option
    assert (links.server_command() if store else None) == server
    monkeypatch.setattr(links, "search_links", lambda *args: [])
    header = links.link_lines(None, "http://127.0.0.1:9", "1", "r")[0]
    assert header == (f"In the MLflow UI (after `{server}`):" if store else "In the MLflow UI:")


def test_the_default_store_needs_no_option(monkeypatch):
    from search.core.config import DEFAULT_TRACKING_URI
    from search.tracking import links
    monkeypatch.delenv(stores.LAUNCH_STORE_ENV, raising=False)
    assert links.store_option(DEFAULT_TRACKING_URI) == ""


def test_serving_from_a_database_whose_model_the_server_stored_is_exit_2(
        tmp_path, mlflow_client, experiment_name, tracking_uri):
    """`serve --tracking-uri DATABASE` for a model logged through a tracking server
    (mlflow-artifacts:/ artifacts, as `launch` logs them): one line naming the
    server's http URI as the way, not "Serving ..." and a traceback."""
    from search.tracking.registry import registered_model_name
    experiment = mlflow_client.create_experiment(
        experiment_name, artifact_location="mlflow-artifacts:/launched")
    run = mlflow_client.create_run(experiment).info.run_id
    name = registered_model_name(experiment_name)
    mlflow_client.create_registered_model(name)
    version = mlflow_client.create_model_version(
        name, f"mlflow-artifacts:/launched/{run}/artifacts/model", run_id=run)
    mlflow_client.set_registered_model_alias(name, "champion", version.version)
    result = run_cli("serve", "--tracking-uri", tracking_uri, "--experiment", experiment_name,
                     "--port", free_port(), cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"bridge-search: error: --tracking-uri {tracking_uri}: the model's "
                           f"artifacts (mlflow-artifacts:/launched/{run}/artifacts) are stored "
                           f"through an MLflow tracking server"), line
    assert "--tracking-uri http://HOST:PORT" in line


def _space():
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    return hp


def test_launch_overwrite_is_the_launchers_alone(tmp_path, monkeypatch):
    """`launch --overwrite`: the launcher deletes the old project folder once (its
    check repeated), the chief and workers never get --overwrite: a chief the
    launcher restarts after a crash resumes the search instead of deleting it."""
    from search.cli import config_from, parse_args
    from search.core import ownership
    from search.distributed.launch import Launcher
    monkeypatch.chdir(tmp_path)
    config = SearchConfig(project_dir="p", experiment="x", overwrite=True, max_epochs=2)
    launcher = Launcher(config, workers=2, oracle_port=1234)
    args = launcher.child_args("http://127.0.0.1:5999")
    assert "--overwrite" not in args
    child = config_from(parse_args(args))
    assert not child.overwrite and child.max_epochs == 2 and child.experiment == "x"
    ownership.mark_project(tmp_path / "p" / "x")
    (tmp_path / "p" / "x" / "oracle.json").write_text("{}")  # the old search
    ownership.check_project_folder("p", "x")  # what the CLI saw
    monkeypatch.setattr(launcher, "_start_and_supervise", lambda: 0)
    monkeypatch.setattr("search.distributed.launch.tracking_server", _no_server)
    assert launcher.run() == 0
    assert sorted(os.listdir(tmp_path / "p" / "x")) == [ownership.PROJECT_MARKER_FILE]


@contextlib.contextmanager
def _no_server(*args, **kwargs):
    yield "http://127.0.0.1:5999"
