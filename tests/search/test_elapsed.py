"""A resumed search's summary counts every part's time (issue 27, item 23): what
the parts before recorded, plus the interrupted part's share up to keras-tuner's
last save of the oracle (a kill -9 writes nothing at the time)."""

import os
import time

import pytest

from search.core import elapsed


@pytest.mark.parametrize("state, oracle_age, expected", [
    ({}, None, 0.0),                                               # a first part
    ({"part_started": 1000.0}, None, 0.0),                         # killed before any save
    ({"part_started": "now-100"}, 40, 60.0),                       # killed 40 s after a save
    ({"part_started": "now-100", "earlier_seconds": 30.0}, 0, 130.0),  # a third part
    ({"part_started": "now+100"}, 0, 0.0),                         # a save from an older part
])
def test_the_parts_before_are_carried_over(tmp_path, state, oracle_age, expected):
    now = time.time()
    state = {k: now + float(v[3:]) if isinstance(v, str) else v for k, v in state.items()}
    if oracle_age is not None:
        (tmp_path / "oracle.json").write_text("{}")
        os.utime(tmp_path / "oracle.json", (now - oracle_age, now - oracle_age))
    assert elapsed.carried_over(state, tmp_path) == pytest.approx(expected, abs=0.01)


def test_a_part_notes_when_its_command_began():
    fields = elapsed.part_fields(12.5, time.perf_counter() - 30)
    assert fields["earlier_seconds"] == 12.5
    assert fields["part_started"] == pytest.approx(time.time() - 30, abs=0.5)
