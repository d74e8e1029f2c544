"""Break-it pass, round 3: each test is one way a new user broke `bridge-search`
off the happy path, shown with real processes (`.venv/bin/bridge-search`), tiny
budgets (`--max-epochs 2 --retrain none`, the bundled digits) and no mocks. Each
fails on the code it was written against; the docstring says what happened and
what the README/docs promise instead."""

import os
import signal
import socket
import subprocess

import pytest

from tests.conftest import REPO_ROOT
from tests.search.postgres import postgres_store  # noqa: F401 (fixture)

BIN = REPO_ROOT / ".venv" / "bin" / "bridge-search"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
TINY = ["--max-epochs", "2", "--retrain", "none"]
SQLITE_HEADER = b"SQLite format 3\x00"


def cli(*args, cwd, timeout=300, env=None):
    """`bridge-search ARGS` in a new process in `cwd`; MLFLOW_TRACKING_URI unset
    unless `env` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    environ.update(env or {})
    return subprocess.run([str(BIN), *map(str, args)], cwd=cwd, env=environ, text=True,
                          capture_output=True, timeout=timeout)


def cli_bounded(*args, cwd, seconds):
    """As cli(), but a command still running after `seconds` is killed and the test
    fails: it should have answered (exit 2) long before."""
    try:
        return cli(*args, cwd=cwd, timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`bridge-search {' '.join(map(str, args))}` was still running after "
                    f"{seconds} s (killed), with nothing printed")


def tiny_search(cwd, experiment, *extra):
    cwd.mkdir(parents=True, exist_ok=True)
    done = cli("run", *TINY, "--experiment", experiment, *extra, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def make_store(cwd, script=""):
    """An MLflow sqlite store at cwd/mlruns/mlflow.db, made by MLflow itself (as
    another tool or a user's notebook would), then `script` run against it."""
    (cwd / "mlruns").mkdir(parents=True, exist_ok=True)
    code = ("import mlflow\n"
            "mlflow.set_tracking_uri('sqlite:///mlruns/mlflow.db')\n"
            "mlflow.MlflowClient().search_experiments()\n" + script)
    done = subprocess.run([str(PYTHON), "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def one_line_exit_2(done):
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr[-3000:]


def answered(done):
    """No traceback, and either done (exit 0) or refused in one line (exit 2)."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    if done.returncode != 0:
        one_line_exit_2(done)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny search: (its folder, its experiment, the run's stderr)."""
    home = tmp_path_factory.mktemp("finished")
    done = tiny_search(home, "fin")
    return home, "fin", done.stderr


# ----- stores and paths that pass the checks, then crash ----------------------------
def test_file_store_uri_is_refused_in_one_line_not_a_traceback(tmp_path):
    """`run --tracking-uri file:/abs/store` (docs/faults.md lists `file:PATH` among the
    accepted forms) passes every check, loads TensorFlow, then dies with MLflow's
    "filesystem tracking backend is in maintenance mode" MlflowException traceback,
    exit 1. Should be: exit 2, one line, before TensorFlow loads (or a working store)."""
    done = cli("run", *TINY, "--experiment", "fs", "--tracking-uri",
               f"file:{tmp_path / 'fsstore'}", cwd=tmp_path)
    answered(done)


def test_report_with_a_relative_store_path_is_one_line_not_a_traceback(tmp_path):
    """`report --tracking-uri mlruns` (or MLFLOW_TRACKING_URI=mlruns; a newcomer's
    guess, and the folder exists) prints MLflow's FileStore MlflowException traceback,
    exit 1 (also export, confirm, ui). `run` refuses the same value with exit 2 and
    `expected sqlite:///PATH.db, ...`; the read-only commands should too."""
    make_store(tmp_path)
    done = cli("report", "--tracking-uri", "mlruns", cwd=tmp_path)
    one_line_exit_2(done)
    done = cli("report", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "mlruns"})
    one_line_exit_2(done)


def test_seed_beyond_numpy_range_is_refused_before_tensorflow(tmp_path):
    """`run --seed 4294967296` passes the `>= 0` check, loads TensorFlow, creates the
    project folder and the MLflow experiment, then dies with numpy's "ValueError: Seed
    must be between 0 and 2**32 - 1" traceback, exit 1. Should be exit 2, one line
    naming --seed and its range, nothing created."""
    done = cli("run", *TINY, "--experiment", "bigseed", "--seed", "4294967296", cwd=tmp_path)
    answered(done)
    if done.returncode == 2:
        assert not (tmp_path / "bridge_search_projects" / "bigseed").exists()


@pytest.mark.parametrize("length", [300, 245])
def test_long_experiment_name_on_postgresql_is_refused_in_one_line(tmp_path, postgres_store,
                                                                    length):
    """The tool accepts experiment names up to 500 characters (MLflow's own check),
    but MLflow's PostgreSQL schema holds experiments.name VARCHAR(256) and runs.name
    VARCHAR(250) (the parent run is named 'EXPERIMENT: running (started ...)'): a
    300-character name dies creating the experiment, a 245-character one creating
    the parent run, both with a SQLAlchemy StringDataRightTruncation traceback after
    TensorFlow loaded (the experiment and project folder are left). Should be: exit 2,
    one line with the limit that applies, before TensorFlow loads (or a shorter run
    name)."""
    done = cli("run", *TINY, "--experiment", "e" * length, "--tracking-uri", postgres_store,
               cwd=tmp_path)
    answered(done)


def test_export_of_a_run_without_a_keras_file_is_one_line(tmp_path):
    """`export --run-id RUN --out out` for a run of another tool whose best_model/
    artifact holds no .keras file: `StopIteration` traceback from
    search/tracking/models.py (`next(Path(folder).glob("*.keras"))`), exit 1. Should be
    exit 2 and one line, as for a run with no best_model/ at all."""
    run_id = make_store(tmp_path, (
        "mlflow.set_experiment('other-tool')\n"
        "open('notes.txt', 'w').write('not a model')\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_artifact('notes.txt', 'best_model')\n"
        "print(run.info.run_id)\n")).strip().splitlines()[-1]
    done = cli("export", "--run-id", run_id, "--out", "out", cwd=tmp_path)
    one_line_exit_2(done)


def test_serve_a_model_uri_of_a_missing_run_is_one_line(tmp_path):
    """`serve --model-uri runs:/<id>/model` for a run that is not in the store prints
    "Serving runs:/... on http://..." and then MLflow's "Run with id=... not found"
    traceback, exit 1 (also `models:/nosuch/1`). `serve` checks an alias before it
    says "Serving" (exit 2); a --model-uri deserves the same."""
    make_store(tmp_path)
    done = cli("serve", "--model-uri", f"runs:/{'0' * 32}/model", "--port", free_port(),
               cwd=tmp_path, timeout=120)
    one_line_exit_2(done)
    assert "Serving" not in done.stderr


# ----- ports ----------------------------------------------------------------------------
def test_ui_port_out_of_range_is_one_line_not_a_traceback(tmp_path):
    """`ui --port 99999`: prints the UI links for http://127.0.0.1:99999, then
    uvicorn's `OverflowError: bind(): port must be 0-65535` traceback and "Running
    the mlflow server failed", exit 1 (`serve --port 99999` and `server --port 99999`
    likewise). Should be exit 2 and one line naming --port, before anything starts."""
    make_store(tmp_path)
    done = cli_bounded("ui", "--port", "99999", cwd=tmp_path, seconds=120)
    one_line_exit_2(done)


def test_server_on_a_port_in_use_is_one_line_and_creates_no_store(tmp_path):
    """`server --store sqlite:///srv.db --port P` with P in use: creates srv.db, prints
    MLflow's start-up lines, a StarletteDeprecationWarning with its source path,
    "[Errno 98] ... address already in use" and "Running the mlflow server failed",
    exit 1. `launch --oracle-port` in use is exit 2 with one line naming the port
    before anything starts (docs/faults.md); `server` (and `ui`) should be the same."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli_bounded("server", "--store", "sqlite:///srv.db", "--port", port,
                           cwd=tmp_path, seconds=120)
    one_line_exit_2(done)
    assert not (tmp_path / "srv.db").exists()


def test_serve_on_a_port_in_use_is_one_line_not_a_traceback(finished, tmp_path):
    """`serve --experiment fin --port P` with P in use: "Serving ...", Keras'
    optimizer UserWarning, uvicorn's start-up lines, then mlflow's
    `Exception: Command '['bash', '-c', 'exec uvicorn ...']' returned non zero return
    code` traceback, exit 1. Should be exit 2, one line naming the port."""
    home, experiment, _ = finished
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli_bounded("serve", "--experiment", experiment, "--port", port, cwd=home,
                           seconds=120)
    one_line_exit_2(done)


# ----- the tool's own output ------------------------------------------------------------
def test_a_search_prints_no_keras_warning_with_a_source_path(finished, tmp_path):
    """Every `run --retrain none` (and `serve`, and `-q run`) prints
    `/.../keras/src/saving/saving_lib.py:869: UserWarning: Skipping variable loading
    for optimizer 'adam', because it has 46 variables whereas the saved optimizer has
    2 variables.` and the source line under it. docs/faults.md: "The output of a run
    is the tool's own lines"; -q: "warnings and errors only" of the tool."""
    _, _, stderr = finished
    assert "UserWarning" not in stderr, stderr
    assert "saving_lib.py" not in stderr, stderr


def test_dry_run_limit_refusal_names_the_space(tmp_path):
    """`run --dry-run --max-params 1` prints the plan, then `--max-params 1: the
    smallest model of space '' that may train ...`: the space's name is empty (the
    same refusal without --dry-run says space 'bridge')."""
    done = cli("run", "--dry-run", "--max-epochs", "2", "--max-params", "1", cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "space ''" not in done.stderr, done.stderr[-2000:]
    assert "space 'bridge'" in done.stderr, done.stderr[-2000:]


# ----- sizes nobody bounds ---------------------------------------------------------------
def test_huge_hyperband_iterations_is_refused_not_a_hang(tmp_path):
    """`run --dry-run --hyperband-iterations 100000000` prints nothing and grows by
    ~60 MB/s (1.6 GB after 20 s) while it builds the plan round by round; without
    --dry-run it first creates the project folder and the store, then does the same.
    --time-budget is bounded (30 days) for this reason; the iterations are not.
    Should be exit 2 in seconds (or a plan printed without enumerating every round)."""
    done = cli_bounded("run", "--dry-run", "--hyperband-iterations", "100000000",
                       cwd=tmp_path, seconds=30)
    assert done.returncode == 2, done.stderr[-2000:]


def test_confirm_with_a_billion_seeds_is_refused_not_a_hang(finished):
    """`confirm --experiment fin --seeds 1000000000 --epochs 1` prints nothing and
    grows by ~80 MB/s (2.3 GB after 24 s) before training anything. Should be exit 2
    naming --seeds, or at least start (and say how many runs it plans)."""
    home, experiment, _ = finished
    done = cli_bounded("confirm", "--experiment", experiment, "--seeds", "1000000000",
                       "--epochs", "1", cwd=home, seconds=30)
    assert done.returncode == 2, done.stderr[-2000:]


# ----- ownership: what the tool writes and deletes -----------------------------------------
@pytest.mark.slow
def test_summary_json_onto_the_store_is_refused(tmp_path):
    """The same finished search again with `--summary-json mlruns/mlflow.db` answers
    "This search already finished" in a second, exit 0, and has replaced the MLflow
    store (every run, metric and registered model of every experiment) with the JSON
    summary; the next `report` says "mlruns/mlflow.db is not an sqlite database".
    --export-dir, --project-dir and --experiment are refused when they hold the store;
    --summary-json should be too (exit 2, before anything is written)."""
    tiny_search(tmp_path, "sj")
    store = tmp_path / "mlruns" / "mlflow.db"
    done = cli("run", *TINY, "--experiment", "sj", "--summary-json", "mlruns/mlflow.db",
               cwd=tmp_path)
    assert store.read_bytes()[:16] == SQLITE_HEADER, "the MLflow store was overwritten"
    one_line_exit_2(done)


@pytest.mark.slow
def test_export_dir_equal_to_the_project_folder_is_refused_before_training(tmp_path):
    """`run --experiment e1 --export-dir bridge_search_projects/e1` (the project
    folder this very run creates) is accepted, trains the whole search, then stops
    with exit 2 "export dir ... holds files bridge-search did not write
    (.bridge_search_project, ...)" and leaves the export in a hidden
    bridge_search_projects/.e1.partial-*. docs/faults.md: an --export-dir "holding the
    store or the project: exit 2 before training"."""
    done = cli("run", *TINY, "--experiment", "e1", "--export-dir", "bridge_search_projects/e1",
               cwd=tmp_path)
    assert "[trial" not in done.stderr, "trained before refusing the export dir"
    one_line_exit_2(done)


@pytest.mark.slow
def test_overwrite_keeps_user_files_in_the_project_folder(tmp_path):
    """A user keeps notes (notes.txt, mydata/keep.csv) in their search's project folder
    bridge_search_projects/ow; the same command with --overwrite deletes them with the
    rest of the folder, exit 0, not a word. README: "nothing a user owns is deleted";
    an export dir with the user's files added is refused even with --overwrite; the
    project folder should be too (exit 2 naming the file), or the files kept."""
    tiny_search(tmp_path, "ow")
    folder = tmp_path / "bridge_search_projects" / "ow"
    (folder / "notes.txt").write_text("my notes")
    (folder / "mydata").mkdir()
    (folder / "mydata" / "keep.csv").write_text("1,2\n")
    cli("run", *TINY, "--experiment", "ow", "--overwrite", cwd=tmp_path)
    assert (folder / "notes.txt").read_text() == "my notes"
    assert (folder / "mydata" / "keep.csv").read_text() == "1,2\n"


@pytest.mark.slow
def test_config_file_home_paths_do_not_create_a_folder_named_tilde(tmp_path):
    """search.toml with `project_dir = "~/bs-projects"`: the search creates a folder
    literally named `~` in the working directory (./~/bs-projects/...), the folder a
    later `rm -rf ~` would be typed for. The path should be expanded (the shell does
    it for the flag), or refused with exit 2."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (work / "search.toml").write_text('project_dir = "~/bs-projects"\n')
    done = cli("run", "--config", "search.toml", *TINY, "--experiment", "tl", cwd=work,
               env={"HOME": str(home)})
    assert not (work / "~").exists(), f"created {work / '~'} (rc {done.returncode})"


# ----- true answers after the folder moved -----------------------------------------------
@pytest.mark.slow
def test_same_command_after_moving_the_work_folder_answers(tmp_path):
    """A finished search in folder A, `mv A B`, then the same command in B: "This
    search already finished; exporting its winner (models:/mv-classifier/1) again to
    exports/mv/RUN", then `MlflowException: Could not find an "MLmodel" configuration
    file at "/tmp/.../MLmodel"` traceback, exit 1 (the state file holds absolute
    paths of A). With A copied instead of moved: exit 2 "exports/mv/RUN now holds an
    export bridge-search did not find there at its check (/.../A/..., written since)"
    -- nothing was written since -- and a hidden .partial-* export left behind. The
    same command should answer from state (exit 0)."""
    before = tmp_path / "A"
    tiny_search(before, "mv")
    after = tmp_path / "B"
    before.rename(after)
    done = cli("run", *TINY, "--experiment", "mv", cwd=after)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "already finished" in done.stderr


def test_same_search_from_another_directory_names_the_other_store(finished, tmp_path):
    """The finished search asked again from another directory, with its project folder
    given absolutely (`--project-dir /abs/bridge_search_projects`): the default store
    sqlite:///mlruns/mlflow.db is now another file, yet the recorded URI text matches,
    so it answers "already finished", tries to export again from the new, empty store,
    creates ./mlruns/mlflow.db there and dies with `MlflowException: Registered Model
    with name=fin-classifier not found` traceback, exit 1. Should be exit 2 naming
    --tracking-uri (the search's store is another file), nothing created."""
    home, experiment, _ = finished
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = cli("run", *TINY, "--experiment", experiment, "--project-dir",
               home / "bridge_search_projects", cwd=elsewhere)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert not (elsewhere / "mlruns").exists(), "a new store was created"
    answered(done)


# ----- concurrency --------------------------------------------------------------------------
@pytest.mark.slow
def test_two_searches_started_at_once_on_a_new_store_both_work(tmp_path):
    """Two searches (experiments x1 and x2, each with its own lock) started together in
    a fresh folder: one dies with a traceback while both create the new sqlite store
    (`sqlite3.OperationalError: duplicate column name: run_link`, or alembic's
    "Online migration expected to match one row"), exit 1 (2 of 2 tries). Both should
    finish, or the loser should wait or say in one line that the store is being
    created."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    procs = [subprocess.Popen([str(BIN), "run", *TINY, "--experiment", name], cwd=tmp_path,
                              env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
             for name in ("x1", "x2")]
    results = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
        results.append((proc.returncode, err))
    for code, err in results:
        assert "Traceback" not in err, err[-3000:]
        assert code == 0, err[-3000:]


# ----- warm start ------------------------------------------------------------------------------
@pytest.mark.slow
def test_warm_start_from_a_pooled_winner_says_nothing_was_outside_the_space(finished):
    """`run --warm-start fin` where fin's winner is a pooled bridge (gap): "Warm start:
    1 value(s) of run ... are outside space 'bridge' and were changed: flatten_pool n/a
    -> 1 (not among [1, 2]: the default)". flatten_pool is inactive for gap (logged
    as 'n/a' on purpose), not outside the space, and nothing the user should act on."""
    home, experiment, _ = finished
    done = cli("run", *TINY, "--experiment", "warm", "--warm-start", experiment, cwd=home)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "outside space" not in done.stderr, done.stderr[-3000:]
