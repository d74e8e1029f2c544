"""Commands that only read the store never create one (issue 11, item 8):
`report`, `export`, `serve` and `ui` on a store that does not exist give exit 2
and one line, and leave no file or folder behind."""

from pathlib import Path

import pytest

from tests.search.test_bad_input import assert_one_line, run_main

COMMANDS = {"report": ["report", "--experiment", "digits"],
            "export": ["export", "--run-id", "0123456789abcdef", "--out", "exported"],
            "serve": ["serve", "--experiment", "digits"],
            "ui": ["ui"], "confirm": ["confirm", "--experiment", "digits"]}
# name -> (--tracking-uri given tmp, or None for the default store; the path named)
STORES = {"default_store": (lambda tmp: None, "mlruns/mlflow.db"),
          "missing_folder": (lambda tmp: f"sqlite:///{tmp}/nowhere/mlflow.db",
                             "nowhere/mlflow.db"),
          "missing_file": (lambda tmp: f"sqlite:///{tmp}/here/mlflow.db", "here/mlflow.db")}


@pytest.mark.parametrize("store", list(STORES))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_read_only_command_on_a_missing_store_creates_nothing(command, store, tmp_path,
                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "here").mkdir()
    make_uri, path = STORES[store]
    uri = make_uri(tmp_path)
    code, stderr = run_main([*COMMANDS[command], *(["--tracking-uri", uri] if uri else [])],
                            capsys)
    assert code == 2
    assert_one_line(stderr, ": no MLflow store at ")
    assert path in stderr and "nothing was created" in stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in Path(tmp_path).rglob("*")) == ["here"]
