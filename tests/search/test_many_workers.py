"""Eight workers on one chief, on MLflow over PostgreSQL (keras-tuner#636: only
some workers get trials): every worker trains trials, no trial id is trained
twice, each worker's progress lines name it, matching the tuner_id tag of the
runs it logged, and the database holds the whole search."""

import json
import re

import psutil
import pytest
from mlflow.tracking import MlflowClient

from search import tracking
from search.distributed.launch_checks import free_port
from tests.conftest import run_cli
from tests.search.postgres import postgres_store  # noqa: F401 (fixture)
from tests.search.servers import VENV_BIN, http_process
from tests.search.test_postgres import check_search_in_store, trial_runs

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

WORKERS = 8
PROGRESS = re.compile(r"^(tuner\d+) \[trial \d+/~\d+\] id (\d+) ", re.MULTILINE)


def test_eight_workers_on_postgres_each_train_trials_and_say_which(tmp_path, postgres_store):
    # Hyperband(2, 2) three times over: 15 tiny trials, 12 of them new ones that up
    # to 6 open brackets hand out at once: enough for every worker even though the
    # first ones up (TensorFlow imports on a shared CPU) start early.
    experiment = "pg-eight-workers"
    result = run_cli("launch", "--workers", WORKERS, "--store", postgres_store,
                     "--artifacts", tmp_path / "artifacts", "--space", "bridge-small",
                     "--max-epochs", 2, "--factor", 2, "--hyperband-iterations", 3,
                     "--retrain", "none", "--experiment", experiment,
                     "--project-dir", tmp_path / "project", "--export-dir", tmp_path / "export",
                     "--summary-json", tmp_path / "summary.json", cwd=tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "launch: MLflow tracking server http://127.0.0.1:" in result.stderr
    database = postgres_store.split("://", 1)[1]
    assert f"on postgresql+psycopg2://{database} (pid" in result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The launcher's server is gone: read the database through a new one, so what
    # is checked is what PostgreSQL holds.
    port = free_port()
    with http_process([f"{VENV_BIN}/bridge-search", "server", "--store", postgres_store,
                       "--artifacts", str(tmp_path / "artifacts"), "--port", str(port)],
                      f"http://127.0.0.1:{port}/health", tmp_path / "server.log") as served:
        # MLflow's job runner (huey consumers) is not started: a search needs none.
        assert not [p for p in psutil.Process(served.pid).children(recursive=True)
                    if "huey" in " ".join(p.cmdline())]
        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        check_search_in_store(client, summary, experiment, n_trials=15)
        runs = trial_runs(client, summary)
    logged_by = {r.data.tags[tracking.TAG_TRIAL_ID]: r.data.tags["tuner_id"] for r in runs}
    assert set(logged_by.values()) == {f"tuner{i}" for i in range(1, WORKERS + 1)}
    said_by = {trial_id: tuner for tuner, trial_id in PROGRESS.findall(result.stderr)}
    assert said_by == logged_by
