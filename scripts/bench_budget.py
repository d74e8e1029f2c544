"""`--time-budget` against the clock: wall time vs budget, accuracy per budget, and
the dry-run estimate of the chosen plan vs the real search (issue 12 item 1).

Each budget runs `bridge-search run --time-budget B` as a real process (wall time
measured from outside, imports included), then `--dry-run` with the Hyperband
settings the budget picked, whose estimate is compared with the search's own
search_seconds (trials only: the dry run does not estimate the final training).
The tracking store is created before the first budget (a fresh sqlite store's
migrations take ~9 s, paid once per store). The load average (`uptime`) is
printed with each row: the machine is shared.

    python scripts/bench_budget.py --data digits --budgets 1m 3m 10m
    python scripts/bench_budget.py --data npz:glyphs28.npz --budgets 1m 3m 10m

`--estimate-again`: the budgets already run in --work get a new dry run each
(the estimator changed; the searches are not run again).

`--least`: is the least budget the tool quotes what a run needs? Asks for
`--time-budget 10s` (refused with "at least about M:SS"), then runs with exactly
the quoted budget, and prints the quote against the run's wall time (issue 27
item 4: within 1.5x, and enough).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_record

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "search", *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if result.returncode == 2 and "--time-budget" in result.stderr:
        raise ValueError(result.stderr.strip().splitlines()[-1])
    if result.returncode:
        raise SystemExit(f"{' '.join(map(str, args))} failed:\n{result.stderr[-3000:]}")
    return result, time.perf_counter() - started


def load():
    return os.getloadavg()[0]


def one_budget(data, space, budget, seed, work, extra):
    summary_path = work / f"summary-{budget}.json"
    common = ["--data", data, "--space", space, "--seed", seed,
              "--tracking-uri", f"sqlite:///{work}/mlflow.db", *extra]
    load_before = load()
    result, wall = run(["run", "-v", *common, "--time-budget", budget, "--experiment",
                        f"b-{budget}", "--project-dir", work / "projects",
                        "--export-dir", work / f"e-{budget}", "--summary-json", summary_path],
                       work)
    load_after = load()
    (work / f"log-{budget}.txt").write_text(result.stderr)
    summary = json.loads(summary_path.read_text())
    plan = re.search(r"max_epochs (\d+), factor (\d+), (\d+) iteration", result.stderr)
    timed = re.search(r"\((\d) model\(s\) timed", result.stderr)
    max_epochs, factor, iterations = plan.groups()
    estimate_seconds = dry_run(common, budget, (max_epochs, factor, iterations), work)
    return {"budget": budget, "wall": wall, "plan": f"{max_epochs}/{factor}/{iterations}",
            "trials": summary["n_trials"], "search": summary["search_seconds"],
            "estimate": estimate_seconds, "val": summary["best_val_accuracy"],
            "test": summary.get("test_accuracy"), "retrain": summary.get("retrain_epochs") or 0,
            "cut": summary.get("budget_epochs_cut", 0),
            "refused": summary.get("budget_trials_refused", 0), "timed": timed[1] if timed else "?",
            "load": f"{load_before:.1f}-{load_after:.1f}"}


def dry_run(common, budget, plan, work):
    """Seconds the dry run estimates for `plan` (max_epochs, factor, iterations)."""
    max_epochs, factor, iterations = plan
    dry, _ = run(["run", *common, "--dry-run", "--max-epochs", max_epochs, "--factor", factor,
                  "--hyperband-iterations", iterations, "--project-dir", work / "dry"], work)
    (work / f"dry-{budget}.txt").write_text(dry.stdout)
    estimate = re.search(r"Estimated wall time: (\d+):(\d\d)", dry.stdout)
    return int(estimate[1]) * 60 + int(estimate[2])


def estimate_again(data, space, budget, seed, work, extra):
    """A new dry run for a budget already run in `work`, against its search."""
    summary = json.loads((work / f"summary-{budget}.json").read_text())
    plan = re.search(r"max_epochs (\d+), factor (\d+), (\d+) iteration",
                     (work / f"log-{budget}.txt").read_text()).groups()
    common = ["--data", data, "--space", space, "--seed", seed, *extra]
    load_before = load()
    estimate = dry_run(common, f"{budget}-again", plan, work)
    print(f"{budget:>6} plan {'/'.join(plan):>8} trials {summary['n_trials']:>3} (refused "
          f"{summary.get('budget_trials_refused', 0)}, epochs cut "
          f"{summary.get('budget_epochs_cut', 0)}) search {summary['search_seconds']:7.1f} s "
          f"dry-run {estimate:5d} s est/real {estimate / summary['search_seconds']:.2f} "
          f"load {load_before:.1f}-{load():.1f}", flush=True)


def _quoted(refusal):
    minutes, seconds = re.search(r"at least about (\d+):(\d\d)", str(refusal)).groups()
    return int(minutes) * 60 + int(seconds)


def least_budget(data, space, seed, work, extra, attempts=3):
    """The quoted least budget, then a run with exactly it; a run refused at its
    quote (the quote was short) is recorded and the new quote tried."""
    common = ["--data", data, "--space", space, "--seed", seed,
              "--tracking-uri", f"sqlite:///{work}/mlflow.db", *extra]
    try:
        run(["run", *common, "--time-budget", "10s", "--experiment", "least-ask",
             "--project-dir", work / "projects"], work)
        raise SystemExit("--time-budget 10s was accepted: nothing to measure")
    except ValueError as refused:
        quotes = [_quoted(refused)]
    summary_path = work / "summary-least.json"
    for attempt in range(attempts):
        load_before = load()
        try:
            _, wall = run(["run", *common, "--time-budget", f"{quotes[-1]}s", "--experiment",
                           f"least-{attempt}", "--project-dir", work / "projects",
                           "--export-dir", work / f"e-least-{attempt}",
                           "--summary-json", summary_path], work)
            break
        except ValueError as refused:
            print(f"--time-budget {quotes[-1]}s refused (load {load_before:.1f}): {refused}")
            quotes.append(_quoted(refused))
    else:
        raise SystemExit(f"every quote was refused: {quotes}")
    summary, quote = json.loads(summary_path.read_text()), quotes[-1]
    print(f"quoted least budgets {quotes} s; a run with {quote} s: {wall:.1f} s wall, "
          f"{summary['n_trials']} trial(s), quote/wall {quote / wall:.2f}, within the budget: "
          f"{wall <= quote} (load {load_before:.1f}-{load():.1f})", flush=True)
    return {"quotes_seconds": quotes, "wall_seconds": wall, "quote_over_wall": quote / wall,
            "trials": summary["n_trials"], "fits": wall <= quote,
            "test_accuracy": summary.get("test_accuracy")}


def create_store(work):
    import mlflow
    mlflow.MlflowClient(f"sqlite:///{work}/mlflow.db").search_experiments()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--space", default="bridge")
    parser.add_argument("--budgets", nargs="+", default=["1m", "3m", "10m"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    parser.add_argument("--estimate-again", action="store_true",
                        help="only a new dry run for each budget already run in --work")
    parser.add_argument("--least", action="store_true",
                        help="the quoted least budget against a run with exactly it")
    bench_record.add_option(parser, "budget")
    args, extra = parser.parse_known_args()  # the rest goes to `bridge-search run`
    if args.least:
        with tempfile.TemporaryDirectory() as folder:
            create_store(Path(folder))
            figures = least_budget(args.data, args.space, args.seed, Path(folder), extra)
        bench_record.write(args.record_path, "least-budget", "The least --time-budget "
                           "quoted, against a run with it", figures)
        return
    if args.estimate_again:
        for budget in args.budgets:
            estimate_again(args.data, args.space, budget, args.seed, Path(args.work), extra)
        return
    print(f"{args.data}, space {args.space}, seed {args.seed} {' '.join(extra)}")
    print(f"{'budget':>6} {'wall s':>7} {'in budget':>9} {'plan e/f/i':>10} {'trials':>6} "
          f"{'search s':>8} {'dry-run est s':>13} {'est/real':>8} {'val':>6} {'test':>6} "
          f"{'retrain':>7} {'refused':>7} {'cut':>3} {'timed':>5} {'load':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(args.work or folder)
        work.mkdir(parents=True, exist_ok=True)
        create_store(work)
        for budget in args.budgets:
            try:
                row = one_budget(args.data, args.space, budget, args.seed, work, extra)
            except ValueError as refused:  # exit 2: the budget cannot hold one trial
                print(f"{budget:>6} refused: {refused} (load {load():.1f})", flush=True)
                rows.append({"budget": budget, "refused": str(refused)})
                continue
            rows.append(row)
            from search.core.config import parse_duration
            print(f"{row['budget']:>6} {row['wall']:>7.1f} "
                  f"{str(row['wall'] <= parse_duration(budget)):>9} {row['plan']:>10} "
                  f"{row['trials']:>6} {row['search']:>8.1f} {row['estimate']:>13} "
                  f"{row['estimate'] / row['search']:>8.2f} {row['val']:>6.3f} "
                  f"{(row['test'] or float('nan')):>6.3f} {row['retrain']:>7} {row['refused']:>7} "
                  f"{row['cut']:>3} "
                  f"{row['timed']:>5} {row['load']:>9}", flush=True)
    bench_record.write(args.record_path, "budget", f"--time-budget on {args.data}",
                       {"rows": rows})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
