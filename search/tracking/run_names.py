"""The search's parent run named from its experiment and its answer, so the one run
that holds the result reads first in the UI's run list among the trial runs
(`0003 flatten d3 w64`): `digits-demo: running (started 14:34)` while it runs,
`digits-demo: flatten d3 w64 (0.992)` once finished, `digits-demo: killed` when
stopped. The answer is told by the space's summary keys (trial_run_name)."""

import time

from search.tracking import trial_run_name


def running_name(experiment, now=None):
    return f"{experiment}: running (started {time.strftime('%Y-%m-%d %H:%M', now or time.localtime())})"


def finished_name(experiment, hyperparameters, score, keys):
    answer = trial_run_name("", hyperparameters, keys).strip() or "no trial finished"
    return f"{experiment}: {answer}" + ("" if score is None else f" ({score:.3f})")


def stopped_name(experiment, status):
    return f"{experiment}: {status.lower()} (run the same command again to resume)"


def rename_search(tracker, name):
    with tracker.timed():
        tracker.client.update_run(tracker.parent_run_id, name=name)
