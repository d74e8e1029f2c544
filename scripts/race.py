"""The race (issue 26 item 4): the same space, data and wall-clock limit for
bridge-search (random and BOHB-style proposals), bare keras-tuner Hyperband and
Optuna's TPE with its Hyperband pruner; who reaches which val accuracy when.

Each contender runs in a fresh process of its own, one after another (the order
turns with the seed, so none always runs on a warmer or cooler machine), with
the clock started once its imports and data are loaded. A contender stops
starting trials at the limit and a trial still training then stops at its next
epoch; results after the limit do not count. Per contender and seed the record
keeps every finished trial's (seconds, val accuracy) and the test accuracy of
its best model at the end. bridge-search runs as users run it: `run
--time-budget LIMIT --sampler S`, whose plan leaves room for its final steps
(export, registry) inside the limit, with --retrain none so that its test
accuracy is its best trial's model, as for the others.

Printed per data set: each contender's best val and test accuracy at the limit,
and the time it took to reach bare keras-tuner's final best val accuracy, as a
ratio of keras-tuner's own time to it (< 1: faster; '-': never reached).

    python scripts/race.py --data digits --seeds 0 1 2 --limit 180
        [--contenders bridge-random bridge-bohb keras-tuner optuna]
        [--plot docs/race_digits.png] [--json docs/benchmarks/race-digits.json]

Needs `pip install -e .[race]` (Optuna). Ray Tune's BOHB is not a contender yet.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_EPOCHS, FACTOR = 4, 3  # bridge-search's defaults, for every contender
CONTENDERS = ("bridge-random", "bridge-bohb", "keras-tuner", "optuna")


# ----- one contender, in its own process ----------------------------------------------
def load_problem(spec):
    import spaces
    from search.data import load
    data = load(spec)
    hypermodel = spaces.load_space("bridge", data.input_shape, data.num_classes,
                                   data.pixel_max)
    return data, hypermodel


class Clock:
    def __init__(self, limit):
        self.started, self.limit = time.monotonic(), limit

    def now(self):
        return time.monotonic() - self.started

    def over(self):
        return self.now() >= self.limit


def stop_at_limit(clock):
    import keras

    class StopAtLimit(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if clock.over():
                self.model.stop_training = True
    return StopAtLimit()


def keras_tuner_contender(spec, seed, limit, work):
    """keras-tuner's Hyperband as its README shows it, stopped at the limit."""
    import keras_tuner
    data, hypermodel = load_problem(spec)
    trials = []

    class Recording(keras_tuner.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            score = self.oracle.trials[trial.trial_id].score  # the oracle's copy is scored
            if score is not None and not clock.over():
                trials.append((clock.now(), float(score)))

    tuner = Recording(hypermodel, objective="val_accuracy", max_epochs=MAX_EPOCHS,
                      factor=FACTOR, hyperband_iterations=1000, seed=seed + 1,
                      directory=str(work), project_name="kt", overwrite=True)
    create_trial = tuner.oracle.create_trial

    def create_or_stop(tuner_id):  # keras-tuner has no time limit of its own
        trial = create_trial(tuner_id)
        if clock.over():
            trial.status = keras_tuner.engine.trial.TrialStatus.STOPPED
        return trial
    tuner.oracle.create_trial = create_or_stop
    clock = Clock(limit)
    tuner.search(data.pipeline("train", 32, seed), validation_data=data.pipeline("val", 32, seed),
                 epochs=MAX_EPOCHS, verbose=0, callbacks=[stop_at_limit(clock)])
    best = tuner.get_best_models(1)[0]
    return trials, test_accuracy(best, data, seed)


def test_accuracy(model, data, seed):
    split = "test" if len(getattr(data, "y_test", ())) else "val"
    return float(model.evaluate(data.pipeline(split, 256, seed), verbose=0)[1])


def suggesting_hyperparameters(trial):
    """keras-tuner HyperParameters whose every value comes from an Optuna trial
    (define-by-run: a conditional value is asked only when its branch is taken)."""
    import keras_tuner

    class Suggesting(keras_tuner.HyperParameters):
        def _retrieve(self, hp):
            value = super()._retrieve(hp)
            if value is None or hp.name in asked:
                return value
            asked.add(hp.name)
            self.values[hp.name] = suggest(trial, hp)
            return self.values[hp.name]
    asked = set()
    return Suggesting()


def suggest(trial, hp):
    config = hp.get_config()
    kind = type(hp).__name__
    if kind == "Choice":
        return trial.suggest_categorical(hp.name, list(config["values"]))
    if kind == "Boolean":
        return trial.suggest_categorical(hp.name, [False, True])
    if kind == "Fixed":
        return config["value"]
    log = config.get("sampling") == "log"
    if kind == "Int":
        return trial.suggest_int(hp.name, config["min_value"], config["max_value"],
                                 step=config.get("step") or 1, log=log)
    return trial.suggest_float(hp.name, config["min_value"], config["max_value"],
                               step=None if log else config.get("step"), log=log)


def optuna_contender(spec, seed, limit, work):
    """Optuna's TPE sampler with its Hyperband pruner over epochs."""
    import keras
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data, hypermodel = load_problem(spec)
    train, val = data.pipeline("train", 32, seed), data.pipeline("val", 32, seed)
    trials, best = [], {"score": -1.0, "weights": None, "hps": None}

    def objective(trial):
        keras.utils.set_random_seed(seed * 1000 + trial.number)
        hps = suggesting_hyperparameters(trial)
        model = hypermodel.build(hps)
        scores = []
        for epoch in range(MAX_EPOCHS):
            history = model.fit(train, validation_data=val, epochs=epoch + 1,
                                initial_epoch=epoch, verbose=0)
            scores.append(history.history["val_accuracy"][-1])
            if max(scores) > best["score"]:  # the best epoch's weights, as keras-tuner keeps
                best.update(score=max(scores), weights=model.get_weights(), hps=hps)
            trial.report(scores[-1], epoch)
            if clock.over() or trial.should_prune():
                break
        if not clock.over():
            trials.append((clock.now(), max(scores)))
        keras.backend.clear_session()
        return max(scores)

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.HyperbandPruner(
                                    min_resource=1, max_resource=MAX_EPOCHS,
                                    reduction_factor=FACTOR))
    clock = Clock(limit)
    study.optimize(objective, timeout=limit)
    model = hypermodel.build(best["hps"])
    model.set_weights(best["weights"])
    return trials, test_accuracy(model, data, seed)


def bridge_search_contender(sampler):
    def contender(spec, seed, limit, work):
        """`bridge-search run --time-budget LIMIT --sampler S`: trials read back from
        MLflow (each trial run's end and its best val accuracy)."""
        import mlflow
        from search import SearchConfig
        from search.run import run_search
        uri = f"sqlite:///{work}/mlflow.db"
        mlflow.MlflowClient(uri).search_experiments()  # the store's migrations: not raced
        config = SearchConfig(data=spec, seed=seed, sampler=sampler, time_budget=f"{limit}s",
                              retrain="none", experiment="race", tracking_uri=uri,
                              project_dir=str(work / "projects"),
                              export_dir=str(work / "export"))
        began = time.time()
        summary = run_search(config)
        client = mlflow.MlflowClient(uri)
        runs = client.search_runs([summary["experiment_id"]], filter_string=(
            f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'"))
        trials = sorted((run.info.end_time / 1000 - began,
                         run.data.metrics["best_val_accuracy"]) for run in runs
                        if run.info.end_time and "best_val_accuracy" in run.data.metrics)
        return [t for t in trials if t[0] <= limit], summary.get("test_accuracy")
    return contender


def run_one(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(ROOT))
    contender = {"bridge-random": bridge_search_contender("random"),
                 "bridge-bohb": bridge_search_contender("bohb"),
                 "keras-tuner": keras_tuner_contender,
                 "optuna": optuna_contender}[args.one]
    with tempfile.TemporaryDirectory() as work:
        trials, test = contender(args.data[0], args.seeds[0], args.limit, Path(work))
    Path(args.out).write_text(json.dumps({"trials": trials, "test_accuracy": test}))


# ----- the race: every contender per seed, then the figures ---------------------------
def race_one(name, spec, seed, limit, work):
    out = work / f"{name}-{seed}.json"
    command = [sys.executable, __file__, "--one", name, "--data", spec, "--seeds", str(seed),
               "--limit", str(limit), "--out", str(out)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(out.read_text()), "process_seconds": time.monotonic() - started}


def best_curve(trials):
    """(seconds, best val so far) at each improvement."""
    curve, best = [], -1.0
    for seconds, score in sorted(trials):
        if score > best:
            best = score
            curve.append((seconds, score))
    return curve


def time_to(curve, target):
    return next((seconds for seconds, score in curve if score >= target - 1e-9), None)


def compare(results):
    """Per seed: each contender's final best val, test, and the time to reach
    keras-tuner's final best val as a ratio of keras-tuner's own time to it."""
    rows = []
    for seed, by_name in results.items():
        reference = best_curve(by_name["keras-tuner"]["trials"]) if "keras-tuner" in by_name \
            else []
        target = reference[-1][1] if reference else None
        kt_time = time_to(reference, target) if reference else None
        for name, result in by_name.items():
            curve = best_curve(result["trials"])
            reached = time_to(curve, target) if target is not None else None
            rows.append({"seed": seed, "contender": name, "trials": len(result["trials"]),
                         "best_val": curve[-1][1] if curve else None,
                         "test": result["test_accuracy"],
                         "time_to_kt_final": reached,
                         "ratio": reached / kt_time if reached is not None and kt_time else None})
    return rows


def print_rows(spec, limit, rows):
    print(f"\n{spec}, {limit} s a run: best val and test at the limit; seconds to reach "
          f"keras-tuner's final best val, and that time over keras-tuner's own")
    print(f"{'seed':>4} {'contender':>14} {'trials':>6} {'best val':>8} {'test':>7} "
          f"{'to kt final':>11} {'ratio':>6}")
    for row in rows:
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(f"{row['seed']:>4} {row['contender']:>14} {row['trials']:>6} "
              f"{fmt(row['best_val'], '.4f'):>8} {fmt(row['test'], '.4f'):>7} "
              f"{fmt(row['time_to_kt_final'], '.0f'):>11} {fmt(row['ratio'], '.2f'):>6}")


def plot(spec, limit, results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4))
    colours = dict(zip(CONTENDERS, ("tab:blue", "tab:green", "tab:orange", "tab:red")))
    for seed, by_name in results.items():
        for name, result in by_name.items():
            curve = best_curve(result["trials"])
            if curve:
                xs, ys = zip(*curve)
                axes.step([*xs, limit], [*ys, ys[-1]], where="post", color=colours[name],
                          alpha=0.8, label=name if seed == next(iter(results)) else None)
    axes.set(xlabel="seconds", ylabel="best val accuracy so far", xlim=(0, limit),
             title=f"{spec}: best val accuracy against wall time ({len(results)} seed(s))")
    low = min((s for r in results.values() for v in r.values() for _, s in
               best_curve(v["trials"])[:1]), default=0)
    axes.set_ylim(max(0.0, low - 0.02), 1.0)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["digits"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--limit", type=int, default=180, help="seconds a run")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=CONTENDERS)
    parser.add_argument("--plot", help="PNG of best val against time (one data set)")
    parser.add_argument("--one", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_record
    bench_record.add_option(parser, "race")
    args = parser.parse_args()
    if args.one:
        return run_one(args)
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for spec in args.data:
            results = {}
            for index, seed in enumerate(args.seeds):
                turn = index % len(args.contenders)
                order = args.contenders[turn:] + args.contenders[:turn]
                results[seed] = {}
                for name in order:
                    results[seed][name] = race_one(name, spec, seed, args.limit, Path(folder))
                    print(f"{spec} seed {seed} {name}: {len(results[seed][name]['trials'])} "
                          f"trials, test {results[seed][name]['test_accuracy']}", flush=True)
            rows = compare(results)
            print_rows(spec, args.limit, rows)
            if args.plot:  # one file a data set: NAME_<set>.png when there are several
                stem = Path(spec.partition(":")[2] or spec).stem
                plot(spec, args.limit, results, args.plot if len(args.data) == 1
                     else args.plot.replace(".png", f"_{stem}.png"))
            figures[spec] = {"limit_seconds": args.limit, "rows": rows, "runs": results}
    bench_record.write(args.record_path, "race", "The race: bridge-search against bare "
                       "keras-tuner and Optuna", figures)


if __name__ == "__main__":
    main()
