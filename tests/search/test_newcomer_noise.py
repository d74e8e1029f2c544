"""A newcomer's second search and a resume print only the tool's lines (issue 25,
items 1 and 3), with TF_CPP_MIN_LOG_LEVEL=2 in the environment as many keep it in
their shell profile: no TensorFlow start-up lines (once or twice), no "Registered
model ... already exists", no keras-tuner "Reloading Tuner from"; the progress
count goes on across the resume; the export follows the umask and model_info.json
keeps each hyperparameter's type. One killed and one resumed real process."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from search.core.crashpoints import ENV as CRASH_ENV
from search.winner import tflite
from tests.conftest import REPO_ROOT, run_cli_here
from tests.search.test_newcomer_servers import TOOL_VARIABLES
from tests.search.test_quiet_cli import NOISE

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

TOOL_NOISE = re.compile(NOISE.pattern + r"|Reloading Tuner|already exists|Creating a new "
                        r"version|ComplexWarning|loc\(callsite", re.MULTILINE)
USER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}  # set by the user, not by the tool


def _run_process(args, cwd, crash_at=None, umask=0o002):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **USER_ENV}
    for name in (CRASH_ENV, *TOOL_VARIABLES):
        env.pop(name, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.run([sys.executable, "-m", "search", "run", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900, umask=umask)


def _modes(folder):
    return {str(path.relative_to(folder)): path.stat().st_mode & 0o777
            for path in [folder, *folder.rglob("*")]}


@pytest.fixture(scope="module")
def second_search_resumed(tmp_path_factory):
    """Search A finishes (in this process: it registers the model); search B in the
    same experiment is killed after its 2nd trial and resumed: the captured one."""
    work = tmp_path_factory.mktemp("newcomer")
    common = ["--space", "bridge-small", "--max-epochs", 2, "--factor", 2, "--retrain", "none",
              "--experiment", "newcomer", "--tracking-uri", f"sqlite:///{work}/mlflow.db"]
    first = run_cli_here("run", *common, "--project-dir", work / "a", "--export-dir",
                         work / "export-a", "--summary-json", work / "a.json", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    second = [*common, "--project-dir", work / "b", "--export-dir", work / "export-b"]
    killed = _run_process(second, work, crash_at="trial_end:2")
    assert killed.returncode == -9, killed.stderr[-3000:]
    resumed = _run_process(second, work)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return work, resumed


def test_the_resumed_second_search_prints_only_the_tools_lines(second_search_resumed):
    _, resumed = second_search_resumed
    output = resumed.stdout + resumed.stderr
    assert resumed.stdout == ""
    assert not TOOL_NOISE.search(output), TOOL_NOISE.search(output).group(0)
    assert "registered as" in resumed.stderr  # the tool's own line about the registry


def test_progress_counts_on_across_the_resume(second_search_resumed):
    _, resumed = second_search_resumed
    counts = [int(n) for n in re.findall(r"^\[trial (\d+)/", resumed.stderr, re.MULTILINE)]
    assert counts and counts[0] == 3, resumed.stderr[-3000:]  # 2 finished before the kill
    assert counts == list(range(3, 3 + len(counts)))
    assert "resuming the search: 2 trial(s) finished before" in resumed.stderr


def test_the_export_follows_the_umask(second_search_resumed):
    work, _ = second_search_resumed
    modes = _modes(work / "export-b")
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o775 if (work / "export-b" / name).is_dir() else 0o664)}
    assert not wrong, wrong  # umask 002: rwxrwxr-x folders, rw-rw-r-- files


def _typed(hyperparameters):
    return {name: type(value).__name__ for name, value in hyperparameters.items()}


def test_model_info_keeps_each_hyperparameters_type(second_search_resumed):
    work, _ = second_search_resumed
    info = json.loads((work / "export-b" / "model_info.json").read_text())
    types = _typed(info["hyperparameters"])
    assert "str" in types.values() and "int" in types.values(), types  # bridge, depth
    # `export --run-id` reads MLflow's params (strings): they come back typed too
    summary = json.loads((work / "a.json").read_text())
    exported = run_cli_here("export", "--run-id", summary["best_run_id"], "--out",
                            work / "export-run", "--tracking-uri",
                            f"sqlite:///{work}/mlflow.db", cwd=work)
    assert exported.returncode == 0, exported.stderr
    info = json.loads((work / "export-run" / "model_info.json").read_text())
    # an inactive conditional one (flatten_pool of a pooled bridge) is left out
    assert info["hyperparameters"] == summary["best_hyperparameters"]


@pytest.mark.parametrize("level, trail_shown", [(None, False), ("2", False), ("0", True)])
def test_a_refused_tflite_conversion_is_one_warning_not_the_converters_trail(
        capfd, caplog, monkeypatch, level, trail_shown):
    """Level 0 (the user asked for TensorFlow's logs) shows the converter's own trail."""
    for name in TOOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if level is None:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    else:
        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    keras.mixed_precision.set_global_policy("mixed_float16")  # ops TFLite's builtins lack
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    assert tflite.write_tflite(model, Path(".")) == {}
    captured = capfd.readouterr()
    assert ("loc(" in captured.err) == trail_shown, captured.err[:2000]
    assert "ops TFLite's builtins lack: BiasAdd, Conv2D, MatMul" in caplog.text


def test_each_trial_says_where_its_weights_were_placed(second_search_resumed):
    """The tag scripts/gpu_check.py reads to fail when a trial fell back to the CPU."""
    from mlflow.tracking import MlflowClient
    work, _ = second_search_resumed
    client = MlflowClient(tracking_uri=f"sqlite:///{work}/mlflow.db")
    experiment = client.get_experiment_by_name("newcomer")
    trials = client.search_runs([experiment.experiment_id],
                                filter_string="tags.`bridge_search.role` = 'trial'")
    devices = [run.data.tags.get("device") for run in trials
               if run.data.tags.get("trial_status") == "COMPLETED"]
    # The trial killed between keras-tuner and MLflow (crash point trial_end) has its
    # run completed from the journal on resume, without the tag.
    assert devices.count(None) <= 1, devices
    tagged = [device for device in devices if device]
    assert tagged and all(re.search(r"device:CPU:0$", device) for device in tagged), devices


def test_the_finished_search_is_named_from_its_experiment_and_answer(second_search_resumed):
    from mlflow.tracking import MlflowClient
    work, _ = second_search_resumed
    client = MlflowClient(tracking_uri=f"sqlite:///{work}/mlflow.db")
    experiment = client.get_experiment_by_name("newcomer")
    parents = client.search_runs([experiment.experiment_id],
                                 filter_string="tags.`bridge_search.role` = 'search'")
    names = sorted(run.info.run_name for run in parents)
    assert len(names) == 2 and all(
        re.fullmatch(r"newcomer: (flatten|gap|gmp|concat)( d\d)?( w\d+)? \(\d\.\d{3}\)", n)
        for n in names), names
