"""The parent run's description: the search's answer, where the MLflow UI shows it.

MLflow renders the tag `mlflow.note.content` as markdown at the top of a run's
page, so a newcomer who opens the search's run reads the result there: the
winner and its hyperparameters, val and test accuracy, the best trial per bridge
with its size, the data and budget, and the commands to export and serve it.
"""

import shlex

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from search import tracking


def log_description(tracker, config, plan, summary, data):
    """Write the description of a finished search onto its parent run.
    `summary`: the run's summary plus `best_trial_id`; `data`: the data's description."""
    param_counts = _param_counts(tracker)
    text = describe_search(config, plan, summary, data, param_counts)
    tracker.set_search_tags({MLFLOW_RUN_NOTE: text})
    return text


def describe_search(config, plan, summary, data, param_counts):
    """Markdown of the result. `param_counts`: {trial_id: parameter count}."""
    # The exported trial: what --select picked (selected_*), the best by default.
    hps, keys = summary["selected_hyperparameters"], summary["summary_keys"]
    best_id = summary["selected_trial_id"]
    question, label = next(iter(keys.items()), (None, None))
    lines = [f"## Winner: {_architecture(hps, keys)}",
             "",
             f"Trial `{tracking.trial_run_name(best_id, hps, keys)}` (run "
             f"`{summary['selected_run_id']}`, --select {summary['select']}): "
             f"**val accuracy {_score(summary['selected_val_accuracy'])}**, "
             f"test accuracy {_score(summary.get('test_accuracy'))}, "
             f"{_count(param_counts.get(best_id))} parameters.",
             "", f"## Best trial per {label}", "",
             *_per_value_table(summary.get(f"best_per_{question}"), keys, param_counts),
             "", "## The winner's hyperparameters", "",
             "| hyperparameter | value |", "|---|---|",
             *[f"| {name} | {_value(value)} |" for name, value in hps.items()]]
    lines += ["", "## Data and budget", "",
              f"- data: `{data.get('data_source')}`, images {data.get('data_shape')}, "
              f"{data.get('data_classes')} classes; train {data.get('data_train_size')}, "
              f"val {data.get('data_val_size')}, test {data.get('data_test_size')} images",
              f"- space `{config.space}`; Hyperband max_epochs {plan.max_epochs}, "
              f"factor {plan.factor}, iterations {plan.hyperband_iterations}, "
              f"seed {config.seed}; final training: {config.retrain}",
              f"- {summary['n_trials']} trials ({summary['n_failed_trials']} failed) in "
              f"{summary['wall_seconds'] / 60:.1f} min",
              "", "## Export and serve the winner", "",
              f"Exported to `{summary['export_dir']}`; registered as "
              f"`{summary['registered_model']}` version {summary['registered_version']}.",
              "", "```bash", *_commands(config, summary), "```", ""]
    return "\n".join(lines)


def _per_value_table(best_per_value, keys, param_counts):
    if not best_per_value:
        return ["(no finished trial)"]
    label = next(iter(keys.values()))
    rows = [f"| {label} | trial | val accuracy | parameters |", "|---|---|---|---|"]
    for value, best in best_per_value.items():
        name = tracking.trial_run_name(best["trial_id"], best["hyperparameters"], keys)
        rows.append(f"| {value} | {name} | {_score(best['val_accuracy'])} | "
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


def _architecture(hps, keys):
    """`bridge **gap**, depth 2, width 128`: the question's value in bold."""
    parts = [f"{label} **{hps[name]}**" if position == 0 else f"{label} {hps[name]}"
             for position, (name, label) in enumerate(keys.items()) if name in hps]
    return ", ".join(parts) or "best trial"


def _value(value):
    return f"{value:.4g}" if isinstance(value, float) else value


def _score(value):
    return "-" if value is None else f"{value:.4f}"


def _count(value):
    return "-" if value is None else f"{int(value):,}"
