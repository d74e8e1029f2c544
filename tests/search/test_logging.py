"""One package logger, set by the CLI's -v/-q (issue 13, item 5): the default
prints the progress lines in their fixed format, -q only warnings and errors, -v
debug lines too; run_search from Python prints nothing unless logging is set."""

import logging
import re

import pytest

from search import SearchConfig, run_search
from search.cli import parse_args
from tests.conftest import run_cli, run_cli_here

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

PROGRESS = re.compile(
    r"^\[trial \d+/~\d+\] id \S+ bracket \S+ round \S+ epochs \S+ bridge=\S+ depth=\S+ "
    r"width=\S+ \| val_accuracy (\d\.\d{4}|failed) \| best (\d\.\d{4}|-) \| elapsed \d+:\d\d$",
    re.MULTILINE)
# Hyperband(1, 2) twice over: two one-epoch trials, two progress lines.
TINY = ("--space", "bridge-small", "--max-epochs", 1, "--factor", 2, "--hyperband-iterations", 2,
        "--retrain", "none")


def tiny_run(tmp_path, *flags, run=run_cli):
    tmp_path.mkdir()
    return run(*flags, *TINY, "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db",
               "--project-dir", tmp_path / "project", "--export-dir", tmp_path / "export",
               cwd=tmp_path)


@pytest.mark.parametrize("argv, verbosity", [
    (["run"], 0), (["-q", "run"], -1), (["run", "-q"], -1), (["--verbose", "run"], 1),
    (["spaces", "-v"], 1), (["-q", "report"], -1)])
def test_verbosity_flags_go_before_or_after_the_sub_command(argv, verbosity):
    assert parse_args(argv).verbosity == verbosity


def test_verbose_and_quiet_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["-v", "-q", "run"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_quiet_run_prints_no_progress_and_verbose_run_adds_debug_lines(tmp_path):
    # -q in this process (what a fresh process prints is test_quiet_cli's); -v in
    # its own, where a root handler MLflow adds writes to the same stderr.
    quiet = tiny_run(tmp_path / "quiet", "run", "-q", run=run_cli_here)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert not PROGRESS.search(quiet.stderr) and "Searching space" not in quiet.stderr
    verbose = tiny_run(tmp_path / "verbose", "-v", "run")
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert re.search(r"^trial \S+ started: run \w+, \{", verbose.stderr, re.MULTILINE)
    assert len(PROGRESS.findall(verbose.stderr)) == 2, verbose.stderr[-3000:]
    # each line once: a root handler MLflow adds during the run must not repeat it
    lines = verbose.stderr.splitlines()
    assert len([line for line in lines if line.startswith("Best trial ")]) == 1


def test_run_search_prints_nothing_and_logs_the_progress_lines(tmp_path, tracking_uri,
                                                               experiment_name, caplog, capfd):
    caplog.set_level(logging.INFO, logger="search")
    config = SearchConfig(space="bridge-small", max_epochs=1, factor=2, hyperband_iterations=2,
                          retrain="none", experiment=experiment_name,
                          project_dir=str(tmp_path / "project"),
                          tracking_uri=tracking_uri, export_dir=str(tmp_path / "export"))
    run_search(config)
    printed = capfd.readouterr()
    assert not PROGRESS.search(printed.err + printed.out)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert len(PROGRESS.findall(logged)) == 2, logged
    assert all(record.name.startswith("search.") for record in caplog.records)
