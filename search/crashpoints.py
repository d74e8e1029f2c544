"""Crash points: SIGKILL this process at a named place, for the resume tests.

`BRIDGE_SEARCH_CRASH_AT=NAME[:N]` kills the process the N-th time (default: the
first) it passes `crash_point(NAME)`. Some windows are too short to hit reliably
with a kill from outside, e.g. between keras-tuner recording a trial as finished
and MLflow closing its run, or while the winner is exported; the tests kill there
with these. Unset (always, outside tests) it costs one environment lookup.
"""

import collections
import os
import signal

ENV = "BRIDGE_SEARCH_CRASH_AT"
_passed = collections.Counter()


def crash_point(name):
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _passed[name] += 1
    if _passed[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
