"""The confirm stage in MLflow: the finished search it confirms (checked before
TensorFlow loads), one child run per (value, seed) under the search's parent run,
and, on resume, the runs a killed confirm left behind.

A confirm run carries the tags `bridge_search.role` = `bridge_search.stage` =
"confirm" (so the report and the trial queries leave it out), the varied
hyperparameter, its value, the seed, the epochs and the winner it varies: only a
FINISHED run with the same five is reused by a later confirm.
"""

import os
import tempfile
from dataclasses import dataclass

import time
from urllib.parse import quote, urlencode

from mlflow.entities import Metric, Param
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME, MLFLOW_RUN_NOTE

from search import tracking
from search.core.config_file import RESOLVED_CONFIG_FILE, load_config_file
from search.core.errors import UsageError
from search.tracking import links, report

INACTIVE = tracking.INACTIVE

CONFIRM = "confirm"
TAG_STAGE = "bridge_search.stage"
TAG_VARY = "bridge_search.confirm_vary"
TAG_VALUE = "bridge_search.confirm_value"
TAG_SEED = "bridge_search.confirm_seed"
TAG_EPOCHS = "bridge_search.confirm_epochs"
TAG_WINNER = "bridge_search.confirm_winner"
TAG_REFUSED = "bridge_search.refused_by_space"  # the space's rule that would refuse it
CONFIRM_ARTIFACT = "confirm"  # folder on the parent run: one subfolder per varied name


@dataclass
class SearchToConfirm:
    """A finished search: its parent run, its winner's run, its space's summary
    keys and its resolved config (search.toml: data, space, seed, batch size...)."""
    experiment_id: str
    parent: object
    winner: object
    keys: dict
    settings: dict

    @property
    def parent_run_id(self):
        return self.parent.info.run_id

    @property
    def question(self):
        return next(iter(self.keys), None)

    def winner_params(self):
        """The winner's hyperparameters as logged (text), inactive ones left out."""
        return {k: v for k, v in self.winner.data.params.items() if v != INACTIVE}


def open_search(client, experiment, run_id=None):
    """The finished search to confirm (default: the experiment's latest search).
    Not a search of this tool, not finished, or without its winner: UsageError."""
    found, parent = report.find_search(client, experiment, run_id)
    which = f"--run-id {parent.info.run_id}" if run_id else \
        f"the latest search of --experiment {experiment!r} (run {parent.info.run_id})"
    winner_id = parent.data.tags.get("best_run_id")
    if parent.info.status != "FINISHED" or not winner_id:
        raise UsageError(f"{which} has not finished (status {parent.info.status}); confirm "
                         f"needs a finished search: finish it with the same `bridge-search "
                         f"run` command, or pass --run-id of a finished one.")
    return SearchToConfirm(found.experiment_id, parent, client.get_run(winner_id),
                           report.summary_keys_of(parent), _settings(client, parent))


def _settings(client, parent):
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(parent.info.run_id, RESOLVED_CONFIG_FILE, folder)
        except Exception as error:  # noqa: BLE001 - MLflow raises several kinds
            raise UsageError(f"search run {parent.info.run_id} has no {RESOLVED_CONFIG_FILE} "
                             f"artifact ({type(error).__name__}); confirm needs a search "
                             f"logged by a bridge-search that writes it; run the search "
                             f"again.") from None
        return load_config_file(path)


def check_vary_name(source, vary):
    """The varied hyperparameter, judged from the winner's logged params (no
    TensorFlow): one the winner has. Its kind is judged once the space is built."""
    name = vary or source.question
    params = source.winner.data.params
    if name not in params:
        raise UsageError(f"--vary {name!r} is not a hyperparameter of the search's space; "
                         f"accepted: {', '.join(sorted(params))} (categorical or integer).")
    if params[name] == INACTIVE:
        raise UsageError(f"--vary {name!r} does not apply to the winner (a conditional "
                         f"hyperparameter inactive for its values); vary another one.")
    return name


def search_best(client, source, vary):
    """{value text: best val_accuracy} of the search's own finished trials: the
    ranking Hyperband gave, to set beside the controlled one."""
    query = (f"tags.{MLFLOW_PARENT_RUN_ID} = '{source.parent_run_id}' and "
             f"tags.`{tracking.TAG_ROLE}` = 'trial' and attributes.status = 'FINISHED'")
    best = {}
    for run in client.search_runs([source.experiment_id], filter_string=query,
                                  max_results=10000):
        value, score = run.data.params.get(vary), run.data.metrics.get("best_val_accuracy")
        if value is not None and score is not None and score > best.get(value, -1.0):
            best[value] = score
    return best


def confirm_runs(client, source):
    """Every confirm run under the search's parent run."""
    query = (f"tags.{MLFLOW_PARENT_RUN_ID} = '{source.parent_run_id}' and "
             f"tags.`{TAG_STAGE}` = '{CONFIRM}'")
    return client.search_runs([source.experiment_id], filter_string=query, max_results=10000)


def settle_runs(client, runs, metric):
    """Runs a killed confirm left RUNNING: FINISHED when their score was logged
    (killed while closing), else KILLED (trained again). Returns the FINISHED ones."""
    finished = []
    for run in runs:
        if run.info.status == "RUNNING":
            done = metric in run.data.metrics
            client.set_terminated(run.info.run_id, status="FINISHED" if done else "KILLED")
            if not done:
                continue
        elif run.info.status != "FINISHED":
            continue
        finished.append(run)
    return finished


def same_confirm(run, vary, epochs, winner_run_id):
    tags = run.data.tags
    return (tags.get(TAG_VARY) == vary and tags.get(TAG_EPOCHS) == str(epochs)
            and tags.get(TAG_WINNER) == winner_run_id)


def run_key(run):
    return run.data.tags.get(TAG_VALUE), int(run.data.tags.get(TAG_SEED, -1))


def start_run(client, source, name, params, tags):
    """A confirm child run under the search's parent, RUNNING until end_run."""
    run = client.create_run(source.experiment_id, tags={
        MLFLOW_PARENT_RUN_ID: source.parent_run_id, MLFLOW_RUN_NAME: name,
        tracking.TAG_ROLE: CONFIRM, TAG_STAGE: CONFIRM,
        tracking.TAG_SEARCH: source.parent_run_id, **{k: str(v) for k, v in tags.items()}})
    client.log_batch(run.info.run_id, params=[Param(str(k), str(v)[:6000])
                                              for k, v in params.items()])
    return run.info.run_id


def log_scores(client, run_id, metrics):
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0)
                                      for k, v in metrics.items() if v is not None])


def close_run(client, run_id):
    client.set_terminated(run_id, status="FINISHED")


def publish(client, source, files, verdict_markdown, vary):
    """The report `files` as artifacts `confirm/VARY/` of the parent run, and the
    verdict as the first lines of its description (replacing an earlier verdict
    on the same hyperparameter; one on another stays below it)."""
    for path in files:
        client.log_artifact(source.parent_run_id, str(path), f"{CONFIRM_ARTIFACT}/{vary}")
    start, end = note_markers(vary)
    note = client.get_run(source.parent_run_id).data.tags.get(MLFLOW_RUN_NOTE, "")
    if start in note and end in note:
        note = note.split(start)[0] + note.split(end, 1)[1].lstrip("\n")
    client.set_tag(source.parent_run_id, MLFLOW_RUN_NOTE,
                   f"{start}\n{verdict_markdown.strip()}\n{end}\n\n{note}")


def note_markers(vary):
    """Markdown comments around one verdict in the description (not rendered)."""
    return f"<!-- confirm {vary} -->", f"<!-- /confirm {vary} -->"


def runs_table_link(tracking_uri, source):
    """The MLflow UI's runs table of this search's confirm runs, best first."""
    base = links.ui_base(tracking_uri)
    query = {**links.ML_MODE,
             "searchFilter": f"tags.`{tracking.TAG_SEARCH}` = '{source.parent_run_id}' and "
                             f"tags.`{TAG_STAGE}` = '{CONFIRM}'",
             "orderByKey": "attributes.run_name", "orderByAsc": "true"}
    local = " (after `bridge-search ui`)" if base == links.DEFAULT_UI else ""
    return (f"Confirm runs in the MLflow UI{local}: {base}/#/experiments/"
            f"{source.experiment_id}/runs?{urlencode(query, quote_via=quote)}")
