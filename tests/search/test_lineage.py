"""MLflow's own conventions: the search's splits are dataset inputs (mlflow.data), so
the UI's Datasets column names the data, and system metrics come from MLflow's monitor."""

from search.data import load_digits
from search.tracking import SearchTracker, lineage


def test_parent_run_lists_each_split_once_with_its_context_and_shape(tracking_uri,
                                                                      experiment_name):
    tracker = SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    run_id = tracker.start_search("lineage", params={}, tags={})
    data = load_digits()
    tracker.log_datasets(run_id, lineage.split_inputs(data))
    tracker.log_datasets(run_id, lineage.split_inputs(load_digits()))  # as a resume does

    inputs = tracker.client.get_run(run_id).inputs.dataset_inputs
    contexts = {i.tags[0].value: i.dataset for i in inputs}
    assert sorted(contexts) == ["testing", "training", "validation"]  # none twice
    assert contexts["training"].name == "digits"
    assert '"features_shape": [1221, 8, 8, 1]' in contexts["training"].profile
    assert '"uri": "digits"' in contexts["training"].source


def test_digest_follows_the_pixels_not_the_path():
    data = load_digits()
    first = {i.tags[0].value: i.dataset.digest for i in lineage.split_inputs(data)}
    again = {i.tags[0].value: i.dataset.digest for i in lineage.split_inputs(load_digits())}
    assert first == again
    data.x_train[0, 0, 0, 0] += 1
    changed = {i.tags[0].value: i.dataset.digest for i in lineage.split_inputs(data)}
    assert changed["training"] != first["training"]
    assert changed["validation"] == first["validation"]


def test_file_sources_are_recorded_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lineage.source_uri("npz:data/x.npz") == str(tmp_path / "data" / "x.npz")
    assert lineage.source_uri("tfds:mnist") == "tfds:mnist"


def test_system_metrics_come_from_mlflows_monitor(tracking_uri, experiment_name,
                                                  monkeypatch):
    import time
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    tracker = SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    tracker.start_search("system", params={}, tags={})
    with tracker.system_metrics(node_id="tuner1"):
        time.sleep(2.5)
    metrics = tracker.client.get_run(tracker.parent_run_id).data.metrics
    assert "system/tuner1/cpu_utilization_percentage" in metrics
    assert "system/tuner1/system_memory_usage_megabytes" in metrics
