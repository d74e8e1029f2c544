"""`launch --time-budget` on PostgreSQL (issue 27, items 5 and 22): the chief used
to wait forever for workers the budget had stopped (killed at 400 s); the
follow-up commands it printed named launch's temporary server or no store at all.
One real launch (server, chief, 2 workers) on a fresh database checks both, and
the printed report command is run as printed."""

import json
import re
import shlex
import time

import pytest

from tests.conftest import run_cli
from tests.search.postgres import postgres_store  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def test_launch_with_a_time_budget_ends_and_prints_follow_ups_that_work(tmp_path,
                                                                        postgres_store):
    store = postgres_store.replace("postgresql://", "postgresql+psycopg2://", 1)
    experiment = "budget-launch"
    started = time.monotonic()
    result = run_cli("launch", "--workers", 2, "--store", store, "--artifacts",
                     tmp_path / "artifacts", "--space", "bridge-small", "--time-budget", "2m",
                     "--retrain", "none", "--experiment", experiment,
                     "--project-dir", tmp_path / "project", "--export-dir", tmp_path / "export",
                     "--summary-json", tmp_path / "summary.json", cwd=tmp_path, timeout=600)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-4000:]
    # 2m of budget, plus the server's start and the launcher's own imports.
    assert took < 300, (took, result.stderr[-3000:])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_trials"] >= 1 and summary["budget_used_seconds"] < 180, summary
    report = re.search(r"print it again: (bridge-search report .*)$", result.stderr,
                       re.MULTILINE).group(1)
    assert report.endswith(f" --tracking-uri {store}"), report
    again = run_cli(*shlex.split(report)[1:], "--out", tmp_path / "report", cwd=tmp_path,
                    timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert summary["parent_run_id"] in (tmp_path / "report" / "report.md").read_text()
    assert (f"In the MLflow UI (after `bridge-search server --store {store} --artifacts "
            f"{tmp_path / 'artifacts'}`):") in result.stderr
    served = run_cli("serve", "--tracking-uri", store, "--experiment", experiment,
                     cwd=tmp_path, timeout=120)
    assert served.returncode == 2, served.stderr[-3000:]
    [line] = served.stderr.strip().splitlines()
    assert "mlflow-artifacts:/" in line and "--tracking-uri http://HOST:PORT" in line, line
