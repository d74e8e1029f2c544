"""A worker's line to the chief: wait for a chief that is gone, up to a limit.

keras-tuner's OracleClient sends every request with gRPC `wait_for_ready` and a
60-minute deadline (keras_tuner/src/distribute/oracle_client.py, TIMEOUT): a
worker whose chief died waits an hour in silence (keras-tuner#915, #990), and a
request that was on the wire when the chief died fails at once with UNAVAILABLE,
which ends the worker. Here each request waits for the chief at most
`--chief-timeout` seconds in all, is sent again when the connection broke (a
restarted chief answers it: create_trial, get_trial and update_trial are
idempotent, and chief_oracle.py makes a repeated end_trial harmless), and a
worker that gave up stops with one line that keras-tuner does not swallow.
"""

import functools
import logging
import time

import grpc
from keras_tuner.errors import FatalError

from search.core.errors import SearchFailed
from search.kt import compat as kt_compat

logger = logging.getLogger(__name__)

REQUESTS = ("get_space", "update_space", "create_trial", "update_trial", "end_trial",
            "get_trial", "get_best_trials")
LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
IDLE_PAUSE_SECONDS = 0.5  # see pause_when_idle


class ChiefUnreachable(SearchFailed, FatalError):
    """FatalError: keras-tuner re-raises it instead of failing the trial."""


def guard(client, tuner_id, address, timeout_seconds):
    """Wrap each request of a worker's OracleClient with the chief timeout."""
    for name in REQUESTS:
        setattr(client, name, _patient(getattr(client, name), tuner_id, address,
                                       timeout_seconds))
    return client


def _patient(request, tuner_id, address, timeout_seconds):
    @functools.wraps(request)
    def call(*args, **kwargs):
        deadline = time.monotonic() + timeout_seconds
        warned = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChiefUnreachable(
                    f"worker {tuner_id}: the chief at {address} did not answer for "
                    f"{timeout_seconds:g} s (--chief-timeout); stopped. Restart the chief "
                    f"and this worker with the same command to go on with the search.")
            kt_compat.set_worker_request_timeout(left)
            try:
                return request(*args, **kwargs)
            except grpc.RpcError as error:
                if error.code() not in LOST:
                    raise
                if not warned:
                    logger.warning("Worker %s: lost the chief at %s (%s); waiting up to "
                                   "%g s for it to come back.", tuner_id, address,
                                   error.code().name, timeout_seconds)
                    warned = True
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return call


def pause_when_idle(tuner):
    """keras-tuner's worker asks again at once when Hyperband answers IDLE (a
    round waits for its last trials): with many workers that is a busy loop on
    the chief. Pause briefly before asking again after an IDLE answer."""
    create_trial = tuner.oracle.create_trial

    @functools.wraps(create_trial)
    def create_after_pause(tuner_id):
        trial = create_trial(tuner_id)
        if trial.status == "IDLE":
            time.sleep(IDLE_PAUSE_SECONDS)
        return trial

    tuner.oracle.create_trial = create_after_pause
