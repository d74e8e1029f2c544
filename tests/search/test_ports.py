"""Every port option (ui, serve, server --port; launch --oracle-port) takes 1-65535
only, judged while the arguments are parsed, and ui, serve and server refuse a
port in use (search/core/ports.py, as launch does): exit 2, one line, nothing
started or created."""

import socket

import pytest

from search.cli import main

COMMANDS = {"ui": ["ui"], "serve": ["serve"], "server": ["server", "--store", "sqlite:///srv.db"]}


@pytest.mark.parametrize("command", [*COMMANDS, "launch"])
@pytest.mark.parametrize("port", ["0", "99999"])
def test_a_port_out_of_range_is_one_line(command, port, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    option = "--oracle-port" if command == "launch" else "--port"
    argv = ["launch", "--project-dir", "p"] if command == "launch" else COMMANDS[command]
    assert main([*argv, option, port]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"bridge-search: error: {option} {port} is invalid: must be a port "
                    f"number 1-65535.")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_port_in_use_is_one_line_before_anything(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([*COMMANDS[command], "--port", str(port)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"bridge-search: error: --port {port}: cannot listen on 127.0.0.1:{port} "
                    f"(Address already in use); give a free port.")
    assert not list(tmp_path.iterdir())  # no store, no artifacts folder


def test_a_host_this_machine_cannot_listen_on_is_one_line(tmp_path, capsys):
    assert main(["ui", "--host", "192.0.2.1"]) == 2  # TEST-NET-1: never this machine's
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("bridge-search: error: --host 192.0.2.1: this machine cannot "
                           "listen there (")
