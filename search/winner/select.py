"""`--select`: which trial is retrained and exported.

- `best` (default): the highest val_accuracy.
- `smallest-within:DELTA`: the fewest parameters among the trials whose
  val_accuracy is at most DELTA below the best.
- `fastest-within:DELTA`: the lowest latency at batch 1 among those.

DELTA is accuracy points with a `pt` suffix (`1pt` = 0.01 val_accuracy, `0.5pt`)
or a plain fraction of 1 below 1 (`0.01` = 1 point). A bare `1` or `2` is refused
rather than guessed: it reads as points to some and as 100% to others.
This module is light (no TensorFlow, no MLflow): config.py validates with it.
"""

from dataclasses import dataclass

from search.errors import UsageError

MODES = ("best", "smallest-within", "fastest-within")
ACCEPTED = "best | smallest-within:DELTA | fastest-within:DELTA (DELTA: 0.5pt, 1pt or a " \
           "fraction below 1 such as 0.01)"
# The cost each mode minimises (a metric of every trial run, search/tuning/cost.py).
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


def pick(selection, candidates):
    """The chosen candidate: each a dict with `val_accuracy` and the cost metrics.
    Candidates without the cost metric are never the cheapest."""
    best = max(candidates, key=lambda c: c["val_accuracy"])
    if selection.mode == "best":
        return best
    metric = COST_METRIC[selection.mode]
    # A tiny tolerance: a trial exactly DELTA below the best stays in.
    within = [c for c in candidates
              if c["val_accuracy"] >= best["val_accuracy"] - selection.delta - 1e-9]
    return min(within, key=lambda c: (_cost(c, metric), -c["val_accuracy"]))


def _cost(candidate, metric):
    value = candidate.get(metric)
    return float("inf") if value is None else value


def choose(text, oracle, tracker):
    """((trial, run) that `--select text` picks, (trial, run) of the highest
    val_accuracy) among completed trials with a finished run: the same pair
    under `--select best`."""
    selection = parse_select(text)
    candidates = []
    for trial in oracle.trials.values():
        if trial.status != "COMPLETED" or trial.score is None:
            continue
        run = next((r for r in tracker.trial_runs(trial.trial_id)
                    if r.info.status == "FINISHED"), None)
        if run is not None:
            candidates.append({**run.data.metrics, "val_accuracy": trial.score,
                               "trial": trial, "run": run})
    chosen = pick(selection, candidates)
    best = pick(Selection("best"), candidates)
    return (chosen["trial"], chosen["run"]), (best["trial"], best["run"])


def describe(text):
    """`--select` in words for the result line: "smallest within 5 points"."""
    selection = parse_select(text)
    if selection.mode == "best":
        return "best"
    what = selection.mode.replace("-", " ")
    return f"{what} {selection.delta * 100:g} points"
