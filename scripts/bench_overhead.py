"""What does bridge-search cost on top of bare keras-tuner?

Runs the same space, data, seed and Hyperband budget through bare
`keras_tuner.Hyperband` and through `bridge-search run` (run_search, with MLflow
logging, per-trial best models and winner export), alternating them in one
process, and prints wall time of each, their ratio, and the share spent in MLflow.

    .venv/bin/python scripts/bench_overhead.py [--max-epochs 9] [--repeats 2]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import keras_tuner  # noqa: E402

import spaces  # noqa: E402
from search import SearchConfig  # noqa: E402
from search.data import load  # noqa: E402
from search.runner import run_search  # noqa: E402


def bare_keras_tuner(args, work):
    """The baseline: keras-tuner as its README shows it, same space and data."""
    started = time.perf_counter()
    data = load("digits")
    hypermodel = spaces.load_space(args.space, data.input_shape, data.num_classes, data.pixel_max)
    keras.utils.set_random_seed(args.seed)
    tuner = keras_tuner.Hyperband(hypermodel, objective="val_accuracy",
                                  max_epochs=args.max_epochs, factor=args.factor, seed=args.seed,
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
    summary = run_search(config, say=lambda _: None)
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
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # Warm-up: TF start-up and the MLflow store migration are paid once per
        # process by either tool; keep them out of the comparison.
        bridge_search(argparse.Namespace(**{**vars(args), "max_epochs": 1}), work / "warm")
        rows = []
        tools = [("keras-tuner", bare_keras_tuner), ("bridge-search", bridge_search)]
        for repeat in range(args.repeats):
            # TensorFlow slows down as a process ages (bare keras-tuner leaks traced
            # graphs), so whoever runs second is penalised: alternate the order.
            for name, runner in (tools if repeat % 2 == 0 else tools[::-1]):
                result = runner(args, work / f"{name}-{repeat}")
                rows.append((name, result))
                print(f"{name:14s} trials {result['trials']:3d}  search {result['search']:7.1f} s"
                      f"  total {result['wall']:7.1f} s", flush=True)
    bare = [r for n, r in rows if n == "keras-tuner"]
    ours = [r for n, r in rows if n == "bridge-search"]
    mean = lambda rs, key: sum(r[key] for r in rs) / len(rs)  # noqa: E731
    print(f"\nratio bridge-search / keras-tuner, search loop: "
          f"{mean(ours, 'search') / mean(bare, 'search'):.3f}")
    print(f"ratio bridge-search / keras-tuner, whole run incl. winner export: "
          f"{mean(ours, 'wall') / mean(bare, 'wall'):.3f}")
    print(f"MLflow share of the search loop (trial logging): "
          f"{100 * mean(ours, 'mlflow_trials') / mean(ours, 'search'):.2f} %")
    print(f"  of which per-epoch metrics (queue + drain at trial end): "
          f"{100 * mean(ours, 'mlflow_epochs') / mean(ours, 'search'):.3f} %")
    print(f"MLflow share of the whole run (incl. parent run, winner log_model, registry): "
          f"{100 * mean(ours, 'mlflow') / mean(ours, 'wall'):.2f} %")


if __name__ == "__main__":
    main()
