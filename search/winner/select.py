"""`--select` applied: the trial that is retrained and exported (the rule and its
parsing: search/core/select_rule.py)."""

from search.core.select_rule import COST_METRIC, Selection, parse_select


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
