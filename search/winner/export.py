"""Winner export: .keras + TF SavedModel + JSON on disk, MLflow model + registry alias."""

import json
import re
import shutil
import tempfile
from pathlib import Path

import keras
import mlflow
import numpy as np

from search import quiet
from search import tracking
from search.config import EXPORT_OWNER_FILE
from search.errors import UsageError

CHAMPION_ALIAS = "champion"
KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
INFO_FILE = "model_info.json"


def export_model(model, out_dir, info, overwrite=False, owner=None):
    """Write `model.keras`, `saved_model/` (for TF Serving / TFLite) and a JSON of
    hyperparameters and metrics into `out_dir`; `owner` (a search's identity)
    marks the folder as that search's, so rerunning it may write there again."""
    out = Path(out_dir)
    check_out_dir(out_dir, overwrite)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if owner:
        (out / EXPORT_OWNER_FILE).write_text(owner)
    model.save(out / KERAS_FILE)
    model.export(str(out / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    return out


def registered_model_name(experiment):
    """Registry name derived from the experiment: letters, digits, '-', '_', '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment).strip("-") + "-classifier"


def log_winner(tracker, model, x_example, val_accuracy):
    """Log the winner as an MLflow model on the parent run, register it and move
    the `champion` alias to it unless an earlier version scored higher."""
    name = registered_model_name(tracker.experiment_name)
    x_example = np.asarray(x_example[:2], dtype="float32")
    signature = mlflow.models.infer_signature(x_example, model.predict(x_example, verbose=0))
    mlflow.set_tracking_uri(tracker.tracking_uri)
    with tracker._timed(), quiet.registration_prints_off(), \
            mlflow.start_run(run_id=tracker.parent_run_id):
        info = mlflow.tensorflow.log_model(model, name="winner", signature=signature,
                                           input_example=x_example,
                                           registered_model_name=name,
                                           pip_requirements=pip_requirements())
    version = str(info.registered_model_version)
    client = tracker.client
    client.set_model_version_tag(name, version, "val_accuracy", f"{val_accuracy:.6f}")
    champion = _current_champion_score(client, name)
    if champion is None or val_accuracy > champion:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    return name, version


def champion_uri(tracking_uri, experiment, alias=CHAMPION_ALIAS):
    """`models:/EXPERIMENT-classifier@alias`, checked to exist in the registry."""
    name = registered_model_name(experiment)
    try:
        mlflow.tracking.MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(
            name, alias)
    except mlflow.exceptions.MlflowException:
        raise UsageError(f"--experiment {experiment!r} --alias {alias!r}: no model "
                         f"{name}@{alias} in the registry of {tracking_uri}; a finished "
                         f"`bridge-search run --experiment {experiment}` registers one, or "
                         f"pass --model-uri.") from None
    return f"models:/{name}@{alias}"


def pip_requirements():
    """The packages the winner needs to be served, pinned to what trained it.

    Given explicitly because MLflow's inference of them re-imports the model in a
    subprocess: measured 12 of the 13 s that logging the winner took."""
    from importlib import metadata
    wanted = []
    for package in ("tensorflow", "tensorflow-cpu", "keras"):
        try:
            wanted.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return wanted


def _current_champion_score(client, name):
    try:
        version = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except mlflow.exceptions.MlflowException:
        return None
    return float(version.tags.get("val_accuracy", "-inf"))


def code_layers(model):
    """Names of the layers that hold Python code (Lambda), nested models included:
    Keras safe mode refuses to load a file with them."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.Lambda):
            found.append(layer.name)
        found += code_layers(layer)
    return found


def check_out_dir(out_dir, overwrite):
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out_dir!r} is a file; give a directory.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"--out {out_dir!r} exists and is not empty; pass --overwrite "
                         f"or choose another directory.")


def load_model_safely(path, unsafe=False, flag="--unsafe-load"):
    """Load a .keras file in Keras safe mode: a file holding Python code (a
    Lambda layer's bytecode) is refused unless the user opts in with `flag`."""
    try:
        return keras.models.load_model(path, safe_mode=not unsafe)
    except ValueError as error:
        if unsafe or "safe_mode" not in str(error):
            raise
        raise UsageError(f"{path.name if hasattr(path, 'name') else path}: the model holds "
                         f"Python code (e.g. a Lambda layer), which Keras safe mode refuses "
                         f"to load; pass {flag} only if you trust where it came from.") from None


def load_trial_model(client, run_id, unsafe=False):
    """Download and load the best-epoch model a trial logged (Keras safe mode
    unless `unsafe`)."""
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise UsageError(f"--run-id {run_id!r}: no such run in this tracking store; "
                         f"find trial run ids in `bridge-search report` or the MLflow UI.") from None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=tracking.BEST_MODEL_ARTIFACT,
                dst_path=scratch, tracking_uri=client._tracking_client.tracking_uri)
        except Exception:
            raise UsageError(f"--run-id {run_id}: the run has no {tracking.BEST_MODEL_ARTIFACT}/ "
                             f"artifact; only trial runs that finished carry a model.") from None
        model_file = next(Path(folder).glob("*.keras"))
        model = load_model_safely(model_file, unsafe)
    return model, run


def trial_info(run):
    """Hyperparameters and metrics of a trial run, for model_info.json."""
    return {"run_id": run.info.run_id,
            "trial_id": run.data.tags.get(tracking.TAG_TRIAL_ID),
            "hyperparameters": dict(run.data.params),
            "metrics": dict(run.data.metrics)}
