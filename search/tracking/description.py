"""The parent run's description: the search's answer, where the MLflow UI shows it.

MLflow renders the tag `mlflow.note.content` as markdown at the top of a run's
page, so a newcomer who opens the search's run reads the result there: the
winner and its hyperparameters, val and test accuracy, the best trial per bridge
with its size, the data and budget, and the commands to export and serve it.
"""

import shlex

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from search import tracking


def log_description(tracker, config, summary, data):
    """Write the description of a finished search onto its parent run.
    `summary`: the run's summary plus `best_trial_id`; `data`: the data's description."""
    param_counts = _param_counts(tracker)
    text = describe_search(config, summary, data, param_counts)
    tracker.set_search_tags({MLFLOW_RUN_NOTE: text})
    return text


def describe_search(config, summary, data, param_counts):
    """Markdown of the result. `param_counts`: {trial_id: parameter count}."""
    # The exported trial: what --select picked (selected_*), the best by default.
    hps = summary["selected_hyperparameters"]
    best_id = summary["selected_trial_id"]
    lines = [f"## Winner: {_architecture(hps)}",
             "",
             f"Trial `{tracking.trial_run_name(best_id, hps)}` (run "
             f"`{summary['selected_run_id']}`, --select {summary['select']}): "
             f"**val accuracy {_score(summary['selected_val_accuracy'])}**, "
             f"test accuracy {_score(summary.get('test_accuracy'))}, "
             f"{_count(param_counts.get(best_id))} parameters.",
             "", "## Best trial per bridge", "",
             *_per_bridge_table(summary["best_per_bridge"], param_counts),
             "", "## The winner's hyperparameters", "",
             "| hyperparameter | value |", "|---|---|",
             *[f"| {name} | {_value(value)} |" for name, value in hps.items()]]
    lines += ["", "## Data and budget", "",
              f"- data: `{data.get('data_source')}`, images {data.get('data_shape')}, "
              f"{data.get('data_classes')} classes; train {data.get('data_train_size')}, "
              f"val {data.get('data_val_size')}, test {data.get('data_test_size')} images",
              f"- space `{config.space}`; Hyperband max_epochs {config.max_epochs}, "
              f"factor {config.factor}, iterations {config.hyperband_iterations}, "
              f"seed {config.seed}; final training: {config.retrain}",
              f"- {summary['n_trials']} trials ({summary['n_failed_trials']} failed) in "
              f"{summary['wall_seconds'] / 60:.1f} min",
              "", "## Export and serve the winner", "",
              f"Exported to `{summary['export_dir']}`; registered as "
              f"`{summary['registered_model']}` version {summary['registered_version']}.",
              "", "```bash", *_commands(config, summary), "```", ""]
    return "\n".join(lines)


def _per_bridge_table(best_per_bridge, param_counts):
    if not best_per_bridge:
        return ["(this space has no `bridge` hyperparameter)"]
    rows = ["| bridge | trial | val accuracy | parameters |", "|---|---|---|---|"]
    for bridge, best in best_per_bridge.items():
        name = tracking.trial_run_name(best["trial_id"], best["hyperparameters"])
        rows.append(f"| {bridge} | {name} | {_score(best['val_accuracy'])} | "
                    f"{_count(param_counts.get(best['trial_id']))} |")
    return rows


def _commands(config, summary):
    uri = "" if config.tracking_uri is None else f" --tracking-uri {shlex.quote(config.tracking_uri)}"
    return [f"bridge-search export --run-id {summary['selected_run_id']} --out winner{uri}",
            f"bridge-search serve --experiment {shlex.quote(config.experiment)}{uri}"]


def _param_counts(tracker):
    """{trial_id: param_count} of the search's finished trial runs."""
    return {run.data.tags.get(tracking.TAG_TRIAL_ID): run.data.metrics["param_count"]
            for run in tracker.trial_runs()
            if run.info.status == "FINISHED" and "param_count" in run.data.metrics}


def _architecture(hps):
    parts = [f"bridge **{hps['bridge']}**" if "bridge" in hps else "",
             f"{hps['residual_blocks']} residual blocks" if "residual_blocks" in hps else "",
             f"dense width {hps['dense_units']}" if "dense_units" in hps else ""]
    return ", ".join(part for part in parts if part) or "best trial"


def _value(value):
    return f"{value:.4g}" if isinstance(value, float) else value


def _score(value):
    return "-" if value is None else f"{value:.4f}"


def _count(value):
    return "-" if value is None else f"{int(value):,}"
