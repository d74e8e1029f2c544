"""A finished search asked for another export (a new --export-dir, --quantize, or
its export folder gone): the winner it registered in MLflow is exported again,
nothing is trained (search/finished.py decides when)."""

import logging
import tempfile

from search import quiet
from search.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.tracking.reachable import check_reachable

log = logging.getLogger(__name__)


def export_again(config, summary, out_dir):
    """Export the registered winner of the finished search `summary` into `out_dir`
    (the options' ownership checks ran when the config was made); returns the folder."""
    uri = config.resolved_tracking_uri()
    check_reachable(uri)
    quiet.import_tensorflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    from search.winner import export
    model_uri = f"models:/{summary['registered_model']}/{summary['registered_version']}"
    log.info(f"This search already finished; exporting its winner ({model_uri}) again to "
             f"{out_dir}{' with the int8 model' if config.quantize else ''}: nothing is "
             f"trained.")
    client = MlflowClient(tracking_uri=uri)
    mlflow.set_tracking_uri(uri)
    with tempfile.TemporaryDirectory() as scratch:
        model = mlflow.tensorflow.load_model(model_uri, dst_path=scratch)
    run = client.get_run(summary.get("selected_run_id", summary["best_run_id"]))
    return export.export_model(model, out_dir, owner=config.search_identity(), info={
        **export.trial_info(run), "parent_run_id": summary["parent_run_id"],
        "exported_from": model_uri}, extra_files={RESOLVED_CONFIG_FILE: config_to_toml(config)},
        quantize=config.quantize)
