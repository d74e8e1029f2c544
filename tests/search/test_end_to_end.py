"""The shared tiny real search (tests/conftest.py `tiny_search`), checked through
MlflowClient on the store it wrote."""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from search import tracking
from search.data import load_digits
from search.tracking.registry import CHAMPION_ALIAS, registered_model_name
from tests.conftest import child_runs

HYPERPARAMETERS = {"bridge", "residual_blocks", "filters", "dense_units", "dropout",
                   "learning_rate"}


def test_one_child_run_per_trial_with_params_tags_and_metrics(tiny_search, mlflow_client):
    config, summary, _ = tiny_search
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.params["max_epochs"] == "3" and parent.data.params["data_source"] == "digits"
    runs = child_runs(mlflow_client, summary)
    assert len(runs) == summary["n_trials"] == 6  # Hyperband(3, 3): 3 + 1 + 2 trials
    for run in runs:
        assert run.info.status == "FINISHED"
        assert HYPERPARAMETERS <= set(run.data.params)
        tags = run.data.tags
        assert {tracking.TAG_TRIAL_ID, tracking.TAG_BRACKET, tracking.TAG_ROUND,
                tracking.TAG_CONTINUES} <= set(tags)
        assert {"best_val_accuracy", "param_count", "wall_seconds"} <= set(run.data.metrics)
        history = mlflow_client.get_metric_history(run.info.run_id, "val_accuracy")
        steps = sorted(m.step for m in history)
        first = int(tags["hyperband_initial_epoch"]) + 1
        assert steps == list(range(first, first + len(steps)))  # step = epoch, none missing
        assert len(steps) == run.data.metrics["epochs_trained"]
    continued = [r for r in runs if r.data.tags[tracking.TAG_CONTINUES]]
    assert len(continued) == 1  # the one round-1 trial continues a round-0 trial
    trial_ids = {r.data.tags[tracking.TAG_TRIAL_ID] for r in runs}
    assert continued[0].data.tags[tracking.TAG_CONTINUES] in trial_ids


def test_every_trial_logs_a_reloadable_best_model(tiny_search, mlflow_client, tmp_path):
    import mlflow
    _, summary, _ = tiny_search
    x = load_digits().x_val[:16]
    for run in child_runs(mlflow_client, summary):
        folder = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path=tracking.BEST_MODEL_ARTIFACT,
            dst_path=str(tmp_path / run.info.run_id), tracking_uri=mlflow_client.tracking_uri)
        model = keras.models.load_model(next(Path(folder).glob("*.keras")))
        assert model.predict(x, verbose=0).shape == (16, 10)


def test_winner_is_registered_as_champion_and_exports_agree(tiny_search, mlflow_client,
                                                           monkeypatch):
    config, summary, work = tiny_search
    name = registered_model_name(config.experiment)
    version = mlflow_client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    assert version.run_id == summary["parent_run_id"]

    export_dir = Path(summary["export_dir"])
    x = load_digits().x_test[:32]
    # The in-memory winner: the best trial's logged best-epoch model.
    best_run = mlflow_client.get_run(summary["best_run_id"])
    from search.tracking.models import load_trial_model
    winner, _ = load_trial_model(mlflow_client, best_run.info.run_id)
    expected = winner.predict(x, verbose=0)
    from_keras = keras.models.load_model(export_dir / "model.keras").predict(x, verbose=0)
    saved = tf.saved_model.load(str(export_dir / "saved_model"))
    from_saved_model = saved.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(from_keras, expected, atol=1e-5)
    np.testing.assert_allclose(from_saved_model, expected, atol=1e-5)
    info = json.loads((export_dir / "model_info.json").read_text())
    assert info["hyperparameters"]["bridge"] == summary["best_hyperparameters"]["bridge"]

    import mlflow
    # As a user serving it would: the store named by the environment (the search
    # itself leaves MLflow's global tracking URI as it found it).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri)
    served = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION_ALIAS}")
    np.testing.assert_allclose(np.asarray(served.predict(x)), expected, atol=1e-5)


def test_summary_json_has_the_contract_fields(tiny_search):
    config, summary, _ = tiny_search
    written = json.loads(Path(config.summary_json).read_text())
    for key in ("experiment_id", "parent_run_id", "best_run_id", "best_hyperparameters",
                "best_val_accuracy", "export_dir", "n_trials", "wall_seconds"):
        assert key in written
    assert written["n_trials"] == 6
    assert 0.0 <= written["best_val_accuracy"] <= 1.0


def test_continued_trial_keeps_its_optimizer_state(tiny_search, tracking_uri):
    """Hyperband's round-1 trial resumes its predecessor's best model: with our
    fix Adam's iteration count continues (keras-tuner's own loader resets it)."""
    import spaces
    from search.kt.oracle import search_oracle
    from search.kt.tuner import BridgeHyperband
    config, _, _ = tiny_search
    data = load_digits()
    hypermodel = spaces.load_space(config.space, data.input_shape, 10, 16)
    oracle, _ = search_oracle(config, hypermodel)
    tuner = BridgeHyperband(oracle, hypermodel, directory=config.project_dir,
                            project_name=config.project_name)
    continued = next(t for t in tuner.oracle.trials.values()
                     if "tuner/trial_id" in t.hyperparameters.values)
    hp = continued.hyperparameters
    ours = tuner.build_model(hp)
    assert int(ours.optimizer.iterations.numpy()) > 0
