"""Every path and store a command takes is judged before TensorFlow loads (issue 27,
items 6-9 and 21): a folder where a file goes, a path under a file, /proc, a sqlite
folder two levels away, a database or server that does not answer, a PostgreSQL URI
without a driver named. Exit 2 and one line within seconds, nothing created; and a
plain `postgresql://` store works in every command that takes a store."""

import json
import os
import socket
import subprocess
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from search.core import stores
from search.core.config import SearchConfig
from search.core.errors import UsageError
from tests.conftest import REPO_ROOT, run_cli_here
from tests.search.postgres import ADMIN_URI, postgres_store  # noqa: F401 (fixture)

PG = ADMIN_URI.rsplit("/", 1)[0]  # postgresql://USER@HOST


def user_files(tmp):
    (tmp / "afile").write_text("precious")
    (tmp / "adir").mkdir()


# name -> (run options given tmp, the part of the one line that says what is wrong)
PATH_CASES = {
    "time_budget_centuries": (lambda t: ["--time-budget", "99999999999h"],
                              "at most 720h (30 days"),
    "store_retry_centuries": (lambda t: ["--store-retry-seconds", "1e300"],
                              "must be a number of seconds from 0 to 2592000 (30 days)"),
    "chief_timeout_infinite": (lambda t: ["--chief-timeout", "inf"],
                               "must be a number of seconds > 0 and at most 2592000"),
    "summary_json_a_folder": (lambda t: ["--summary-json", "adir"],
                              "--summary-json 'adir': adir is a folder; give a file path."),
    "summary_json_under_a_file": (lambda t: ["--summary-json", "afile/s.json"],
                                  "{t}/afile is a file, so nothing can be created under it"),
    "summary_json_in_proc": (lambda t: ["--summary-json", "/proc/s.json"],
                             "/proc denies writing"),
    "project_dir_a_file": (lambda t: ["--project-dir", "afile"],
                           "--project-dir 'afile': afile is a file, not a folder"),
    "project_dir_under_a_file": (lambda t: ["--project-dir", "afile/p"],
                                 "{t}/afile is a file, so nothing can be created under it"),
    "experiment_folder_a_file": (lambda t: ["--project-dir", ".", "--experiment", "afile"],
                                 "--project-dir '.' with --experiment 'afile': afile is a "
                                 "file, not a folder"),
    "project_dir_in_proc": (lambda t: ["--project-dir", "/proc/p"], "/proc denies writing"),
    "sqlite_in_proc": (lambda t: ["--tracking-uri", "sqlite:////proc/m.db"],
                       "--tracking-uri sqlite:////proc/m.db: /proc denies writing"),
    "sqlite_under_a_file": (lambda t: ["--tracking-uri", "sqlite:///afile/m.db"],
                            "{t}/afile is a file, so nothing can be created under it"),
    "sqlite_two_folders_missing": (lambda t: ["--tracking-uri", f"sqlite:///{t}/no/dir/m.db"],
                                   "{t}/no/dir does not exist, nor does {t}/no; create the "
                                   "folder first"),
    "sqlite_root_folder_missing": (lambda t: ["--tracking-uri",
                                              "sqlite:////nonexistent-bs/dir/m.db"],
                                   "nor does /nonexistent-bs; create the folder first"),
    "sqlite_a_text_file": (lambda t: ["--tracking-uri", "sqlite:///afile"],
                           "afile is not an sqlite database; point the URI at an MLflow "
                           "sqlite file or at a new path."),
    "sqlite_a_folder": (lambda t: ["--tracking-uri", "sqlite:///adir"],
                        "adir is a folder; give a file path."),
    # MLflow 3 refuses its filesystem store, wherever it is: the URI is refused.
    "file_store": (lambda t: ["--tracking-uri", "file:///proc/store"],
                   "a file: URI names MLflow's filesystem store, which MLflow 3 no longer "
                   "opens; use an sqlite file instead, e.g. --tracking-uri "
                   "sqlite:////proc/store/mlflow.db."),
    "file_store_bare_path": (lambda t: ["--tracking-uri", f"{t}/adir"],
                             "a plain path names MLflow's filesystem store"),
    "file_store_relative_path": (lambda t: ["--tracking-uri", "adir"],
                                 "a plain path names MLflow's filesystem store"),
    "unknown_scheme": (lambda t: ["--tracking-uri", "notascheme://x"],
                       "scheme 'notascheme' is not a tracking store MLflow knows"),
    "http_closed_port": (lambda t: ["--tracking-uri", "http://127.0.0.1:9"],
                         "the MLflow server does not answer (ConnectionError)"),
    "postgres_no_such_database": (lambda t: ["--tracking-uri", f"{PG}/bs_no_such_db"],
                                  'cannot open the database (connection to server at'),
    "postgres_closed_port": (lambda t: ["--tracking-uri", "postgresql://postgres@127.0.0.1:1/x"],
                             "port 1 failed: Connection refused"),
    "postgres_driver_not_installed": (
        lambda t: ["--tracking-uri", f"{PG}/test".replace("postgresql", "postgresql+psycopg")],
        "the PostgreSQL driver 'psycopg' is not installed"),
}
STORE_CASES = [name for name in PATH_CASES if name.startswith(("http", "postgres", "file"))]
# Commands that only read the store; --out is given where it is required.
READ_COMMANDS = {"report": ["report"], "ui": ["ui"], "serve": ["serve"],
                 "export": ["export", "--run-id", "abc", "--out", "o"]}
JUDGE = """
import json, sys, time
from search.cli import main
for argv in json.loads(sys.argv[1]):
    started = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    print(json.dumps([code, sorted(m for m in ("tensorflow", "keras", "mlflow")
                                   if m in sys.modules), time.monotonic() - started]),
          flush=True)
"""


def judge_in_a_fresh_process(argvs, cwd):
    """Run each argv through the CLI's main in one new interpreter: (exit code,
    heavy modules imported by then, seconds) per argv, and its stderr lines."""
    result = subprocess.run([sys.executable, "-c", JUDGE, json.dumps(argvs)], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT),
                                 "MLFLOW_TRACKING_URI": ""},
                            capture_output=True, text=True, timeout=600)
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr.splitlines()


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def test_every_path_and_store_is_judged_before_tensorflow_in_seconds(tmp_path):
    user_files(tmp_path)
    argvs, expected = [], []
    for name, (make, message) in PATH_CASES.items():
        commands = [["run"], ["launch"]]
        commands += list(READ_COMMANDS.values()) if name in STORE_CASES else []
        for command in commands:
            argvs.append([*command, *make(tmp_path)])
            expected.append(message.format(t=tmp_path))
        if name.startswith(("sqlite", "postgres")):  # the server judges its --store alike
            argvs.append(["server", "--store", make(tmp_path)[1]])
            expected.append(message.format(t=tmp_path).replace("--tracking-uri", "--store"))
    before = tree(tmp_path)
    verdicts, lines = judge_in_a_fresh_process(argvs, tmp_path)
    assert len(verdicts) == len(argvs), lines[-20:]
    assert len(lines) == len(argvs), lines  # one line per command, nothing else
    for argv, (code, heavy, seconds), line, message in zip(argvs, verdicts, lines, expected):
        assert (code, heavy) == (2, []), (argv, line)
        assert line.startswith("bridge-search: error: ") and message in line, (argv, line)
        assert seconds < 10, (argv, seconds)  # a connect timeout, never MLflow's retries
    assert tree(tmp_path) == before  # nothing created, nothing changed
    assert (tmp_path / "afile").read_text() == "precious"
    assert not Path("/nonexistent-bs").exists()


def test_a_server_that_takes_the_connection_but_never_answers_is_exit_2_in_seconds(tmp_path):
    """Not a closed port: a listening socket nobody serves (a hung server, a wrong
    service): the kernel accepts the connection and nothing ever replies."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        argvs = [[*command, "--tracking-uri", uri] for command in (["run"], ["report"])]
        verdicts, lines = judge_in_a_fresh_process(argvs, tmp_path)
    assert len(lines) == len(argvs), lines
    for argv, (code, heavy, seconds), line in zip(argvs, verdicts, lines):
        assert (code, heavy) == (2, []), (argv, line)
        assert "the MLflow server does not answer (ReadTimeout)" in line, (argv, line)
        assert seconds < 10, (argv, seconds)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command, out, message", [
    ("report", "afile", "--out 'afile': afile is a file, not a folder"),
    ("report", "afile/r", "afile is a file, so nothing can be created under it"),
    ("report", "/proc/r", "/proc denies writing"),
    ("export", "afile", "--out 'afile': afile is a file, not a folder"),
    ("export", "afile/e", "afile is a file, so nothing can be created under it"),
    ("export", "/proc/e", "/proc denies writing")])
def test_an_out_folder_that_cannot_be_written_is_refused_first(tmp_path, command, out,
                                                               message):
    user_files(tmp_path)
    argv = [command, "--out", out] + (["--run-id", "abc"] if command == "export" else [])
    [(code, heavy, _)], [line] = judge_in_a_fresh_process([argv], tmp_path)
    assert (code, heavy) == (2, [])
    assert line.startswith("bridge-search: error: ") and message in line
    assert tree(tmp_path) == ["adir", "afile"]


@pytest.mark.parametrize("uri", ["sqlite:///mlruns/mlflow.db", "sqlite:///{t}/new/m.db",
                                 "sqlite:///{t}/adir/m.db", "sqlite:///{t}/existing.db"])
def test_a_store_one_folder_away_or_already_there_is_accepted_and_nothing_made(
        tmp_path, monkeypatch, uri):
    monkeypatch.chdir(tmp_path)
    user_files(tmp_path)
    (tmp_path / "existing.db").write_bytes(b"")
    stores.check_store(uri.format(t=tmp_path), network=False)  # the run makes the folder
    assert tree(tmp_path) == ["adir", "afile", "existing.db"]


def test_the_default_store_is_judged_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert SearchConfig().resolved_tracking_uri() == "sqlite:///mlruns/mlflow.db"
    monkeypatch.chdir("/proc")
    with pytest.raises(UsageError, match="/proc denies writing"):
        SearchConfig()


@pytest.mark.parametrize("uri", ["sqlite:///x.db", "http://h:5000", "mysql://u@h/db",
                                 "postgresql+psycopg2://u@h/db", "file:///tmp/s"])
def test_other_uris_are_given_to_mlflow_as_they_are(uri):
    assert stores.store_uri(uri) == uri


def fake_module(name):
    module = types.ModuleType(name)
    module.__spec__ = ModuleSpec(name, None)
    return module


@pytest.mark.parametrize("installed, expected", [
    (("psycopg2",), "postgresql+psycopg2://u@h/db"),
    (("psycopg2", "psycopg"), "postgresql+psycopg2://u@h/db"),
    (("psycopg",), "postgresql+psycopg://u@h/db"),
    ((), None)])
def test_postgresql_names_the_installed_driver_or_says_how_to_install_one(
        monkeypatch, installed, expected):
    for name in ("psycopg2", "psycopg"):  # None in sys.modules: "cannot be imported"
        monkeypatch.setitem(sys.modules, name, fake_module(name) if name in installed else None)
    if expected:
        assert stores.store_uri("postgresql://u@h/db") == expected
        return
    with pytest.raises(UsageError, match=r"--tracking-uri postgresql://u@h/db: PostgreSQL needs "
                                         r"a driver \(psycopg2\) that is not installed; install "
                                         r"it with `pip install bridge-search\[postgres\]`"):
        stores.store_uri("postgresql://u@h/db")


def test_no_postgres_driver_is_exit_2_with_the_install_hint(tmp_path, monkeypatch):
    for name in ("psycopg2", "psycopg"):
        monkeypatch.setitem(sys.modules, name, None)
    for argv in (["run"], ["report"], ["ui"], ["export", "--run-id", "a", "--out", "o"]):
        result = run_cli_here(*argv, "--tracking-uri", f"{PG}/test", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"bridge-search: error: --tracking-uri {PG}/test: PostgreSQL needs a driver "
            f"(psycopg2) that is not installed; install it with "
            f"`pip install bridge-search[postgres]`."]
    server = run_cli_here("server", "--store", f"{PG}/test", cwd=tmp_path)
    assert server.returncode == 2 and "`pip install bridge-search[postgres]`" in server.stderr


@pytest.mark.slow
def test_a_plain_postgresql_uri_works_in_every_command(tmp_path, postgres_store):
    """run, report, export and ui on postgresql:// with psycopg2 installed (the
    [postgres] extra) and psycopg 3 not: each used to stop on `No module named
    'psycopg'`."""
    assert postgres_store.startswith("postgresql://")
    store = ["--tracking-uri", postgres_store]
    run = run_cli_here("run", "--space", "bridge-small", "--max-epochs", "2", "--retrain", "none",
                       "--summary-json", "s.json", "--export-dir", "exported", *store,
                       cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "s.json").read_text())
    report = run_cli_here("report", *store, "--out", "rep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert summary["best_run_id"][:8] in report.stdout and (tmp_path / "rep/report.md").exists()
    export = run_cli_here("export", "--run-id", summary["best_run_id"], "--out", "one", *store,
                          cwd=tmp_path)
    assert export.returncode == 0, export.stderr[-3000:]
    assert (tmp_path / "one" / "model.keras").is_file()
    from tests.search.servers import free_port, http_process
    for command, ready, said in (("ui", "/health", "MLflow UI on http://127.0.0.1:{port} for "
                                                   "postgresql+psycopg2://"),
                                 ("serve", "/ping", "Serving models:/")):
        port = free_port()
        log = tmp_path / f"{command}.log"
        with http_process([sys.executable, "-m", "search", command, *store, "--port", str(port)],
                          f"http://127.0.0.1:{port}{ready}", log):
            pass  # it answers: the store was opened and (serve) the model loaded from it
        assert said.format(port=port) in log.read_text()
        assert "Traceback" not in log.read_text()


def test_a_summary_file_that_is_a_link_stays_a_link(tmp_path):
    """The atomic writer (state, --summary-json, launch.json) replaces a link's
    target, never the user's link itself."""
    from search.core.state import write_json
    (tmp_path / "kept").mkdir()
    target = tmp_path / "kept" / "summary.json"
    target.write_text("old")
    (tmp_path / "summary.json").symlink_to(target)
    write_json(tmp_path / "summary.json", {"n_trials": 3})
    assert (tmp_path / "summary.json").is_symlink()
    assert json.loads(target.read_text()) == {"n_trials": 3}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept", "summary.json",
                                                          "summary.json"]
