"""The confirm stage: a controlled ablation around a finished search's winner.

Keep every hyperparameter of the winner, set the varied one (default: the space's
question, the bridge) to each of its values, train each value with seeds
0..K-1 for the same epochs, score it on the test split (val without one), and
say per value whether it is ahead of, behind or within noise of the best, with
a 95% interval (search/core/confirm_stats.py). One MLflow child run per (value,
seed) under the search's parent run; a killed confirm resumes: finished runs
are read back, not trained again.

The checks that need only the store (search/tracking/confirm_runs.py) run
first, in the CLI, so bad input is exit 2 before TensorFlow loads.
"""

import dataclasses
import logging
import time

from search import data as data_module
from search.core import confirm_stats
from search.core.config import SearchConfig
from search.core.confirm_plan import plan_runs, runs_left
from search.core.crashpoints import crash_point
from search.core.errors import UsageError
from search.kt import confirm_training, space_check, training, vary as vary_module
from search.kt.hp_values import user_values
from search.tracking import confirm_runs, open_client, trial_run_name, warm_start
from search.tracking.retry import RetryingClient, StoreRetry
from search.winner import confirm_report

log = logging.getLogger(__name__)
clock = time.perf_counter  # the --time-budget clock (a test sets its own)


def search_settings(source):
    """The search's resolved config over SearchConfig's defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(SearchConfig)}
    return {**defaults, **source.settings}


def confirm(source, vary, request, tracking_uri, report_folders, out=print, stop_at=None):
    """Train what is left of the ablation, then report it into `report_folders`
    (confirm_report.folders, checked before); returns its summary.
    `stop_at` (time.perf_counter(), `run --time-budget`): no run starts that would
    end past it, judged by the longest run so far; the report covers the runs
    trained, and the same command trains the rest."""
    settings = search_settings(source)
    image_data = _same_data(source, settings)
    hypermodel = space_check.load_checked_space(settings["space"], image_data)
    space_hps = vary_module.space_hyperparameters(hypermodel)
    values = vary_module.values_of(space_hps, vary)
    winner = warm_start.typed_values(source.winner_params(), space_hps)
    epochs = request.epochs or training.retrain_epochs(
        source.winner.data.metrics.get("best_epoch"), settings["min_retrain_epochs"])
    split = confirm_training.scored_split(image_data)
    client = RetryingClient(open_client(tracking_uri),
                            StoreRetry(tracking_uri, settings["store_retry_seconds"]))
    planned = plan_runs(values, request.seeds)
    left = runs_left(planned, _finished(client, source, vary, epochs, split))
    out(f"Confirm {vary} of search {source.parent_run_id}: {len(values)} values x "
        f"{request.seeds} seeds, {epochs} epochs each; {len(planned) - len(left)} runs "
        f"finished earlier, {len(left)} to train.")
    context = {"vary": vary, "epochs": epochs, "split": split, "settings": settings,
               "winner": winner, "metric": f"{split}_accuracy"}
    longest = 0.0
    for number, run in enumerate(left, 1):
        if stop_at is not None and clock() + longest > stop_at:
            out(f"Time budget: the confirm stage stopped after {number - 1} of {len(left)} "
                f"runs; the same command trains the other {len(left) - number + 1}.")
            break
        hps = vary_module.with_value(space_hps, winner, vary, run.value)
        refused = vary_module.refused_by(hypermodel, hps.values)
        began = clock()
        scores = _train_one(client, source, hypermodel, hps, image_data, run, context, refused)
        longest = max(longest, clock() - began)
        out(f"  [{number}/{len(left)}] {vary}={run.value} seed {run.seed}: {split} accuracy "
            f"{scores['accuracy']:.4f}" + (f" (refused by the space: {refused})"
                                          if refused else ""))
    return _report(client, source, context, planned, tracking_uri, report_folders, out)


def _same_data(source, settings):
    """The search's data again, checked to be the same images (its hash)."""
    image_data = data_module.load(
        settings["data"], settings["val_split"], settings["seed"],
        data_dir=settings["data_dir"], image_size=settings["image_size"],
        color=settings["color"], skip_bad_images=settings["skip_bad_images"])
    logged = source.parent.data.params.get("data_sha256")
    now = image_data.description()["data_sha256"]
    if logged and logged != now:
        raise UsageError(f"--data {settings['data']} now holds other images than the search "
                         f"used (sha256 {now}, the search's {logged}); confirm compares "
                         f"on the search's own data: restore it.")
    return image_data


def _finished(client, source, vary, epochs, split):
    """{(value text, seed): run} of the finished runs of this same confirm."""
    runs = confirm_runs.settle_runs(client, confirm_runs.confirm_runs(client, source),
                                    f"{split}_accuracy")
    found = {}
    for run in runs:
        if confirm_runs.same_confirm(run, vary, epochs, source.winner.info.run_id):
            found.setdefault(confirm_runs.run_key(run), run)
    return found


def _train_one(client, source, hypermodel, hps, image_data, run, context, refused):
    settings, values = context["settings"], user_values(hps.values)
    name = trial_run_name(f"confirm s{run.seed}", values, source.keys)
    if context["vary"] not in source.keys:
        name += f" {context['vary']}={run.value}"
    run_id = confirm_runs.start_run(client, source, name, {**values, "seed": run.seed}, {
        confirm_runs.TAG_VARY: context["vary"], confirm_runs.TAG_VALUE: run.key[0],
        confirm_runs.TAG_SEED: run.seed, confirm_runs.TAG_EPOCHS: context["epochs"],
        confirm_runs.TAG_WINNER: source.winner.info.run_id,
        **({confirm_runs.TAG_REFUSED: refused} if refused else {})})
    scores = confirm_training.train_and_score(
        hypermodel, hps, image_data, epochs=context["epochs"], seed=run.seed,
        batch_size=settings["batch_size"], lr_schedule=settings["lr_schedule"],
        mixed_precision=settings["mixed_precision"], jit_compile=settings["jit_compile"])
    crash_point("confirm_trained")  # tests: killed before MLflow hears of the score
    confirm_runs.log_scores(client, run_id, {
        context["metric"]: scores["accuracy"], "param_count": scores["param_count"],
        "latency_ms_batch1": scores["latency_ms"], "train_seconds": scores["train_seconds"],
        "epochs": context["epochs"]})
    crash_point("confirm_logged")  # tests: killed between the score and the run's end
    confirm_runs.close_run(client, run_id)
    return scores


def _report(client, source, context, planned, tracking_uri, report_folders, out):
    """Read every finished run of this confirm back from MLflow (so a resumed
    confirm counts each (value, seed) once), then write and publish the report."""
    finished = _finished(client, source, context["vary"], context["epochs"], context["split"])
    results = [_result(finished[run.key], run, context["metric"]) for run in planned
               if run.key in finished]
    rows = confirm_stats.summarise(results)
    folder = report_folders[-1][0]
    hyperband = confirm_runs.search_best(client, source, context["vary"])
    text = confirm_report.write_report(report_folders, results, rows, context, hyperband)
    verdict = confirm_report.verdict_lines(rows, context)
    confirm_runs.publish(client, source, [folder / name for name in confirm_report.REPORT_FILES],
                         "\n".join(verdict), context["vary"])
    for line in [*verdict, "", f"confirm.md, confirm.csv and confirm.png written to {folder} "
                 f"and logged on run {source.parent_run_id} (artifacts "
                 f"{confirm_runs.CONFIRM_ARTIFACT}/{context['vary']}/)",
                 confirm_runs.runs_table_link(tracking_uri, source)]:
        out(line)
    return {"vary": context["vary"], "epochs": context["epochs"], "split": context["split"],
            "best": rows[0]["value"] if rows else None, "report_dir": str(folder),
            "markdown": text, "rows": [_plain(row) for row in rows],
            "hyperband_best": hyperband}


def _result(run, planned, metric):
    metrics, tags = run.data.metrics, run.data.tags
    return {"value": planned.value, "seed": planned.seed, "accuracy": metrics.get(metric),
            "param_count": metrics.get("param_count"),
            "latency_ms": metrics.get("latency_ms_batch1"),
            "train_seconds": metrics.get("train_seconds"),
            "refused": tags.get(confirm_runs.TAG_REFUSED), "run_id": run.info.run_id}


def _plain(row):
    """A summary row as JSON-able values (the paired difference as a dict)."""
    difference = row["difference"]
    return {**{k: v for k, v in row.items() if k != "difference"},
            "scores": {str(k): v for k, v in row["scores"].items()},
            "difference": None if difference is None else {
                **dataclasses.asdict(difference), "verdict": difference.verdict}}

