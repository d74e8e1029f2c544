"""SIGTERM to `launch` (kill, Slurm's time limit, systemd) stops what it started:
before, Python's default SIGTERM skipped every `finally`, and the MLflow server and
the chief lived on without a parent. Real processes: launcher, server, chief, workers.
The launcher itself does not load TensorFlow."""

import json
import signal
import time

import psutil
import pytest

from tests.search.test_scale import launch

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def _wait_for_workers(project, count, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = project / "launch.json"
        if pids.is_file() and len(json.loads(pids.read_text())) == count + 1:
            return
        time.sleep(0.5)
    raise AssertionError(f"launch did not start {count} workers within {timeout} s")


def test_sigterm_to_launch_stops_the_server_chief_and_workers(tmp_path, tracking_uri,
                                                              experiment_name):
    process = launch(tmp_path, tracking_uri, experiment_name, "--max-epochs", 2,
                     "--factor", 2, background=True)
    _wait_for_workers(tmp_path / "project" / experiment_name, 2)
    children = psutil.Process(process.pid).children(recursive=True)
    names = [" ".join(child.cmdline()) for child in children]
    assert any("mlflow" in name and "server" in name for name in names), names
    assert sum(" -m search " in name for name in names) == 3, names  # chief + 2 workers
    # The launcher only starts processes: TensorFlow (~8 CPU-s, its memory) is theirs.
    launcher_files = [m.path for m in psutil.Process(process.pid).memory_maps()]
    assert not [f for f in launcher_files if "tensorflow" in f], launcher_files
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        "bridge-search: search failed: launch was terminated (SIGTERM); stopped the chief, "
        "the workers and the MLflow server it started. Run the same command again to resume "
        "the search."), output[-3000:]
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [" ".join(child.cmdline()) for child in alive]
