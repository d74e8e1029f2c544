"""The command line as users run it: real processes, exit codes, one-line errors
(the `spaces` listing in process: test_quiet_cli runs that command as a process)."""

import json
from pathlib import Path

import pytest

from tests.conftest import LIST_IMPORTS, imported_tensorflow, run_cli, run_cli_here

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


@pytest.fixture(scope="module")
def cli_search(tmp_path_factory, tracking_uri):
    work = tmp_path_factory.mktemp("cli")
    # Hyperband(2, 3): two trials; the default final training, cut to two epochs.
    result = run_cli("run", "--space", "bridge-small", "--max-epochs", 2, "--factor", 3,
                     "--min-retrain-epochs", 1, "--experiment", "cli-run",
                     "--project-dir", work / "project",
                     "--tracking-uri", tracking_uri, "--export-dir", work / "export",
                     "--summary-json", work / "summary.json", cwd=work)
    return work, result


def test_run_succeeds_shows_progress_and_writes_the_summary(cli_search):
    work, result = cli_search
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((work / "summary.json").read_text())
    assert summary["n_trials"] >= 2
    assert "[trial 1/" in result.stderr and "best" in result.stderr and "elapsed" in result.stderr
    assert (Path(summary["export_dir"]) / "model.keras").is_file()


def test_export_any_trial_by_run_id(cli_search, tracking_uri):
    work, _ = cli_search
    summary = json.loads((work / "summary.json").read_text())
    out = work / "exported-trial"
    result = run_cli_here("export", "--run-id", summary["best_run_id"], "--out", out,
                          "--tracking-uri", tracking_uri, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {"model.keras", "saved_model", "model_info.json"} <= {p.name for p in out.iterdir()}
    info = json.loads((out / "model_info.json").read_text())
    assert info["run_id"] == summary["best_run_id"]


def test_export_of_unknown_run_is_a_usage_error_before_tensorflow_loads(tmp_path, tracking_uri):
    result = run_cli("export", "--run-id", "0123456789abcdef", "--out", tmp_path / "o",
                     "--tracking-uri", tracking_uri, cwd=tmp_path, env=LIST_IMPORTS)
    assert result.returncode == 2
    assert "--run-id '0123456789abcdef': no such run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not imported_tensorflow(result.stderr)


@pytest.mark.parametrize("args,message", [
    (["--max-epochs", "0"], "--max-epochs 0 is invalid: must be an integer >= 1"),
    (["--factor", "1"], "--factor 1 is invalid: must be an integer >= 2"),
    (["--space", "nope"], "--space 'nope' is not a registered space"),
])
def test_bad_flags_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    result = run_cli_here("run", *args, "--tracking-uri", f"sqlite:///{tmp_path}/store/mlflow.db",
                          cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "store" / "mlflow.db").exists()


def test_spaces_lists_registered_spaces_and_hyperparameters(capsys):
    # in process: the listing is what is checked (test_quiet_cli runs it as a process)
    from search.cli import main
    assert main(["spaces"]) == 0
    listed = capsys.readouterr().out
    assert "bridge  (default)" in listed
    assert "flatten_pool (conditional)" in listed
    # the space's rules between hyperparameters, which the ranges above cannot say
    default = listed.split("bridge-small")[0]
    assert "  rule: gap, gmp, concat only with residual_blocks >= 2 (other draws are drawn " \
           "again)" in default
    assert "  rule: flatten only with learning_rate <= 0.003" in default
