"""CPU seconds a fresh process spends importing what every search process imports
(TensorFlow, Keras, keras-tuner, MLflow), side by side for the installed ml_dtypes
and another one. Every `run`, `launch` worker and chief pays this once; the test
suite starts about a hundred such processes (issue 13 item 7).

Runs alternate (installed, other, installed, ...) so a busy machine slows both
alike; prints the mean CPU seconds (user + sys, from the child's rusage) of each
and their ratio.

    pip install --no-deps --target /tmp/ml_dtypes_070 ml_dtypes==0.7.0
    .venv/bin/python scripts/bench_startup.py --other /tmp/ml_dtypes_070 [--repeat 5]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys

import bench_record

IMPORTS = "import keras_tuner, mlflow, ml_dtypes; print(ml_dtypes.__version__)"


def cpu_seconds_of_import(extra_path=None):
    """(CPU seconds, ml_dtypes version) of one fresh interpreter doing IMPORTS."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", IMPORTS], env=env, capture_output=True,
                          text=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, done.stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True,
                        help="a folder holding another ml_dtypes (pip install --target)")
    parser.add_argument("--repeat", type=int, default=5)
    bench_record.add_option(parser, "startup")
    args = parser.parse_args()
    times = {}
    for _ in range(args.repeat):
        for path in (None, args.other):
            seconds, version = cpu_seconds_of_import(path)
            times.setdefault(version, []).append(seconds)
            print(f"ml_dtypes {version}: {seconds:.2f} CPU-s", flush=True)
    print("\n| ml_dtypes | mean CPU-s of the imports | runs |\n|---|---|---|")
    for version, values in times.items():
        print(f"| {version} | {statistics.mean(values):.2f} | {len(values)} |")
    (a, va), (b, vb) = [(v, statistics.mean(t)) for v, t in times.items()]
    print(f"\n{b} / {a}: {vb / va:.2f}")
    bench_record.write(args.record_path, "startup", "Import CPU seconds by ml_dtypes version",
                       {"cpu_seconds": times, "ratio": vb / va})


if __name__ == "__main__":
    main()
