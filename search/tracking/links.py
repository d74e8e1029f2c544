"""Direct MLflow UI links to one search: its runs table, its trials compared, its run.

MLflow 3.x's UI opens an experiment in its GenAI mode (an empty Traces overview)
unless the URL carries `workflowType=machine_learning` (the sidebar switch
"Machine learning" does the same); the experiment tag `mlflow.experimentKind`
does not decide it. Every link here carries it.

The runs table nests child runs under a collapsed parent only while it is sorted
by start time; sorted by `best_val_accuracy` it lists the parent and every trial
as rows, best first, and the filter keeps them to this one search.
"""

import json
from urllib.parse import quote, urlencode, urlparse

from search import tracking

DEFAULT_UI = "http://127.0.0.1:5000"  # where `bridge-search ui` serves by default
ML_MODE = {"workflowType": "machine_learning"}
OBJECTIVE_METRIC = "best_val_accuracy"


def ui_base(tracking_uri, default=DEFAULT_UI):
    """An http(s) tracking server serves the UI itself; a local store needs `bridge-search ui`."""
    if urlparse(tracking_uri).scheme in ("http", "https"):
        return tracking_uri.rstrip("/")
    return default.rstrip("/")


def runs_table_url(base, experiment_id, parent_run_id):
    query = {**ML_MODE,
             "searchFilter": f"tags.`{tracking.TAG_SEARCH}` = '{parent_run_id}'",
             "orderByKey": f"metrics.`{OBJECTIVE_METRIC}`", "orderByAsc": "false"}
    return f"{base}/#/experiments/{experiment_id}/runs?{urlencode(query, quote_via=quote)}"


def compare_url(base, experiment_id, run_ids):
    # The compare page reads `runs` and `experiments` by position: they come first.
    query = {"runs": json.dumps(list(run_ids), separators=(",", ":")),
             "experiments": json.dumps([str(experiment_id)]), **ML_MODE}
    return f"{base}/#/compare-runs?{urlencode(query, quote_via=quote)}"


def run_url(base, experiment_id, run_id):
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{urlencode(ML_MODE)}"


def search_links(client, base, experiment_id, parent_run_id):
    """[(label, url)] of one search: its runs table, its finished trials compared,
    and its parent run (whose description holds the result)."""
    trials = client.search_runs(
        [experiment_id], max_results=10000,
        filter_string=f"tags.{tracking.MLFLOW_PARENT_RUN_ID} = '{parent_run_id}'")
    finished = [run.info.run_id for run in trials if run.info.status == "FINISHED"
                and run.data.tags.get(tracking.TAG_ROLE) != "confirm"]  # trials only
    return [("Trials of this search (runs table)", runs_table_url(base, experiment_id, parent_run_id)),
            ("Compare its trials", compare_url(base, experiment_id, finished)),
            ("The search's result (parent run)", run_url(base, experiment_id, parent_run_id))]


def link_lines(client, tracking_uri, experiment_id, parent_run_id, base=None):
    """The lines `run` ends with and `ui` prints. `base`: where the UI is served
    (default: the tracking server, or `bridge-search ui`'s address for a local store)."""
    local = base is None and ui_base(tracking_uri) == DEFAULT_UI
    base = base or ui_base(tracking_uri)
    header = "In the MLflow UI" + (" (after `bridge-search ui`)" if local else "") + ":"
    return [header] + [f"  {label}: {url}" for label, url in
                       search_links(client, base, experiment_id, parent_run_id)]


def latest_search_lines(tracking_uri, experiment_name, base):
    """`link_lines` of the experiment's latest search, or a line saying there is none."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    searches = [] if experiment is None else client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{tracking.TAG_ROLE}` = 'search'",
        order_by=["attributes.start_time DESC"], max_results=1)
    if not searches:
        return [f"No search in experiment {experiment_name!r} yet "
                f"(`bridge-search run --experiment {experiment_name}`)."]
    return link_lines(client, tracking_uri, experiment.experiment_id,
                      searches[0].info.run_id, base=base)
