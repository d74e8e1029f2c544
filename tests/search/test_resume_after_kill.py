"""A real search killed with SIGKILL at several points and started again with the
same command: it resumes from --project-dir, and MLflow ends up as if nothing
happened (one parent run, one FINISHED child run per trial, killed runs marked
KILLED, complete metric histories, the winner chosen from all finished trials).

The kills, in order, on one search (Hyperband max-epochs 3, factor 3: 6 trials):
  1. from outside, as soon as the first child run exists (inside trial 0000);
  2. inside the process right after keras-tuner recorded the 2nd trial it ran
     as finished, before MLflow heard of it (crash point "trial_end");
  3. from outside, inside a later trial, after its first epoch was logged and
     before its last;
  4. inside the process between the winner's export and its registration
     (crash point "export");
then a last run completes it.
"""

import json
import os
import signal
import time
import subprocess
import sys
from pathlib import Path

import pytest

from search import tracking
from search.core.crashpoints import ENV as CRASH_ENV
from search.tracking.resume import JOURNAL_FILE
from tests.conftest import REPO_ROOT, run_cli_here
from tests.search.servers import poll_until

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

EXPERIMENT = "resume-after-kill"
POLL = 0.05


def start(args, cwd, crash_at=None):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen([sys.executable, "-m", "search", "run", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(process):
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    return process.stderr.read()


def child_runs(client):
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.{tracking.TAG_ROLE} = 'trial'")


def run_mid_training(project):
    """The run id of a trial keras-tuner has RUNNING with at least one epoch done
    and more to come, read from the project dir (trial.json and the epoch journal
    written at each epoch end), which is quicker to poll than MLflow."""
    for trial_dir in (project / EXPERIMENT).glob("trial_*"):
        try:
            trial = json.loads((trial_dir / "trial.json").read_text())
            lines = (trial_dir / JOURNAL_FILE).read_text().splitlines()
        except (OSError, ValueError):
            continue
        if trial["status"] != "RUNNING" or not lines:
            continue
        values = trial["hyperparameters"]["values"]
        run_id = json.loads(lines[-1])["run_id"]
        done = sum(json.loads(line)["run_id"] == run_id for line in lines)
        if 1 <= done < values["tuner/epochs"] - values["tuner/initial_epoch"]:
            return run_id
    return None


def trials_on_disk(project):
    trials = {}
    for path in (project / EXPERIMENT).glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        trials[trial["trial_id"]] = trial
    return trials


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, tracking_uri):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    work = tmp_path_factory.mktemp("resume")
    project = work / "project"
    # patience >= max_epochs: early stopping never cuts a trial, so every trial
    # trains exactly its Hyperband epochs (what the history check compares to).
    args = ["--space", "bridge-small", "--max-epochs", 3, "--factor", 3, "--seed", 2,
            "--patience", 3, "--retrain", "none", "--experiment", EXPERIMENT,
            "--project-dir", project,
            "--tracking-uri", tracking_uri, "--export-dir", work / "export",
            "--summary-json", work / "summary.json"]
    seen = {}

    # 1. Inside the first trial.
    seen["began"] = time.monotonic()
    search = start(args, work)
    seen["first_killed_run"] = poll_until(search, "a trial's run", lambda: child_runs(client),
                                          output="stderr", every=POLL)[0]
    kill(search)
    seen["trials_after_kill_1"] = trials_on_disk(project)

    # 2. Between keras-tuner finishing a trial and MLflow closing its run.
    search = start(args, work, crash_at="trial_end:2")
    assert search.wait(timeout=600) == -signal.SIGKILL, search.stderr.read()[-3000:]
    seen["stderr_2"] = search.stderr.read()

    # 3. Inside a later trial, after its first epoch and before its last.
    search = start(args, work)
    seen["mid_trial_run_id"] = poll_until(search, "a run mid-training", lambda: run_mid_training(project),
                                             output="stderr", every=POLL)
    seen["finished_before_kill_3"] = {r.data.tags[tracking.TAG_TRIAL_ID]: r.info.run_id
                                      for r in child_runs(client)
                                      if r.info.status == "FINISHED"}
    kill(search)
    seen["trials_after_kill_3"] = trials_on_disk(project)

    # 4. During export, before the registry.
    search = start(args, work, crash_at="export")
    assert search.wait(timeout=600) == -signal.SIGKILL, search.stderr.read()[-3000:]

    # 5. The same command once more, through the CLI's main() in this process
    #    (no kill left to survive): it completes.
    seen["killed_parts_seconds"] = time.monotonic() - seen["began"]
    last = run_cli_here("run", *args, cwd=work)
    assert last.returncode == 0, last.stderr[-3000:]
    seen["stderr_last"] = last.stderr
    summary = json.loads((work / "summary.json").read_text())
    return client, project, summary, seen


def test_one_parent_run_resumed_not_duplicated(killed_and_resumed):
    client, _, summary, _ = killed_and_resumed
    experiment = client.get_experiment_by_name(EXPERIMENT)
    parents = client.search_runs([experiment.experiment_id],
                                 filter_string=f"tags.{tracking.TAG_ROLE} = 'search'")
    assert [p.info.run_id for p in parents] == [summary["parent_run_id"]]
    assert parents[0].info.status == "FINISHED"
    runs = child_runs(client)
    assert {r.data.tags["mlflow.parentRunId"] for r in runs} == {summary["parent_run_id"]}


def test_each_trial_has_exactly_one_finished_run_and_none_is_left_running(killed_and_resumed):
    client, project, summary, _ = killed_and_resumed
    runs = child_runs(client)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trials = trials_on_disk(project)
    assert summary["n_trials"] == len(trials) == 6
    for trial_id, trial in trials.items():
        assert trial["status"] == "COMPLETED"
        finished = [r for r in runs if r.data.tags[tracking.TAG_TRIAL_ID] == trial_id
                    and r.info.status == "FINISHED"]
        assert len(finished) == 1, trial_id
    others = [r for r in runs if r.info.status != "FINISHED"]
    assert {r.info.status for r in others} <= {"KILLED", "FAILED"}


def test_interrupted_trials_runs_are_killed_and_finished_trials_not_trained_again(
        killed_and_resumed):
    client, _, _, seen = killed_and_resumed
    for run_id in (seen["first_killed_run"].info.run_id, seen["mid_trial_run_id"]):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED", run_id
        assert run.data.tags[tracking.TAG_STATUS] == "KILLED"
    # Both kills came inside a trial: keras-tuner still had it RUNNING.
    for key in ("trials_after_kill_1", "trials_after_kill_3"):
        assert "RUNNING" in {t["status"] for t in seen[key].values()}, key
    # Every trial finished before kill 3 kept its run: it was not trained again.
    final = {r.data.tags[tracking.TAG_TRIAL_ID]: r.info.run_id
             for r in child_runs(client) if r.info.status == "FINISHED"}
    before = seen["finished_before_kill_3"]
    assert len(before) >= 2
    assert {t: final[t] for t in before} == before


def test_a_trial_finished_just_before_the_kill_gets_its_run_completed(killed_and_resumed):
    """Kill 2 hit between keras-tuner's record and MLflow's: the resumed search
    completes that run (model and epochs from the trial folder), no rerun."""
    client, _, _, _ = killed_and_resumed
    from search.tracking.resume import TAG_RECOVERED
    recovered = [r for r in child_runs(client) if r.data.tags.get(TAG_RECOVERED) == "true"]
    assert len(recovered) == 1
    run = recovered[0]
    assert run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run.info.run_id, tracking.BEST_MODEL_ARTIFACT)]


def test_metric_histories_of_finished_trials_are_complete(killed_and_resumed):
    """One point per epoch trained, with epochs from keras-tuner's trial state."""
    client, project, _, _ = killed_and_resumed
    trials = trials_on_disk(project)
    for run in child_runs(client):
        if run.info.status != "FINISHED":
            continue
        values = trials[run.data.tags[tracking.TAG_TRIAL_ID]]["hyperparameters"]["values"]
        first, last = values["tuner/initial_epoch"] + 1, values["tuner/epochs"]
        for name in tracking.EPOCH_METRICS:
            steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, name))
            assert steps == list(range(first, last + 1)), (name, run.info.run_id)
        assert run.data.metrics["epochs_trained"] == last - first + 1


def test_the_winner_is_the_best_of_the_finished_trials(killed_and_resumed):
    client, project, summary, _ = killed_and_resumed
    trials = trials_on_disk(project)
    best_trial = max(trials.values(), key=lambda t: t["score"])
    best_run = client.get_run(summary["best_run_id"])
    assert best_run.data.tags[tracking.TAG_TRIAL_ID] == best_trial["trial_id"]
    assert summary["best_val_accuracy"] == pytest.approx(best_trial["score"])
    assert (Path(summary["export_dir"]) / "model.keras").is_file()


def test_the_summary_counts_the_killed_parts_time(killed_and_resumed):
    """Issue 27 finding 23: after a resume the wall time is the whole search's, not
    the last part's: each killed part adds its share (from its start to its last
    save of the oracle), never more than the parts took from outside."""
    *_, summary, seen = killed_and_resumed
    assert 5 < summary["earlier_seconds"] <= seen["killed_parts_seconds"], summary
    assert summary["wall_seconds"] >= summary["earlier_seconds"] + summary["search_seconds"]


def test_stale_locks_of_killed_processes_are_taken_over(killed_and_resumed):
    _, _, _, seen = killed_and_resumed
    assert "Took over the lock of process" in seen["stderr_2"]
    assert "Took over the lock of process" in seen["stderr_last"]
