"""The training defaults that decide accuracy on small data: cosine learning rate
per fit, the winner trained afresh on train+val before export (the test split
only scores it), and the best val accuracy of every bridge in the summary."""

import json
import math
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from search import SearchConfig, run_search
from search.kt import training
from search.data import ImageData, load_digits
from search.core.errors import UsageError
from search.kt.tuner import BridgeHyperband
from spaces.bridge_net import HyperBridgeNet


class RateRecorder(keras.callbacks.Callback):
    """The learning rate at the start of each epoch, and of each batch."""

    def __init__(self):
        super().__init__()
        self.rates, self.batch_rates = [], []

    def rate(self):
        return float(np.asarray(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(self.rate())

    def on_train_batch_begin(self, batch, logs=None):
        self.batch_rates.append(self.rate())


def tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.5), loss="sparse_categorical_crossentropy")
    return model


def test_cosine_decays_over_each_fit_and_restarts_from_the_base_rate():
    model, x, y = tiny_model(), np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    recorder = RateRecorder()
    # Base 0.01 from the hyperparameter, not the optimizer's 0.5: a continued
    # Hyperband trial's checkpoint carries its predecessor's decayed rate.
    model.fit(x, y, epochs=4, callbacks=[training.CosineEpochs(0.01), recorder], verbose=0)
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-5)
    recorder.rates.clear()  # a Hyperband round continues the trial: epochs 4..5
    model.fit(x, y, epochs=6, initial_epoch=4, callbacks=[training.CosineEpochs(0.01), recorder],
              verbose=0)
    np.testing.assert_allclose(recorder.rates, [0.01, 0.005], rtol=1e-5)


def test_each_fit_warms_up_linearly_over_half_of_its_first_epoch():
    """10 batches an epoch: the first 5 climb to the epoch's rate, the second
    epoch starts at its cosine rate; a continued trial's fit warms up again."""
    model, x, y = tiny_model(), np.zeros((80, 4), "float32"), np.zeros(80, "int64")
    recorder = RateRecorder()
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[training.CosineEpochs(0.01), recorder],
              verbose=0)
    warm_up = [0.002, 0.004, 0.006, 0.008, 0.01]
    np.testing.assert_allclose(recorder.batch_rates, warm_up + [0.01] * 5 + [0.005] * 10, rtol=1e-5)
    recorder.batch_rates.clear()
    model.fit(x, y, batch_size=8, epochs=3, initial_epoch=2,
              callbacks=[training.CosineEpochs(0.01), recorder], verbose=0)
    np.testing.assert_allclose(recorder.batch_rates, warm_up + [0.01] * 5, rtol=1e-5)


def test_constant_schedule_adds_no_callback():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("learning_rate", 0.01)
    assert training.schedule_callbacks("constant", hp) == []
    assert isinstance(training.schedule_callbacks("cosine", hp)[0], training.CosineEpochs)


@pytest.mark.parametrize("best_epoch, minimum, expected", [(2, 8, 8), (9, 8, 9), (None, 3, 3)])
def test_retrain_trains_at_least_the_minimum_epochs(best_epoch, minimum, expected):
    assert training.retrain_epochs(best_epoch, minimum) == expected


def test_retrain_reads_train_and_val_only():
    """The test split is poison here (NaN images, labels out of range): a retrain
    that touched it would end with NaN weights or fail on the labels."""
    digits = load_digits()
    poisoned = ImageData(digits.x_train[:64], digits.y_train[:64], digits.x_val[:32],
                         digits.y_val[:32], np.full((16, 8, 8, 1), np.nan, "float32"),
                         np.full(16, 99), source="digits", class_names=list("0123456789"))
    hypermodel = HyperBridgeNet((8, 8, 1), 10, pixel_max=16, max_residual_blocks=1,
                                filters=8, dense_units=16)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares every hyperparameter at its default
    model = training.retrain_on_train_and_val(hypermodel.build, hp, poisoned, epochs=1,
                                              batch_size=32, seed=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("field, value, message", [
    ("lr_schedule", "step", r"--lr-schedule 'step' is invalid: accepted: cosine, constant"),
    ("retrain", "all", r"--retrain 'all' is invalid: accepted: train\+val, none"),
    ("min_retrain_epochs", 0, r"--min-retrain-epochs 0 is invalid: must be an integer >= 1"),
])
def test_bad_training_options_name_the_flag_and_the_accepted_values(field, value, message):
    with pytest.raises(UsageError, match=message):
        SearchConfig(**{field: value})


@pytest.fixture(scope="module")
def retrained_search(tmp_path_factory, tracking_uri):
    """A tiny real search with the default --retrain train+val; it records which
    splits reach the tuner and when the test split is read."""
    work = tmp_path_factory.mktemp("retrain")
    events = []
    original_search, original_pipeline = BridgeHyperband.search, ImageData.pipeline

    def search(self, *args, **kwargs):
        events.append(("search", args, kwargs))
        result = original_search(self, *args, **kwargs)
        events.append(("search done",))
        return result

    def pipeline(self, split, *args, **kwargs):
        dataset = original_pipeline(self, split, *args, **kwargs)
        events.append(("pipeline", split, dataset))
        return dataset

    # Hyperband(2, 3): two trials of two epochs
    config = SearchConfig(space="bridge-small", max_epochs=2, factor=3, seed=0,
                          min_retrain_epochs=2, experiment="retrain-tiny",
                          project_dir=str(work / "project"), tracking_uri=tracking_uri,
                          export_dir=str(work / "export"),
                          summary_json=str(work / "summary.json"))
    patch = pytest.MonkeyPatch()
    patch.setattr(BridgeHyperband, "search", search)
    patch.setattr(ImageData, "pipeline", pipeline)
    try:
        summary = run_search(config)
    finally:
        patch.undo()
    return config, summary, events


def test_the_test_split_never_reaches_the_tuner(retrained_search):
    _, _, events = retrained_search
    names = [event[0] if event[0] != "pipeline" else f"pipeline:{event[1]}" for event in events]
    search_at, done_at = names.index("search"), names.index("search done")
    test_reads = [i for i, name in enumerate(names) if name == "pipeline:test"]
    assert test_reads and all(i > done_at for i in test_reads)
    _, args, kwargs = events[search_at]
    test_sets = [e[2] for e in events if e[0] == "pipeline" and e[1] == "test"]
    given = list(args) + list(kwargs.values())
    assert not any(dataset is given_value for dataset in test_sets for given_value in given)


def test_the_exported_model_is_the_retrained_one_and_scores_the_reported_test_accuracy(
        retrained_search, mlflow_client):
    from search.tracking.models import load_trial_model
    _, summary, _ = retrained_search
    assert summary["retrain_epochs"] == 2 and summary["retrain_seconds"] > 0
    exported = keras.models.load_model(Path(summary["export_dir"]) / "model.keras")
    search_model, _ = load_trial_model(mlflow_client, summary["best_run_id"])
    differs = [not np.allclose(a, b) for a, b in zip(exported.get_weights(),
                                                     search_model.get_weights())]
    assert any(differs)  # fresh weights, not the trial's best model
    digits = load_digits()
    _, accuracy = exported.evaluate(digits.x_test, digits.y_test, verbose=0)
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert summary["search_model_test_accuracy"] is not None


def test_summary_and_parent_run_hold_the_best_val_accuracy_of_every_bridge(
        retrained_search, mlflow_client):
    config, summary, _ = retrained_search
    per_bridge = json.loads(Path(config.summary_json).read_text())["best_per_bridge"]
    assert per_bridge and set(per_bridge) <= {"flatten", "gap", "gmp", "concat"}
    assert max(b["val_accuracy"] for b in per_bridge.values()) == pytest.approx(
        summary["best_val_accuracy"])
    metrics = mlflow_client.get_run(summary["parent_run_id"]).data.metrics
    for bridge, best in per_bridge.items():
        assert metrics[f"best_val_accuracy_{bridge}"] == pytest.approx(best["val_accuracy"])
        assert best["hyperparameters"]["bridge"] == bridge
