"""Search quality: `bridge-search run` (default budget) vs plain keras-tuner on the
same space definition, per seed, side by side in one run.

For every dataset and seed it runs, each as its own process:
- bridge-search: `python -m search run --data DATA --seed S` with the defaults
  (plus --extra flags, for ablations); the test accuracy is re-measured here
  from the exported `model.keras`, so the figure is the exported model's.
- keras-tuner: bare `keras_tuner.Hyperband(max_epochs=9, factor=3)` on
  HyperBridgeNet with Keras' defaults (BatchNorm momentum 0.99, no upsampling,
  constant learning rate, no retraining); its best model scores the test split.
Neither search sees the test split. Prints test and val accuracy, wall and CPU
seconds (of that process and its children) and the winning bridge/depth/width,
then the per-bridge best val accuracy of bridge-search.

    python scripts/bench_quality.py [--data npz:/work/shared/data/digits_split.npz ...]
        [--seeds 0 1 2] [--tools bridge-search keras-tuner] [--extra "--max-epochs 6"]
        [--glyphs] [--json out.json]
`--glyphs` adds the font-letters set of scripts/make_glyphs.py (written to /tmp).
"""

import argparse
import json
import os
import resource
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

DIGITS = f"npz:{REPO.parent / 'shared' / 'data' / 'digits_split.npz'}"  # ../shared beside the repo
GLYPHS_PATH = Path(tempfile.gettempdir()) / "bridge_search_glyphs_split.npz"


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command, env=None):
    """Run a process; its wall and CPU seconds (user + system, children included)."""
    cpu, started = children_cpu_seconds(), time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    wall, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({result.returncode}):\n"
                         f"{result.stderr[-3000:]}")
    return wall, cpu, result


def exported_test_accuracy(export_dir, data):
    """Score the exported model.keras on the test split, as a user would."""
    import keras
    from search.data import load
    image_data = load(data)
    model = keras.models.load_model(Path(export_dir) / "model.keras")
    _, accuracy = model.evaluate(image_data.pipeline("test", 64, 0), verbose=0)
    keras.backend.clear_session()
    return accuracy


def run_bridge_search(data, seed, work, extra):
    summary_path = work / f"bridge-search-{seed}.json"
    command = [sys.executable, "-m", "search", "run", "--data", data, "--seed", str(seed),
               "--experiment", f"bench-quality-{seed}", "--project-dir", str(work / "projects"),
               "--tracking-uri", f"sqlite:///{work}/mlflow.db",
               "--export-dir", str(work / f"export-{seed}"),
               "--summary-json", str(summary_path), "--overwrite", *extra]
    wall, cpu, _ = timed(command)
    summary = json.loads(summary_path.read_text())
    exported = exported_test_accuracy(summary["export_dir"], data)
    hps = summary["best_hyperparameters"]
    return {"tool": "bridge-search", "seed": seed, "test_accuracy": exported,
            "reported_test_accuracy": summary["test_accuracy"],
            "search_model_test_accuracy": summary.get("search_model_test_accuracy"),
            "val_accuracy": summary["best_val_accuracy"], "wall_seconds": wall,
            "cpu_seconds": cpu, "tool_wall_seconds": summary["wall_seconds"],
            "n_trials": summary["n_trials"], "winner": winner(hps),
            "best_per_bridge": {bridge: best["val_accuracy"]
                                for bridge, best in summary["best_per_bridge"].items()}}


def run_keras_tuner(data, seed, work):
    out = work / f"keras-tuner-{seed}.json"
    wall, cpu, _ = timed([sys.executable, __file__, "--plain-keras-tuner", data, str(seed),
                          str(out)])
    return {**json.loads(out.read_text()), "wall_seconds": wall, "cpu_seconds": cpu}


def plain_keras_tuner(data, seed, out):
    """Bare keras-tuner Hyperband on the same space with Keras' defaults."""
    import keras
    import keras_tuner
    from search.data import load
    from spaces.bridge_net import HyperBridgeNet
    image_data = load(data)
    hypermodel = HyperBridgeNet(image_data.input_shape, image_data.num_classes,
                                image_data.pixel_max, bn_momentum=0.99, min_size=0,
                                shift_pixels=0)
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        tuner = keras_tuner.Hyperband(hypermodel, objective="val_accuracy", max_epochs=9,
                                      factor=3, seed=seed, directory=directory,
                                      project_name="plain", overwrite=True)
        tuner.search(image_data.pipeline("train", 32, seed), epochs=9, verbose=0,
                     validation_data=image_data.pipeline("val", 32, seed))
        best_trial = tuner.oracle.get_best_trials(1)[0]
        model = tuner.get_best_models(1)[0]
        _, test = model.evaluate(image_data.pipeline("test", 32, seed), verbose=0)
        n_trials = len(tuner.oracle.trials)
    Path(out).write_text(json.dumps({
        "tool": "keras-tuner", "seed": seed, "test_accuracy": test,
        "val_accuracy": best_trial.score, "n_trials": n_trials,
        "winner": winner(best_trial.hyperparameters.values)}))


def winner(hps):
    return f"{hps.get('bridge')}/{hps.get('residual_blocks')}/{hps.get('dense_units')}"


def print_table(data, rows):
    print(f"\n### {data}\n")
    print("| tool | seed | test acc | val acc | wall s | CPU s | trials | bridge/depth/width |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['tool']} | {row['seed']} | {row['test_accuracy']:.4f} | "
              f"{row['val_accuracy']:.4f} | {row['wall_seconds']:.1f} | "
              f"{row['cpu_seconds']:.1f} | {row['n_trials']} | {row['winner']} |")
    for tool in dict.fromkeys(row["tool"] for row in rows):
        tests = [row["test_accuracy"] for row in rows if row["tool"] == tool]
        walls = [row["wall_seconds"] for row in rows if row["tool"] == tool]
        print(f"\n{tool}: test min {min(tests):.4f} mean {sum(tests) / len(tests):.4f} "
              f"spread {max(tests) - min(tests):.4f}; wall max {max(walls):.1f} s")
    searched = [row for row in rows if row["tool"] == "bridge-search"]
    if searched:
        print("\nbridge-search, best val accuracy per bridge (seed: bridge value ...), and "
              "the search's own best model on test before the final training:")
        for row in searched:
            per_bridge = " ".join(f"{b} {v:.4f}" for b, v in row["best_per_bridge"].items())
            print(f"  seed {row['seed']}: {per_bridge}; before retraining test "
                  f"{row['search_model_test_accuracy']}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--plain-keras-tuner":
        return plain_keras_tuner(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=[DIGITS])
    parser.add_argument("--glyphs", action="store_true",
                        help="also run on the font-letters set (scripts/make_glyphs.py)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--tools", nargs="+", default=["bridge-search", "keras-tuner"],
                        choices=["bridge-search", "keras-tuner"])
    parser.add_argument("--extra", default="", help="extra flags for bridge-search run")
    bench_record.add_option(parser, "quality")
    args = parser.parse_args()
    datasets = list(args.data)
    if args.glyphs:
        subprocess.run([sys.executable, str(REPO / "scripts" / "make_glyphs.py"),
                        "--out", str(GLYPHS_PATH)], check=True, capture_output=True)
        datasets.append(f"npz:{GLYPHS_PATH}")
    results = {}
    for data in datasets:
        rows = []
        for seed in args.seeds:
            for tool in args.tools:
                with tempfile.TemporaryDirectory() as work:
                    row = (run_bridge_search(data, seed, Path(work), shlex.split(args.extra))
                           if tool == "bridge-search" else run_keras_tuner(data, seed, Path(work)))
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        results[data] = rows
        print_table(data, rows)
    bench_record.write(args.record_path, "quality", "Search quality against bare keras-tuner",
                       {"rows_per_dataset": results})


if __name__ == "__main__":
    main()
