"""The MLflow UI as a newcomer meets it, in a real browser: `bridge-search ui` on a
store holding a real tiny search, its printed links opened in headless Chromium,
and what the rendered page shows checked from the DOM."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import psutil
import pytest

from search.distributed.launch_checks import free_port
from tests.conftest import TINY_SEARCH_LOG
from tests.search.servers import http_process

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--virtual-time-budget=20000")


def chromium():
    """Debian's chromium; installed with apt-get when missing and allowed (root)."""
    if shutil.which("chromium") is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True,
                       timeout=900, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed and cannot be installed here "
                    "(needs root and apt-get: `apt-get install -y chromium`)")
    return path


def rendered_dom(url):
    """The DOM after the page's scripts ran (collapsed rows are not in it)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                               "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def ui_on_a_search(tmp_path_factory, tiny_search, tracking_uri):
    """The shared real tiny search, and `bridge-search ui` serving its store."""
    config, summary, search_work = tiny_search
    work = tmp_path_factory.mktemp("ui")
    uri = tracking_uri
    said = json.loads((search_work / TINY_SEARCH_LOG).read_text())
    port = free_port()
    command = [sys.executable, "-m", "search", "ui", "--tracking-uri", uri,
               "--experiment", config.experiment, "--port", str(port)]
    log = work / "ui.log"
    with http_process(command, f"http://127.0.0.1:{port}/health", log) as ui:
        processes = [psutil.Process(ui.pid), *psutil.Process(ui.pid).children(recursive=True)]
        command_lines = [" ".join(process.cmdline()) for process in processes]
        yield summary, log.read_text(), f"http://127.0.0.1:{port}", uri, said, command_lines


def printed_url(output, label):
    match = re.search(rf"{re.escape(label)}: (\S+)", output)
    assert match, f"`bridge-search ui` printed no {label!r} link:\n{output}"
    return match.group(1)


def test_ui_prints_the_runs_table_and_the_comparison_of_the_search(ui_on_a_search):
    summary, output, base, _, _, _ = ui_on_a_search
    table = printed_url(output, "Trials of this search (runs table)")
    assert table.startswith(f"{base}/#/experiments/{summary['experiment_id']}/runs?")
    assert "workflowType=machine_learning" in table and summary["parent_run_id"] in table
    compare = printed_url(output, "Compare its trials")
    assert compare.startswith(f"{base}/#/compare-runs?") and "runs=" in compare
    assert summary["best_run_id"] in compare


def test_ui_starts_without_mlflow_job_runner(ui_on_a_search):
    """MLflow's job runner (huey consumers, for its GenAI jobs) is not started."""
    command_lines = ui_on_a_search[-1]
    assert any(" -m mlflow " in line for line in command_lines), command_lines
    assert not [line for line in command_lines if "huey" in line]


def test_run_ends_with_the_same_links(ui_on_a_search):
    summary, output, _, _, said, _ = ui_on_a_search
    assert said[-4] == "In the MLflow UI (after `bridge-search ui`):"
    for label in ("Trials of this search (runs table)", "Compare its trials",
                  "The search's result (parent run)"):
        ran = printed_url("\n".join(said[-3:]), label)
        # the same page; `run` names `bridge-search ui`'s default address
        assert ran.startswith("http://127.0.0.1:5000/#/")
        assert ran.split("/#/")[1] == printed_url(output, label).split("/#/")[1]


def test_runs_table_lists_the_search_and_its_trials_by_architecture(ui_on_a_search):
    from mlflow.tracking import MlflowClient
    summary, output, _, uri, _, _ = ui_on_a_search
    client = MlflowClient(tracking_uri=uri)
    trials = client.search_runs([summary["experiment_id"]], filter_string=(
        f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"))
    names = {run.info.run_name for run in trials}
    assert all(re.fullmatch(r"\d{4} (flatten|gap|gmp|concat) d\d w\d+", name)
               for name in names), names
    parent_name = client.get_run(summary["parent_run_id"]).info.run_name
    dom = rendered_dom(printed_url(output, "Trials of this search (runs table)"))
    for name in names | {parent_name}:
        assert name in dom, f"{name!r} is not listed on the runs table"
    # the runs table itself (not the GenAI overview), holding this search's runs only
    assert re.search(rf">{len(trials) + 1}</\w+> matching runs", dom), "not this search's runs"


def test_parent_run_page_shows_the_result_description(ui_on_a_search):
    summary, output, _, _, _, _ = ui_on_a_search
    dom = rendered_dom(printed_url(output, "The search's result (parent run)"))
    for text in ("Winner:", "Best trial per bridge", "Data and budget",
                 f"bridge-search export --run-id {summary['best_run_id']}",
                 f"{summary['best_val_accuracy']:.4f}"):
        assert text in dom, f"{text!r} is not on the parent run's page"


def test_compare_link_shows_the_trials_side_by_side(ui_on_a_search):
    summary, output, _, _, _, _ = ui_on_a_search
    dom = rendered_dom(printed_url(output, "Compare its trials"))
    assert "Parallel Coordinates Plot" in dom, "the compare page did not render"
    assert "Error while loading compare runs page" not in dom
    best_name = f"{summary['best_hyperparameters']['bridge']} d"
    assert best_name in dom
