"""`launch` and `serve` print only the tool's lines (issue 25, item 1), with
TF_CPP_MIN_LOG_LEVEL=2 set as many users keep it: no bare "flatten" lines from
keras-tuner, no MLflow "View run"/"View experiment" lines on stdout, no absl/oneDNN
start-up lines of the model server's TensorFlow, no download progress bars; and
TensorFlow's lines only where the user asked for them (level 0)."""

import re
import sys

import keras
import pytest
import requests

from search import tracking
from search.distributed.launch_checks import free_port
from search.tracking.models import log_winner
from tests.conftest import run_cli
from tests.search.servers import http_process
from tests.search.test_quiet_cli import NOISE

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py

SERVER_NOISE = re.compile(NOISE.pattern + r"|View run|View experiment|^flatten$|^gap$|^gmp$"
                          r"|Downloading artifacts|\d+%\||\x1b\[|ms/step", re.MULTILINE)
# What the CLI sets for itself (search/core/quiet.py); an earlier in-process CLI call
# may have left it in this test process's environment: the user's shell has none.
TOOL_VARIABLES = ("MLFLOW_LOGGING_LEVEL", "BRIDGE_SEARCH_QUIET_TF",
                  "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
USER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", **dict.fromkeys(TOOL_VARIABLES)}


@pytest.mark.parametrize("level", ["1", "2"])
def test_a_user_level_of_1_or_2_hides_tensorflows_start_up_lines(tmp_path, level):
    result = run_cli("spaces", cwd=tmp_path, env={**USER_ENV, "TF_CPP_MIN_LOG_LEVEL": level})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not once, not twice


def test_launch_prints_only_the_tools_lines(tmp_path):
    # Hyperband(2, 2): 5 tiny trials over one worker, through the launcher's own
    # MLflow server (an http store: MLflow would print its "View run" links).
    result = run_cli("launch", "--workers", 1, "--store", f"sqlite:///{tmp_path}/store.db",
                     "--artifacts", tmp_path / "artifacts", "--space", "bridge-small",
                     "--max-epochs", 2, "--factor", 2, "--retrain", "none",
                     "--experiment", "launched", "--project-dir", tmp_path / "project",
                     "--export-dir", tmp_path / "export", cwd=tmp_path, env=USER_ENV,
                     timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout == "", result.stdout[:2000]
    assert not SERVER_NOISE.search(result.stderr), SERVER_NOISE.search(result.stderr).group(0)
    assert re.search(r"^tuner1 \[trial \d+/", result.stderr, re.MULTILINE)


def test_serve_prints_only_the_tools_and_the_servers_lines(tmp_path, monkeypatch):
    for name in TOOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = tracking.SearchTracker(uri, "served-quietly")
    tracker.open_experiment()
    tracker.start_search("served", params={}, tags={})
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(
        keras.layers.Flatten()(inputs)))
    x = keras.random.uniform((2, 8, 8, 1)).numpy()
    log_winner(tracker, model, x, {"search_val_accuracy": 0.9, "retrained": False})
    tracker.end_search()
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "search", "serve", "--experiment", "served-quietly",
               "--tracking-uri", uri, "--port", str(port)]
    with http_process(command, f"http://127.0.0.1:{port}/ping", log):
        answer = requests.post(f"http://127.0.0.1:{port}/invocations", timeout=60,
                               json={"inputs": x.tolist()})
    assert answer.status_code == 200, answer.text[:1000]
    output = log.read_text()
    assert output.startswith(f"Serving models:/served-quietly-classifier@champion on "
                             f"http://127.0.0.1:{port}/invocations"), output[:2000]
    assert not SERVER_NOISE.search(output), (SERVER_NOISE.search(output).group(0), output)
