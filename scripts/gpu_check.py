"""The GPU check behind scripts/gpu_check.sh (run that): three tiny searches on
the bundled digits data, each as the CLI in its own process, then what the MLflow
store says about them:

1. `run --mixed-precision --jit-compile` on the GPU(s);
2. the same search with CUDA_VISIBLE_DEVICES="" (the CPU), for the epoch time;
3. `launch --workers N`, one worker per GPU.

Prints each trial's device and seconds per epoch, memory growth, XLA and the
precision policy; exits 1 with "gpu_check: FAIL: ..." lines when TensorFlow sees no
GPU or when a trial of 1. or 3. ran on the CPU."""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = ["--space", "bridge-small", "--max-epochs", "3", "--factor", "3", "--retrain", "none"]


def fail(message):
    print(f"gpu_check: FAIL: {message}", file=sys.stderr, flush=True)
    return 1


def tensorflow_gpus():
    """The GPUs TensorFlow sees, with memory growth set as search/kt/device.py sets it."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    growth = {gpu.name: tf.config.experimental.get_memory_growth(gpu) for gpu in gpus}
    return gpus, growth, tf.test.is_built_with_cuda(), tf.__version__


def cli(args, env=None):
    """`python -m search ARGS` from this checkout, its output passed through."""
    print(f"gpu_check: bridge-search {' '.join(args)}", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "search", *args], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
    return done.returncode


def trials(uri, experiment):
    """[(run name, device tag, seconds per epoch, gpu peak MB)] of an experiment's trials,
    and its search's (device, precision_policy, jit_compile) params."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1000) if found else []
    parent = next((r for r in runs if r.data.tags.get("bridge_search.role") == "search"), None)
    params = parent.data.params if parent else {}
    rows = [(r.info.run_name, r.data.tags.get("device", ""),
             r.data.metrics.get("seconds_per_epoch"), r.data.metrics.get("gpu_peak_mb"))
            for r in runs if r.data.tags.get("bridge_search.role") == "trial"]
    return sorted(rows), {k: params.get(k) for k in ("device", "precision_policy",
                                                       "jit_compile")}


def on_cpu(rows):
    """The trials whose weights were not placed on a GPU."""
    return [row for row in rows if "GPU" not in (row[1] or "").upper()]


def mean_epoch(rows):
    seconds = [row[2] for row in rows if row[2] is not None]
    return sum(seconds) / len(seconds) if seconds else float("nan")


def show(title, rows, params):
    print(f"\n{title}: {params}")
    for name, device, seconds, peak in rows:
        print(f"  {name:28} {device or '?':45} {seconds or 0:7.3f} s/epoch  "
              f"gpu peak {peak or 0:8.1f} MB")
    print(f"  mean {mean_epoch(rows):.3f} s/epoch over {len(rows)} trials")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1, help="GPUs nvidia-smi listed")
    parser.add_argument("--work", default=None, help="folder for the stores (default: a new "
                                                     "temporary one)")
    args = parser.parse_args(argv)
    gpus, growth, cuda, version = tensorflow_gpus()
    print(f"gpu_check: TensorFlow {version}, built with CUDA: {cuda}, GPUs: "
          f"{[gpu.name for gpu in gpus]}, memory growth: {growth}", flush=True)
    if not gpus:
        return fail(f"TensorFlow sees no GPU though nvidia-smi lists {args.gpus}: the CPU "
                    f"build is installed (built with CUDA: {cuda})? scripts/bootstrap.sh "
                    f"installs the CUDA build where nvidia-smi works.")
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu_check-"))
    uri = f"sqlite:///{work}/mlflow.db"
    common = [*TINY, "--tracking-uri", uri]
    codes = {
        "gpu": cli(["run", *common, "--mixed-precision", "--jit-compile", "--experiment",
                    "gpu-check", "--project-dir", str(work / "gpu")]),
        "cpu": cli(["run", *common, "--experiment", "gpu-check-cpu", "--project-dir",
                    str(work / "cpu")], env={"CUDA_VISIBLE_DEVICES": ""}),
        "launch": cli(["launch", *TINY, "--workers", str(len(gpus)), "--store",
                       f"sqlite:///{work}/launch.db", "--artifacts", str(work / "artifacts"),
                       "--mixed-precision", "--jit-compile", "--experiment", "gpu-check-launch",
                       "--project-dir", str(work / "launch")])}
    results = {"gpu": trials(uri, "gpu-check"), "cpu": trials(uri, "gpu-check-cpu"),
               "launch": trials(f"sqlite:///{work}/launch.db", "gpu-check-launch")}
    for name, (rows, params) in results.items():
        show(f"{name} search (exit {codes[name]})", rows, params)
    return verdict(codes, results, growth)


def verdict(codes, results, growth):
    """Every failure as a FAIL line; 0 only when none."""
    failures = [f"`{name}` exited {code}" for name, code in codes.items() if code != 0]
    failures += [f"memory growth is off on {gpu}" for gpu, on in growth.items() if not on]
    for name in ("gpu", "launch"):
        rows, params = results[name]
        if not rows:
            failures.append(f"the {name} search logged no trial")
        failures += [f"{name} trial {row[0]} ran on {row[1] or 'an unknown device'}"
                     for row in on_cpu(rows)]
        if "GPU" not in (params.get("device") or ""):
            failures.append(f"the {name} search's device is {params.get('device')}")
        if params.get("jit_compile") != "True":
            failures.append(f"XLA was off in the {name} search")
    for failure in failures:
        fail(failure)
    if failures:
        return 1
    gpu, cpu = mean_epoch(results["gpu"][0]), mean_epoch(results["cpu"][0])
    print(f"gpu_check: OK: every trial on a GPU, XLA on, mixed_float16; {gpu:.3f} s/epoch "
          f"on the GPU against {cpu:.3f} s/epoch on the CPU ({cpu / gpu:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
