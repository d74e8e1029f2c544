"""A finished search asked for another export (a new --export-dir, --quantize, or
its export folder gone): the winner it registered in MLflow is exported again,
nothing is trained (search/preflight.py decides when)."""

import logging

from search.core.config_file import RESOLVED_CONFIG_FILE, config_to_toml
from search.core.stores import check_reachable
from search.tracking import models
from search.winner import export

log = logging.getLogger(__name__)


def export_again(config, summary, out_dir):
    """Export the registered winner of the finished search `summary` into `out_dir`
    (the options' ownership checks ran when the config was made); returns the folder."""
    uri = config.resolved_tracking_uri()
    check_reachable(uri)
    model_uri = models.registered_uri(summary["registered_model"], summary["registered_version"])
    log.info(f"This search already finished; exporting its winner ({model_uri}) again to "
             f"{out_dir}{' with the int8 model' if config.quantize else ''}: nothing is "
             f"trained.")
    model, run = models.load_registered_winner(
        uri, model_uri, summary.get("selected_run_id", summary["best_run_id"]))
    return export.export_model(model, out_dir, owner=config.search_identity(), info={
        **models.trial_info(run), "parent_run_id": summary["parent_run_id"],
        "exported_from": model_uri}, extra_files={RESOLVED_CONFIG_FILE: config_to_toml(config)},
        quantize=config.quantize)
