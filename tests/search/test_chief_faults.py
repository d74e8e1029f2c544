"""The chief of a distributed search can die: kill -9 of a worker and then of the
chief mid-search, the launcher starts each again, and the search finishes as if
nothing happened (one trial trained again: the one the worker lost).
A worker whose chief stays away stops after --chief-timeout with one line.
Real processes throughout: launcher, chief, workers, MLflow server."""

import json
import os
import signal

import pytest

from search import SearchConfig, tracking
from search.core.errors import UsageError
from search.distributed.launch_checks import free_port
from search.core.state import STATE_FILE
from tests.conftest import run_cli
from tests.search.servers import poll_until
from tests.search.test_scale import assert_each_trial_finished_once, launch, trial_runs

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def _search_runs(client, project):
    """(launch.json's pids, the search's trial runs) once the search has both."""
    state, pids = project / STATE_FILE, project / "launch.json"
    if not (state.is_file() and pids.is_file()):
        return None, []
    parent = json.loads(state.read_text())["parent_run_id"]
    return json.loads(pids.read_text()), trial_runs(client, parent)


def test_a_killed_worker_then_a_killed_chief_are_restarted_and_no_trial_is_trained_twice(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    """One distributed search (chief, 2 workers, MLflow server), two kill -9s:
    1. worker tuner1 inside its trial: it is started again under its tuner id,
       its lost run ends KILLED and the trial is trained again;
    2. then the chief, once one trial has finished and another (not the lost one)
       is being trained: it is started again and serves the same search, and no
       trial is handed to a second worker."""
    process = launch(tmp_path, tracking_uri, experiment_name, "--max-epochs", 3, "--factor", 3,
                     "--retrain", "none", background=True)
    project = tmp_path / "project" / experiment_name

    def tuner1_in_a_trial():
        pids, runs = _search_runs(mlflow_client, project)
        running = [r for r in runs if r.info.status == "RUNNING"
                   and r.data.tags.get("tuner_id") == "tuner1"]
        return running and (pids["tuner1"], running[0].info.run_id)

    worker_pid, lost_run = poll_until(process, "tuner1 in a trial", tuner1_in_a_trial)
    os.kill(worker_pid, signal.SIGKILL)

    def another_trial_in_flight():
        pids, runs = _search_runs(mlflow_client, project)
        statuses = {r.info.run_id: r.info.status for r in runs if r.info.run_id != lost_run}
        in_flight = "FINISHED" in statuses.values() and "RUNNING" in statuses.values()
        return in_flight and (pids["chief"], runs[0].data.tags["mlflow.parentRunId"])

    chief_pid, parent_before = poll_until(process, "a finished trial and another in flight",
                                     another_trial_in_flight)
    os.kill(chief_pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    assert "tuner1 exited with code -9; starting it again" in output
    assert "chief exited with code -9; starting it again (1/2) to serve the oracle" in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["parent_run_id"] == parent_before  # the same search, resumed
    runs = assert_each_trial_finished_once(mlflow_client, summary)
    # One run per trial, FINISHED, and the worker's lost run KILLED: none was handed
    # to a second worker (it would leave a second run), none was left RUNNING.
    statuses = {r.info.run_id: r.info.status for r in runs}
    assert statuses.pop(lost_run) == "KILLED"
    assert sorted(statuses.values()) == ["FINISHED"] * summary["n_trials"], \
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
                                         r"of seconds > 0 and at most 2592000 \(30 days\)\."):
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
