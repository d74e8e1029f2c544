"""The multi-machine recipe of docs/scale.md, run verbatim on 127.0.0.1:
`bridge-search server` on PostgreSQL, a chief and two workers, each with its
own project directory and working directory, as separate hosts would have."""

import contextlib
import json
import os
import re
import signal
import subprocess

import keras
import numpy as np
import pytest
from search.kt.tuner import TAG_CHECKPOINT_FROM
from mlflow.tracking import MlflowClient

from search import tracking
from search.tracking import workers
from search.distributed.launch_checks import free_port
from tests.conftest import REPO_ROOT
from tests.search.postgres import postgres_store  # noqa: F401 (fixture)
from tests.search.servers import VENV_BIN, http_process
from tests.search.test_postgres import check_search_in_store, trial_runs

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

RECIPE = REPO_ROOT / "docs" / "scale.md"


def recipe_block(host):
    """The bash block of the recipe whose first line is `# HOST`."""
    blocks = re.findall(r"```bash\n(.*?)```", RECIPE.read_text(), re.S)
    return next(b for b in blocks if b.startswith(f"# {host}\n"))


def host_env(**settings):
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **{k: str(v) for k, v in settings.items()}}


@contextlib.contextmanager
def hosts(commands):
    """Start each (name, block, env, folder) as its own process group; yield
    {name: process}; kill what is left on the way out."""
    processes = {}
    try:
        for name, block, env, folder in commands:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{name}.log", "wb") as log:
                processes[name] = subprocess.Popen(["bash", "-c", block], env=env, cwd=folder,
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True)
        yield processes
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_the_recipe_runs_a_search_across_hosts_with_separate_project_dirs(tmp_path,
                                                                         postgres_store):
    experiment = "recipe"
    tracking_port, oracle_port = free_port(), free_port()
    settings = dict(TRACKING_HOST="127.0.0.1", TRACKING_PORT=tracking_port,
                    CHIEF_HOST="127.0.0.1", ORACLE_PORT=oracle_port, STORE=postgres_store,
                    ARTIFACTS=tmp_path / "tracking-host" / "artifacts",
                    SEARCH_ARGS=f"--experiment {experiment} --space bridge-small "
                                "--max-epochs 2 --factor 2 --retrain none "
                                "--summary-json summary.json")
    (tmp_path / "tracking-host").mkdir()
    host = {name: tmp_path / name for name in ("chief-host", "worker-host-1", "worker-host-2")}
    with http_process(["bash", "-c", recipe_block("tracking host")],
                      f"http://127.0.0.1:{tracking_port}/health",
                      tmp_path / "tracking-host" / "server.log",
                      env=host_env(**settings, PROJECTS="unused")):
        commands = [("chief", recipe_block("chief host"),
                     host_env(**settings, PROJECTS=host["chief-host"] / "projects"),
                     host["chief-host"])]
        for n in (1, 2):
            folder = host[f"worker-host-{n}"]
            commands.append((f"tuner{n}", recipe_block("worker host N"),
                             host_env(**settings, PROJECTS=folder / "projects", N=n), folder))
        with hosts(commands) as processes:
            for name, process in processes.items():
                folder = host["chief-host" if name == "chief" else f"worker-host-{name[-1]}"]
                assert process.wait(timeout=1200) == 0, \
                    (folder / f"{name}.log").read_text()[-4000:]
        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{tracking_port}")
        summary = json.loads((host["chief-host"] / "summary.json").read_text())
        check_search_in_store(client, summary, experiment, n_trials=5)
        runs = trial_runs(client, summary)
    by_trial = {r.data.tags[tracking.TAG_TRIAL_ID]: r for r in runs}
    for n in (1, 2):  # each worker's disk holds the models it trained, and only those
        trained = {t for t, r in by_trial.items() if r.data.tags["tuner_id"] == f"tuner{n}"}
        on_disk = {p.parent.name[len("trial_"):] for p in
                   (host[f"worker-host-{n}"] / "projects" / experiment).glob("trial_*/*.keras")}
        assert on_disk == trained, (n, on_disk, trained)
    continued = [r for r in runs if r.data.tags.get(tracking.TAG_CONTINUES)]
    assert continued, "Hyperband(2, 2) continues one trial"
    for run in continued:
        predecessor = by_trial[run.data.tags[tracking.TAG_CONTINUES]]
        source = run.data.tags[TAG_CHECKPOINT_FROM]
        same_host = predecessor.data.tags["tuner_id"] == run.data.tags["tuner_id"]
        assert source == ("local" if same_host else f"mlflow:{predecessor.info.run_id}")


def test_a_continued_trial_loads_its_predecessor_from_mlflow(tmp_path, tracking_uri,
                                                            experiment_name):
    """The other host's case, without the race of who trains what: the
    predecessor's model is only in MLflow, and the weights loaded are its own."""
    tracker = tracking.SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    tracker.start_search("search", params={}, tags={})
    trained = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    trained.compile(optimizer="adam", loss="mse")
    trained.fit(np.ones((8, 4)), np.zeros((8, 3)), epochs=1, verbose=0)
    trained.save(tmp_path / "best_model.keras")
    run_id = tracker.start_trial("0001", params={}, tags={})
    tracker.end_trial(run_id, {}, {}, "FINISHED", tmp_path / "best_model.keras")
    fresh = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    fresh.compile(optimizer="adam", loss="mse")
    fresh.optimizer.build(fresh.trainable_variables)  # as BridgeHyperband does first
    assert workers.load_predecessor_weights(fresh, tracker, "0001") == run_id
    for loaded, saved in zip(fresh.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(loaded, saved)
    assert int(fresh.optimizer.iterations) == int(trained.optimizer.iterations) == 1


def test_a_predecessor_without_a_model_in_mlflow_says_what_to_do(tmp_path, tracking_uri,
                                                                experiment_name):
    import pytest
    from search.core.errors import SearchFailed
    tracker = tracking.SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    tracker.start_search("search", params={}, tags={})
    run_id = tracker.start_trial("0001", params={}, tags={})
    tracker.end_trial(run_id, {}, {}, "FINISHED")  # as with --log-models none
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(SearchFailed, match=r"trial 0001's MLflow run \w+ has no best_model/ "
                                           r"model to continue from; .* --log-models all"):
        workers.load_predecessor_weights(model, tracker, "0001")
    with pytest.raises(SearchFailed, match=r"trial 0002 continues a trial that has no "
                                           r"FINISHED MLflow run after 0 s"):
        workers.load_predecessor_weights(model, tracker, "0002", timeout=0)


def test_the_slurm_script_runs_the_recipes_chief_and_worker_commands():
    script = {line.strip() for line in
              (REPO_ROOT / "scripts" / "slurm_search.sbatch").read_text().splitlines()}
    for host in ("chief host", "worker host N"):
        for line in recipe_block(host).splitlines():
            assert line.strip() in script, f"{host}: {line}"


def test_a_worker_finds_the_running_parent_run_in_mlflow(tracking_uri, experiment_name):
    import pytest
    from search.tracking.workers import wait_for_parent_run
    from search.core.errors import SearchFailed
    tracker = tracking.SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    with pytest.raises(SearchFailed, match=rf"worker \w+: no chief opened a search in experiment "
                                           rf"'{experiment_name}' on .* within 0 s; start the "
                                           rf"chief first, with the same --experiment"):
        wait_for_parent_run(tracker, "tuner1", timeout=0)
    finished = tracker.start_search("an earlier search", params={}, tags={})
    tracker.end_search()
    running = tracker.start_search("this search", params={}, tags={})
    tracker.start_trial("0000", params={}, tags={})  # a RUNNING trial run is no search
    assert wait_for_parent_run(tracker, "tuner1", timeout=0) == running != finished
