"""The chief's oracle, made to survive the chief's own death, and timed.

keras-tuner saves the oracle to the project dir after every request, and a
restarted chief reloads it. But `Oracle.reload` sends every trial that was
ongoing to the retry queue: right for one process resumed after a crash, wrong
for a chief whose workers are still alive and still training those trials (the
retried trial would go to a second worker: trained twice, and the first
worker's end_trial would pop the second worker's entry). So on a restarted
chief each ongoing trial goes back to its own tuner id: the live worker ends it
as if nothing happened, and a worker that died too is restarted under the same
id and handed the same trial (keras-tuner keeps one ongoing trial per id).

The oracle's handlers are also timed (count, seconds per request), so
scripts/bench_workers.py can say how many workers one chief serves.
"""

import functools
import json
import logging
import threading
import time
from pathlib import Path

from search.core.state import write_json
from search.kt import compat as kt_compat

logger = logging.getLogger(__name__)

ORACLE_FILE = "oracle.json"  # keras-tuner's own name for the saved oracle state
TIMINGS_FILE = "oracle_timings.json"
# The requests a worker sends the chief (keras_tuner/src/distribute/oracle_chief.py).
HANDLERS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial",
            "get_trial", "get_best_trials")


def saved_ongoing_trials(project_folder):
    """{tuner_id: trial_id} as the dead chief last saved it (before reload emptied it)."""
    path = Path(project_folder) / ORACLE_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text()).get("ongoing_trials", {})


def give_back_ongoing_trials(oracle, ongoing):
    """Undo `Oracle.reload`'s retry queueing for every trial the dead chief saved
    as ongoing, and give each one still RUNNING back to the worker that holds it.

    A saved "ongoing" trial may have ended already: keras-tuner's end_trial saves
    oracle.json before it drops the trial from `ongoing_trials`, so a chief killed
    in between lists a COMPLETED trial that reload would hand out a second time.
    """
    for tuner_id, trial_id in ongoing.items():
        kt_compat.take_back_from_retry_queue(oracle, trial_id)
        if trial_id not in oracle.trials or oracle.trials[trial_id].status != "RUNNING":
            continue  # ended before the chief died; nothing is held
        oracle.ongoing_trials[tuner_id] = oracle.trials[trial_id]
        oracle.tuner_ids.add(tuner_id)
        logger.info("Chief: trial %s stays with %s, which is still training it.",
                    trial_id, tuner_id)


def ignore_repeated_end_trial(oracle):
    """A worker whose end_trial reached a chief that died before answering sends
    it again to the new chief: the second one must not count the trial twice."""
    end_trial = oracle.end_trial

    @functools.wraps(end_trial)
    def once(trial):
        known = oracle.trials.get(trial.trial_id)
        held = any(t.trial_id == trial.trial_id for t in oracle.ongoing_trials.values())
        if known is not None and not held and trial.trial_id in oracle.end_order:
            return None
        return end_trial(trial)

    oracle.end_trial = once


def forget_stopped_workers(oracle):
    """keras-tuner's chief serves until no trial is ongoing and no tuner id is left
    (oracle_chief.exit_chief); its own create_trial drops a worker's id when it
    answers STOPPED. The --time-budget stop (search/plan/hyperband.py) answers STOPPED
    before that code runs: the ids stayed, and the chief of `launch --time-budget`
    waited forever after its workers had gone. A worker that still holds a trial
    (restarted) gets that trial back, as keras-tuner's create_trial would."""
    create_trial = oracle.create_trial

    @functools.wraps(create_trial)
    def create(tuner_id):
        held = oracle.ongoing_trials.get(tuner_id)
        if held is not None:
            return held
        trial = create_trial(tuner_id)
        if trial.status == "STOPPED":
            oracle.tuner_ids.discard(tuner_id)
        return trial

    oracle.create_trial = create


class OracleTimings:
    """Count and time every request the chief's oracle serves."""

    def __init__(self):
        self.count, self.seconds = {}, {}
        self.idle_answers = 0  # create_trial answered "IDLE": a worker asks again at once
        self._lock = threading.Lock()

    def wrap(self, oracle):
        for name in HANDLERS:
            setattr(oracle, name, self.timed(name, getattr(oracle, name)))
        return self

    def timed(self, name, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            result = method(*args, **kwargs)
            elapsed = time.perf_counter() - started
            with self._lock:
                self.count[name] = self.count.get(name, 0) + 1
                self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
                if name == "create_trial" and getattr(result, "status", None) == "IDLE":
                    self.idle_answers += 1
            return result
        return timed

    def summary(self):
        requests, seconds = sum(self.count.values()), sum(self.seconds.values())
        return {"requests": requests, "seconds": seconds, "idle_answers": self.idle_answers,
                "mean_ms": 1000 * seconds / requests if requests else None,
                "per_handler": {name: {"count": self.count[name],
                                       "mean_ms": 1000 * self.seconds[name] / self.count[name]}
                                for name in self.count}}

    def write(self, project_folder):
        path = Path(project_folder) / TIMINGS_FILE
        write_json(path, self.summary(), indent=2)
        return path


def prepare_chief(oracle, project_folder, ongoing):
    """Everything the chief does to its oracle before serving it."""
    give_back_ongoing_trials(oracle, ongoing)
    ignore_repeated_end_trial(oracle)
    forget_stopped_workers(oracle)
    return OracleTimings().wrap(oracle)
