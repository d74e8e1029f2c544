"""Scale-out paths on this CPU machine: device options, MirroredStrategy over two
logical CPUs, and keras-tuner's chief/worker mode as real processes."""

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from search import SearchConfig, run_search, tracking
from search.core.crashpoints import ENV as CRASH_ENV, ONCE_ENV as CRASH_ONCE_ENV
from search.tracking.resume import TAG_RECOVERED
from tests.conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def trial_runs(client, parent_run_id):
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    return client.search_runs([experiment_id],
                              filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'")


def test_mixed_precision_and_xla_flags_run_on_cpu_and_are_logged(tmp_path, tracking_uri,
                                                                  experiment_name, mlflow_client,
                                                                  caplog):
    caplog.set_level(logging.INFO, logger="search")
    config = SearchConfig(space="bridge-small", max_epochs=1, experiment=experiment_name,
                          project_dir=str(tmp_path / "p"), tracking_uri=tracking_uri,
                          export_dir=str(tmp_path / "e"), mixed_precision=True,
                          jit_compile=True, batch_size=64, min_retrain_epochs=1)
    summary = run_search(config)
    said = [record.getMessage() for record in caplog.records]
    params = mlflow_client.get_run(summary["parent_run_id"]).data.params
    assert params["precision_policy"] == "mixed_float16"
    assert params["jit_compile"] == "True" and params["batch_size"] == "64"
    assert params["device"] == "CPU"
    assert sum("No GPU visible" in line for line in said) == 1
    model = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    assert model.get_layer("head_dense").dtype_policy.name == "mixed_float16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from search import SearchConfig, run_search
    config = SearchConfig(space="bridge-small", max_epochs=1, strategy="mirrored",
                          min_retrain_epochs=1, experiment=sys.argv[1], project_dir="p",
                          tracking_uri=sys.argv[2], export_dir="e")
    print(json.dumps(run_search(config)))
""")


def test_mirrored_strategy_trains_each_trial_on_two_logical_devices(tmp_path, tracking_uri,
                                                                    experiment_name,
                                                                    mlflow_client):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, experiment_name,
                             tracking_uri], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.data.params["replicas"] == "2"
    assert parent.data.params["strategy"] == "mirrored"
    runs = trial_runs(mlflow_client, summary["parent_run_id"])
    assert [r.info.status for r in runs] == ["FINISHED"] * summary["n_trials"]


def launch(tmp_path, tracking_uri, experiment, *extra, background=False, env=None):
    args = ["launch", "--workers", 2, "--space", "bridge-small", "--experiment", experiment,
            "--project-dir", tmp_path / "project", "--tracking-uri", tracking_uri,
            "--export-dir", tmp_path / "export", "--summary-json", tmp_path / "summary.json",
            *extra]
    if not background:
        return run_cli(*args, cwd=tmp_path, timeout=900, env=env)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "search", *map(str, args)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def assert_each_trial_finished_once(client, summary):
    runs = trial_runs(client, summary["parent_run_id"])
    finished = [r for r in runs if r.info.status == "FINISHED"]
    trial_ids = [r.data.tags[tracking.TAG_TRIAL_ID] for r in finished]
    assert len(trial_ids) == len(set(trial_ids)) == summary["n_trials"]
    return runs


def test_chief_and_two_workers_share_one_search_and_survive_a_worker_lost_after_its_trial(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    """Chief and two workers share one search: every trial trained once, by both
    workers, the winner retrained (one epoch), exported and registered once, by the
    chief. On the way, the first worker to finish a trial dies right after the
    chief's oracle recorded it COMPLETED and before MLflow closed its run (crash
    point "trial_end"; only that one life: the restarted worker passes). Its
    restart completes the run from the trial's journal."""
    marker = tmp_path / "crashed"
    result = launch(tmp_path, tracking_uri, experiment_name, "--max-epochs", 2, "--factor", 2,
                    "--min-retrain-epochs", 1,
                    env={CRASH_ENV: "trial_end", CRASH_ONCE_ENV: str(marker)})
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = assert_each_trial_finished_once(mlflow_client, summary)
    assert len(runs) == summary["n_trials"] == 5  # Hyperband(2, 2): 2 + 1 + 2 trials
    assert {r.data.tags["tuner_id"] for r in runs} == {"tuner1", "tuner2"}
    from search.tracking.registry import registered_model_name
    versions = mlflow_client.search_model_versions(
        f"name = '{registered_model_name(experiment_name)}'")
    assert len(versions) == 1  # the winner is exported and registered once, by the chief
    assert (Path(summary["export_dir"]) / "model.keras").is_file()

    assert marker.is_file(), "no worker reached the crash point"
    victim = re.search(r"(tuner\d) exited with code -9; starting it again", result.stderr)
    assert victim, result.stderr[-4000:]
    assert not [r for r in runs if r.info.status == "RUNNING"]
    recovered = [r for r in runs if r.data.tags.get(TAG_RECOVERED) == "true"]
    assert len(recovered) == 1, [(r.info.status, r.data.tags) for r in runs]
    run = recovered[0]
    assert run.info.status == "FINISHED" and run.data.tags["tuner_id"] == victim.group(1)
    assert f"Worker {victim.group(1)}: trial {run.data.tags[tracking.TAG_TRIAL_ID]} had " \
           f"finished; completed its MLflow run {run.info.run_id}." in result.stderr
    epochs = int(run.data.tags["hyperband_epochs"]) - int(run.data.tags["hyperband_initial_epoch"])
    for name in tracking.EPOCH_METRICS:  # every epoch, from the journal
        assert len(mlflow_client.get_metric_history(run.info.run_id, name)) == epochs
