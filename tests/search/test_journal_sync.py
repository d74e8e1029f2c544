"""The metric journal (epochs.jsonl) is on disk before a trial's run is closed
(issue 11 item 9): every line journaled for a run has been fsync'ed when
MLflow's set_terminated is called for it. A tiny real search; os.fsync and
MlflowClient.set_terminated are wrapped (they still run) to record the order."""

import json
import os
from pathlib import Path

from mlflow.tracking import MlflowClient

from search import SearchConfig, run_search


def _journaled_lines(project, run_id):
    return sum(json.loads(line)["run_id"] == run_id
               for journal in Path(project).rglob("epochs.jsonl")
               for line in journal.read_text().splitlines())


def test_journal_is_fsynced_before_each_trial_run_is_closed(tmp_path, tracking_uri,
                                                            experiment_name, monkeypatch):
    project = tmp_path / "project"
    synced = {}  # journal path -> its text when fsync returned
    closed = []  # (run id, lines journaled for it, lines of them synced)

    real_fsync, real_terminate = os.fsync, MlflowClient.set_terminated

    def fsync(fd):
        real_fsync(fd)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.endswith("epochs.jsonl"):
            synced[path] = Path(path).read_text()

    def set_terminated(client, run_id, *args, **kwargs):
        in_synced = sum(json.loads(line)["run_id"] == run_id
                        for text in synced.values() for line in text.splitlines())
        closed.append((run_id, _journaled_lines(project, run_id), in_synced))
        return real_terminate(client, run_id, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(MlflowClient, "set_terminated", set_terminated)
    # Hyperband(2, 3): two trials of two epochs (two journal lines each).
    config = SearchConfig(space="bridge-small", max_epochs=2, factor=3, retrain="none",
                          log_models="none", experiment=experiment_name,
                          project_dir=str(project), tracking_uri=tracking_uri,
                          export_dir=str(tmp_path / "export"))
    run_search(config)
    trial_runs = [c for c in closed if c[1] > 0]
    assert len(trial_runs) >= 2, closed
    assert all(journaled == in_synced for _, journaled, in_synced in trial_runs), closed
