"""Every writing command over a tree of the user's files (issue 27, "What it must
show" 1): `run`, `run --overwrite`, `export --out` and `report --out`, each aimed
at every position a user's file can be in (the working directory, its parent, a
sibling, the store's folder, a symbolic link to a user folder or to an empty one,
the target itself non-empty, a file), leave every user file byte-identical and
every link where it pointed. One real tiny search (in a working directory full of
user files, with the default store's layout) serves every command; the refusals
come before anything is read or trained, so the whole module is two searches."""

import hashlib
import os
from pathlib import Path

import pytest

from search.core import ownership
from tests.conftest import run_cli_here

USER_FILES = {  # relative to the tree's root; work/ is the working directory
    "parent.txt": b"in the parent of the working directory\n",
    "sibling/s.txt": b"in a sibling folder\n",
    "work/notes.txt": b"in the working directory\n",
    "work/mydata/notes.txt": b"precious\n",
    "work/mydata/sub/deep.txt": b"deeper\n",
    "work/mlruns/mine.txt": b"beside the store\n",
    "work/projects/plan.txt": b"beside the project folder\n",
    "work/exports/readme.txt": b"in the default export base\n",
    "work/reports/keep.md": b"in the default report base\n",
    "work/unicodé dir/ü.txt": "ünïcode\n".encode(),
}
LINKS = {"work/userlink": "../sibling", "work/emptylink": "../empty"}
STORE = "sqlite:///mlruns/mlflow.db"  # the default store's layout, in the working directory
SEARCH = ["run", "--space", "bridge-small", "--max-epochs", "2", "--retrain", "none",
          "--log-models", "best", "--project-dir", "projects", "--experiment", "prop",
          "--export-dir", "out/export", "--tracking-uri", STORE]


def user_state(root):
    """The user's files (sha256 of their bytes) and links, as they are now."""
    state = {}
    for name in USER_FILES:
        path = root / name
        state[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    for name in LINKS:
        state[name] = os.readlink(root / name) if (root / name).is_symlink() else None
    state["empty"] = sorted(os.listdir(root / "empty"))
    return state


def whole_tree(root):
    """Everything under `root` but the store's database, for refused commands:
    they must write nothing at all."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            if path.name.startswith("mlflow.db"):
                continue
            found[str(path.relative_to(root))] = (
                os.readlink(path) if path.is_symlink() else
                path.read_bytes() if path.is_file() else "dir")
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A user's tree, and one finished tiny search run in it: (root, parent run id,
    a trial run id)."""
    root = tmp_path_factory.mktemp("user-tree")
    for name, data in USER_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "empty").mkdir()
    for name, target in LINKS.items():
        (root / name).symlink_to(target)
    before = user_state(root)
    result = run_cli_here(*SEARCH, cwd=root / "work")
    assert result.returncode == 0, result.stderr[-3000:]
    assert user_state(root) == before
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"sqlite:///{root}/work/mlruns/mlflow.db")
    experiment = client.get_experiment_by_name("prop")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    trial = next(r for r in runs if "mlflow.parentRunId" in r.data.tags
                 and client.list_artifacts(r.info.run_id))
    return root, parent.info.run_id, trial.info.run_id


# Where an export or report dir can point, from the working directory.
POSITIONS = [".", "..", "../sibling", "mlruns", "mlruns/artifacts", "userlink", "emptylink",
             "emptylink/", "mydata", "mydata/sub", "notes.txt", "notes.txt/x", "projects",
             "projects/prop", "unicodé dir", "../work", "./mydata/../mydata"]
# Where a project folder can point: (--project-dir, --experiment).
PROJECT_POSITIONS = [(".", "mydata"), (".", "mlruns"), ("mlruns", "artifacts"),
                     ("mlruns/artifacts", "x"), ("..", "sibling"), ("..", "work"),
                     (".", "userlink"), (".", "emptylink"), (".", "notes.txt"),
                     ("notes.txt", "x"), ("mydata", "sub"),
                     (".", "projects"), ("./mydata/..", "mydata"), ("PWD", "mydata")]
BASE = SEARCH[:-4]  # without --export-dir and --tracking-uri


def target_command(command, target, trial_run_id):
    return {
        "run": [*BASE, "--export-dir", target, "--tracking-uri", STORE, "--experiment", "p2"],
        "run_overwrite": [*BASE, "--export-dir", target, "--tracking-uri", STORE,
                          "--overwrite"],
        "export": ["export", "--run-id", trial_run_id, "--out", target, "--tracking-uri", STORE],
        "export_overwrite": ["export", "--run-id", trial_run_id, "--out", target,
                             "--tracking-uri", STORE, "--overwrite"],
        "report": ["report", "--experiment", "prop", "--out", target, "--tracking-uri", STORE],
    }[command]


def assert_refused_writing_nothing(root, argv):
    before = whole_tree(root)
    result = run_cli_here(*argv, cwd=root / "work")
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bridge-search: error: "), result.stderr
    assert whole_tree(root) == before
    return lines[0]


@pytest.mark.parametrize("target", POSITIONS)
@pytest.mark.parametrize("command", ["run", "run_overwrite", "export", "export_overwrite",
                                     "report"])
def test_an_export_or_report_aimed_at_user_files_writes_nothing(command, target, tree):
    root, _, trial = tree
    assert_refused_writing_nothing(root, target_command(command, target, trial))


@pytest.mark.parametrize("overwrite", [False, True], ids=["run", "run_overwrite"])
@pytest.mark.parametrize("project_dir, experiment", PROJECT_POSITIONS)
def test_a_search_aimed_at_user_files_writes_nothing(project_dir, experiment, overwrite, tree):
    root, _, _ = tree
    project_dir = str(root / "work") if project_dir == "PWD" else project_dir
    line = assert_refused_writing_nothing(root, [
        *BASE, "--export-dir", "out/new", "--tracking-uri", STORE, "--project-dir",
        project_dir, "--experiment", experiment, *(["--overwrite"] if overwrite else [])])
    # refused for the project folder (or, where a file stands, by the path check first)
    assert "project folder" in line or "notes.txt is a file" in line


def test_writing_commands_that_succeed_keep_every_user_file(tree):
    """The legitimate writes, each twice where a second run is allowed: report
    into a new folder and the default one, export into a new folder (again only
    with --overwrite), the same search again (answered from its state), and last
    the search afresh with --overwrite."""
    root, parent, trial = tree
    work, before = root / "work", user_state(root)

    def ok(*argv):
        result = run_cli_here(*argv, cwd=work)
        assert result.returncode == 0, result.stderr[-3000:]
        assert user_state(root) == before, argv
        return result

    for _ in range(2):
        ok("report", "--experiment", "prop", "--out", "new report/", "--tracking-uri", STORE)
        ok("report", "--experiment", "prop", "--tracking-uri", STORE)
    assert (work / "new report" / ownership.REPORT_MARKER_FILE).is_file()
    assert (work / "reports" / "prop" / parent / "report.md").is_file()
    ok("export", "--run-id", trial, "--out", "new export", "--tracking-uri", STORE)
    again = run_cli_here("export", "--run-id", trial, "--out", "new export",
                         "--tracking-uri", STORE, cwd=work)
    assert again.returncode == 2 and "holds an earlier export" in again.stderr
    ok("export", "--run-id", trial, "--out", "new export", "--tracking-uri", STORE,
       "--overwrite")
    assert "This search already finished" in ok(*SEARCH).stderr
    first_export = (work / "out" / "export" / "model_info.json").read_text()
    ok(*SEARCH, "--overwrite")  # a second real search, replacing our project and export
    assert (work / "out" / "export" / "model_info.json").read_text() != first_export
    assert parent not in (work / "out" / "export" / "model_info.json").read_text()
    assert (work / "projects" / "prop" / ownership.PROJECT_MARKER_FILE).is_file()
    assert not [p for p in (work / "projects").iterdir() if ownership.RETIRED_TAG in p.name]
