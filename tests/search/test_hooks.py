"""Trial hooks by composition: the tuner measures each trial once and hands the
report to its hooks; with none it still searches, and MLflow is never imported."""

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

TINY_SEARCH_WITHOUT_HOOKS = """
import json, sys
import keras
from search.data import load_digits
from search.kt.hooks import TrialHook
from spaces.bridge_net import small_bridge_net
from tests.search.tuner_helpers import bare_tuner

class Recorder(TrialHook):
    def __init__(self):
        self.calls = []
    def trial_begin(self, trial):
        self.calls.append(("begin", trial.trial_id))
    def trial_end(self, report):
        self.calls.append(("end", report.trial_id, report.status,
                           sorted(report.metrics), report.score is not None))
    def trial_closed(self, report):
        self.calls.append(("closed", report.trial_id))

data = load_digits()
recorder = Recorder()
tuner = bare_tuner(small_bridge_net(data.input_shape, 10, data.pixel_max), sys.argv[1],
                   hooks=[recorder], max_epochs=2, factor=2, seed=1)
tuner.search(data.pipeline("train", 64, 1), validation_data=data.pipeline("val", 64, 1),
             epochs=2, verbose=0)
print(json.dumps({"calls": recorder.calls, "trials": len(tuner.oracle.trials),
                  "mlflow_imported": "mlflow" in sys.modules}))
"""


def test_a_search_with_one_hook_and_no_mlflow(tmp_path):
    done = subprocess.run([sys.executable, "-c", TINY_SEARCH_WITHOUT_HOOKS, str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                               "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["mlflow_imported"] is False
    calls = result["calls"]
    ends = [call for call in calls if call[0] == "end"]
    assert len(ends) == result["trials"] >= 3
    for _, trial_id, status, metrics, scored in ends:
        assert status == "COMPLETED" and scored
        assert {"wall_seconds", "epochs_trained", "param_count", "best_epoch",
                "best_val_accuracy"} <= set(metrics)
        # each trial: begin, then end, then closed, in that order
        order = [call[0] for call in calls if call[1] == trial_id]
        assert order == ["begin", "end", "closed"]
