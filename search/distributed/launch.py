"""`bridge-search launch --workers N`: one machine, a chief and N workers.

Starts keras-tuner's chief oracle and N worker processes with the environment
keras-tuner's distributed mode reads, pins each worker to one GPU when there are
GPUs, and gives them one MLflow tracking server (started here on the sqlite store
unless --tracking-uri already names a server). A worker that dies is started again
under the same tuner id: the chief then hands it the trial it was running (keras-
tuner keeps an ongoing trial per tuner id), so the search neither hangs nor loses
the trial, and the new worker closes the lost run as KILLED.
"""

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from search.config import to_cli_args
from search.errors import SearchFailed
from search.runner import STATE_FILE
from search import ownership
from search.logs import verbosity_flags

log = logging.getLogger(__name__)

LAUNCH_FILE = "launch.json"  # pids of the processes, for users and tests


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def gpu_count():
    import tensorflow as tf
    return len(tf.config.list_physical_devices("GPU"))


@contextlib.contextmanager
def tracking_server(tracking_uri, host, timeout=120):
    """Yield an http tracking URI: the given one, or an `mlflow server` started on
    the sqlite store and stopped afterwards."""
    if tracking_uri.startswith(("http://", "https://")):
        yield tracking_uri
        return
    from search.tracking import resolve_store
    store, artifact_root = resolve_store(tracking_uri)
    port = free_port(host)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
               "--host", host, "--port", str(port), "--workers", "1"]
    if artifact_root:
        command += ["--artifacts-destination", artifact_root]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    uri = f"http://{host}:{port}"
    try:
        _wait_healthy(uri, server, timeout)
        log.info(f"launch: MLflow tracking server {uri} on {store} (pid {server.pid})")
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_healthy(uri, server, timeout):
    import requests
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SearchFailed(f"the MLflow server exited with code {server.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{uri}/health", timeout=2).ok:
                return
        time.sleep(0.5)
    raise SearchFailed(f"the MLflow server at {uri} did not start within {timeout} s")


class Launcher:
    def __init__(self, config, workers, host="127.0.0.1", oracle_port=None,
                 max_restarts=2):
        self.config, self.workers, self.host = config, workers, host
        self.oracle_port = oracle_port or free_port(host)
        self.max_restarts = max_restarts
        self.project = Path(config.project_dir) / config.project_name
        self.processes, self.restarts = {}, {}

    def run(self):
        with tracking_server(self.config.resolved_tracking_uri(), self.host) as uri:
            # The children log at this process's level (-q/-v before the sub-command).
            self.args = [*verbosity_flags(), "run", *to_cli_args(self.config, tracking_uri=uri)]
            started = time.time()
            ownership.mark_project(self.project)  # before the chief checks --overwrite on it
            self._start("chief")
            self._wait_for_chief_state(started)
            for index in range(1, self.workers + 1):
                self._start(f"tuner{index}")
            return self._supervise()

    def _env(self, tuner_id):
        env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id,
               "KERASTUNER_ORACLE_IP": self.host,
               "KERASTUNER_ORACLE_PORT": str(self.oracle_port)}
        gpus = gpu_count()
        if tuner_id == "chief":
            env["CUDA_VISIBLE_DEVICES"] = ""  # the oracle needs no GPU memory
        elif gpus:
            env["CUDA_VISIBLE_DEVICES"] = str((int(tuner_id[len("tuner"):]) - 1) % gpus)
        return env

    def _start(self, tuner_id):
        process = subprocess.Popen([sys.executable, "-m", "search", *self.args],
                                   env=self._env(tuner_id))
        self.processes[tuner_id] = process
        log.info(f"launch: started {tuner_id} (pid {process.pid})")
        self.project.mkdir(parents=True, exist_ok=True)
        (self.project / LAUNCH_FILE).write_text(json.dumps(
            {name: p.pid for name, p in self.processes.items()}))

    def _wait_for_chief_state(self, started, timeout=600):
        state = self.project / STATE_FILE
        deadline = time.monotonic() + timeout
        while not (state.is_file() and state.stat().st_mtime >= started):
            if self.processes["chief"].poll() is not None or time.monotonic() > deadline:
                raise SearchFailed("the chief stopped before it opened the search "
                                   f"(exit code {self.processes['chief'].returncode})")
            time.sleep(0.5)

    def _supervise(self):
        chief = self.processes["chief"]
        while chief.poll() is None:
            for tuner_id, process in list(self.processes.items()):
                if tuner_id != "chief" and process.poll() not in (None, 0):
                    self._restart(tuner_id, process.returncode)
            time.sleep(1)
        for tuner_id, process in self.processes.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            if process.poll() is None:
                process.terminate()
        return chief.returncode

    def _restart(self, tuner_id, code):
        count = self.restarts.get(tuner_id, 0)
        if count >= self.max_restarts:
            # The chief would wait for this worker forever: stop the search instead.
            for process in self.processes.values():
                process.terminate()
            raise SearchFailed(f"{tuner_id} died {count + 1} times (last exit code {code}); "
                               f"stopped the search. Rerun the same command to resume it.")
        self.restarts[tuner_id] = count + 1
        log.warning(f"launch: {tuner_id} exited with code {code}; starting it again "
                    f"({count + 1}/{self.max_restarts}) to finish its trial")
        self._start(tuner_id)
