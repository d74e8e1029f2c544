"""`--select`: which trial is retrained and exported.

- `best` (default): the highest val_accuracy.
- `smallest-within:DELTA`: the fewest parameters among the trials whose
  val_accuracy is at most DELTA below the best.
- `fastest-within:DELTA`: the lowest latency at batch 1 among those.

DELTA is accuracy points with a `pt` suffix (`1pt` = 0.01 val_accuracy, `0.5pt`)
or a plain fraction of 1 below 1 (`0.01` = 1 point). A bare `1` or `2` is refused
rather than guessed: it reads as points to some and as 100% to others.
The rule, parsed without TensorFlow or MLflow: config.py validates with it;
search/winner/select.py applies it.
"""

from dataclasses import dataclass

from search.core.errors import UsageError

MODES = ("best", "smallest-within", "fastest-within")
ACCEPTED = "best | smallest-within:DELTA | fastest-within:DELTA (DELTA: 0.5pt, 1pt or a " \
           "fraction below 1 such as 0.01)"
# The cost each mode minimises (a metric of every trial run, search/kt/cost.py).
COST_METRIC = {"smallest-within": "param_count", "fastest-within": "latency_ms_batch1"}


@dataclass(frozen=True)
class Selection:
    mode: str
    delta: float = 0.0  # in val_accuracy units (0.01 = one point)


def parse_select(text):
    """`--select` text -> Selection; UsageError naming the value otherwise."""
    mode, colon, delta_text = str(text).partition(":")
    if mode == "best" and not colon:
        return Selection("best")
    if mode not in COST_METRIC or not delta_text:
        raise UsageError(f"--select {text!r} is invalid: accepted: {ACCEPTED}.")
    return Selection(mode, _parse_delta(text, delta_text))


def _parse_delta(text, delta_text):
    points = delta_text.endswith("pt")
    try:
        value = float(delta_text[:-2] if points else delta_text)
    except ValueError:
        value = float("nan")
    limit = 100.0 if points else 1.0
    if not 0.0 <= value < limit:  # also refuses nan
        raise UsageError(f"--select {text!r}: DELTA {delta_text!r} is invalid: accepted: "
                         f"accuracy points from 0pt to below 100pt (e.g. 1pt) or a "
                         f"fraction from 0 to below 1 (e.g. 0.01 = 1 point).")
    return value / 100.0 if points else value
