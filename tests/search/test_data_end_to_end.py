"""Searches on real data sources through the CLI's main() (real TensorFlow,
keras-tuner and MLflow, in the test process): the data description lands on
the parent run and a test split, when the source has one, scores the winner
and nothing else."""

import json

import keras
import numpy as np
import pytest

from tests.conftest import run_cli_here
from tests.search.data_helpers import build_local_tfds, write_split_tree
from search import data


def search(tmp_path, tracking_uri, experiment_name, *data_options):
    summary = tmp_path / "summary.json"
    result = run_cli_here("run", *data_options, "--space", "bridge-small", "--max-epochs", "1",
                          "--min-retrain-epochs", "1", "--batch-size", "8",
                          "--experiment", experiment_name,
                          "--tracking-uri", tracking_uri, "--project-dir", tmp_path / "project",
                          "--export-dir", tmp_path / "export", "--summary-json", summary,
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(summary.read_text())


def parent_and_children(client, summary):
    parent = client.get_run(summary["parent_run_id"])
    children = client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
    return parent, children


def test_folder_search_logs_the_data_and_scores_the_winner_on_the_test_folder(
        tmp_path, tracking_uri, experiment_name, mlflow_client):
    root = write_split_tree(tmp_path / "shapes", splits=(("train", 10), ("test", 4)),
                            size=(12, 12), channels=1, formats=("png", "bmp"))
    summary = search(tmp_path, tracking_uri, experiment_name, "--data", f"folder:{root}",
                     "--image-size", "12", "12", "--color", "grayscale")

    parent, children = parent_and_children(mlflow_client, summary)
    params = parent.data.params
    loaded = data.load(f"folder:{root}", val_split=0.15, seed=0, image_size=(12, 12),
                       color="grayscale")
    assert params["data_source"] == f"folder:{root}" and params["data_shape"] == "12x12x1"
    assert params["data_files_sha256"] == loaded.description()["data_files_sha256"]
    assert (params["data_image_size"], params["data_color"]) == ("12x12", "grayscale")
    assert params["data_test_size"] == "12" and params["image_size"] == "(12, 12)"

    # The test folder scores the winner, on the parent run and in the summary ...
    assert parent.data.metrics["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    winner = keras.models.load_model(tmp_path / "export" / "model.keras")
    _, accuracy = winner.evaluate(loaded.x_test.astype("float32"), loaded.y_test, verbose=0)
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    # ... and nothing else: no trial ever saw it.
    assert children and all("test_accuracy" not in run.data.metrics for run in children)


def test_tfds_search_reads_a_local_data_dir(tmp_path, tracking_uri, experiment_name,
                                            mlflow_client):
    build_local_tfds(tmp_path / "tfds")
    summary = search(tmp_path, tracking_uri, experiment_name, "--data", "tfds:bridge_tiny",
                     "--data-dir", tmp_path / "tfds")
    parent, _ = parent_and_children(mlflow_client, summary)
    assert parent.data.params["data_tfds_name"] == "bridge_tiny/1.0.0"
    assert parent.data.params["data_test_size"] == "9"
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    assert parent.data.metrics["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert np.isfinite(summary["best_val_accuracy"])
