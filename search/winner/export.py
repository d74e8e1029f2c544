"""Winner export: .keras + TF SavedModel + JSON on disk, MLflow model + registry alias."""

import json
import shutil
import tempfile
from pathlib import Path

import keras
import mlflow
import numpy as np

from search import quiet, tracking
from search.winner import export_dir, tflite
from search.crashpoints import crash_point
from search.errors import UsageError
from search.winner.registry import (CHAMPION_ALIAS, beats, current_champion_tags,
                                    registered_model_name, registry_tags, trial_run,
                                    version_of_run)

KERAS_FILE = "model.keras"
SAVED_MODEL_DIR = "saved_model"
INFO_FILE = "model_info.json"


def export_model(model: keras.Model, out_dir: str | Path, info: dict, owner: str,
                 extra_files: dict[str, str] | None = None, quantize: bool = False) -> Path:
    """Write `model.keras`, `saved_model/` (for TF Serving / TFLite), a JSON of
    hyperparameters and metrics and `extra_files` (name -> text) into a hidden
    folder beside `out_dir`, then move it into place (export_dir.replace_dir).
    `model.tflite` (and `model_int8.tflite` with `quantize`) too: search/winner/tflite.py.
    `owner` (a search's identity) marks the folder as ours: the same search may
    write there again, --overwrite may replace it, nothing else is ever removed."""
    staging = export_dir.staging_dir(out_dir)
    try:
        _write_export(model, staging, info, owner, extra_files or {}, quantize)
    except BaseException:
        # Made just now by this call, so ours: a full disk or an interrupt must not
        # leave megabytes of half an export beside the target.
        shutil.rmtree(staging, ignore_errors=True)
        raise
    crash_point("exporting")  # tests: killed with the export complete but not in place
    return export_dir.replace_dir(staging, out_dir, owner)


def _write_export(model, staging, info, owner, extra_files, quantize):
    export_dir.write_owner(staging, owner)  # first: leftovers are ours
    model.save(staging / KERAS_FILE)
    model.export(str(staging / SAVED_MODEL_DIR), format="tf_saved_model", verbose=False)
    sizes = {KERAS_FILE: (staging / KERAS_FILE).stat().st_size / 1e6,
             **tflite.write_tflite(model, staging, quantize)}
    info = {**info, "file_sizes_mb": sizes}
    (staging / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    for name, text in extra_files.items():
        (staging / name).write_text(text)


def log_winner(tracker: "tracking.SearchTracker", model: keras.Model, x_example: np.ndarray,
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
        mlflow.set_tracking_uri(tracker.tracking_uri)
        with tracker._timed(), quiet.registration_prints_off(), \
                mlflow.start_run(run_id=tracker.parent_run_id):
            info = mlflow.tensorflow.log_model(model, name="winner", signature=signature,
                                               input_example=x_example,
                                               registered_model_name=name,
                                               pip_requirements=pip_requirements())
        version = str(info.registered_model_version)
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


def code_layers(model: keras.Model) -> list[str]:
    """Names of the layers that hold Python code (Lambda), nested models included:
    Keras safe mode refuses to load a file with them."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.Lambda):
            found.append(layer.name)
        found += code_layers(layer)
    return found


def load_model_safely(path: str | Path, unsafe: bool = False,
                      flag: str = "--unsafe-load") -> keras.Model:
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


def load_trial_model(client, run_id: str, unsafe: bool = False,
                     run: "mlflow.entities.Run | None" = None
                     ) -> tuple[keras.Model, "mlflow.entities.Run"]:
    """Download and load the best-epoch model a trial logged (Keras safe mode
    unless `unsafe`); `run`: the trial's run, when the caller has read it already."""
    run = run or trial_run(client, run_id)
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


def trial_info(run: "mlflow.entities.Run") -> dict:
    """Hyperparameters and metrics of a trial run, for model_info.json."""
    return {"run_id": run.info.run_id,
            "trial_id": run.data.tags.get(tracking.TAG_TRIAL_ID),
            "hyperparameters": dict(run.data.params),
            "metrics": dict(run.data.metrics)}
