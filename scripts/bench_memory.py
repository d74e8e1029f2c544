"""Does memory stay flat over a long search?

Runs one search of many small trials (bridge-small on digits, Hyperband
max_epochs 3, factor 3: 6 trials of 1-3 epochs per iteration; 11 iterations =
66 trials) in this process and prints, per trial, the resident memory (RSS)
measured at the trial's end, its peak RSS and seconds per epoch, all read back
from the metrics each child run logged in MLflow, then the ratio of RSS after the
last trial to RSS after the fifth. Flat means the ratio is within 1.2.

`--no-release` skips the per-trial release of TensorFlow's gradient registry
entries (search/kt/resources.py GraphJanitor) to show the leak it fixes.

    nice -n 10 .venv/bin/python scripts/bench_memory.py [--iterations 11] [--no-release]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlflow.tracking import MlflowClient  # noqa: E402

from search import SearchConfig  # noqa: E402
from search.kt import resources  # noqa: E402
from search.run import run_search  # noqa: E402

import bench_record  # noqa: E402

LIMIT = 1.2


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=11, help="Hyperband iterations")
    parser.add_argument("--space", default="bridge-small")
    parser.add_argument("--no-release", action="store_true",
                        help="do not release TF's per-trial gradient registry entries")
    bench_record.add_option(parser, "memory")
    return parser.parse_args()


def trial_rows(client, summary):
    runs = client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'",
        max_results=10000)
    return sorted(((r.data.tags["trial_id"], r.data.metrics) for r in runs))


def main():
    args = parse_args()
    if args.no_release:
        resources.GraphJanitor.release = lambda self: 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = SearchConfig(space=args.space, max_epochs=3, factor=3,
                              hyperband_iterations=args.iterations, experiment="bench-memory",
                              project_dir=str(work / "project"),
                              tracking_uri=f"sqlite:///{work}/mlflow.db",
                              export_dir=str(work / "export"), log_models="none")
        started = time.perf_counter()
        summary = run_search(config)
        rows = trial_rows(MlflowClient(config.tracking_uri), summary)
    print(f"{'trial':>5} {'rss_mb':>8} {'peak_rss_mb':>11} {'s/epoch':>8}")
    for trial_id, metrics in rows:
        print(f"{trial_id:>5} {metrics['rss_mb']:8.1f} {metrics['peak_rss_mb']:11.1f} "
              f"{metrics['seconds_per_epoch']:8.2f}")
    fifth, last = rows[4][1]["rss_mb"], rows[-1][1]["rss_mb"]
    ratio = last / fifth
    print(f"{len(rows)} trials in {time.perf_counter() - started:.0f} s "
          f"(release {'off' if args.no_release else 'on'}): RSS after trial 5 {fifth:.1f} MB, "
          f"after trial {len(rows)} {last:.1f} MB, ratio {ratio:.3f} "
          f"({'within' if ratio <= LIMIT else 'OVER'} the {LIMIT} limit); "
          f"peak RSS of the last trial {rows[-1][1]['peak_rss_mb']:.1f} MB")
    bench_record.write(args.record_path, "memory", "Memory over a long search", {
        "trials": len(rows), "release": not args.no_release, "rss_mb_after_trial_5": fifth,
        "rss_mb_after_last_trial": last, "rss_ratio": ratio})
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
