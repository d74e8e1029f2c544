"""What the confirm stage finds: does Hyperband's per-bridge ranking (each bridge's
best trial, val accuracy, one seed) agree with the controlled one (`bridge-search
confirm`: the winner's other hyperparameters, every bridge, K seeds, test accuracy),
and how wide are the 95% intervals?

For every dataset and search seed, each as its own process: `python -m search run
--data DATA --seed S` (plus --extra flags), then `python -m search confirm --seeds K`
on that search. Prints per search the two rankings, whether their top bridges
agree, the share of bridge pairs both order the same way, the verdicts and the
intervals' widths; then the totals.

    python scripts/bench_confirm.py [--data digits ...] [--glyphs] [--search-seeds 0 1 2]
        [--seeds 5] [--extra "--retrain none"] [--confirm-extra "--epochs 4"] [--json PATH]
`--glyphs` adds the 28x28 font-letters set of scripts/make_glyphs.py (--glyph-renders
renders per glyph; written to /tmp).
"""

import argparse
import csv
import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_record

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search.core import confirm_stats  # noqa: E402  (pure: no TensorFlow)


def run(command, work):
    started = time.perf_counter()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({result.returncode}):\n"
                         f"{result.stderr[-3000:]}")
    return time.perf_counter() - started


def search_and_confirm(data, seed, seeds, work, extra, confirm_extra):
    store = ["--tracking-uri", f"sqlite:///{work}/mlflow.db", "--experiment", f"bench-{seed}"]
    summary_path = work / "summary.json"
    search_wall = run([sys.executable, "-m", "search", "run", "--data", data, "--seed",
                       str(seed), *store, "--project-dir", str(work / "projects"),
                       "--export-dir", str(work / "export"), "--summary-json",
                       str(summary_path), *extra], work)
    summary = json.loads(summary_path.read_text())
    confirm_wall = run([sys.executable, "-m", "search", "confirm", *store, "--seeds",
                        str(seeds), "--out", str(work / "confirm"), *confirm_extra], work)
    with open(work / "confirm" / "confirm.csv") as handle:
        results = [{"value": row["value"], "seed": int(row["seed"]),
                    "accuracy": float(row["accuracy"])} for row in csv.DictReader(handle)]
    return summary, results, search_wall, confirm_wall


def compare(summary, results):
    """The two rankings of one search and how far they agree."""
    hyperband = {bridge: best["val_accuracy"] for bridge, best in
                 summary["best_per_bridge"].items()}
    rows = confirm_stats.summarise(results)
    controlled = {row["value"]: row["accuracy_mean"] for row in rows}
    both = [b for b in hyperband if b in controlled]
    pairs = [(a, b) for a, b in itertools.combinations(both, 2)
             if hyperband[a] != hyperband[b]]
    same = sum((hyperband[a] > hyperband[b]) == (controlled[a] > controlled[b])
               for a, b in pairs)
    hyperband_top = max(hyperband, key=hyperband.get)
    differences = [row["difference"] for row in rows[1:]]
    widths = [100 * (d.high - d.low) for d in differences if d.low is not None]
    verdict_of = {row["value"]: (row["difference"].verdict if row["difference"] else "best")
                  for row in rows}
    hps = summary["best_hyperparameters"]
    return {"winner": {k: hps.get(k) for k in summary["summary_keys"]}, "hyperband": hyperband,
            "controlled": controlled, "controlled_std": {
                row["value"]: row["accuracy_std"] for row in rows},
            "hyperband_top": hyperband_top, "controlled_top": rows[0]["value"],
            "top_agrees": hyperband_top == rows[0]["value"],
            "hyperband_top_verdict": verdict_of.get(hyperband_top),
            "pairs_compared": len(pairs), "pairs_same_order": same,
            "verdicts": verdict_of, "interval_widths_points": widths}


def print_search(data, seed, row):
    print(f"\n{data} search seed {seed} (winner {row['winner']}):")
    print(f"  Hyperband (best val per bridge): " + ", ".join(
        f"{b} {v:.4f}" for b, v in sorted(row["hyperband"].items(), key=lambda i: -i[1])))
    print(f"  controlled (mean test, {row['k']} seeds): " + ", ".join(
        f"{b} {v:.4f} ({row['verdicts'][b]})" for b, v in row["controlled"].items()))
    print(f"  top agrees: {row['top_agrees']}; pairs in the same order "
          f"{row['pairs_same_order']}/{row['pairs_compared']}; interval widths "
          + ", ".join(f"{w:.1f}" for w in row["interval_widths_points"]) + " points; "
          f"search {row['search_wall_seconds']:.0f} s, confirm {row['confirm_wall_seconds']:.0f} s")


def totals(rows):
    widths = [w for row in rows for w in row["interval_widths_points"]]
    return {"searches": len(rows), "top_agrees": sum(r["top_agrees"] for r in rows),
            "hyperband_top_within_noise_or_best": sum(
                r["hyperband_top_verdict"] in ("best", confirm_stats.WITHIN_NOISE)
                for r in rows),
            "pairs_same_order": sum(r["pairs_same_order"] for r in rows),
            "pairs_compared": sum(r["pairs_compared"] for r in rows),
            "median_interval_width_points": sorted(widths)[len(widths) // 2] if widths else None,
            "min_max_interval_width_points": [min(widths), max(widths)] if widths else None}


def add_table(path, results):
    """The record's summary line and table (bench_record writes the figures only)."""
    if not path:
        return
    record = json.loads(Path(path).read_text())
    rows, said = [], []
    for data, searches in results.items():
        total = totals(searches)
        said.append(f"{Path(data.partition(':')[2]).stem or data}: top bridge agreed in "
                    f"{total['top_agrees']}/{total['searches']} searches, pairs in the same "
                    f"order {total['pairs_same_order']}/{total['pairs_compared']}, median "
                    f"95% interval {number(total['median_interval_width_points'])} points")
        for row in searches:
            widths = sorted(row["interval_widths_points"])
            rows.append([Path(data.partition(":")[2]).stem or data, row["search_seed"],
                         "/".join(str(v) for v in row["winner"].values()),
                         " > ".join(sorted(row["hyperband"], key=lambda b: -row["hyperband"][b])),
                         " > ".join(row["controlled"]), "yes" if row["top_agrees"] else "no",
                         f"{row['pairs_same_order']}/{row['pairs_compared']}",
                         ", ".join(f"{b} {v}" for b, v in row["verdicts"].items()),
                         number(widths[len(widths) // 2]) if widths else "-",
                         round(row["search_wall_seconds"]), round(row["confirm_wall_seconds"])])
    record["summary"] = "; ".join(said)
    record["table"] = {"columns": ["data", "search seed", "winner", "Hyperband order (val)",
                                   "controlled order (test)", "top agrees", "pairs same",
                                   "verdicts", "median CI width (points)", "search s",
                                   "confirm s"], "rows": rows}
    Path(path).write_text(json.dumps(record, indent=2, default=str) + "\n")


def number(value):
    return "-" if value is None else f"{value:.1f}"


def datasets(args):
    found = list(args.data)
    if args.glyphs:
        path = Path(tempfile.gettempdir()) / f"bench_confirm_glyphs28_r{args.glyph_renders}.npz"
        if not path.exists():
            subprocess.run([sys.executable, str(REPO / "scripts" / "make_glyphs.py"), "--size",
                            "28", "--renders", str(args.glyph_renders), "--out", str(path)],
                           check=True, capture_output=True)
        found.append(f"npz:{path}")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=["digits"])
    parser.add_argument("--glyphs", action="store_true")
    parser.add_argument("--glyph-renders", type=int, default=3)
    parser.add_argument("--search-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--seeds", type=int, default=5, help="confirm --seeds")
    parser.add_argument("--extra", default="", help="extra flags for bridge-search run")
    parser.add_argument("--confirm-extra", default="", help="extra flags for confirm")
    bench_record.add_option(parser, "confirm")
    args = parser.parse_args()
    results = {}
    # Seed-major: stopped early, every dataset still has its first searches.
    for seed in args.search_seeds:
        for data in datasets(args):
            with tempfile.TemporaryDirectory() as work:
                summary, runs, search_wall, confirm_wall = search_and_confirm(
                    data, seed, args.seeds, Path(work), shlex.split(args.extra),
                    shlex.split(args.confirm_extra))
            row = {**compare(summary, runs), "k": args.seeds, "search_seed": seed,
                   "search_wall_seconds": search_wall, "confirm_wall_seconds": confirm_wall}
            results.setdefault(data, []).append(row)
            print_search(data, seed, row)
            figures = {"per_dataset": results, "totals": {
                d: totals(rows) for d, rows in results.items()}}
            # After every search: a stopped run still leaves its figures.
            bench_record.write(args.record_path, "confirm",
                               "Hyperband's per-bridge ranking against the controlled one",
                               figures)
            add_table(args.record_path, results)
    for data, rows in results.items():
        print(f"\n{data}: {json.dumps(totals(rows))}")


if __name__ == "__main__":
    main()
