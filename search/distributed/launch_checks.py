"""What `launch` checks before it starts any process: the oracle's address and
port, and the project (no other launch, no live chief, worker or run on it; what
a dead launch left running is stopped first). Each refusal is exit 2, one line."""

import contextlib
import socket
from pathlib import Path

from search.core.errors import UsageError
from search.distributed import processes
from search.core.lock import ProjectLock, lock_path


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_oracle_address(host, port):
    """Exit 2, before any process starts, for an --oracle-host this machine cannot
    listen on (unknown name, another machine's address) or an --oracle-port
    outside 1-65535 or in use: the chief's oracle and the MLflow server bind there."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--oracle-port {port} is invalid: must be a port number 1-65535.")
    try:
        free_port(host)
    except OSError as error:  # socket.gaierror for a name that does not resolve
        raise UsageError(f"--oracle-host {host}: this machine cannot listen there "
                         f"({error.strerror or error}); give one of its own addresses "
                         f"(127.0.0.1 for one machine, its LAN address for several).") from None
    if port is not None:
        _check_port_free(host, port)


def _check_port_free(host, port):
    """Bind the port as the chief's gRPC server will (SO_REUSEADDR: a port whose
    last connections linger in TIME_WAIT is free), and let it go."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            raise UsageError(f"--oracle-port {port}: cannot listen on {host}:{port} "
                             f"({error.strerror or error}); give a free port, or leave "
                             f"--oracle-port out to pick one.") from None


@contextlib.contextmanager
def project_claimed(config, workers):
    """Before any process starts: this launch's own lock on the project (a second
    launch is exit 2 naming the first one's pid), what a dead launch left running
    stopped, and the chief's, the workers' and a plain run's locks free."""
    project_dir, name = config.project_dir, config.project_name
    lock = ProjectLock(lock_path(project_dir, name, "launch"), project_dir).acquire()
    try:
        processes.stop_leftovers(Path(project_dir) / name)
        for tuner_id in ("chief", "tuner0", *(f"tuner{i}" for i in range(1, workers + 1))):
            ProjectLock(lock_path(project_dir, name, tuner_id), project_dir).check_free()
        yield
    finally:
        lock.release()
