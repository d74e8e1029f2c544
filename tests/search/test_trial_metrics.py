"""Per-trial summary metrics in MLflow: the best epoch (not the last) and the
resources a trial used; and the release of TF's per-trial graph state."""

import gc

import keras
import keras_tuner
import pytest

import spaces
from search import SearchConfig, run_search
from search.data import load_digits
from search.tuning.resources import GraphJanitor, _gradient_registry
from search.tuning.tuner import BridgeHyperband


@pytest.fixture(scope="module")
def trial_runs(tmp_path_factory, tracking_uri):
    from mlflow.tracking import MlflowClient
    work = tmp_path_factory.mktemp("metrics")
    config = SearchConfig(space="bridge-small", max_epochs=3, factor=3, seed=4,
                          experiment="trial-metrics", project_dir=str(work / "project"),
                          tracking_uri=tracking_uri, export_dir=str(work / "export"))
    frozen_during_trials = []
    on_trial_begin = BridgeHyperband.on_trial_begin

    def recording_on_trial_begin(tuner, trial):
        frozen_during_trials.append(gc.get_freeze_count())
        return on_trial_begin(tuner, trial)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BridgeHyperband, "on_trial_begin", recording_on_trial_begin)
        summary = run_search(config, say=lambda _: None)
    client = MlflowClient(tracking_uri)
    runs = client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
    return client, runs, frozen_during_trials


def test_keras_tuners_per_trial_gc_skips_the_objects_made_before_the_search(trial_runs):
    _, runs, frozen_during_trials = trial_runs
    assert len(frozen_during_trials) == len(runs)
    assert min(frozen_during_trials) > 100_000  # TensorFlow's, Keras', MLflow's objects
    assert gc.get_freeze_count() == 0  # given back when the search ended


def test_best_epoch_metrics_are_the_best_not_the_last_epoch(trial_runs):
    client, runs, _ = trial_runs
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
    _, runs, _ = trial_runs
    for run in runs:
        metrics = run.data.metrics
        assert metrics["seconds_per_epoch"] > 0
        assert metrics["peak_rss_mb"] >= metrics["rss_mb"] * 0.5 > 0
        assert "gpu_peak_mb" not in metrics or metrics["gpu_peak_mb"] >= 0  # only with a GPU


def custom_gradients():
    return sum(name.startswith(GraphJanitor.PREFIX) for name in _gradient_registry())


@pytest.mark.parametrize("release", [True, False])
def test_janitor_drops_the_gradient_entries_each_fit_leaves(release):
    data = load_digits()
    hypermodel = spaces.load_space("bridge-small", data.input_shape, 10, data.pixel_max)
    counts = []
    for _ in range(3):
        janitor = GraphJanitor()
        keras.backend.clear_session()
        model = hypermodel.build(keras_tuner.HyperParameters())
        model.fit(data.pipeline("train", 64, 0), epochs=1, verbose=0)
        del model
        if release:
            janitor.release()
        gc.collect()
        counts.append(custom_gradients())
    if release:
        assert counts[0] == counts[1] == counts[2]
    else:  # the leak the janitor exists for: TF keeps adding entries per fit
        assert counts[0] < counts[1] < counts[2]
