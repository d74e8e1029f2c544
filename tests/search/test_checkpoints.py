"""`--keep-checkpoints K` bounds the local checkpoints; `--log-models` picks which
trials keep their best model in MLflow. Real searches on digits."""

from pathlib import Path

import pytest

from search import SearchConfig, run_search, tracking
from search.kt.checkpoints import BEST_MODEL_FILE

KEEP = 1
ROUND0_SIZE = 2  # Hyperband(2, 2): bracket 1 starts with 2 trials, both candidates for round 1
PER_ITERATION = 5  # trials of one Hyperband(2, 2) iteration
RECORDS_MB = 0.1  # keras-tuner's trial.json and oracle files, our journals


def child_runs(client, summary):
    runs = client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
    return sorted(runs, key=lambda r: r.data.tags[tracking.TAG_TRIAL_ID])


def search(work, tracking_uri, name, **options):
    config = SearchConfig(**{"space": "bridge-small", "factor": 2, "seed": 2,
                             "experiment": name, "project_dir": str(work / name),
                             "tracking_uri": tracking_uri,
                             "export_dir": str(work / f"{name}-export"), **options})
    return config, run_search(config)


def checkpointed_trials(project):
    return sorted(p.parent.name for p in Path(project).rglob(BEST_MODEL_FILE))


@pytest.fixture(scope="module")
def budget_search(tmp_path_factory, tracking_uri):
    work = tmp_path_factory.mktemp("checkpoints")
    # Two Hyperband iterations: 10 trials, the second iteration must not add to the disk.
    return search(work, tracking_uri, "budget", max_epochs=2, hyperband_iterations=2,
                  keep_checkpoints=KEEP, log_models="best", retrain="none")


def test_only_the_best_k_checkpoints_stay_on_disk(budget_search):
    config, summary = budget_search
    assert summary["n_trials"] == 2 * PER_ITERATION
    project = Path(config.project_dir) / config.project_name
    kept = checkpointed_trials(project)
    assert len(kept) == KEEP
    assert len(list(project.rglob(BEST_MODEL_FILE))) == KEEP
    assert len(list(project.glob("trial_*/trial.json"))) == 2 * PER_ITERATION  # records stay


def test_a_trial_saves_its_weights_once_not_at_every_improving_epoch(budget_search):
    config, _ = budget_search
    project = Path(config.project_dir) / config.project_name
    # keras-tuner's per-epoch checkpoint is left out: best_model.keras replaces it.
    assert not list(project.rglob("checkpoint.weights.h5"))


def test_the_project_dir_stops_growing_beyond_the_budget(budget_search, mlflow_client):
    _, summary = budget_search
    runs = child_runs(mlflow_client, summary)
    with_checkpoints = [r.data.metrics["trials_with_checkpoints"] for r in runs]
    # At each trial's end: the best K, the round-0 trials Hyperband may still
    # continue, and the trial itself (its files go once MLflow has its model).
    assert max(with_checkpoints) <= KEEP + ROUND0_SIZE
    assert with_checkpoints[-1] <= KEEP + 1  # whatever the trial count
    # On disk at once: at most that many models (the largest ones, at worst) and the
    # trials' records; without the cleanup, all 10 models would stay.
    most_at_once = KEEP + ROUND0_SIZE + 1
    largest_models = sorted(r.data.metrics["model_size_mb"] for r in runs)[-most_at_once:]
    sizes = [r.data.metrics["project_dir_mb"] for r in runs]
    assert max(sizes) <= sum(largest_models) + RECORDS_MB


def test_continued_trials_found_their_predecessors_checkpoint(budget_search, mlflow_client):
    _, summary = budget_search
    continued = [r for r in child_runs(mlflow_client, summary)
                 if r.data.tags[tracking.TAG_CONTINUES]]
    assert len(continued) == 2  # one round-1 trial per iteration
    for run in continued:
        assert run.info.status == "FINISHED"
        assert run.data.metrics["epochs_trained"] == 1  # epoch 2 on top of round 0's


def test_log_models_best_keeps_the_models_that_were_best_so_far(budget_search, mlflow_client):
    _, summary = budget_search
    best_so_far, expected = -1.0, set()
    runs = child_runs(mlflow_client, summary)
    for run in runs:  # trial order = the order they ended in (one process)
        if run.data.metrics["best_val_accuracy"] > best_so_far:
            best_so_far = run.data.metrics["best_val_accuracy"]
            expected.add(run.info.run_id)
    logged = {r.info.run_id for r in runs
              if mlflow_client.list_artifacts(r.info.run_id, tracking.BEST_MODEL_ARTIFACT)}
    assert logged == expected and summary["best_run_id"] in logged
    assert len(logged) < len(runs)


def test_log_models_none_logs_no_trial_model_but_exports_the_winner(tmp_path, tracking_uri,
                                                                    mlflow_client):
    config, summary = search(tmp_path, tracking_uri, "no-models", max_epochs=1,
                             log_models="none", min_retrain_epochs=1)
    runs = child_runs(mlflow_client, summary)
    assert runs and not any(mlflow_client.list_artifacts(r.info.run_id) for r in runs)
    assert (Path(summary["export_dir"]) / "model.keras").is_file()


def test_keep_checkpoints_0_is_refused():
    from search.core.errors import UsageError
    with pytest.raises(UsageError, match=r"--keep-checkpoints 0 is invalid: must be an integer"):
        SearchConfig(keep_checkpoints=0)
