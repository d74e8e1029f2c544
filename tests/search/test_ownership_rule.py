"""One ownership rule for every folder bridge-search writes (issue 27, items 1-4).

A folder is written only if the tool created it (absent or empty at first use,
marked then) or it carries the tool's mark; anything else is exit 2 with one line
naming files in it, before TensorFlow loads, --overwrite or not. A replace or
delete checks again, right then, against the mark's identity. A symbolic link is
never written through, renamed or followed into a delete. Each case compares the
user's files byte for byte (tests/search/test_ownership_property.py runs every
writing command over a whole tree of them)."""

import os
from pathlib import Path

import keras
import pytest

from search.core import ownership
from search.core.config import SearchConfig
from search.core.errors import UsageError
from search.core import export_dir
from search.winner.export import export_model
from tests.conftest import LIST_IMPORTS, imported_tensorflow, run_cli
from tests.search.test_bad_input import assert_one_line, run_main


def snapshot(root):
    """Every file's bytes and every link's target under `root`, links not followed."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_file():
                found[key] = path.read_bytes()
    return found


@pytest.fixture
def user_tree(tmp_path, monkeypatch):
    """A working directory full of the user's things, one in every position."""
    work = tmp_path / "work"
    (work / "mydata" / "sub").mkdir(parents=True)
    (work / "mydata" / "notes.txt").write_bytes(b"precious\n")
    (work / "mydata" / "sub" / "deep.txt").write_bytes(b"deeper\n")
    (work / "mlruns" / "artifacts").mkdir(parents=True)
    (work / "mlruns" / "mine.txt").write_bytes(b"beside the store\n")
    (work / "notes.txt").write_bytes(b"in the working directory\n")
    (tmp_path / "sibling").mkdir()
    (tmp_path / "sibling" / "s.txt").write_bytes(b"sibling's\n")
    (tmp_path / "empty").mkdir()
    (work / "userlink").symlink_to("../sibling")
    (work / "emptylink").symlink_to("../empty")
    monkeypatch.chdir(work)
    return tmp_path


RUN = ["run", "--space", "bridge-small", "--max-epochs", "2", "--retrain", "none",
       "--tracking-uri", "sqlite:///mlruns/mlflow.db"]

# --project-dir, --experiment -> what the one line must say
PROJECT_CASES = {
    "user_folder": (".", "mydata", "the project folder 'mydata' holds files bridge-search "
                                   "did not write (notes.txt, sub)"),
    "store_folder": (".", "mlruns", "the project folder 'mlruns' holds the MLflow store"),
    "artifact_folder": ("mlruns", "artifacts", "is the MLflow artifact store"),
    "inside_artifacts": ("mlruns/artifacts", "x", "lies inside the MLflow artifact store"),
    "working_directory": ("..", "work", "the project folder '../work' holds the MLflow store"),
    "sibling": ("..", "sibling", "the project folder '../sibling' holds files"),
    "link_to_user_folder": (".", "userlink", "'userlink' is a symbolic link (to ../sibling)"),
    "link_to_empty_folder": (".", "emptylink", "'emptylink' is a symbolic link"),
    "a_file": (".", "notes.txt", "notes.txt is a file, not a folder; choose a folder path."),
    "under_a_file": ("notes.txt", "x", "notes.txt is a file"),
    "trailing_slash": ("./", "mydata", "'mydata' holds files bridge-search did not write"),
    "absolute": (None, "mydata", "holds files bridge-search did not write (notes.txt, sub)"),
}


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("case", list(PROJECT_CASES))
def test_a_project_folder_the_tool_did_not_create_is_refused(case, overwrite, user_tree,
                                                             capsys):
    """Item 1: `--experiment mydata` adopted the user's folder, `--overwrite` deleted it;
    `--experiment mlruns` deleted the default store."""
    project_dir, experiment, message = PROJECT_CASES[case]
    project_dir = project_dir or str(user_tree / "work")
    before = snapshot(user_tree)
    code, stderr = run_main([*RUN, "--project-dir", project_dir, "--experiment", experiment,
                             *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2, stderr
    assert_one_line(stderr, message)
    assert snapshot(user_tree) == before


@pytest.mark.parametrize("args", [
    ["--project-dir", ".", "--experiment", "mydata", "--overwrite"],
    ["--project-dir", ".", "--experiment", "mlruns", "--overwrite"],
    ["--export-dir", "emptylink"],
    ["--export-dir", "emptylink/"],
], ids=["user_folder", "store_folder", "link_export_dir", "link_export_dir_slash"])
def test_refusals_come_before_tensorflow_loads(args, user_tree):
    before = snapshot(user_tree)
    result = run_cli(*RUN, *args, cwd=user_tree / "work", env=LIST_IMPORTS, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert not imported_tensorflow(result.stderr)
    assert snapshot(user_tree) == before


# --export-dir / --out -> what the line must say
TARGET_CASES = {
    "link_to_empty_folder": ("emptylink", "'emptylink' is a symbolic link (to ../empty)"),
    "link_trailing_slash": ("emptylink/", "is a symbolic link (to ../empty)"),
    "link_to_user_folder": ("userlink", "'userlink' is a symbolic link (to ../sibling)"),
    "sibling": ("../sibling", "'../sibling' holds files bridge-search did not write (s.txt)"),
    "user_folder": ("mydata", "'mydata' holds files bridge-search did not write (notes.txt"),
    "a_file": ("notes.txt", "is a file"),
    "under_a_file": ("notes.txt/out", "notes.txt is a file"),
}


@pytest.mark.parametrize("case", list(TARGET_CASES))
@pytest.mark.parametrize("command, overwrite", [
    ("run", False), ("run", True), ("export", False), ("export", True), ("report", False)],
    ids=["run", "run_overwrite", "export", "export_overwrite", "report"])
def test_every_target_follows_the_rule(command, overwrite, case, user_tree, capsys,
                                       tracking_uri):
    """Items 3 and 4: `report --out` wrote into any folder; a symlinked --export-dir
    was renamed after training."""
    target, message = TARGET_CASES[case]
    argv = {"run": [*RUN, "--project-dir", "projects", "--export-dir", target],
            "export": ["export", "--run-id", "0123456789abcdef", "--out", target,
                       "--tracking-uri", tracking_uri],
            "report": ["report", "--experiment", "x", "--out", target,
                       "--tracking-uri", tracking_uri]}[command]
    before = snapshot(user_tree)
    code, stderr = run_main([*argv, *(["--overwrite"] if overwrite else [])], capsys)
    assert code == 2, stderr
    assert_one_line(stderr, message)
    assert snapshot(user_tree) == before


def test_report_out_with_the_users_report_is_refused(user_tree, capsys, tracking_uri):
    (user_tree / "work" / "mine").mkdir()
    (user_tree / "work" / "mine" / "report.md").write_bytes(b"my own report\n")
    before = snapshot(user_tree)
    code, stderr = run_main(["report", "--experiment", "x", "--out", "mine",
                             "--tracking-uri", tracking_uri], capsys)
    assert code == 2
    assert_one_line(stderr, "--out 'mine' holds files bridge-search did not write "
                            "(report.md); bridge-search writes a report only into a folder "
                            "it created")
    assert snapshot(user_tree) == before


def test_a_report_folder_of_ours_with_a_link_in_it_is_not_written_through(tmp_path):
    """Our mark, but report.md is a link to a user's file: writing would follow it."""
    out = tmp_path / "out"
    ownership.claim_folder(out, "--out", *ownership.REPORT_RULE)
    (tmp_path / "thesis.md").write_bytes(b"years of work\n")
    (out / "report.md").symlink_to(tmp_path / "thesis.md")
    from search.tracking.report import REPORT_FILES
    with pytest.raises(UsageError, match="report.md there is a symbolic link"):
        ownership.claim_folder(out, "--out", *ownership.REPORT_RULE, files=REPORT_FILES)
    assert (tmp_path / "thesis.md").read_bytes() == b"years of work\n"


# ----- the check repeated at replace and delete time ------------------------------------
def tiny_model():
    inputs = keras.Input((8, 8, 1))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))


def test_an_export_written_there_since_the_check_is_not_replaced(tmp_path):
    """Item 2: another search's export appears in --export-dir while this one trains;
    at the end it stays, and the new export is left beside it."""
    target = tmp_path / "export"
    export_dir.check_export_target(target, "--export-dir", [], owner="search A")  # at start
    export_model(tiny_model(), target, info={"by": "B"}, owner="search B")  # B finishes first
    theirs = snapshot(target)
    with pytest.raises(UsageError, match=r"now holds an export bridge-search did not find "
                                         r"there at its check \(search B, written since\)"):
        export_model(tiny_model(), target, info={"by": "A"}, owner="search A")
    assert snapshot(target) == theirs
    left = list(tmp_path.glob(".export.partial-*"))
    assert len(left) == 1 and '"A"' in (left[0] / "model_info.json").read_text()


def test_overwrite_replaces_only_the_export_it_checked(tmp_path):
    """--overwrite was given for the export found at start (B's); C's replaced it since."""
    target = tmp_path / "export"
    export_model(tiny_model(), target, info={"by": "B"}, owner="search B")
    export_dir.check_export_target(target, "--export-dir", [], owner="search A",
                                   replace_own=True)
    export_model(tiny_model(), target, info={"by": "C"}, owner="search C")
    theirs = snapshot(target)
    with pytest.raises(UsageError, match=r"\(search C, written since\)"):
        export_model(tiny_model(), target, info={"by": "A"}, owner="search A")
    assert snapshot(target) == theirs


def test_overwrite_replaces_the_export_it_checked(tmp_path):
    target = tmp_path / "export"
    export_model(tiny_model(), target, info={"by": "B"}, owner="search B")
    export_dir.check_export_target(target, "--export-dir", [], owner="search A",
                                   replace_own=True)
    export_model(tiny_model(), target, info={"by": "A"}, owner="search A")
    assert '"A"' in (target / "model_info.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


@pytest.mark.parametrize("became", ["link", "file", "user_folder"])
def test_an_export_dir_that_changed_since_the_check_is_left_as_it_is(became, tmp_path):
    """Item 4 at replace time: a link put there is never renamed (it was renamed to
    .export.retired-PID), a file or a user's folder never replaced."""
    (tmp_path / "empty").mkdir()
    target = tmp_path / "export"
    export_dir.check_export_target(target, "--export-dir", [], owner="A")
    if became == "link":
        target.symlink_to(tmp_path / "empty")
    elif became == "file":
        target.write_bytes(b"a file\n")
    else:
        target.mkdir()
        (target / "mine.txt").write_bytes(b"mine\n")
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match="The new export is left in"):
        export_model(tiny_model(), target, info={}, owner="A")
    after = snapshot(tmp_path)
    assert {k: after.get(k) for k in before} == before
    assert not list(tmp_path.glob(".export.retired-*"))


def test_a_project_folder_filled_by_the_user_after_the_check_is_not_claimed(tmp_path):
    """The check at start found nothing; the user's files arrived before the search
    took the folder: they are not adopted."""
    ownership.check_project_folder(tmp_path, "exp")
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "mine.txt").write_bytes(b"mine\n")
    with pytest.raises(UsageError, match=r"holds files bridge-search did not write \(mine.txt\)"):
        ownership.mark_project(tmp_path / "exp")
    assert sorted(os.listdir(tmp_path / "exp")) == ["mine.txt"]


def test_a_project_folder_of_an_earlier_version_is_still_ours(tmp_path):
    """Earlier versions marked it with their state file only."""
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "bridge_search_state.json").write_text('{"parent_run_id": "abc"}')
    (folder / "oracle.json").write_text("{}")
    ownership.check_project_folder(tmp_path, "exp")
    ownership.mark_project(folder)
    ownership.remove_project(folder)
    assert not folder.exists()


@pytest.mark.parametrize("content", ["my notes\n", "", "{}", '{"run": "abc"}', "[1, 2]",
                                     '{"parent_run_id": ""}', "\x00\xff binary"])
def test_a_users_file_named_like_the_old_state_file_does_not_make_a_folder_ours(content,
                                                                                tmp_path):
    """Only a state file an earlier version wrote (JSON with the parent run id)
    marks a folder: a user's file of that name, with a user's notes beside it, is
    refused, and --overwrite deletes nothing."""
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "bridge_search_state.json").write_text(content)
    (folder / "notes.txt").write_bytes(b"precious\n")
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match="holds files bridge-search did not write"):
        ownership.check_project_folder(tmp_path, "exp")
    for claim in (ownership.mark_project, ownership.remove_project):
        with pytest.raises(UsageError, match="holds files bridge-search did not write"):
            claim(folder)
    assert snapshot(tmp_path) == before


def test_overwrite_deletes_a_project_folder_only_if_its_mark_is_unchanged(tmp_path):
    folder = tmp_path / "projects" / "exp"
    ownership.mark_project(folder)
    (folder / "oracle.json").write_text("{}")
    ownership.check_project_folder(tmp_path / "projects", "exp")  # the check at start
    (folder / ownership.PROJECT_MARKER_FILE).write_text("another search's mark\n")
    with pytest.raises(UsageError, match="changed since bridge-search checked it"):
        ownership.remove_project(folder)
    assert (folder / "oracle.json").is_file()
    ownership.check_project_folder(tmp_path / "projects", "exp")
    ownership.remove_project(folder)
    assert not folder.exists() and sorted(os.listdir(tmp_path / "projects")) == []


@pytest.mark.parametrize("mark", ["link", "folder"])
def test_a_mark_that_is_a_link_or_a_folder_does_not_make_a_folder_ours(mark, tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "results.txt").write_bytes(b"mine\n")
    (tmp_path / "elsewhere").write_text("written by bridge-search\n")
    if mark == "link":
        (folder / ownership.PROJECT_MARKER_FILE).symlink_to(tmp_path / "elsewhere")
    else:
        (folder / ownership.PROJECT_MARKER_FILE).mkdir()
    with pytest.raises(UsageError, match="holds files bridge-search did not write"):
        ownership.check_project_folder(tmp_path, "exp")
    with pytest.raises(UsageError, match="holds files bridge-search did not write"):
        ownership.remove_project(folder)
    assert (folder / "results.txt").read_bytes() == b"mine\n"


def test_a_search_whose_export_dir_was_taken_meanwhile_leaves_it_alone(tmp_path, monkeypatch,
                                                                        tracking_uri):
    """Item 2 end to end: the search checks --export-dir at start (empty), another
    search's export lands there before it ends: exit 2, their export intact."""
    from search.run import run_search
    monkeypatch.chdir(tmp_path)
    config = SearchConfig(space="bridge-small", max_epochs=1, factor=2, retrain="none",
                          log_models="none", experiment="taken", project_dir="projects",
                          tracking_uri=tracking_uri, export_dir="export")
    export_model(tiny_model(), "export", info={"by": "other"}, owner="/elsewhere/other")
    theirs = snapshot(tmp_path / "export")
    with pytest.raises(UsageError, match=r"now holds an export .*\(/elsewhere/other"):
        run_search(config)
    assert snapshot(tmp_path / "export") == theirs
    assert len(list(tmp_path.glob(".export.partial-*"))) == 1  # ours, beside theirs


@pytest.mark.parametrize("added", ["notes.txt", "mydata", ".hidden"])
def test_overwrite_refuses_a_project_folder_holding_the_users_files(added, tmp_path):
    """Our project folder with a user's file or folder added: searched into as
    before, but --overwrite refuses it (before TensorFlow and again at the delete),
    and the user's entry stays."""
    folder = tmp_path / "exp"
    ownership.mark_project(folder)
    for name in ("oracle.json", "tuner0.json", "launch.json"):
        (folder / name).write_text("{}")
    (folder / "trial_0000").mkdir()
    (folder / added).mkdir() if added == "mydata" else (folder / added).write_text("mine")
    ownership.check_project_folder(tmp_path, "exp")  # resuming is fine
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match=rf"holds files bridge-search did not write \({added}\)"):
        ownership.check_project_folder(tmp_path, "exp", overwrite=True)
    with pytest.raises(UsageError, match=rf"holds files bridge-search did not write \({added}\)"):
        ownership.remove_project(folder)
    assert snapshot(tmp_path) == before


def test_overwrite_deletes_a_project_folder_of_only_search_files(tmp_path):
    folder = tmp_path / "exp"
    ownership.mark_project(folder)
    for name in ("oracle.json", "oracle_timings.json", "tuner1.json", "bridge_search_state.json",
                 ".oracle.json.partial-12"):
        (folder / name).write_text("{}")
    (folder / "trial_0003").mkdir()
    ownership.check_project_folder(tmp_path, "exp", overwrite=True)
    ownership.remove_project(folder)
    assert not folder.exists()
