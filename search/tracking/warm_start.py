"""`--warm-start EXPERIMENT|PARENT_RUN_ID`: an earlier search's best hyperparameters
become this search's first trial.

They are read back from MLflow (the earlier parent run's `best_run_id` tag, that
child run's params), turned back into the space's types, and queued on the oracle
(search/kt/compat.py, QueuedValuesMixin): Hyperband trains them in the first
round of its first bracket and keeps them on merit. The parent run is tagged with
where they came from.
"""

import json
import logging
import re

from search.core.errors import UsageError

logger = logging.getLogger(__name__)

TAG_FROM = "warm_start_from"
TAG_VALUES = "warm_start_values"
RUN_ID = re.compile(r"[0-9a-f]{32}")


def seed_tuner(tuner, tracker, config, hypermodel):
    """Queue the earlier best values on the tuner's oracle; return the tags to set."""
    if not config.warm_start:
        return {}
    parent = earlier_search(tracker.client, config.warm_start)
    best_run = tracker.client.get_run(parent.data.tags["best_run_id"])
    values = typed_values(best_run.data.params, tuner.oracle.hyperparameters)
    if not values:
        raise UsageError(f"--warm-start {config.warm_start!r}: none of the best trial's "
                         f"params (run {best_run.info.run_id}) is a hyperparameter of the "
                         f"space {config.space!r}; warm-start from a search of this space.")
    if tuner.oracle.trials:  # a resumed search had its first trial already
        return {TAG_FROM: parent.info.run_id, TAG_VALUES: json.dumps(values)}
    tuner.oracle.queued_values = [values]
    logger.info(f"Warm start: the first trial takes the best hyperparameters of search run "
        f"{parent.info.run_id} ({values}).")
    return {TAG_FROM: parent.info.run_id, TAG_VALUES: json.dumps(values)}


def earlier_search(client, spec):
    """The parent run `spec` names (a run id), or the latest finished search of the
    experiment `spec` names."""
    if RUN_ID.fullmatch(spec):
        from mlflow.exceptions import MlflowException
        try:
            run = client.get_run(spec)
        except MlflowException:
            run = None
        if run is not None and "best_run_id" in run.data.tags:
            return run
    experiment = client.get_experiment_by_name(spec)
    runs = [] if experiment is None else client.search_runs(
        [experiment.experiment_id], "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=200)
    finished = [r for r in runs if "best_run_id" in r.data.tags]
    if not finished:
        raise UsageError(f"--warm-start {spec!r}: no finished search with that experiment name "
                         f"or parent run id in this tracking store; "
                         f"accepted: the experiment name or parent run id of a finished search "
                         f"in the same tracking store.")
    return finished[0]


def typed_values(params, space_hps):
    """MLflow params (strings) -> {hp name: value of the hp's own type}, for the
    hyperparameters of the space that the params hold (inactive ones left out)."""
    values = {}
    for item in space_hps.space:
        text = params.get(item.name)
        if text is None:
            continue
        value = _parse(item, text)
        if value is not None:
            values[item.name] = value
    return values


def _parse(item, text):
    config = item.get_config()
    if "values" in config:  # Choice: the value whose text matches
        return next((v for v in config["values"] if str(v) == text), None)
    kind = type(item).__name__
    try:
        if kind == "Int":
            return int(text)
        if kind == "Float":
            return float(text)
        if kind == "Boolean":
            return {"True": True, "False": False}.get(text)
    except ValueError:
        return None
    return None  # Fixed: the space sets it anyway
