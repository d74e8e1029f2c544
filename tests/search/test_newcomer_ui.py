"""`bridge-search ui` on the search you just ran (issue 25, item 2): without
--experiment it links the latest search in the store, whatever its experiment, and
names the other experiments that hold searches; the parent run is named from its
experiment and answer. On a real store, no training; the real-browser walk-through
runs only where chromium is installed."""

import re
import subprocess
import sys
import tempfile
import time

import pytest

import spaces
from search import tracking
from search.distributed.launch_checks import free_port
from search.tracking import links, run_names
from tests.search.servers import http_process
from tests.search.test_ui_browser import chromium

BASE = "http://127.0.0.1:5000"


def _search(uri, experiment):
    tracker = tracking.SearchTracker(uri, experiment)
    tracker.open_experiment()
    run_id = tracker.start_search(run_names.running_name(experiment), params={}, tags={})
    time.sleep(0.01)  # distinct start times, in milliseconds
    return tracker, run_id


@pytest.fixture
def three_searches(tracking_uri, experiment_name):
    """Searches in experiments A, B (its latest) and C, C started last."""
    names = [f"{experiment_name}-{tag}" for tag in "abc"]
    runs = {name: _search(tracking_uri, name)[1] for name in names[:2]}
    runs[names[1]] = _search(tracking_uri, names[1])[1]
    runs[names[2]] = _search(tracking_uri, names[2])[1]
    return names, runs


def test_ui_without_experiment_links_the_latest_search_in_the_store(tracking_uri,
                                                                    three_searches):
    names, runs = three_searches
    lines = links.latest_search_lines(tracking_uri, None, BASE)
    text = "\n".join(lines)
    assert lines[0].startswith(f"Latest search: {names[2]}: running (started ")
    assert runs[names[2]] in text
    assert not any(runs[name] in text for name in names[:2])
    others = next(line for line in lines if line.startswith("Other experiments with searches"))
    assert names[0] in others and names[1] in others and names[2] not in others


def test_ui_with_experiment_links_that_experiments_latest_search(tracking_uri, three_searches):
    names, runs = three_searches
    text = "\n".join(links.latest_search_lines(tracking_uri, names[1], BASE))
    assert runs[names[1]] in text and runs[names[2]] not in text


@pytest.mark.parametrize("experiment, expected", [
    (None, "No search in the store yet (`bridge-search run`)."),
    ("nothing-here", "No search in experiment 'nothing-here' yet "
                     "(`bridge-search run --experiment nothing-here`).")])
def test_ui_on_a_store_without_searches_says_how_to_make_one(tmp_path, experiment, expected):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert links.latest_search_lines(uri, experiment, BASE) == [expected]


BRIDGE = {"bridge": "flatten", "residual_blocks": 3, "dense_units": 64, "dropout": 0.1}
USER = {"units": 32, "activation": "relu"}


@pytest.mark.parametrize("hyperparameters, keys, score, expected", [
    (BRIDGE, spaces.BRIDGE_NET_SUMMARY_KEYS, 0.99163, "digits-demo: flatten d3 w64 (0.992)"),
    (USER, {"units": "units", "activation": "activation"}, 0.5, "digits-demo: 32 arelu (0.500)"),
    ({}, spaces.BRIDGE_NET_SUMMARY_KEYS, None, "digits-demo: no trial finished")])
def test_the_parent_run_is_named_from_experiment_and_answer(hyperparameters, keys, score,
                                                            expected):
    assert run_names.finished_name("digits-demo", hyperparameters, score, keys) == expected


def test_a_running_search_says_so_in_its_name(tracking_uri, experiment_name, mlflow_client):
    tracker, run_id = _search(tracking_uri, experiment_name)
    name = mlflow_client.get_run(run_id).info.run_name
    assert re.fullmatch(rf"{re.escape(experiment_name)}: running \(started [\d-]+ \d\d:\d\d\)",
                        name), name
    run_names.rename_search(tracker, run_names.stopped_name(experiment_name, "KILLED"))
    assert mlflow_client.get_run(run_id).info.run_name.startswith(f"{experiment_name}: killed")


def _ui(tracking_uri, tmp_path, open_page=None):
    """`bridge-search ui` as README step 2 writes it (no --experiment); its output,
    and what `open_page(output)` returns while it serves."""
    port = free_port()
    log = tmp_path / "ui.log"
    with http_process([sys.executable, "-m", "search", "ui", "--tracking-uri", tracking_uri,
                       "--port", str(port)], f"http://127.0.0.1:{port}/health", log):
        return log.read_text(), open_page(log.read_text()) if open_page else None


@pytest.mark.slow
def test_ui_as_the_readme_says_prints_the_latest_search(tracking_uri, three_searches,
                                                        tmp_path):
    names, runs = three_searches
    output, _ = _ui(tracking_uri, tmp_path)
    assert f"Latest search: {names[2]}: running" in output, output
    assert runs[names[2]] in output and runs[names[1]] not in output
    assert "Other experiments with searches" in output


def _dom(output):
    url = re.search(r"Trials of this search \(runs table\): (\S+)", output).group(1)
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                               f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                               "--dump-dom", url], capture_output=True, text=True,
                              timeout=180).stdout


@pytest.mark.slow
def test_readme_walk_through_in_a_real_browser(tracking_uri, three_searches, tmp_path):
    """README step 2 as written: `bridge-search ui`, then its first link."""
    chromium()  # installed with apt-get when missing (as test_ui_browser.py does)
    names, _ = three_searches
    _, dom = _ui(tracking_uri, tmp_path, _dom)
    assert f"{names[2]}: running" in dom
