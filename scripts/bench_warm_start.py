"""`--warm-start` against a cold start (issue 12 item 5): epochs until a search
first reaches the best val accuracy of an earlier search on the same data.

Per seed s: an earlier search (seed s), then two new searches with seed s + 100,
cold and `--warm-start` from the earlier one. Both new searches draw the same
random values, except that the warm one's first trial takes the earlier best
hyperparameters. Epochs are counted over the trials in the order they ran (the
sum of each trial's epochs, read from its MLflow run's val_accuracy history) up
to and including the first epoch whose val accuracy reaches the earlier best.

    python scripts/bench_warm_start.py --data digits --seeds 0 1 2
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_record

ROOT = Path(__file__).resolve().parents[1]
TAG_SEARCH = "bridge_search.search_run_id"


def search(work, data, seed, experiment, plan, extra=()):
    summary = work / f"{experiment}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = ["run", "--data", data, "--seed", seed, "--max-epochs", plan[0], "--factor", plan[1],
            "--retrain", "none", "--tracking-uri", f"sqlite:///{work}/mlflow.db",
            "--experiment", experiment, "--project-dir", work / "projects" / experiment,
            "--export-dir", work / "exports" / experiment, "--summary-json", summary, *extra]
    result = subprocess.run([sys.executable, "-m", "search", *map(str, args)], cwd=work,
                            env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{experiment} failed:\n{result.stderr[-3000:]}")
    return json.loads(summary.read_text())


def epochs_to_reach(client, summary, target):
    """(epochs until val accuracy first >= target, or None; epochs in all)."""
    runs = client.search_runs(
        [summary["experiment_id"]], f"tags.`{TAG_SEARCH}` = '{summary['parent_run_id']}'",
        order_by=["attributes.start_time ASC"], max_results=1000)
    epochs, reached = 0, None
    for run in runs:
        if run.info.run_id == summary["parent_run_id"]:
            continue
        history = sorted(client.get_metric_history(run.info.run_id, "val_accuracy"),
                         key=lambda m: m.step)
        for point in history:
            epochs += 1
            if reached is None and point.value >= target - 1e-9:
                reached = epochs
    return reached, epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    bench_record.add_option(parser, "warm-start")
    args = parser.parse_args()
    import mlflow
    plan = (args.max_epochs, args.factor)
    print(f"{args.data}, Hyperband max_epochs {args.max_epochs}, factor {args.factor}, "
          f"--retrain none")
    print(f"{'seed':>4} {'earlier best':>12} {'cold epochs':>11} {'warm epochs':>11} "
          f"{'cold best':>9} {'warm best':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(args.work or folder)
        work.mkdir(parents=True, exist_ok=True)
        client = mlflow.MlflowClient(f"sqlite:///{work}/mlflow.db")
        for seed in args.seeds:
            earlier = search(work, args.data, seed, f"earlier-{seed}", plan)
            target = earlier["best_val_accuracy"]
            cold = search(work, args.data, seed + 100, f"cold-{seed}", plan)
            warm = search(work, args.data, seed + 100, f"warm-{seed}", plan,
                          ["--warm-start", f"earlier-{seed}"])
            row = [seed, target, epochs_to_reach(client, cold, target),
                   epochs_to_reach(client, warm, target),
                   cold["best_val_accuracy"], warm["best_val_accuracy"]]
            rows.append(row)
            print(f"{seed:>4} {target:>12.4f} {shown(row[2]):>11} {shown(row[3]):>11} "
                  f"{row[4]:>9.4f} {row[5]:>9.4f}", flush=True)
    reached = [r for r in rows if r[2][0] and r[3][0]]
    if reached:
        print(f"mean over the {len(reached)} seed(s) where both reached it: cold "
              f"{sum(r[2][0] for r in reached) / len(reached):.1f}, warm "
              f"{sum(r[3][0] for r in reached) / len(reached):.1f} epochs")
    bench_record.write(args.record_path, "warm_start", "Warm start against a cold start", {
        "columns": ["seed", "earlier_best", "cold_epochs_to_reach_of_total",
                    "warm_epochs_to_reach_of_total", "cold_best", "warm_best"], "rows": rows})


def shown(result):
    reached, total = result
    return f"{reached}/{total}" if reached else f"never/{total}"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
