"""Per-trial summary metrics in MLflow: the best epoch (not the last) and the
resources a trial used; and the release of TF's per-trial graph state."""

import gc

import keras
import keras_tuner
import pytest

import spaces
from search import SearchConfig, run_search
from search.data import load_digits
from search.kt.resources import GraphJanitor, _gradient_registry
from search.kt.tuner import BridgeHyperband
from tests.conftest import child_runs


@pytest.fixture
def trial_runs(tiny_search, mlflow_client):
    _, summary, _ = tiny_search
    return mlflow_client, child_runs(mlflow_client, summary)


def test_keras_tuners_per_trial_gc_skips_the_objects_made_before_the_search(
        tmp_path, tracking_uri, experiment_name):
    # Hyperband(1, 2) twice over: two trials, each with its own gc freeze to check.
    config = SearchConfig(space="bridge-small", max_epochs=1, factor=2, hyperband_iterations=2,
                          retrain="none", log_models="none", experiment=experiment_name,
                          project_dir=str(tmp_path / "project"),
                          tracking_uri=tracking_uri, export_dir=str(tmp_path / "export"))
    frozen_during_trials = []
    on_trial_begin = BridgeHyperband.on_trial_begin

    def recording_on_trial_begin(tuner, trial):
        frozen_during_trials.append(gc.get_freeze_count())
        return on_trial_begin(tuner, trial)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BridgeHyperband, "on_trial_begin", recording_on_trial_begin)
        summary = run_search(config)
    assert len(frozen_during_trials) == summary["n_trials"]
    assert min(frozen_during_trials) > 100_000  # TensorFlow's, Keras', MLflow's objects
    assert gc.get_freeze_count() == 0  # given back when the search ended


def test_best_epoch_metrics_are_the_best_not_the_last_epoch(trial_runs):
    client, runs = trial_runs
    for run in runs:
        history = {m.step: m.value for m in client.get_metric_history(run.info.run_id,
                                                                      "val_accuracy")}
        losses = {m.step: m.value for m in client.get_metric_history(run.info.run_id,
                                                                     "val_loss")}
        best_step = max(history, key=lambda step: (history[step], -step))  # first best
        metrics = run.data.metrics
        assert metrics["best_epoch"] == best_step
        assert metrics["best_val_accuracy"] == pytest.approx(history[best_step])
        assert metrics["best_val_loss"] == pytest.approx(losses[best_step])


def test_every_trial_logs_memory_and_speed(trial_runs):
    _, runs = trial_runs
    for run in runs:
        metrics = run.data.metrics
        assert metrics["seconds_per_epoch"] > 0
        assert metrics["peak_rss_mb"] >= metrics["rss_mb"] * 0.5 > 0
        assert "gpu_peak_mb" not in metrics or metrics["gpu_peak_mb"] >= 0  # only with a GPU


def custom_gradients():
    return sum(name.startswith(GraphJanitor.PREFIX) for name in _gradient_registry())


def test_janitor_drops_the_gradient_entries_each_fit_leaves():
    """Without the release, TF 2.21 keeps adding entries per fit (the memory bench
    shows it); with it the count stays put, whatever a later TF does."""
    data = load_digits()
    hypermodel = spaces.load_space("bridge-small", data.input_shape, 10, data.pixel_max)
    counts = []
    for _ in range(3):
        janitor = GraphJanitor()
        keras.backend.clear_session()
        model = hypermodel.build(keras_tuner.HyperParameters())
        model.fit(data.pipeline("train", 64, 0), epochs=1, verbose=0)
        del model
        janitor.release()
        gc.collect()
        counts.append(custom_gradients())
    assert counts[0] == counts[1] == counts[2]
