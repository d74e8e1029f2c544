"""The CLI's output is the tool's own lines (issue 11, item 3): no TensorFlow /
absl / oneDNN start-up lines unless the user set TF_CPP_MIN_LOG_LEVEL, no MLflow
registry chatter, no Keras progress bars (raw ANSI escapes in a log file).
stdout and stderr are pipes here, as in a log file or CI."""

import re

from tests.conftest import run_cli
from tests.search.test_logging import PROGRESS

NOISE = re.compile(r"^[IWE]\d{4} |absl|oneDNN|cpu_feature_guard|WARNING: All log messages"
                   r"|Successfully registered model|Created version|INFO mlflow", re.MULTILINE)
DEFAULT_ENV = {"TF_CPP_MIN_LOG_LEVEL": None, "MLFLOW_LOGGING_LEVEL": None}  # the user set none


def test_a_default_run_prints_only_the_tools_own_lines(tmp_path):
    # Hyperband(1, 2) twice over: two trials; the default retrain, one epoch.
    result = run_cli("run", "--space", "bridge-small", "--max-epochs", 1, "--factor", 2,
                     "--hyperband-iterations", 2, "--min-retrain-epochs", 1, "--tracking-uri",
                     f"sqlite:///{tmp_path}/store/mlflow.db", "--project-dir",
                     tmp_path / "project", "--export-dir", tmp_path / "export", cwd=tmp_path,
                     env=DEFAULT_ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert not NOISE.search(output), NOISE.search(output).group(0)
    assert "\x1b[" not in output  # no progress bar, in training or in MLflow's log_model
    assert "registered as" in result.stderr  # the tool's own line says it instead
    assert len(PROGRESS.findall(result.stderr)) == 2  # the default level: one line a trial


def test_tensorflow_logs_show_when_the_user_sets_the_level(tmp_path):
    quiet = run_cli("spaces", cwd=tmp_path, env=DEFAULT_ENV)
    loud = run_cli("spaces", cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    assert "bridge-small" in quiet.stdout and "bridge-small" in loud.stdout
    assert quiet.stderr == ""
    assert re.search(r"^[IWE]\d{4} .*(oneDNN|cpu_feature_guard)", loud.stderr, re.MULTILINE), \
        loud.stderr[-2000:]
