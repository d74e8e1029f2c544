"""The ports the commands listen on: each port option's range (1-65535, judged
while the arguments are parsed) and one check that a host:port can be listened
on, for `ui`, `serve`, `server` and `launch --oracle-port` alike. Each refusal is
exit 2, one line, before anything starts or is created."""

import errno
import socket

from search.core.errors import UsageError

LOWEST, HIGHEST = 1, 65535


def check_port_number(port, option="--port"):
    """Raise UsageError unless `port` is a port number a server can listen on."""
    if not LOWEST <= port <= HIGHEST:
        raise UsageError(f"{option} {port} is invalid: must be a port number "
                         f"{LOWEST}-{HIGHEST}.")
    return port


def check_port_free(host, port, option="--port", hint="", host_option="--host"):
    """Bind host:port as the server will (SO_REUSEADDR, as uvicorn and gRPC do: a
    port whose last connections linger in TIME_WAIT is free), and let it go. A
    port in use names `option`; a host this machine cannot listen on, `host_option`.
    `hint`: what else the user may do (e.g. ", or leave --oracle-port out")."""
    check_port_number(port, option)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                    flags=socket.AI_PASSIVE)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as error:  # socket.gaierror for a name that does not resolve
        reason = error.strerror or error
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise UsageError(f"{option} {port}: cannot listen on {host}:{port} ({reason}); "
                             f"give a free port{hint}.") from None
        raise UsageError(f"{host_option} {host}: this machine cannot listen there "
                         f"({reason}); give one of its own addresses (127.0.0.1 for this "
                         f"machine, 0.0.0.0 for all of its addresses).") from None
