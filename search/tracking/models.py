"""The MLflow side of models: each trial's best model downloaded, the winner
logged as an MLflow model and registered (the `champion` alias), a trial's
hyperparameters and metrics for model_info.json."""

import tempfile
from pathlib import Path

import keras
import mlflow
import numpy as np
from mlflow.tracking._tracking_service.utils import _use_tracking_uri

from search import tracking
from search.core import quiet
from search.core.errors import UsageError
from search.kt.safe_load import load_model_safely
from search.tracking import SearchTracker
from search.tracking.registry import (CHAMPION_ALIAS, beats, current_champion_tags,
                                      registered_model_name, registry_tags, trial_run,
                                      version_of_run)


def log_winner(tracker: SearchTracker, model: keras.Model, x_example: np.ndarray,
               scores: dict) -> tuple[str, str]:
    """Log the winner as an MLflow model on the parent run and register it (once
    per search: a resumed search finds the version it registered before it was
    killed), tag it with `scores` and move the `champion` alias to it unless the
    current champion scores higher (see champion_metric)."""
    name = registered_model_name(tracker.experiment_name)
    client = tracker.client
    version = version_of_run(client, name, tracker.parent_run_id)
    if version is None:
        x_example = np.asarray(x_example[:2], dtype="float32")
        signature = mlflow.models.infer_signature(x_example,
                                                  model.predict(x_example, verbose=0))
        with tracker.timed(), quiet.registration_prints_off():
            version = _log_and_register(tracker, model, name, signature, x_example)
    tags = registry_tags(scores)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    champion = current_champion_tags(client, name)
    if champion is None or champion.get("version") == version or beats(tags, champion):
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return name, version


def pip_requirements():
    """The packages the winner needs to be served, pinned to what trained it.

    Given explicitly because MLflow's inference of them re-imports the model in a
    subprocess, most of the time that logging the winner took (docs/benchmarks.md)."""
    from importlib import metadata
    wanted = []
    for package in ("tensorflow", "tensorflow-cpu", "keras"):
        try:
            wanted.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return wanted


def _log_and_register(tracker, model, name, signature, x_example):
    """The one fluent MLflow call: MLflow 3 makes a LoggedModel only through
    `mlflow.tensorflow.log_model` in an active run. The global tracking URI and
    the active run are set for this call only and restored after it."""
    with _use_tracking_uri(tracker.tracking_uri), \
            mlflow.start_run(run_id=tracker.parent_run_id):
        info = mlflow.tensorflow.log_model(model, name="winner", signature=signature,
                                           input_example=x_example,
                                           registered_model_name=name,
                                           pip_requirements=pip_requirements())
    return str(info.registered_model_version)


def load_trial_model(client, run_id: str, unsafe: bool = False,
                     run: "mlflow.entities.Run | None" = None
                     ) -> tuple[keras.Model, "mlflow.entities.Run"]:
    """Download and load the best-epoch model a trial logged (Keras safe mode
    unless `unsafe`); `run`: the trial's run, when the caller has read it already."""
    run = run or trial_run(client, run_id)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            folder = client.download_artifacts(run_id, tracking.BEST_MODEL_ARTIFACT, scratch)
        except Exception:
            raise UsageError(f"--run-id {run_id}: the run has no {tracking.BEST_MODEL_ARTIFACT}/ "
                             f"artifact; only trial runs that finished carry a model.") from None
        model_file = next(Path(folder).glob("*.keras"), None)
        if model_file is None:  # another tool's run, or files added by hand
            raise UsageError(f"--run-id {run_id}: the run's {tracking.BEST_MODEL_ARTIFACT}/ "
                             f"artifact holds no .keras file; only trial runs that finished "
                             f"carry a model.")
        model = load_model_safely(model_file, unsafe)
    return model, run


def typed_param(text):
    """An MLflow param (always a string) back as the int, float or bool it was
    logged from; other text stays text ("flatten", "INACTIVE")."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def trial_info(run: "mlflow.entities.Run") -> dict:
    """Hyperparameters and metrics of a trial run, for model_info.json."""
    return {"run_id": run.info.run_id,
            "trial_id": run.data.tags.get(tracking.TAG_TRIAL_ID),
            # a conditional one that did not apply is logged "n/a": not a value
            "hyperparameters": {k: typed_param(v) for k, v in run.data.params.items()
                                if v != tracking.INACTIVE},
            "metrics": dict(run.data.metrics)}


def registered_uri(name, version):
    return f"models:/{name}/{version}"


def load_registered_winner(tracking_uri, model_uri, run_id):
    """The registered model `model_uri` and the trial run it came from."""
    try:
        with _use_tracking_uri(tracking_uri), tempfile.TemporaryDirectory() as scratch:
            model = mlflow.tensorflow.load_model(model_uri, dst_path=scratch)
    except mlflow.exceptions.MlflowException as error:  # e.g. a store moved from its artifacts
        raise UsageError(f"the store {tracking_uri} cannot give the winner {model_uri} "
                         f"({str(error).splitlines()[0][:200]}); was the folder moved "
                         f"after the search? Its artifacts stay where they were logged.") \
            from None
    return model, tracking.open_client(tracking_uri).get_run(run_id)
