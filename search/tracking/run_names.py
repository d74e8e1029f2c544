"""The search's parent run named from its experiment and its answer, so the one run
that holds the result reads first in the UI's run list among the trial runs
(`0003 flatten d3 w64`): `digits-demo: running (started 14:34)` while it runs,
`digits-demo: flatten d3 w64 (0.992)` once finished, `digits-demo: killed` when
stopped. The answer is told by the space's summary keys (trial_run_name)."""

import time

from search.tracking import trial_run_name

# MLflow's SQL schema holds runs.name VARCHAR(250) (PostgreSQL and MySQL refuse a
# longer one). The experiment name is at most 200 characters (search/core/config.py),
# so the running and stopped names fit; a long answer shortens the experiment part.
MAX_RUN_NAME_LENGTH = 250


def _named(experiment, rest):
    room = MAX_RUN_NAME_LENGTH - len(rest)
    if len(experiment) > room:
        experiment = experiment[:max(room - 3, 0)] + "..."
    return (experiment + rest)[:MAX_RUN_NAME_LENGTH]


def running_name(experiment, now=None):
    started = time.strftime('%Y-%m-%d %H:%M', now or time.localtime())
    return _named(experiment, f": running (started {started})")


def finished_name(experiment, hyperparameters, score, keys):
    answer = trial_run_name("", hyperparameters, keys).strip() or "no trial finished"
    return _named(experiment, f": {answer}" + ("" if score is None else f" ({score:.3f})"))


def stopped_name(experiment, status):
    return _named(experiment, f": {status.lower()} (run the same command again to resume)")


def rename_search(tracker, name):
    with tracker.timed():
        tracker.client.update_run(tracker.parent_run_id, name=name)
