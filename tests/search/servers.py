"""Real server processes for tests (MLflow UI / tracking server, model server) on
free ports of 127.0.0.1, always killed with their children afterwards."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from search.distributed import server
from search.distributed.launch_checks import free_port
from tests.conftest import REPO_ROOT

VENV_BIN = str(Path(sys.executable).parent)  # mlflow starts uvicorn by name


@contextlib.contextmanager
def http_process(command, ready_url, log_path, env=None, timeout=240):
    """Start `command` in its own process group, wait until `ready_url` answers
    200, yield the process; kill the whole group on the way out."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
                "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=Path(log_path).parent)
    try:
        _wait_ready(process, ready_url, log_path, timeout)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(process, url, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: server exited with {process.returncode}:\n"
                        f"{Path(log_path).read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{Path(log_path).read_text()[-3000:]}")


@contextlib.contextmanager
def mlflow_server(store_uri, work, artifacts_destination=None, ui=False, port=None):
    """`mlflow server` (or `mlflow ui`) on `store_uri` (on `port`, else a free
    one); yields its http URI."""
    port = port or free_port()
    command = [sys.executable, "-m", "mlflow", "ui" if ui else "server",
               "--backend-store-uri", store_uri, "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    if artifacts_destination:
        command += ["--artifacts-destination", str(artifacts_destination)]
    uri = f"http://127.0.0.1:{port}"
    # Without MLflow's job runner, as bridge-search's own server runs it: 8 fewer
    # processes to start per server.
    with http_process(command, f"{uri}/health", Path(work) / f"mlflow-{port}.log",
                      env={server.JOB_EXECUTION_VARIABLE: "false"}):
        yield uri


def poll_until(process, what, condition, timeout=600, output="stdout", every=0.5):
    """condition()'s first truthy value, polled `every` seconds; fails at once
    when `process` ends first (with the end of its `output`), or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(f"the process ended (rc {process.returncode}) before {what}:\n"
                        + getattr(process, output).read()[-3000:])
        time.sleep(every)
    pytest.fail(f"never saw {what}")
