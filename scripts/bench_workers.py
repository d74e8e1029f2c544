"""Trials per minute with 1, 2, 4 and 8 workers on one chief, and the chief's
own time per oracle request: how many workers one chief can serve.

Runs `bridge-search launch --workers N` on the same tiny search for each N (fresh
project and sqlite store each time; launch serves the store through one MLflow
server), reads the summary and the chief's oracle_timings.json
(search/distributed/chief_oracle.py times every request the oracle serves), and
prints one row per N and the chief's ceiling:

    workers one chief serves ~= trial seconds / (requests per trial x seconds per request)

On a machine whose CPU the workers share, trials per minute stop growing once
the cores are busy; that is the CPU, not the chief: the oracle's busy share of
the wall time says which.

    .venv/bin/python scripts/bench_workers.py [--workers 1 2 4 8] [--hyperband-iterations 4]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_record

REPO = Path(__file__).resolve().parents[1]


def run_launch(workers, args, work):
    summary, project = work / "summary.json", work / "project"
    command = [sys.executable, "-m", "search", "launch", "--workers", str(workers),
               "--space", "bridge-small", "--max-epochs", str(args.max_epochs),
               "--factor", str(args.factor),
               "--hyperband-iterations", str(args.hyperband_iterations),
               "--retrain", "none", "--experiment", "bench-workers",
               "--project-dir", str(project),
               "--tracking-uri", f"sqlite:///{work}/mlflow.db",
               "--export-dir", str(work / "export"), "--summary-json", str(summary)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"launch --workers {workers} failed:\n{result.stderr[-3000:]}")
    timings = json.loads((project / "bench-workers" / "oracle_timings.json").read_text())
    return json.loads(summary.read_text()), timings, wall


def row(workers, summary, timings, wall):
    trials, search = summary["n_trials"], summary["search_seconds"]
    useful = timings["requests"] - timings["idle_answers"]
    return {"workers": workers, "trials": trials, "wall_s": wall, "search_s": search,
            "trials_per_min": 60 * trials / search,
            "trial_s": workers * search / trials,  # a worker's seconds per trial, waits included
            "requests": timings["requests"], "idle_answers": timings["idle_answers"],
            "requests_per_trial": useful / trials,
            "oracle_ms": timings["mean_ms"],
            "oracle_busy_pct": 100 * timings["seconds"] / search}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--max-epochs", type=int, default=2)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--hyperband-iterations", type=int, default=4)
    bench_record.add_option(parser, "workers")
    args = parser.parse_args()
    rows = []
    print(f"{'workers':>7} {'trials':>6} {'search s':>8} {'trials/min':>10} {'s/trial':>7} "
          f"{'requests':>8} {'idle':>5} {'req/trial':>9} {'oracle ms':>9} {'oracle busy':>11}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as work:
            r = row(workers, *run_launch(workers, args, Path(work)))
        rows.append(r)
        print(f"{r['workers']:>7} {r['trials']:>6} {r['search_s']:>8.1f} "
              f"{r['trials_per_min']:>10.1f} {r['trial_s']:>7.1f} {r['requests']:>8} "
              f"{r['idle_answers']:>5} {r['requests_per_trial']:>9.1f} {r['oracle_ms']:>9.2f} "
              f"{r['oracle_busy_pct']:>10.2f}%", flush=True)
    oracle_ms = max(r["oracle_ms"] for r in rows)
    per_trial = max(r["requests_per_trial"] for r in rows)
    print(f"\nChief ceiling: {1000 / oracle_ms:.0f} oracle requests/s at the slowest mean "
          f"({oracle_ms:.2f} ms), {per_trial:.1f} requests per trial (IDLE answers aside).")
    for trial_seconds in (min(r["trial_s"] for r in rows), 60, 600):
        print(f"  trials of {trial_seconds:.0f} s: one chief serves ~"
              f"{trial_seconds * 1000 / (per_trial * oracle_ms):,.0f} workers "
              f"before the oracle is busy all the time")
    print("(CPU shared with other processes on this machine: compare ratios, not seconds.)")
    bench_record.write(args.record_path, "workers", "Chief and workers", {"rows": rows})


if __name__ == "__main__":
    main()
