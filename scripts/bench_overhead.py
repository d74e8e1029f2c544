"""What does bridge-search cost on top of bare keras-tuner?

Runs the same space, data, seed and Hyperband budget through bare
`keras_tuner.Hyperband` and through `bridge-search run` (run_search, with MLflow
logging, per-trial best models and winner export), alternating them in one
process, and prints wall time of each, the median of the per-repeat ratios, and
the share spent in MLflow. Each tool runs first in half of the repeats.
`--profile FILE` also profiles bridge-search's runs (cProfile) and prints the
seconds per trial of each step of the trial loop.

    .venv/bin/python scripts/bench_overhead.py [--max-epochs 9] [--repeats 4]
"""

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import keras_tuner  # noqa: E402

import bench_record  # noqa: E402
import spaces  # noqa: E402
from search import SearchConfig  # noqa: E402
from search.data import load  # noqa: E402
from search.run import run_search  # noqa: E402


def bare_keras_tuner(args, work):
    """The baseline: keras-tuner as its README shows it, same space and data."""
    started = time.perf_counter()
    data = load("digits")
    hypermodel = spaces.load_space(args.space, data.input_shape, data.num_classes, data.pixel_max)
    keras.utils.set_random_seed(args.seed)
    tuner = keras_tuner.Hyperband(hypermodel, objective="val_accuracy",
                                  max_epochs=args.max_epochs, factor=args.factor,
                                  # as search/kt/oracle.py passes it (kt reads 0 as "none"):
                                  # the same seed draws the same trials in both
                                  seed=args.seed + 1,
                                  directory=str(work), project_name="bare", overwrite=True)
    tuner.search(data.pipeline("train", 32, args.seed),
                 validation_data=data.pipeline("val", 32, args.seed), epochs=args.max_epochs,
                 verbose=0, callbacks=[keras.callbacks.EarlyStopping(
                     monitor="val_accuracy", patience=3, mode="max")])
    search_seconds = time.perf_counter() - started
    best = tuner.get_best_models(1)[0]  # what a bare user does to get the winner
    best.save(work / "bare_best.keras")
    return {"wall": time.perf_counter() - started, "search": search_seconds,
            "trials": len(tuner.oracle.trials)}


def bridge_search(args, work):
    config = SearchConfig(space=args.space, max_epochs=args.max_epochs, factor=args.factor,
                          seed=args.seed, experiment="bench-overhead",
                          project_dir=str(work / "project"), overwrite=True,
                          tracking_uri=f"sqlite:///{work}/mlflow.db",
                          export_dir=str(work / "export"),
                          # The same training as the bare run: what is measured is
                          # the bookkeeping, not the final training on train+val
                          # or the learning-rate schedule (features with their own
                          # figures in bench_quality.py).
                          retrain="none", lr_schedule="constant")
    summary = run_search(config)
    return {"wall": summary["wall_seconds"], "search": summary["search_seconds"],
            "trials": summary["n_trials"], "mlflow": summary["mlflow_seconds"],
            "mlflow_trials": summary["mlflow_trial_seconds"],
            "mlflow_epochs": summary["mlflow_epoch_seconds"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="bridge")
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=4,
                        help="an even number (each tool runs first in half), or 1 to check "
                             "that the script works")
    parser.add_argument("--profile", metavar="FILE",
                        help="write cProfile stats of bridge-search's runs to FILE")
    bench_record.add_option(parser, "overhead")
    args = parser.parse_args()
    if args.repeats != 1 and (args.repeats < 2 or args.repeats % 2):
        parser.error(f"--repeats must be 1 or an even number >= 2, got {args.repeats}")
    profiler = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # Warm-up: TF start-up and the MLflow store migration are paid once per
        # process by either tool; keep them out of the comparison.
        bridge_search(argparse.Namespace(**{**vars(args), "max_epochs": 1}), work / "warm")
        bare, ours = [], []
        tools = [("keras-tuner", bare_keras_tuner, bare),
                 ("bridge-search", bridge_search, ours)]
        for repeat in range(args.repeats):
            # TensorFlow slows down as a process ages (bare keras-tuner leaks traced
            # graphs), so whoever runs second is penalised: alternate the order.
            for name, runner, results in (tools if repeat % 2 == 0 else tools[::-1]):
                if profiler and runner is bridge_search:
                    profiler.enable()
                result = runner(args, work / f"{name}-{repeat}")
                if profiler:
                    profiler.disable()
                results.append(result)
                print(f"{name:14s} trials {result['trials']:3d}  search {result['search']:7.1f} s"
                      f"  total {result['wall']:7.1f} s", flush=True)
    ratios = lambda key: [o[key] / b[key] for o, b in zip(ours, bare)]  # noqa: E731
    if profiler:
        print("\n(--profile: the ratios include cProfile's own cost, on bridge-search's "
              "side only; measure them without it)")
    mean = lambda rs, key: sum(r[key] for r in rs) / len(rs)  # noqa: E731
    print(f"\nratio bridge-search / keras-tuner, search loop, median of {args.repeats}: "
          f"{statistics.median(ratios('search')):.3f} "
          f"(per repeat: {', '.join(f'{r:.3f}' for r in ratios('search'))})")
    print(f"ratio bridge-search / keras-tuner, whole run incl. winner export, median: "
          f"{statistics.median(ratios('wall')):.3f}")
    print(f"MLflow share of the search loop (trial logging): "
          f"{100 * mean(ours, 'mlflow_trials') / mean(ours, 'search'):.2f} %")
    print(f"  of which per-epoch metrics (queue + drain at trial end): "
          f"{100 * mean(ours, 'mlflow_epochs') / mean(ours, 'search'):.3f} %")
    print(f"MLflow share of the whole run (incl. parent run, winner log_model, registry): "
          f"{100 * mean(ours, 'mlflow') / mean(ours, 'wall'):.2f} %")
    bench_record.write(args.record_path, "overhead", "Overhead against bare keras-tuner", {
        "search_ratio_median": statistics.median(ratios("search")),
        "search_ratio_per_repeat": ratios("search"),
        "wall_ratio_median": statistics.median(ratios("wall")),
        "mlflow_share_of_search_percent": 100 * mean(ours, "mlflow_trials") / mean(ours, "search"),
        "mlflow_share_of_run_percent": 100 * mean(ours, "mlflow") / mean(ours, "wall"),
        "keras_tuner": bare, "bridge_search": ours})
    if profiler:
        profiler.dump_stats(args.profile)
        print_trial_profile(args.profile, sum(r["trials"] for r in ours))


# The steps of one trial, from keras-tuner's loop down to our hooks (cProfile's
# cumulative seconds, so nested steps are included in their parents).
TRIAL_STEPS = [
    ("base_tuner.py", "_run_and_update_trial", "run_trial: build, fit, saves"),
    ("hypermodel.py", "fit", "model.fit"),
    ("keras_tuner/src/engine/tuner.py", "_try_build", "build (incl. clear_session, gc)"),
    ("~", "<built-in method gc.collect>", "  gc.collect"),
    ("search/kt/tuner.py", "on_trial_begin", "on_trial_begin (MLflow child run)"),
    ("search/kt/tuner.py", "on_trial_end", "on_trial_end"),
    ("search/tracking/__init__.py", "end_trial", "  MLflow end_trial"),
    ("search/kt/tuner.py", "_prune_checkpoints", "  checkpoint budget"),
    ("search/kt/tuner.py", "on_train_end", "best model .keras save"),
    ("tuner_utils.py", "_save_model", "keras-tuner weights checkpoint"),
    ("search/kt/tuner.py", "_load_predecessor", "load predecessor"),
    ("search/kt/tuner.py", "on_epoch_end", "per-epoch callbacks (ours)"),
    ("oracle.py", "get_best_trials", "oracle.get_best_trials"),
    ("search/tracking/__init__.py", "trial_runs", "MLflow search_runs"),
]


def print_trial_profile(stats_path, n_trials):
    """Seconds per trial (and calls) of each step in TRIAL_STEPS."""
    stats = pstats.Stats(stats_path).stats
    print(f"\nper-trial profile over {n_trials} trials (cProfile, cumulative):")
    for file_part, function, label in TRIAL_STEPS:
        calls = seconds = 0
        for (file_name, _, name), (_, ncalls, _, cumulative, _) in stats.items():
            if name == function and file_part in file_name:
                calls, seconds = calls + ncalls, seconds + cumulative
        print(f"  {label:36s} {seconds / n_trials:7.3f} s/trial  {calls / n_trials:5.1f} calls")


if __name__ == "__main__":
    main()
