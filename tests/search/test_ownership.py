"""bridge-search deletes or replaces only what it wrote (issue 11, item 1).

An export target that is or contains the working directory, the project dir or
the MLflow store, or that holds anything but an export of ours, is refused with
exit 2 and one line before anything trains, --overwrite or not; `--overwrite`
never lets keras-tuner delete a project folder we did not create; an export
killed half-way leaves the previous export in place. After each case the user's
files are compared byte for byte."""

import os
import sqlite3
import signal
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from search.core import ownership
from search.core.crashpoints import ENV as CRASH_ENV
from search.core.errors import UsageError
from search.winner.export import export_model
from tests.conftest import REPO_ROOT
from tests.search.test_bad_input import assert_one_line, run_main


def user_files(root):
    """Every file under `root` with its bytes: what must survive untouched."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A user's working directory with their own files, a store and a project dir."""
    work = tmp_path / "work"
    (work / "notes").mkdir(parents=True)
    (work / "notes" / "thesis.txt").write_bytes(b"years of work\n")
    (work / "data.csv").write_bytes(b"a,b\n1,2\n")
    (work / "mlruns").mkdir()
    sqlite3.connect(work / "mlruns" / "mlflow.db").close()  # a store (empty), never opened
    (work / "mlruns" / "artifacts").mkdir()
    (work / "projects").mkdir()
    monkeypatch.chdir(work)
    return work


RUN = ["run", "--space", "bridge-small", "--max-epochs", "1", "--factor", "2",
       "--retrain", "none", "--project-dir", "projects",
       "--tracking-uri", "sqlite:///mlruns/mlflow.db"]

# name -> (--export-dir, what the line must name)
PROTECTED_CASES = {
    "working_directory": (".", "is or contains the working directory"),
    "parent_of_working_directory": ("..", "is or contains the working directory"),
    "store_folder": ("mlruns", "is or contains the MLflow store"),
    "artifact_folder": ("mlruns/artifacts", "is or contains the MLflow artifact store"),
    "project_dir": ("projects", "is or contains the project dir"),
}


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("case", list(PROTECTED_CASES))
def test_export_dir_that_holds_what_the_tool_needs_is_refused(case, overwrite, workdir,
                                                             capsys):
    export_dir, message = PROTECTED_CASES[case]
    before = user_files(workdir.parent)
    code, stderr = run_main([*RUN, "--export-dir", export_dir,
                             *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2
    assert_one_line(stderr, f"--export-dir '{export_dir}' {message}")
    assert user_files(workdir.parent) == before
    assert not list(workdir.glob("projects/*"))  # refused before the search began


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_export_dir_with_user_files_is_refused_even_with_overwrite(overwrite, workdir, capsys):
    code, stderr = run_main([*RUN, "--export-dir", "notes",
                             *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2
    assert_one_line(stderr, "--export-dir 'notes' holds files bridge-search did not write "
                            "(thesis.txt); it only replaces its own exports")
    assert (workdir / "notes" / "thesis.txt").read_bytes() == b"years of work\n"


def test_our_export_with_a_user_file_added_is_refused(workdir, capsys):
    export = workdir / "export"
    export.mkdir()
    (export / ownership.EXPORT_OWNER_FILE).write_text("some search")
    (export / "model.keras").write_bytes(b"ours")
    (export / "my_plot.png").write_bytes(b"theirs")
    before = user_files(workdir)
    code, stderr = run_main([*RUN, "--export-dir", "export", "--overwrite"], capsys)
    assert code == 2
    assert_one_line(stderr, "holds files bridge-search did not write (my_plot.png)")
    assert user_files(workdir) == before


def test_another_searchs_export_needs_overwrite(workdir, capsys):
    export = workdir / "export"
    export.mkdir()
    (export / ownership.EXPORT_OWNER_FILE).write_text("/elsewhere/other-search")
    code, stderr = run_main([*RUN, "--export-dir", "export"], capsys)
    assert code == 2
    assert_one_line(stderr, "--export-dir 'export' holds an earlier export "
                            "(/elsewhere/other-search); pass --overwrite to replace it")


def test_overwrite_never_deletes_a_project_folder_we_did_not_create(workdir, capsys):
    """keras-tuner's --overwrite rmtrees project_dir/EXPERIMENT: here the user's."""
    folder = workdir / "projects" / "mine"
    folder.mkdir()
    (folder / "results.txt").write_bytes(b"do not delete\n")
    before = user_files(workdir)
    code, stderr = run_main([*RUN, "--experiment", "mine", "--overwrite"], capsys)
    assert code == 2
    assert_one_line(stderr, f"--project-dir 'projects': the project folder "
                            f"'{Path('projects') / 'mine'}' holds files bridge-search did not "
                            f"write (results.txt); bridge-search writes only into a project "
                            f"folder it created (marked .bridge_search_project)")
    assert user_files(workdir) == before


@pytest.mark.parametrize("out", ["notes", "."])
def test_export_command_follows_the_same_rule(out, workdir, capsys, tracking_uri):
    before = user_files(workdir)
    code, stderr = run_main(["export", "--run-id", "0123456789abcdef", "--out", out,
                             "--overwrite", "--tracking-uri", tracking_uri], capsys)
    assert code == 2
    expected = ("holds files bridge-search did not write (thesis.txt)" if out == "notes"
                else "--out '.' is or contains the working directory")
    assert_one_line(stderr, expected)
    assert user_files(workdir) == before


def tiny_model():
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))


KILLED_EXPORT = """
import sys, keras
from search.winner.export import export_model
inputs = keras.Input((8, 8, 1))
model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
export_model(model, sys.argv[1], info={"export": "second"}, owner="test")
"""


def test_a_kill_during_export_leaves_the_previous_export_whole(tmp_path):
    target = tmp_path / "export"
    (tmp_path / "beside.txt").write_bytes(b"user file next to the export\n")
    export_model(tiny_model(), target, info={"export": "first"}, owner="test")
    previous = user_files(target)

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), CRASH_ENV: "exporting"}
    killed = subprocess.run([sys.executable, "-c", KILLED_EXPORT, str(target)], env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert user_files(target) == previous  # the first export, whole
    assert list(tmp_path.glob(".export.partial-*"))  # the complete second one, not in place

    export_model(tiny_model(), target, info={"export": "third"}, owner="test")
    assert '"third"' in (target / "model_info.json").read_text()
    assert keras.models.load_model(target / "model.keras").output_shape == (None, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beside.txt", "export"]
    assert (tmp_path / "beside.txt").read_bytes() == b"user file next to the export\n"


def test_export_refuses_a_target_that_gained_user_files_since_the_check(tmp_path):
    target = tmp_path / "export"
    export_model(tiny_model(), target, info={}, owner="test")
    (target / "added.txt").write_bytes(b"mine")
    with pytest.raises(UsageError, match=r"now holds files bridge-search did not write "
                                         r"\(added.txt\)"):
        export_model(tiny_model(), target, info={}, owner="test")
    assert (target / "added.txt").read_bytes() == b"mine"


def test_overwrite_restarts_our_own_search_and_keeps_every_user_file(workdir, tracking_uri):
    """The legitimate case: --overwrite on a project folder and export we wrote
    replaces them, and the user's files around them stay byte for byte."""
    from search.core.config import SearchConfig
    from search.run import run_search
    (workdir / "projects" / "plan.txt").write_bytes(b"beside the project folder\n")
    options = dict(space="bridge-small", max_epochs=1, factor=2, retrain="none",
                   log_models="none", experiment="own-overwrite", project_dir="projects",
                   tracking_uri=tracking_uri, export_dir="export")
    first = run_search(SearchConfig(**options))
    assert (workdir / "projects" / "own-overwrite" / ownership.PROJECT_MARKER_FILE).is_file()
    user = {k: v for k, v in user_files(workdir).items()
            if not k.startswith(("projects/own-overwrite", "export"))}
    second = run_search(SearchConfig(**options, overwrite=True))
    assert second["parent_run_id"] != first["parent_run_id"]  # searched afresh
    info = (workdir / "export" / "model_info.json").read_text()
    assert second["parent_run_id"] in info and first["parent_run_id"] not in info
    after = user_files(workdir)
    assert {k: after[k] for k in user} == user
