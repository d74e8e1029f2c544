"""The MLflow tracking server that several processes or hosts share.

`bridge-search server --store URI` (and `launch --store URI`) run `mlflow server`
on a database (PostgreSQL for teams, sqlite on one machine) with an artifact
destination, so clients talk HTTP only and never need the artifact filesystem.
A database that cannot be reached is a usage error found in seconds, here,
rather than an `mlflow server` that retries and dies with a page of traceback.
"""

import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from search.core import stores
from search.core.errors import UsageError
from search.core.ports import check_port_free
from search.core.stores import masked  # noqa: F401 (launch names it here)

logger = logging.getLogger(__name__)

ACCEPTED_STORES = "sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"
DEFAULT_ARTIFACTS = "mlartifacts"  # mlflow server's own default destination


def is_postgres(uri):
    return urlparse(uri).scheme.split("+")[0] == "postgresql"


def add_store_options(parser, required):
    parser.add_argument("--store", required=required, default=None, metavar="URI",
                        help="database of the MLflow tracking server: "
                             "postgresql://USER@HOST[:PORT]/DATABASE or sqlite:///PATH"
                             + ("" if required else " (launch starts the server on it)"))
    parser.add_argument("--artifacts", default=None, metavar="DIR",
                        help="the server's artifact destination (default: mlartifacts/, or "
                             "beside a sqlite file); clients upload through the server")


def check_launch_store(store, tracking_uri):
    """--store starts a server on that database: it cannot also be a given server."""
    if tracking_uri.startswith(("http://", "https://")):
        raise UsageError(f"--store {masked(store)} and --tracking-uri {tracking_uri} (or "
                         f"MLFLOW_TRACKING_URI) both name the store; give one: --store starts "
                         f"a server, an http URI is one already running.")
    check_store(store)


def check_store(uri):
    """Raise UsageError (one line) unless `uri` is a store the server can open;
    return it as MLflow is given it (search/core/stores.py: the PostgreSQL driver named)."""
    if not (uri.startswith("sqlite:///") or is_postgres(uri)):
        raise UsageError(f"--store {masked(uri)}: unsupported store; accepted: "
                         f"{ACCEPTED_STORES}.")
    return stores.check_store(uri, "--store")


def backend_and_artifacts(store, artifacts=None):
    """The server's --backend-store-uri and --artifacts-destination (a file URI).
    A sqlite store keeps its artifacts beside the database file, as `run` does."""
    store = stores.store_uri(store, "--store")
    if artifacts is None and store.startswith("sqlite:///"):
        return stores.resolve_store(store)
    if store.startswith("sqlite:///"):
        Path(store[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    folder = Path(artifacts or DEFAULT_ARTIFACTS).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return store, folder.as_uri()


def server_command(store, artifacts_uri, host, port, workers=1):
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
            "--artifacts-destination", artifacts_uri, "--host", host, "--port", str(port),
            "--workers", str(workers)]


# MLflow 3's server also starts a job runner (8 huey consumer processes) for its
# GenAI jobs (scorers, trace roll-ups); a search uses none of them. Off unless the
# user turned it on: a server starts with 2 processes instead of 10, in half the
# CPU or less (docs/multi-machine.md).
JOB_EXECUTION_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def server_env():
    """The environment `mlflow server` runs in."""
    # `mlflow server` starts uvicorn by name: the venv's bin/ must be on PATH.
    return {JOB_EXECUTION_VARIABLE: "false", **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def serve(store, artifacts, host, port, workers):
    """`bridge-search server`: check the port and the store (nothing created yet),
    then become `mlflow server`."""
    check_port_free(host, port)
    backend, artifacts_uri = backend_and_artifacts(check_store(store), artifacts)
    print(f"MLflow tracking server on http://{host}:{port} for {masked(backend)}, artifacts "
          f"in {artifacts_uri}; clients: --tracking-uri http://{host}:{port}",
          file=sys.stderr, flush=True)
    command = server_command(backend, artifacts_uri, host, port, workers)
    os.execve(sys.executable, command, server_env())
