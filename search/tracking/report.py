"""Search report: the trial table, the best trial per bridge (per value of the
space's question) and three plots.

Reads only the MLflow store (through `MlflowClient`), so a report can be rebuilt
any time, on any machine that reaches the store: `bridge-search report`. The end
of every search logs the same files as artifacts under `report/` on its parent run.

Files: `report.md` (the tables as printed), `trials.csv`, the PNGs
`val_accuracy_by_epoch.png`, `accuracy_vs_params.png`, `hyperband_brackets.png`,
and the trade-off (search/tracking/pareto.py): `pareto_front.png`, `tradeoff.md`.
"""

import csv
import dataclasses
import json
import math
import tempfile
from pathlib import Path

import mlflow

import spaces
from search import tracking
from search.core import ownership
from search.core.errors import UsageError
from search.tracking import pareto
from search.tracking.pareto import best_row_per_group
from search.tracking.report_plots import (colours_by_group, plot_accuracy_vs_params,
                                          plot_brackets, plot_curves)

REPORT_ARTIFACT = "report"  # folder on the parent run
REPORT_FILE = "report.md"
CSV_FILE = "trials.csv"
CURVES_PLOT = "val_accuracy_by_epoch.png"
PARAMS_PLOT = "accuracy_vs_params.png"
BRACKETS_PLOT = "hyperband_brackets.png"
REPORT_FILES = (REPORT_FILE, CSV_FILE, CURVES_PLOT, PARAMS_PLOT, BRACKETS_PLOT,
                pareto.PARETO_PLOT, pareto.TRADEOFF_FILE)  # all that is written
TRADEOFF_TAG = "bridge_search.tradeoff"  # one line per bridge: what it costs and gives
SEARCH_QUERY = f"tags.`{tracking.TAG_ROLE}` = 'search'"


@dataclasses.dataclass
class Trial:
    """One trial's child run, as the report needs it."""
    run_id: str
    trial_id: str
    group: str   # its value of the space's question (its bridge, in the default space)
    shown: tuple  # its values of the space's summary keys, in their order ("-": none)
    param_count: float | None
    epochs: float | None
    best_val_accuracy: float | None
    wall_seconds: float | None
    status: str
    bracket: str
    round: str
    continues: str  # trial id this Hyperband trial continues, or ""
    history: list  # [(epoch, val_accuracy)] in epoch order
    latency_ms: float | None = None  # median ms per image at batch 1 (tuning/cost.py)

    @property
    def finished(self):
        return self.status == "FINISHED" and self.best_val_accuracy is not None


# ----- reading the store ----------------------------------------------------------
def find_search(client, experiment_name, parent_run_id=None):
    """The experiment and the parent run of one search (default: the latest)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        known = sorted(e.name for e in client.search_experiments())
        raise UsageError(f"--experiment {experiment_name!r}: no such experiment in this "
                         f"tracking store; existing: {', '.join(known) or 'none'}.")
    if parent_run_id is None:
        runs = client.search_runs([experiment.experiment_id], filter_string=SEARCH_QUERY,
                                  order_by=["attributes.start_time DESC"], max_results=1)
        if not runs:
            raise UsageError(f"--experiment {experiment_name!r} has no bridge-search search "
                             f"runs; run `bridge-search run --experiment {experiment_name}`.")
        return experiment, runs[0]
    try:
        run = client.get_run(parent_run_id)
    except mlflow.exceptions.MlflowException:
        run = None
    if (run is None or run.info.experiment_id != experiment.experiment_id
            or run.data.tags.get(tracking.TAG_ROLE) != "search"):
        raise UsageError(f"--run-id {parent_run_id!r} is not a search (parent) run of "
                         f"experiment {experiment_name!r}; omit it for the latest search.")
    return experiment, run


def summary_keys_of(parent):
    """{hyperparameter: label} the search showed (its space's summary keys); a
    search logged before spaces named them used the default space's."""
    stored = parent.data.tags.get(tracking.TAG_SUMMARY_KEYS)
    return json.loads(stored) if stored else dict(spaces.BRIDGE_NET_SUMMARY_KEYS)


def collect_trials(client, experiment_id, parent_run_id, keys):
    """Every child run of the search, with its val_accuracy history, by trial id."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=10000)
    # The confirm stage's runs share the parent (search/tracking/confirm_runs.py).
    trials = [_trial(client, run, keys) for run in runs
              if run.data.tags.get(tracking.TAG_ROLE) != "confirm"]
    return sorted(trials, key=lambda t: (t.trial_id, t.run_id))


def _trial(client, run, keys):
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    history = sorted((m.step, m.value) for m in
                     client.get_metric_history(run.info.run_id, "val_accuracy"))
    shown = tuple(params.get(name, "-") for name in keys)
    return Trial(run_id=run.info.run_id, trial_id=tags.get(tracking.TAG_TRIAL_ID, "?"),
                 group=shown[0] if shown else "-", shown=shown,
                 param_count=metrics.get("param_count"),
                 epochs=metrics.get("epochs_trained"),
                 best_val_accuracy=metrics.get("best_val_accuracy"),
                 wall_seconds=metrics.get("wall_seconds"), status=run.info.status,
                 bracket=tags.get(tracking.TAG_BRACKET, ""),
                 round=tags.get(tracking.TAG_ROUND, ""),
                 continues=tags.get(tracking.TAG_CONTINUES, ""), history=history,
                 latency_ms=metrics.get("latency_ms_batch1"))


# ----- text ------------------------------------------------------------------------
def table_columns(keys):
    return ("trial", *keys.values(), "params", "epochs", "best val_acc", "wall s",
            "bracket/round", "status", "run id")


def _row(trial):
    return (trial.trial_id, *trial.shown, _num(trial.param_count),
            _num(trial.epochs), _num(trial.best_val_accuracy, ".4f"),
            _num(trial.wall_seconds, ".1f"), f"{trial.bracket}/{trial.round}", trial.status,
            trial.run_id)


def _num(value, spec="d"):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(int(value) if spec == "d" else value, spec)


def markdown_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows])


def format_report(experiment, parent, trials, keys):
    params = parent.data.params
    finished = [t for t in trials if t.finished]
    # The exported trial (tag selected_run_id; best_run_id before it was written):
    # --select may prefer a cheaper one than the best.
    exported = parent.data.tags.get("selected_run_id", parent.data.tags.get("best_run_id"))
    winner = next((t for t in finished if t.run_id == exported),
                  max(finished, key=lambda t: t.best_val_accuracy, default=None))
    head = [f"# bridge-search report: experiment {experiment.name}",
            "",
            f"Search run {parent.info.run_id} ({parent.info.run_name}): space {params.get('space', '?')}, data "
            f"{params.get('data_source', '?')}, Hyperband max_epochs "
            f"{params.get('max_epochs', '?')} factor {params.get('factor', '?')}; "
            f"{len(trials)} trials, {len(trials) - len(finished)} not finished.",
            ""]
    labels = list(keys.values())
    best_rows = [(t.shown[0], t.trial_id, *t.shown[1:], _num(t.param_count),
                  _num(t.best_val_accuracy, ".4f"), t.run_id)
                 for t in best_row_per_group(trials).values()]
    tail = ["", f"## Best trial per {labels[0]}", "",
            markdown_table((labels[0], "trial", *labels[1:], "params", "best val_acc",
                            "run id"), best_rows), ""]
    if winner is not None:
        shown = ", ".join(f"{label} {value}" for label, value in zip(labels, winner.shown))
        tail.append(f"Winner: trial {winner.trial_id}, {shown}, val_accuracy "
                    f"{winner.best_val_accuracy:.4f} ({_num(winner.param_count)} params; "
                    f"--select {params.get('select') or 'best'}).")
    return "\n".join(head + ["## Trials", "", markdown_table(table_columns(keys),
                                                          map(_row, trials))]
                     + tail) + "\n"


def write_csv(trials, keys, path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table_columns(keys))
        writer.writerows(map(_row, trials))


# ----- the whole report --------------------------------------------------------------
def build_report(client, experiment_name, out_dir, parent_run_id=None, claim=None):
    """Write the report files into `out_dir`; return (markdown text, parent run).
    `claim` (the option that named `out_dir`): claim the folder by the ownership
    rule first (search/core/ownership.py), checked again right before writing."""
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window
    experiment, parent = find_search(client, experiment_name, parent_run_id)
    keys = summary_keys_of(parent)
    label = next(iter(keys.values()))
    trials = collect_trials(client, experiment.experiment_id, parent.info.run_id, keys)
    out = Path(out_dir)
    if claim:
        ownership.claim_folder(out, claim, *ownership.REPORT_RULE, files=REPORT_FILES)
    out.mkdir(parents=True, exist_ok=True)
    text = format_report(experiment, parent, trials, keys) + pareto.markdown_section(
        trials, markdown_table, label)
    (out / REPORT_FILE).write_text(text)
    write_csv(trials, keys, out / CSV_FILE)
    colours = colours_by_group(trials)
    plot_curves(trials, colours, out / CURVES_PLOT, label)
    plot_accuracy_vs_params(trials, colours, out / PARAMS_PLOT, best_row_per_group(
        [t for t in trials if t.finished and t.param_count]), label)
    plot_brackets(trials, colours, out / BRACKETS_PLOT, label)
    pareto.plot_fronts(trials, colours, out / pareto.PARETO_PLOT, label)
    (out / pareto.TRADEOFF_FILE).write_text(
        "\n".join(pareto.verdict_lines(trials, label)) + "\n")
    return text, parent


def log_search_report(client, experiment_name, parent_run_id):
    """Build the report of one search and log it under `report/` on its parent run."""
    with tempfile.TemporaryDirectory() as scratch:
        text, _ = build_report(client, experiment_name, scratch, parent_run_id)
        client.log_artifacts(parent_run_id, scratch, REPORT_ARTIFACT)
        client.set_tag(parent_run_id, TRADEOFF_TAG,  # the answer, in the runs table
                       (Path(scratch) / pareto.TRADEOFF_FILE).read_text().strip())
    return text
