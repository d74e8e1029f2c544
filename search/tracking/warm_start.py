"""`--warm-start EXPERIMENT|PARENT_RUN_ID`: an earlier search's best hyperparameters
become this search's first trial.

They are read back from MLflow (the earlier parent run's `best_run_id` tag, that
child run's params), turned back into the space's types, and queued on the oracle
(search/kt/oracle.py, QueuedValuesMixin): Hyperband trains them in the first
round of its first bracket and keeps them on merit. The parent run is tagged with
where they came from.
"""

import json
import logging
import re

from search.core.errors import UsageError
from search.core.store_paths import store_path
from search.kt import hp_values
from search.kt.oracle import declared_space
from search.tracking import INACTIVE

logger = logging.getLogger(__name__)

TAG_FROM = "warm_start_from"
TAG_VALUES = "warm_start_values"  # what the first trial trains
TAG_CHANGED = "warm_start_changed"  # earlier values this space could not take as they were
RUN_ID = re.compile(r"[0-9a-f]{32}")


def check_source(config):
    """The earlier search `--warm-start` names, looked up before anything is created
    (the project folder, the experiment, a new sqlite store): a refused warm start
    leaves nothing behind. None without --warm-start."""
    if not config.warm_start:
        return None
    uri = config.resolved_tracking_uri()
    path = store_path(uri)
    if path is not None and not path.exists():  # MLflow would create an empty store
        raise UsageError(f"--warm-start {config.warm_start!r}: no finished search in "
                         f"{uri} (no store at {path}; nothing was created); accepted: the "
                         f"experiment name or parent run id of a finished search in the "
                         f"same tracking store.")
    from mlflow.tracking import MlflowClient
    return earlier_search(MlflowClient(tracking_uri=uri), config.warm_start)


def first_values(tracker, config, hypermodel):
    """(the earlier best values fitted to this space, the tags to set: where they
    came from and the values this search trains, not the earlier ones); (None, {})
    without --warm-start. The oracle queues them (search/kt/oracle.py)."""
    if not config.warm_start:
        return None, {}
    parent = earlier_search(tracker.client, config.warm_start)
    best_run = tracker.client.get_run(parent.data.tags["best_run_id"])
    space_hps = declared_space(hypermodel)
    values, changes = fit_to_space(best_run.data.params, space_hps)
    trained = hp_values.complete_values(space_hps, values) if values else None
    if not trained:
        raise UsageError(f"--warm-start {config.warm_start!r}: none of the best trial's "
                         f"params (run {best_run.info.run_id}) is a hyperparameter of the "
                         f"space {config.space!r}; warm-start from a search of this space.")
    if changes:  # another space's values: said, not trained silently as something else
        logger.info(f"Warm start: {len(changes)} value(s) of run {best_run.info.run_id} are "
                    f"outside space {config.space!r} and were changed: {'; '.join(changes)}.")
    tags = {TAG_FROM: parent.info.run_id, TAG_VALUES: json.dumps(trained)}
    if changes:
        tags[TAG_CHANGED] = "; ".join(changes)[:5000]  # MLflow's tag value limit is larger
    logger.info(f"Warm start: the first trial of a new search takes the best "
                f"hyperparameters of search run {parent.info.run_id} ({trained}).")
    return trained, tags


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
    hyperparameters of the space that the params hold, fitted to the space."""
    return fit_to_space(params, space_hps)[0]


def fit_to_space(params, space_hps):
    """({hp name: value} to train, ["name earlier -> trained (why)"]) from an earlier
    trial's params: a number outside this space's range is clipped to it, a choice
    this space lacks becomes the nearest numeric choice (else the default), a value
    this space fixes is its fixed value. A conditional one that did not apply (logged
    INACTIVE, "n/a") is not a value: left to the space, and no change."""
    values, changes = {}, []
    for item in space_hps.space:
        text = params.get(item.name)
        if text is None or text == INACTIVE:
            continue
        config = item.get_config()
        if type(item).__name__ == "Fixed":
            if str(config["value"]) != text:
                changes.append(f"{item.name} {text} -> {config['value']} (fixed in this space)")
            continue
        value, why = _fit(item, config, text)
        if value is None:
            continue
        if why:
            changes.append(f"{item.name} {text} -> {value} ({why})")
        values[item.name] = value
    return values, changes


def _fit(item, config, text):
    """(value, why it differs from `text` or None); (None, None) if unreadable."""
    if "values" in config:  # Choice
        choices = config["values"]
        exact = next((v for v in choices if str(v) == text), None)
        if exact is not None:
            return exact, None
        number = _number(text)
        numeric = [v for v in choices if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if number is not None and numeric:
            return min(numeric, key=lambda v: abs(v - number)), f"nearest of {choices}"
        default = config.get("default", choices[0])
        return default, f"not among {choices}: the default"
    value = _parse(item, text)
    if value is None or "min_value" not in config:
        return value, None
    low, high = config["min_value"], config["max_value"]
    if low <= value <= high:
        return value, None
    return min(max(value, low), high), f"clipped to {low}..{high}"


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _parse(item, text):
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
