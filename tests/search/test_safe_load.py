"""Models are loaded in Keras safe mode: a trial model file holding a Lambda
layer (Python bytecode) is refused with a clear line unless the user passes
--unsafe-load."""

import keras
import numpy as np
import pytest

from search import tracking
from search.kt.safe_load import load_model_safely
from search.core.errors import UsageError
from tests.conftest import run_cli_here


def lambda_model(path):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: t / 16.0, name="scale")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.save(path)
    return model


@pytest.fixture
def run_with_lambda_model(tmp_path, mlflow_client, experiment_name):
    """A trial run whose best_model artifact holds a Lambda layer."""
    model_file = tmp_path / "best_model.keras"
    lambda_model(model_file)
    experiment_id = mlflow_client.create_experiment(experiment_name)
    run = mlflow_client.create_run(experiment_id, tags={tracking.TAG_TRIAL_ID: "0000"})
    mlflow_client.log_artifact(run.info.run_id, str(model_file), tracking.BEST_MODEL_ARTIFACT)
    mlflow_client.set_terminated(run.info.run_id)
    return run.info.run_id


def test_a_lambda_model_file_is_refused_unless_the_user_opts_in(tmp_path):
    lambda_model(tmp_path / "m.keras")
    with pytest.raises(UsageError, match=r"m\.keras: the model holds Python code \(e\.g\. a "
                                         r"Lambda layer\).*pass --unsafe-load only if you trust"):
        load_model_safely(tmp_path / "m.keras")
    loaded = load_model_safely(tmp_path / "m.keras", unsafe=True)
    x = np.ones((1, 8, 8, 1), "float32")
    assert loaded.predict(x, verbose=0).shape == (1, 10)


def test_export_refuses_a_lambda_model_with_exit_2(run_with_lambda_model, tmp_path, tracking_uri):
    result = run_cli_here("export", "--run-id", run_with_lambda_model, "--out", tmp_path / "out",
                          "--tracking-uri", tracking_uri, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    line = result.stderr.strip().splitlines()[-1]
    assert "the model holds Python code (e.g. a Lambda layer)" in line
    assert "--unsafe-load" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()

    opted_in = run_cli_here("export", "--run-id", run_with_lambda_model, "--out", tmp_path / "out",
                            "--tracking-uri", tracking_uri, "--unsafe-load", cwd=tmp_path)
    assert opted_in.returncode == 0, opted_in.stderr[-2000:]
    assert (tmp_path / "out" / "model.keras").is_file()


def test_spaces_build_no_code_layers():
    """The bundled spaces export files that safe mode loads."""
    import keras_tuner
    import spaces
    from search.kt.safe_load import code_layers
    for name in spaces.SPACES:
        model = spaces.load_space(name, (8, 8, 1), 10, 16).build(keras_tuner.HyperParameters())
        assert code_layers(model) == [], name
