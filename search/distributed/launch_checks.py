"""What `launch` checks before it starts any process: the oracle's address and
port, and the project (no other launch, no live chief, worker or run on it; what
a dead launch left running is stopped first). Each refusal is exit 2, one line."""

import contextlib
import socket
from pathlib import Path

from search.core.errors import UsageError
from search.core.ports import check_port_free, check_port_number
from search.distributed import processes
from search.core.lock import ProjectLock, lock_path


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# Processes a `launch` (--workers) or `server` (--server-workers) starts at most: each
# launch worker is a TensorFlow process (about 1 GB before training), each server
# worker an MLflow app; a mistyped count would start them until the machine stalls.
MAX_PROCESSES = 64


def check_process_count(count, flag):
    """Exit 2, before any process starts, for a count outside 1..MAX_PROCESSES."""
    if not 1 <= count <= MAX_PROCESSES:
        raise UsageError(f"{flag} {count} is invalid: must be an integer >= 1 and at most "
                         f"{MAX_PROCESSES} (processes on this machine).")


def check_oracle_address(host, port):
    """Exit 2, before any process starts, for an --oracle-host this machine cannot
    listen on (unknown name, another machine's address) or an --oracle-port
    outside 1-65535 or in use: the chief's oracle and the MLflow server bind there."""
    if port is not None:
        check_port_number(port, "--oracle-port")
    try:
        free_port(host)
    except OSError as error:  # socket.gaierror for a name that does not resolve
        raise UsageError(f"--oracle-host {host}: this machine cannot listen there "
                         f"({error.strerror or error}); give one of its own addresses "
                         f"(127.0.0.1 for one machine, its LAN address for several).") from None
    if port is not None:  # bound as the chief's gRPC server will (search/core/ports.py)
        check_port_free(host, port, "--oracle-port", host_option="--oracle-host",
                        hint=", or leave --oracle-port out to pick one")


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
