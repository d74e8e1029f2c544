"""`bridge-search launch --workers N`: one machine, a chief and N workers.

Starts keras-tuner's chief oracle and N worker processes with the environment
keras-tuner's distributed mode reads, pins each worker to one GPU when there are
GPUs, and gives them one MLflow tracking server (started here on --store, a database,
or else on the sqlite store, unless --tracking-uri already names a server). A
worker that dies is started again under the same tuner id: the chief then hands it
the trial it was running (keras-tuner keeps an ongoing trial per tuner id), so the
search neither hangs nor loses the trial, and the new worker closes the lost run
as KILLED.

launch and what it starts are one unit: every child dies with it (processes.py),
launch.json records them all, a port or project in use is refused before any
process starts (launch_checks.py), and an interrupted launch marks its running
runs KILLED before it stops the server.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from search.core.config import to_cli_args
from search.core.errors import SearchFailed
from search.core.state import STATE_FILE, read_state
from search.core import ownership
from search.distributed import processes, server
from search.distributed.launch_checks import free_port
from search.core.stores import LAUNCH_ARTIFACTS_ENV, LAUNCH_STORE_ENV
from search.core.logs import verbosity_flags

log = logging.getLogger(__name__)

# Starting `mlflow server` (imports, store migrations) can take minutes on a busy
# small machine; a server that is merely slow must not fail the search.
SERVER_START_TIMEOUT_S = 300


class Terminated(SearchFailed):
    """launch got SIGTERM (kill, Slurm, systemd) or SIGINT (Ctrl-C): its children are
    stopped and its running MLflow runs marked KILLED."""


SIGNALS = {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGINT: "interrupted (SIGINT)"}


@contextlib.contextmanager
def signals_raise():
    """Python's default SIGTERM ends the process at once, skipping every `finally`:
    the MLflow server, the chief and the workers would live on without a parent,
    and the runs stay RUNNING. Raise instead (once: a second signal must not cut
    the cleanup short), so the launcher stops them and settles the runs."""
    def raise_terminated(signum, frame):
        for number in SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise Terminated(f"launch was {SIGNALS[signum]}; stopped the chief, the workers "
                         "and the MLflow server it started. Run the same command again to "
                         "resume the search.")
    previous = {number: signal.signal(number, raise_terminated) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def visible_gpus():
    """The GPU ids a worker may be pinned to, found without TensorFlow: the
    launcher only starts processes, and loading TensorFlow here cost every
    launch ~8 CPU-s and its memory. CUDA_VISIBLE_DEVICES when the user set it
    (its ids, so "2,3" pins workers to 2 and 3), else the GPUs nvidia-smi lists;
    none where there is no NVIDIA driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return _cuda_visible_ids(visible)
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, errors="replace", timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listed.returncode != 0:
        return []
    # Only index lines: a driver warning or "No devices were found" is no GPU.
    return [line.strip() for line in listed.stdout.splitlines() if line.strip().isdigit()]


def _cuda_visible_ids(visible):
    """CUDA_VISIBLE_DEVICES' ids as CUDA reads them: up to the first entry that is
    neither an index nor a GPU-/MIG- UUID ("0,-1,1" shows GPU 0 only)."""
    ids = []
    for entry in (entry.strip() for entry in visible.split(",")):
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        ids.append(entry)
    return ids


@contextlib.contextmanager
def tracking_server(tracking_uri, host, timeout=SERVER_START_TIMEOUT_S, store=None,
                    artifacts=None, started=None):
    """Yield an http tracking URI: the given one, or an `mlflow server` started on
    `store` (a database, see server.py) or else on the sqlite store, and stopped
    afterwards. `started(process, store, artifacts_uri)` is told of the server."""
    if store is None and tracking_uri.startswith(("http://", "https://")):
        yield tracking_uri
        return
    store, artifact_root = server.backend_and_artifacts(store or tracking_uri, artifacts)
    port = free_port(host)
    # Its own session: a Ctrl-C in the terminal reaches the launcher, which still
    # needs the server to mark the runs KILLED. SIGTERM if the launcher dies:
    # `mlflow server` passes it on to its uvicorn process.
    server_process = subprocess.Popen(server.server_command(store, artifact_root, host, port),
                                      env=server.server_env(), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=processes.dies_with_parent(signal.SIGTERM))
    uri = f"http://{host}:{port}"
    try:
        if started is not None:
            started(server_process, store, artifact_root)
        _wait_healthy(uri, server_process, timeout)
        log.info(f"launch: MLflow tracking server {uri} on {server.masked(store)} "
                 f"(pid {server_process.pid})")
        yield uri
    finally:
        stop(server_process)


def stop(process, grace_seconds=30):
    """Terminate a child process and wait for it; kill it if it does not go."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
                 max_restarts=2, store=None, artifacts=None):
        self.config, self.workers, self.host = config, workers, host
        self.store, self.artifacts = store, artifacts  # a database for the server, if given
        self.oracle_port = oracle_port or free_port(host)
        self.max_restarts = max_restarts
        self.project = Path(config.project_dir) / config.project_name
        self.processes, self.restarts = {}, {}
        self.server, self.lasting = None, {}  # the server launch started, and its store
        self.gpus = visible_gpus()  # once: a restarted worker keeps its GPU

    def run(self):
        # --overwrite is done once, here: a chief restarted after a crash must resume,
        # not delete the search again. Marked before the server starts (launch.json).
        if self.config.overwrite:
            ownership.remove_project(self.project)
        ownership.mark_project(self.project)
        with signals_raise(), tracking_server(self.config.resolved_tracking_uri(), self.host,
                                              store=self.store, artifacts=self.artifacts,
                                              started=self._server_started) as uri:
            self.args = self.child_args(uri)
            try:
                return self._start_and_supervise()
            except BaseException as error:  # SIGTERM, Ctrl-C, a failure: no orphan survives us
                self._stop_all()
                if isinstance(error, (Terminated, KeyboardInterrupt)):
                    self._kill_runs(uri)
                raise

    def child_args(self, tracking_uri):
        """The chief's and workers' command: the same search on launch's server,
        logging at this process's level (-q/-v before the sub-command), never
        --overwrite (run() did it)."""
        return [*verbosity_flags(), "run",
                *to_cli_args(self.config, tracking_uri=tracking_uri, overwrite=False)]

    def _server_started(self, process, store, artifacts_uri):
        self.server = process
        self.lasting = {LAUNCH_STORE_ENV: store, LAUNCH_ARTIFACTS_ENV: artifacts_uri}
        self._write_record()

    def _write_record(self):
        processes.write_record(self.project, {**({"server": self.server} if self.server else {}),
                                              **self.processes})

    def _kill_runs(self, uri):
        """Mark the search's RUNNING runs KILLED through the server, still up."""
        parent = read_state(self.project / STATE_FILE).get("parent_run_id")
        if parent is None:
            return  # the chief had not opened the search
        from search.tracking import resume
        try:
            killed = resume.kill_interrupted_search(uri, parent, self.project)
        except Exception as error:  # noqa: BLE001 - the next resume settles them instead
            log.warning(f"launch: could not mark the interrupted runs KILLED "
                        f"({type(error).__name__}: {error}); the next resume will.")
            return
        log.info(f"launch: parent run {parent} and {killed} trial run(s) marked KILLED.")

    def _start_and_supervise(self):
        started = time.time()
        self._start("chief")
        self._wait_for_chief_state(started)
        for index in range(1, self.workers + 1):
            self._start(f"tuner{index}")
        return self._supervise()

    def _stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            stop(process)

    def _env(self, tuner_id):
        env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id,
               "KERASTUNER_ORACLE_IP": self.host,
               "KERASTUNER_ORACLE_PORT": str(self.oracle_port)}
        if tuner_id == "chief":
            env.update(self.lasting)
        gpus = self.gpus
        # The chief keeps every GPU: it trains and exports the winner at the end.
        # Serving the oracle takes no GPU memory meanwhile (memory growth is on).
        if tuner_id != "chief" and gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[(int(tuner_id[len("tuner"):]) - 1) % len(gpus)]
        return env

    def _start(self, tuner_id):
        process = subprocess.Popen([sys.executable, "-m", "search", *self.args],
                                   env=self._env(tuner_id),
                                   preexec_fn=processes.dies_with_parent())
        self.processes[tuner_id] = process
        log.info(f"launch: started {tuner_id} (pid {process.pid})")
        self._write_record()

    def _wait_for_chief_state(self, started, timeout=600):
        state = self.project / STATE_FILE
        deadline = time.monotonic() + timeout
        while not (state.is_file() and state.stat().st_mtime >= started):
            if self.processes["chief"].poll() is not None or time.monotonic() > deadline:
                raise SearchFailed("the chief stopped before it opened the search "
                                   f"(exit code {self.processes['chief'].returncode})")
            time.sleep(0.5)

    def _supervise(self):
        while self._chief_alive():
            for tuner_id, process in list(self.processes.items()):
                if tuner_id != "chief" and process.poll() not in (None, 0):
                    self._restart(tuner_id, process.returncode)
            time.sleep(1)
        chief = self.processes["chief"]
        for tuner_id, process in self.processes.items():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            if process.poll() is None:
                process.terminate()
        return chief.returncode

    def _chief_alive(self):
        """False once the chief has exited; a chief killed by a signal (kill -9, the
        OOM killer) is started again on the same port instead: it reloads the
        oracle from the project dir and resumes the same parent run, and the
        workers, which wait for it (--chief-timeout), go on with their trials."""
        code = self.processes["chief"].poll()
        if code is None:
            return True
        if code >= 0:  # finished, or failed with its own message: nothing to redo
            return False
        self._restart("chief", code)
        return True

    def _restart(self, tuner_id, code):
        count = self.restarts.get(tuner_id, 0)
        if count >= self.max_restarts:
            # The chief would wait for this worker forever: stop the search instead
            # (run() stops every process on the way out).
            raise SearchFailed(f"{tuner_id} died {count + 1} times (last exit code {code}); "
                               f"stopped the search. Rerun the same command to resume it.")
        self.restarts[tuner_id] = count + 1
        purpose = "to serve the oracle" if tuner_id == "chief" else "to finish its trial"
        log.warning(f"launch: {tuner_id} exited with code {code}; starting it again "
                    f"({count + 1}/{self.max_restarts}) {purpose}")
        self._start(tuner_id)
