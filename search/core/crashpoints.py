"""Crash points: SIGKILL this process at a named place, for the resume tests.

`BRIDGE_SEARCH_CRASH_AT=NAME[:N]` kills the process the N-th time (default: the
first) it passes `crash_point(NAME)`. Some windows are too short to hit reliably
with a kill from outside, e.g. between keras-tuner recording a trial as finished
and MLflow closing its run, or while the winner is exported; the tests kill there
with these. Unset (always, outside tests) it costs one environment lookup.

`BRIDGE_SEARCH_CRASH_ONCE=PATH` in addition: only the first process to get there
dies, and creates PATH to say so. Processes started again with the same
environment (a worker the launcher restarts, its sibling workers) then pass.
"""

import collections
import os
import signal

ENV = "BRIDGE_SEARCH_CRASH_AT"
ONCE_ENV = "BRIDGE_SEARCH_CRASH_ONCE"
_passed = collections.Counter()


def crash_point(name):
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _passed[name] += 1
    if _passed[name] == int(nth or 1) and _first_crash():
        os.kill(os.getpid(), signal.SIGKILL)


def _first_crash():
    marker = os.environ.get(ONCE_ENV)
    if not marker:
        return True
    try:  # exclusive create: of processes racing here, one wins
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
