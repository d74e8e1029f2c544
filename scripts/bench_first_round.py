"""First-round val accuracy of the default space's trials (issue 12 item 7): none
should end near chance.

Two modes, each over seeds run one after the other; both print the minimum.

- `--search`: a real default search per seed (`python -m search run --data DATA
  --seed S`, the very command of scripts/bench_quality.py, whose code runs it);
  every trial of Hyperband's first round, read back from the search's MLflow
  store (child runs tagged hyperband_round 0, their best_val_accuracy: what the
  search scores). Also prints the exported winner's test accuracy.
- corners (default): fixed members of the space at its weakest corners, trained
  as a first-round trial: `--epochs` epochs (2: the first round of the default
  --max-epochs 4 --factor 3) with the search's cosine schedule, scored by the
  best epoch's val accuracy in inference mode (BatchNorm moving statistics).
  For data where whole searches are too slow (the 28x28 set).
- `--draws N`: like corners, but N value sets per seed drawn at random from the
  default space by the search's own oracle (its rules included, seeded by the
  seed): what a search's first round would train, without the search.

    python scripts/bench_first_round.py --search [--data npz:PATH] [--seeds 0 1 2] [--extra F]
    python scripts/bench_first_round.py [--data digits|npz:PATH] [--seeds 0 1 2]
        [--epochs 2] [--corners gap/2/2e-3 flatten/0/5e-3 ...] [--bn-momentum M]
        [--set filters=32 flatten_pool=2]
    python scripts/bench_first_round.py --draws 8 [--data npz:PATH] [--seeds 0 1 2]
"""

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path

import bench_record

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

# The weakest corner of everything but bridge/depth/rate: the narrowest stem and
# head with the most dropout. Pooled bridges at their shallowest depth and the
# lowest rate (both raise their first-round accuracy, docs/budget.md); Flatten
# at the highest rate it is drawn with (its cap: it is hurt by high rates, most
# on 28x28 inputs), shallowest and deepest.
WEAK = dict(filters=16, dense_units=32, dropout=0.5, flatten_pool=1)
CORNERS = ["gap/2/2e-3", "gmp/2/2e-3", "concat/2/2e-3", "flatten/0/3e-3", "flatten/3/3e-3"]


def corner_values(spec, others):
    bridge, depth, rate = spec.split("/")
    return dict(others, bridge=bridge, residual_blocks=int(depth), learning_rate=float(rate))


def first_round(values, data, seed, epochs, **space_options):
    """Best val accuracy (inference mode) over a first round's epochs, per epoch."""
    import keras
    import keras_tuner
    from search.kt.training import CosineEpochs
    from spaces.bridge_net import HyperBridgeNet
    keras.utils.set_random_seed(seed)
    keras.backend.clear_session()
    space = HyperBridgeNet(data.input_shape, data.num_classes, data.pixel_max, **space_options)
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    model = space.build(hp)
    history = model.fit(data.pipeline("train", 32, seed), epochs=epochs, verbose=0,
                        validation_data=data.pipeline("val", 32, seed),
                        callbacks=[CosineEpochs(values["learning_rate"])])
    return history.history["val_accuracy"]


def run_corners(args):
    from search.data import load
    data = load(args.data)
    options = {} if args.bn_momentum is None else {"bn_momentum": args.bn_momentum}
    print(f"{args.data}: {len(data.y_train)} train images, {-(-len(data.y_train) // 32)} "
          f"steps per epoch; {args.epochs} epoch(s), cosine; {options or 'space defaults'}; "
          f"{args.others}")
    print("| bridge/blocks/lr | " + " | ".join(f"seed {s} (per epoch)" for s in args.seeds)
          + " |\n|---|" + "---|" * len(args.seeds))
    scores = []
    for spec in args.corners:
        cells = []
        for seed in args.seeds:
            per_epoch = first_round(corner_values(spec, args.others), data, seed, args.epochs, **options)
            scores.append(max(per_epoch))
            cells.append(f"{max(per_epoch):.3f} ({'/'.join(f'{a:.2f}' for a in per_epoch)})")
        print(f"| {spec} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nmin over corners and seeds: {min(scores):.3f}")
    return {"min_best_val_accuracy": min(scores)}


def drawn_values(data, seed, count):
    """`count` value sets the default space's search would draw with this seed."""
    from search.core.config import SearchConfig
    from search.kt.oracle import search_oracle
    from search.kt.tuner import BridgeHyperband
    from spaces.bridge_net import HyperBridgeNet
    space = HyperBridgeNet(data.input_shape, data.num_classes, data.pixel_max)
    with tempfile.TemporaryDirectory() as work:
        oracle, _ = search_oracle(SearchConfig(max_epochs=4, factor=3, seed=seed), space)
        tuner = BridgeHyperband(oracle, space, directory=work, project_name="draws")
        return [tuner.oracle._random_values() for _ in range(count)]


def run_draws(args):
    from search.data import load
    data = load(args.data)
    print(f"{args.data}: {len(data.y_train)} train images; {args.epochs} epoch(s), cosine; "
          f"{args.draws} draws per seed\n| seed | bridge/blocks/filters/dense/dropout/pool/lr: "
          "best val acc (per epoch) | min |\n|---|---|---|")
    scores = []
    for seed in args.seeds:
        cells = []
        for values in drawn_values(data, seed, args.draws):
            per_epoch = first_round(values, data, seed, args.epochs)
            scores.append(max(per_epoch))
            v = values
            cells.append(f"{v['bridge']}/{v['residual_blocks']}/{v['filters']}/{v['dense_units']}/"
                         f"{v['dropout']}/{v.get('flatten_pool', '-')}/{v['learning_rate']:.1e}: "
                         f"{max(per_epoch):.3f} ({'/'.join(f'{a:.2f}' for a in per_epoch)})")
            print(f"  seed {seed}: {cells[-1]}", file=sys.stderr, flush=True)
        print(f"| {seed} | {'; '.join(cells)} | {min(scores[-len(cells):]):.3f} |", flush=True)
    print(f"\nmin over {len(scores)} drawn trials: {min(scores):.3f}")
    return {"min_best_val_accuracy": min(scores), "trials": len(scores)}


def first_round_trials(work, seed):
    """(hyperparameters, best_val_accuracy) of every first-round trial's run."""
    import mlflow
    from search import tracking
    client = mlflow.MlflowClient(f"sqlite:///{work}/mlflow.db")
    experiment = client.get_experiment_by_name(f"bench-quality-{seed}")
    runs = client.search_runs([experiment.experiment_id],
                              f"tags.{tracking.TAG_ROUND} = '0'")
    return [(run.data.params, run.data.metrics.get("best_val_accuracy")) for run in runs]


def run_searches(args):
    import bench_quality
    print("| seed | bridge/blocks/filters/dense/dropout/lr: first-round best val acc "
          "| min | test acc (exported) | winner |\n|---|---|---|---|---|")
    scores, tests = [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as work:
            row = bench_quality.run_bridge_search(args.data, seed, Path(work),
                                                  shlex.split(args.extra))
            trials = first_round_trials(work, seed)
        cells = [f"{p['bridge']}/{p['residual_blocks']}/{p['filters']}/{p['dense_units']}/"
                 f"{p['dropout']}/{float(p['learning_rate']):.1e}: {score:.3f}"
                 for p, score in sorted(trials, key=lambda t: t[1])]
        seed_scores = [score for _, score in trials]
        scores += seed_scores
        tests.append(row["test_accuracy"])
        print(f"| {seed} | {'; '.join(cells)} | {min(seed_scores):.3f} | "
              f"{row['test_accuracy']:.4f} | {row['winner']} |", flush=True)
    print(f"\nmin over {len(scores)} first-round trials: {min(scores):.3f}; "
          f"test accuracy min {min(tests):.4f}")
    return {"min_best_val_accuracy": min(scores), "trials": len(scores), "test_accuracy": tests}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true",
                        help="real default searches instead of fixed corners")
    parser.add_argument("--data", default=None,
                        help="default: digits for corners, ../shared digits_split.npz "
                             "(bench_quality's) for --search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--draws", type=int, default=0,
                        help="train this many value sets per seed drawn from the default space")
    parser.add_argument("--bn-momentum", type=float, default=None)
    parser.add_argument("--extra", default="", help="--search: extra flags for bridge-search run "
                                                    "(e.g. --space FILE.py:Class)")
    parser.add_argument("--corners", nargs="+", default=CORNERS,
                        help="bridge/residual_blocks/learning_rate")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help=f"other hyperparameters than the weakest corner {WEAK}")
    bench_record.add_option(parser, "first-round")
    args = parser.parse_args()
    args.others = {**WEAK, **{name: int(value) if value.isdigit() else float(value)
                              for name, value in (item.split("=") for item in args.set)}}
    if args.search:
        import bench_quality
        args.data = args.data or bench_quality.DIGITS
        figures = run_searches(args)
    else:
        args.data = args.data or "digits"
        figures = run_draws(args) if args.draws else run_corners(args)
    bench_record.write(args.record_path, "first_round", f"First-round trials on {args.data}",
                       figures)


if __name__ == "__main__":
    main()
