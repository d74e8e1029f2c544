"""Hyperband vs RandomSearch at the same epoch budget, and 1 vs 2 workers.

Part 1 runs bare keras-tuner Hyperband and RandomSearch on the default bridge
space and digits for several seeds; RandomSearch gets as many full-length trials
as fit in the epochs Hyperband plans. Prints best val_accuracy and epochs used.
Part 2 runs `bridge-search launch` with 1 and then 2 workers on the same search and
prints the wall times and their ratio (this machine: 2 CPU cores, no GPU).

    .venv/bin/python scripts/bench_hyperband.py [--seeds 0 1 2] [--max-epochs 9]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402
import keras_tuner  # noqa: E402

import bench_record  # noqa: E402
import spaces  # noqa: E402
from search.data import load  # noqa: E402
from search.plan.hyperband import hyperband_plan  # noqa: E402


class EpochCounter(keras.callbacks.Callback):
    """Counts epochs trained across all trials (deep-copied per trial, so the
    count lives in a shared list)."""

    def __init__(self, counts):
        super().__init__()
        self.counts = counts

    def on_epoch_end(self, epoch, logs=None):
        self.counts.append(1)

    def __deepcopy__(self, memo):
        return EpochCounter(self.counts)


def search(kind, seed, max_epochs, factor, budget, work):
    data = load("digits")
    hypermodel = spaces.load_space("bridge", data.input_shape, data.num_classes, data.pixel_max)
    keras.utils.set_random_seed(seed)
    common = dict(objective="val_accuracy", seed=seed, directory=str(work),
                  project_name=f"{kind}-{seed}", overwrite=True)
    if kind == "hyperband":
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=max_epochs, factor=factor, **common)
    else:
        tuner = keras_tuner.RandomSearch(hypermodel, max_trials=budget // max_epochs, **common)
    counts = []
    started = time.perf_counter()
    tuner.search(data.pipeline("train", 32, seed), validation_data=data.pipeline("val", 32, seed),
                 epochs=max_epochs, verbose=0,
                 callbacks=[EpochCounter(counts), keras.callbacks.EarlyStopping(
                     monitor="val_accuracy", patience=3, mode="max")])
    best = tuner.oracle.get_best_trials(1)[0]
    return best.score, len(counts), len(tuner.oracle.trials), time.perf_counter() - started


def launch_wall_seconds(workers, args, work):
    command = [sys.executable, "-m", "search", "launch", "--workers", str(workers),
               "--max-epochs", str(args.max_epochs), "--factor", str(args.factor),
               "--experiment", f"bench-workers-{workers}", "--project-dir", str(work / "p"),
               "--tracking-uri", f"sqlite:///{work}/mlflow.db",
               "--export-dir", str(work / f"export-{workers}"), "--overwrite"]
    started = time.perf_counter()
    subprocess.run(command, cwd=work, check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--skip-workers", action="store_true")
    bench_record.add_option(parser, "hyperband")
    args = parser.parse_args()
    budget = hyperband_plan(args.max_epochs, args.factor).total_epochs
    print(f"epoch budget {budget} (Hyperband max_epochs={args.max_epochs}, "
          f"factor={args.factor}); RandomSearch: {budget // args.max_epochs} trials x "
          f"{args.max_epochs} epochs")
    print(f"{'seed':>4} {'tuner':>11} {'best val_acc':>12} {'epochs':>7} {'trials':>7} {'wall s':>7}")
    figures = {"epoch_budget": budget, "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for seed in args.seeds:
            for kind in ("hyperband", "random"):
                score, epochs, trials, wall = search(kind, seed, args.max_epochs, args.factor,
                                                     budget, work)
                print(f"{seed:>4} {kind:>11} {score:>12.4f} {epochs:>7} {trials:>7} {wall:>7.1f}",
                      flush=True)
                figures["runs"].append({"seed": seed, "tuner": kind, "best_val_accuracy": score,
                                        "epochs": epochs, "trials": trials, "wall_s": wall})
        if not args.skip_workers:
            one = launch_wall_seconds(1, args, work)
            two = launch_wall_seconds(2, args, work)
            print(f"\nlaunch --workers 1: {one:.1f} s, --workers 2: {two:.1f} s, "
                  f"ratio 2/1 = {two / one:.2f} (2 CPU cores shared by both workers)")
            figures["launch_wall_s"] = {"1": one, "2": two}
    bench_record.write(args.record_path, "hyperband", "Hyperband against RandomSearch", figures)


if __name__ == "__main__":
    main()
