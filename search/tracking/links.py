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
import os
import shlex
from urllib.parse import quote, unquote, urlencode, urlparse

from search import tracking
from search.core.config import DEFAULT_TRACKING_URI
from search.core.stores import LAUNCH_ARTIFACTS_ENV, LAUNCH_STORE_ENV

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
    (default: the tracking server, or `bridge-search ui`'s address for a local store).
    A launched chief's tracking server is launch's own, gone when launch exits: its
    links are for `bridge-search server` on the same store, which the header names."""
    after = None
    if base is None and launch_store():
        base, after = DEFAULT_UI, server_command()
    elif base is None and ui_base(tracking_uri) == DEFAULT_UI:
        after = "bridge-search ui"
    base = base or ui_base(tracking_uri)
    header = "In the MLflow UI" + (f" (after `{after}`)" if after else "") + ":"
    return [header] + [f"  {label}: {url}" for label, url in
                       search_links(client, base, experiment_id, parent_run_id)]


def launch_store():
    """The database behind a launched search's temporary server, or None."""
    return os.environ.get(LAUNCH_STORE_ENV) or None


def server_command():
    """`bridge-search server` on a launched search's store and artifacts (its
    default port serves DEFAULT_UI): the links and artifacts work through it."""
    command = f"bridge-search server --store {shlex.quote(launch_store())}"
    artifacts = os.environ.get(LAUNCH_ARTIFACTS_ENV, "")
    if artifacts.startswith("file://"):
        command += f" --artifacts {shlex.quote(unquote(urlparse(artifacts).path))}"
    return command


def store_option(tracking_uri):
    """` --tracking-uri URI` for a printed follow-up command, unless it is the
    default store; a launched search names its database, not launch's server."""
    store = launch_store() or tracking_uri
    return "" if store == DEFAULT_TRACKING_URI else f" --tracking-uri {shlex.quote(store)}"


def latest_search_lines(tracking_uri, experiment_name, base):
    """`link_lines` of the latest search of `experiment_name`, or of the whole store
    when it is None (what a newcomer just ran, whatever its experiment), then the
    other experiments that hold searches; or a line saying there is none."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = client.search_experiments(max_results=1000)
    if experiment_name is not None:
        experiments = [e for e in experiments if e.name == experiment_name]
    latest = {e.experiment_id: _latest_search(client, e.experiment_id) for e in experiments}
    latest = {key: run for key, run in latest.items() if run is not None}
    if not latest:
        where = "the store" if experiment_name is None else f"experiment {experiment_name!r}"
        return [f"No search in {where} yet (`bridge-search run"
                + ("" if experiment_name is None else f" --experiment {experiment_name}")
                + "`)."]
    newest = max(latest.values(), key=lambda run: run.info.start_time)
    names = {e.experiment_id: e.name for e in experiments}
    name, experiment = newest.info.run_name, names[newest.info.experiment_id]
    lines = [f"Latest search: {name}" + ("" if name.startswith(f"{experiment}: ")
                                         else f" (experiment {experiment!r})"),
             *link_lines(client, tracking_uri, newest.info.experiment_id, newest.info.run_id,
                         base=base)]
    others = sorted(names[key] for key in latest if key != newest.info.experiment_id)
    if others:
        lines.append("Other experiments with searches (`bridge-search ui --experiment NAME`): "
                     + ", ".join(others))
    return lines


def _latest_search(client, experiment_id):
    runs = client.search_runs([experiment_id],
                              filter_string=f"tags.`{tracking.TAG_ROLE}` = 'search'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None
