"""The chief of a distributed search can die: kill -9 of the chief mid-search,
the launcher starts it again, and the search finishes as if nothing happened.
A worker whose chief stays away stops after --chief-timeout with one line.
Real processes throughout: launcher, chief, workers, MLflow server."""

import json
import os
import signal
import time

import pytest

from search import SearchConfig, tracking
from search.errors import UsageError
from search.distributed.launch import free_port
from search.state import STATE_FILE
from tests.conftest import run_cli
from tests.search.test_scale import assert_each_trial_finished_once, launch, trial_runs

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def _wait_for_a_trial_in_flight(client, project, timeout=600):
    """The chief's pid and parent run once one trial has finished and another is
    being trained by a worker: a chief killed then leaves a worker mid-trial."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        state, pids = project / STATE_FILE, project / "launch.json"
        if not (state.is_file() and pids.is_file()):
            continue
        parent = json.loads(state.read_text())["parent_run_id"]
        statuses = [r.info.status for r in trial_runs(client, parent)]
        if "FINISHED" in statuses and "RUNNING" in statuses:
            return json.loads(pids.read_text())["chief"], parent
    pytest.fail("no moment with a finished trial and a trial in flight")


def test_a_killed_chief_is_restarted_and_no_trial_is_trained_twice(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    process = launch(tmp_path, tracking_uri, experiment_name, "--max-epochs", 3, "--factor", 3,
                     "--retrain", "none", background=True)
    project = tmp_path / "project" / experiment_name
    chief_pid, parent_before = _wait_for_a_trial_in_flight(mlflow_client, project)
    os.kill(chief_pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    assert "chief exited with code -9; starting it again (1/2) to serve the oracle" in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parent_run_id"] == parent_before  # the same search, resumed
    runs = assert_each_trial_finished_once(mlflow_client, summary)
    # Each trial has exactly one run, FINISHED: none was handed to a second worker
    # (it would leave a second run) and none was left RUNNING or KILLED.
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * summary["n_trials"], \
        [(r.info.status, r.data.tags.get(tracking.TAG_TRIAL_ID)) for r in runs]
    assert mlflow_client.get_run(parent_before).info.status == "FINISHED"
    timings = json.loads((project / "oracle_timings.json").read_text())
    assert timings["requests"] > 0  # the restarted chief's share, timed


def test_a_worker_without_its_chief_stops_after_the_chief_timeout(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    # A search the chief opened (its parent run and state file), then the chief is gone.
    experiment_id = mlflow_client.create_experiment(experiment_name)
    # Workers find the parent run in MLflow by its role tag (no shared project dir).
    parent = mlflow_client.create_run(experiment_id,
                                      tags={tracking.TAG_ROLE: "search"}).info.run_id
    project = tmp_path / "project" / experiment_name
    project.mkdir(parents=True)
    (project / STATE_FILE).write_text(json.dumps({"parent_run_id": parent,
                                                  "experiment_id": experiment_id}))
    port = free_port()
    result = run_cli("run", "--space", "bridge-small", "--max-epochs", 2, "--factor", 2,
                     "--experiment", experiment_name, "--project-dir", tmp_path / "project",
                     "--tracking-uri", tracking_uri, "--chief-timeout", 2, cwd=tmp_path,
                     env={"KERASTUNER_TUNER_ID": "tuner1",
                          "KERASTUNER_ORACLE_IP": "127.0.0.1",
                          "KERASTUNER_ORACLE_PORT": str(port)})
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"bridge-search: search failed: worker tuner1: the chief at 127.0.0.1:{port} did not answer "
        f"for 2 s (--chief-timeout); stopped. Restart the chief and this worker with the "
        f"same command to go on with the search.")


def test_the_chief_timeout_must_be_positive():
    with pytest.raises(UsageError, match=r"--chief-timeout 0 is invalid: must be a number "
                                         r"of seconds > 0\."):
        SearchConfig(chief_timeout=0)


def test_a_reloaded_chief_oracle_gives_each_worker_its_trial_back(tmp_path):
    """In process, on keras-tuner's own oracle: without chief_oracle the trial
    tuner1 holds goes to the retry queue and tuner2 is handed it a second time."""
    from search.distributed import chief_oracle

    first = _oracle(tmp_path)
    held = first.create_trial("tuner1")
    first.save()
    again = _oracle(tmp_path)
    again.reload()
    chief_oracle.prepare_chief(again, tmp_path / "p",
                               chief_oracle.saved_ongoing_trials(tmp_path / "p"))
    # tuner2 asks first: keras-tuner alone would hand it tuner1's trial.
    assert again.create_trial("tuner2").trial_id != held.trial_id
    assert again.create_trial("tuner1").trial_id == held.trial_id  # its own, again
    again.update_trial(held.trial_id, {"val_accuracy": 0.5})
    held.status = "COMPLETED"
    again.end_trial(held)
    again.end_trial(held)  # sent again after a lost answer: counted once
    assert again.end_order.count(held.trial_id) == 1


def test_a_trial_ended_just_before_the_chief_died_is_not_handed_out_again(tmp_path):
    """keras-tuner's end_trial saves oracle.json before it drops the trial from
    `ongoing_trials`: a chief killed in that window leaves an ended trial listed as
    ongoing, `Oracle.reload` queues it for retry, and the next worker would train a
    COMPLETED trial a second time (seen in CI as two finished runs of one trial)."""
    from search.distributed import chief_oracle

    first = _oracle(tmp_path)
    ended = first.create_trial("tuner1")
    first.update_trial(ended.trial_id, {"val_accuracy": 0.5})
    ended.status = "COMPLETED"
    first.end_trial(ended)  # its last save still lists the trial as ongoing
    assert ended.trial_id in chief_oracle.saved_ongoing_trials(tmp_path / "p").values()
    again = _oracle(tmp_path)
    again.reload()
    chief_oracle.prepare_chief(again, tmp_path / "p",
                               chief_oracle.saved_ongoing_trials(tmp_path / "p"))
    assert again.create_trial("tuner2").trial_id != ended.trial_id
    assert again.trials[ended.trial_id].status == "COMPLETED"


def _oracle(project_root):
    """keras-tuner's own Hyperband oracle, saving to project_root/p."""
    import keras_tuner
    made = keras_tuner.oracles.HyperbandOracle(
        objective="val_accuracy", max_epochs=2, factor=2, seed=0, hyperparameters=_space())
    made._set_project_dir(str(project_root), "p")
    return made


def _space():
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    return hp
