"""Eight workers on one chief (keras-tuner#636: only some workers get trials):
every worker trains trials, no trial id is trained twice, and each worker's
progress lines name it, matching the tuner_id tag of the runs it logged."""

import json
import re

import pytest

from search import tracking
from tests.search.test_scale import assert_each_trial_finished_once, launch, trial_runs

WORKERS = 8
PROGRESS = re.compile(r"^(tuner\d+) \[trial \d+/~\d+\] id (\d+) ", re.MULTILINE)


@pytest.mark.slow  # 13 min for 30 trials at load 19 on 2 shared cores; 8 TF processes
def test_eight_workers_each_train_trials_and_say_which(tmp_path, tracking_uri, experiment_name,
                                                       mlflow_client):
    # Hyperband(2, 2) three times over: 15 tiny trials, 12 of them new ones that up
    # to 6 open brackets hand out at once: enough for every worker even though the
    # first ones up (TensorFlow imports on a shared CPU) start early.
    result = launch(tmp_path, tracking_uri, experiment_name, "--workers", WORKERS,
                    "--max-epochs", 2, "--factor", 2, "--hyperband-iterations", 3,
                    "--retrain", "none", "--log-models", "none")
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = assert_each_trial_finished_once(mlflow_client, summary)  # no duplicate ids
    logged_by = {r.data.tags[tracking.TAG_TRIAL_ID]: r.data.tags["tuner_id"] for r in runs}
    assert set(logged_by.values()) == {f"tuner{i}" for i in range(1, WORKERS + 1)}
    said_by = {trial_id: tuner for tuner, trial_id in PROGRESS.findall(result.stderr)}
    assert said_by == logged_by
    assert len(trial_runs(mlflow_client, summary["parent_run_id"])) == summary["n_trials"]
