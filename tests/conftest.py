"""Shared fixtures: a seeded, cleared Keras session per test; one real MLflow
sqlite store per test session (migrating a fresh store takes seconds), with a
fresh experiment name per test so tests never see each other's runs."""

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_SEARCH_LOG = "search_log.json"


# The modules that read the shared `tiny_search`: pytest-xdist hands them to one
# test process as one unit, so the search runs once, not once per process.
TINY_SEARCH_MODULES = {f"{name}.py" for name in (
    "test_end_to_end", "test_report", "test_trial_metrics", "test_ui_browser",
    "test_warm_start")}


def _module_file(nodeid):
    """The test file's name in a node id, whatever the rootdir."""
    return nodeid.split("::")[0].rsplit("/", 1)[-1]


def pytest_collection_modifyitems(items):
    """Tests marked slow (several TensorFlow processes, or a long search) run first.
    scripts/test.sh runs the suite in two processes (pytest-xdist), one module at a
    time each: started first, the long modules overlap and the short ones fill the
    gaps, instead of one long module running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    for item in items:
        module = _module_file(item.nodeid)
        if "tiny_search" in item.fixturenames and module not in TINY_SEARCH_MODULES:
            raise pytest.UsageError(f"{module} uses tiny_search: add it to "
                                    "TINY_SEARCH_MODULES in tests/conftest.py")


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: pytest runs without it too
def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope, with the TINY_SEARCH_MODULES as one scope."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TinySearchScope(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if _module_file(nodeid) in TINY_SEARCH_MODULES:
                return "tiny_search"
            return super()._split_scope(nodeid)

    return TinySearchScope(config, log)


@pytest.fixture(autouse=True)
def seeded_fresh_keras():
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")  # a test may have switched it
    # No gc.collect() (free_memory): after every test, a full collection walking
    # TensorFlow's and MLflow's millions of objects was a large share of the suite
    # (docs/benchmarks.md, "test suite").
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory):
    """A real MLflow sqlite store, created once for the whole test session."""
    from mlflow.tracking import MlflowClient
    store = tmp_path_factory.mktemp("mlflow_store")
    uri = f"sqlite:///{store}/mlflow.db"
    MlflowClient(tracking_uri=uri).search_experiments()  # runs the migrations now
    return uri


@pytest.fixture
def experiment_name(request):
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def mlflow_client(tracking_uri):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=tracking_uri)


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory, tracking_uri):
    """The one tiny real search that read-only tests share (keras-tuner, TensorFlow
    and MLflow all real): Hyperband(3, 3) on digits, 6 trials, seed 1 draws flatten
    and pooled bridges. Returns (config, summary, work folder). retrain="none": tests
    compare the export with the best trial's own model. What the "search" logger said
    during the run is in work / TINY_SEARCH_LOG, a JSON list of its messages."""
    from search import SearchConfig, run_search
    work = tmp_path_factory.mktemp("tiny-search")
    config = SearchConfig(space="bridge-small", max_epochs=3, factor=3, seed=1,
                          retrain="none", experiment="tiny-search",
                          project_dir=str(work / "project"), tracking_uri=tracking_uri,
                          export_dir=str(work / "export"),
                          summary_json=str(work / "summary.json"),
                          # all 6 checkpoints stay: a test reloads a round-0 one
                          keep_checkpoints=6)
    with logged_lines() as said:
        summary = run_search(config)
    (work / TINY_SEARCH_LOG).write_text(json.dumps(said))
    return config, summary, work


@contextlib.contextmanager
def logged_lines(level=logging.INFO):
    """The "search" logger's messages while the block runs, as a list of lines;
    for fixtures wider than a test, where pytest's caplog does not reach."""
    lines = []
    handler = logging.Handler(level)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("search")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def child_runs(client, summary):
    """The trial runs of a search, from its --summary-json / run_search summary."""
    return client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")


def run_cli(*args, cwd, env=None, timeout=600):
    """Run `python -m search ...` as a real process from this checkout."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
                **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}  # env={"X": None} unsets X
    return subprocess.run([sys.executable, "-m", "search", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)


def run_cli_here(*args, cwd, env=None):
    """`bridge-search ARGS` through the CLI's own main() in this test process, in
    `cwd`, with `env` added to the environment for the call; returns what run_cli
    returns (exit code, stdout, stderr). For tests of what a command does, not of
    its process: this process has TensorFlow, keras-tuner and MLflow loaded
    already, so a command costs ~8 CPU-s less than in a new interpreter
    (docs/benchmarks.md, "test suite"). Crash points, signals, a fresh process's
    own output (TensorFlow's C++ logs) and -m search itself need run_cli."""
    from search.cli import main
    argv = [str(arg) for arg in args]
    saved_environ = dict(os.environ)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        os.environ.update({k: v for k, v in (env or {}).items() if v is not None})
        for name in [k for k, v in (env or {}).items() if v is None]:
            os.environ.pop(name, None)
        with contextlib.chdir(cwd), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            try:
                code = main(argv) or 0  # as sys.exit(None) in search/__main__.py
            except SystemExit as stop:  # argparse's own errors (unknown flag): exit 2
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:  # what the run set (e.g. MLflow's HTTP retries) must not reach later tests
        os.environ.clear()
        os.environ.update(saved_environ)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


# run_cli(..., env=LIST_IMPORTS): Python writes every module it imports to stderr
LIST_IMPORTS = {"PYTHONPROFILEIMPORTTIME": "1"}


def imported_tensorflow(stderr):
    """Whether a run_cli(..., env=LIST_IMPORTS) process imported TensorFlow."""
    return re.search(r"^import time:.*\|\s*tensorflow\s*$", stderr, re.MULTILINE) is not None
