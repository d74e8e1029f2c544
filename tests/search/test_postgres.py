"""MLflow on PostgreSQL: a wrong database URI is exit 2 with one line (the search
that `launch --store postgresql://...` runs on a real database, with eight
workers, is in test_many_workers.py)."""

import re
import time

import pytest

from search import tracking
from search.tracking.registry import registered_model_name
from tests.conftest import run_cli
from tests.search.postgres import ADMIN_URI, postgres_store  # noqa: F401 (fixture)

HOST = ADMIN_URI.split("@", 1)[1].split("/", 1)[0]
USER = ADMIN_URI.split("://", 1)[1].split("@", 1)[0]
WRONG_STORES = {
    "bad port": (f"postgresql://{USER}@127.0.0.1:1/test", r"port 1 failed"),
    "missing database": (f"postgresql://{USER}@{HOST}/bs_no_such_db",
                         r'database "bs_no_such_db" does not exist'),
    "wrong user": (f"postgresql://bs_no_such_user@{HOST}/test",
                   r'role "bs_no_such_user" does not exist'),
    "bad host": (f"postgresql://{USER}@no-such-host.invalid/test", r"no-such-host.invalid"),
    "password hidden": (f"postgresql+psycopg2://{USER}:s3cret@127.0.0.1:1/test",
                        rf"postgresql\+psycopg2://{USER}:\*\*\*@127.0.0.1:1/test"),
    "not a database": ("mysql://u@h/db", r"unsupported store; accepted: sqlite:///PATH or "
                                         r"postgresql://"),
}


@pytest.mark.parametrize("command", ["server", "launch"])
@pytest.mark.parametrize("case", sorted(WRONG_STORES))
def test_a_wrong_database_uri_is_exit_2_with_one_line(tmp_path, command, case):
    store, expected = WRONG_STORES[case]
    started = time.monotonic()
    result = run_cli(command, "--store", store, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridge-search: error: --store "), lines
    assert re.search(expected, lines[0]), lines[0]
    assert "s3cret" not in result.stderr
    assert time.monotonic() - started < 30  # a connect timeout, not the server's retries
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_store_and_a_tracking_server_together_are_refused(tmp_path, postgres_store):
    result = run_cli("launch", "--store", postgres_store, "--tracking-uri",
                     "http://127.0.0.1:1", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "both name the store; give one" in result.stderr


def trial_runs(client, summary):
    return client.search_runs([summary["experiment_id"]], filter_string=(
        f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"), max_results=1000)


def check_search_in_store(client, summary, experiment, n_trials):
    """One FINISHED run per trial, each with its whole val_accuracy history and
    its best model; the champion registered; no run RUNNING."""
    assert summary["n_trials"] == n_trials
    runs = trial_runs(client, summary)
    trial_ids = [r.data.tags[tracking.TAG_TRIAL_ID] for r in runs]
    assert sorted(trial_ids) == sorted(set(trial_ids)) and len(runs) == n_trials
    assert {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert len(history) == int(run.data.metrics["epochs_trained"]) >= 1, run.data.tags
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id,
                                                           tracking.BEST_MODEL_ARTIFACT)]
        assert artifacts, f"run {run.info.run_id} has no best model"
    parent = client.get_run(summary["parent_run_id"])
    assert parent.info.status == "FINISHED"
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    assert not client.search_runs([experiment_id], "attributes.status = 'RUNNING'")
    champion = client.get_model_version_by_alias(registered_model_name(experiment), "champion")
    assert champion.version == str(summary["registered_version"])
