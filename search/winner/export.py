"""Winner export to disk: .keras + TF SavedModel + TFLite + JSON, written beside
the target and renamed into place (MLflow's copy: search/tracking/models.py)."""

import json
import os
import shutil
from pathlib import Path

import keras

from search.core.crashpoints import crash_point
from search.core import export_dir
from search.winner import tflite

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
    _follow_umask(staging / SAVED_MODEL_DIR)
    sizes = {KERAS_FILE: (staging / KERAS_FILE).stat().st_size / 1e6,
             **tflite.write_tflite(model, staging, quantize)}
    info = {**info, "file_sizes_mb": sizes}
    (staging / INFO_FILE).write_text(json.dumps(info, indent=2, default=str))
    for name, text in extra_files.items():
        (staging / name).write_text(text)


def _follow_umask(folder):
    """TensorFlow creates SavedModel folders 0755 whatever the umask; a group that
    shares exports (umask 002) must be able to replace them as it does the rest."""
    umask = os.umask(0o22)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o777 & ~umask)
