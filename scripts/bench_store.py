"""How much one MLflow server takes: writes per trial and per epoch, and the
server's latency on sqlite and on PostgreSQL with 1, 4 and 8 concurrent writers.

Part "writes": one tiny search (in this process) logs through an `mlflow server`
on sqlite; every REST call the client makes is counted by endpoint, and divided
by the trials and by the epochs they trained.

Part "latency": an `mlflow server` on each backend (sqlite file; PostgreSQL on
127.0.0.1:5432 in a database created and dropped here; PostgreSQL again behind
4 server worker processes) takes `log-batch` calls of one epoch's metrics from
1, 4 and 8 writer threads at once, each on its own run, as fast as it answers;
prints the median and 95th-percentile latency and the writes per second served.

    .venv/bin/python scripts/bench_store.py [--part writes latency] [--calls 60]
        [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432]
"""

import argparse
import collections
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from search.distributed.launch import free_port  # noqa: E402

import bench_record  # noqa: E402

EPOCH_METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")


@contextlib.contextmanager
def mlflow_server(store_uri, work, workers=1):
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
               "--artifacts-destination", str(work / "artifacts"), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    log = open(work / f"server-{port}.log", "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{uri}/health", timeout=2).ok:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"mlflow server on {store_uri} did not start; see {log.name}")
            time.sleep(0.5)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        server.wait(timeout=60)
        log.close()


# ----- part "writes" ---------------------------------------------------------------
READS = ("runs/search", "runs/get", "experiments/get-by-name", "metrics/get-history")


def count_writes(work):
    """Run one tiny search through an MLflow server and record its REST calls."""
    import mlflow.store.artifact.http_artifact_repo as artifact_repo
    import mlflow.utils.rest_utils as rest_utils
    from search import SearchConfig, run_search
    calls = []  # (method, endpoint, json body)

    def recorded(original):
        def request(host_creds, endpoint, method, *args, **kwargs):
            calls.append((method, endpoint, kwargs.get("json") or {}))
            return original(host_creds, endpoint, method, *args, **kwargs)
        return request

    rest_utils.http_request = recorded(rest_utils.http_request)
    artifact_repo.http_request = recorded(artifact_repo.http_request)
    with mlflow_server(f"sqlite:///{work}/writes.db", work) as uri:
        config = SearchConfig(space="bridge-small", max_epochs=3, factor=3, retrain="none",
                              experiment="bench-writes", project_dir=str(work / "project"),
                              tracking_uri=uri, export_dir=str(work / "export"))
        summary = run_search(config)
        from mlflow import MlflowClient
        children = MlflowClient(uri).search_runs(
            [summary["experiment_id"]],
            filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
    child_ids = {r.info.run_id for r in children}
    epochs = int(sum(r.data.metrics.get("epochs_trained", 0) for r in children))
    return classify(calls, child_ids), summary["n_trials"], epochs


def classify(calls, child_ids):
    """Count writes as 'epoch' (a log-batch of epoch metrics to a trial's run),
    'trial' (any other write to a trial's run) or 'search' (parent run, winner)."""
    counts = collections.Counter()
    for method, endpoint, body in calls:
        name = endpoint.split("/api/2.0/mlflow/")[-1] if "/api/2.0/mlflow/" in endpoint \
            else "artifacts"
        if method == "GET" or name in READS:
            counts["read"] += 1
            continue
        run_id = body.get("run_id") or next((i for i in child_ids if i in endpoint), None)
        tags = {t.get("key"): t.get("value") for t in body.get("tags", [])}
        if run_id in child_ids or (name == "runs/create" and "mlflow.parentRunId" in tags):
            metrics = body.get("metrics", [])
            epoch = (name == "runs/log-batch" and metrics and not body.get("params")
                     and all(m["key"] in EPOCH_METRICS and m["step"] >= 1 for m in metrics))
            counts["epoch" if epoch else "trial"] += 1
        else:
            counts["search"] += 1
    return counts


def report_writes(counts, trials, epochs):
    """Print the writes per epoch, per trial and per search; return them."""
    print(f"\nMLflow writes of one search: {trials} trials, {epochs} epochs trained "
          f"(Hyperband(3, 3), bridge-small, digits, --log-models all, --retrain none)")
    print(f"  per epoch trained: {counts['epoch'] / epochs:.2f} writes "
          f"({counts['epoch']} epoch log-batch calls)")
    print(f"  per trial, besides its epochs: {counts['trial'] / trials:.2f} writes "
          f"(create, params, tags, summary metrics, best-model artifact, end)")
    print(f"  per search (parent run, winner, registry): {counts['search']} writes; "
          f"reads: {counts['read']}")
    return {"trials": trials, "epochs": epochs, "per_epoch": counts["epoch"] / epochs,
            "per_trial": counts["trial"] / trials, "per_search": counts["search"],
            "reads": counts["read"]}


# ----- part "latency" --------------------------------------------------------------
@contextlib.contextmanager
def postgres_database(server_uri):
    import psycopg2
    name = f"bench_store_{uuid.uuid4().hex[:8]}"
    # SQLAlchemy's plain postgresql:// means psycopg 3; this venv has psycopg2.
    admin = psycopg2.connect(f"{server_uri.replace('+psycopg2', '')}/test")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server_uri}/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def hammer(uri, writers, calls):
    """`writers` threads, each sending `calls` log-batch requests to its own run."""
    session = requests.Session()
    experiment = session.post(f"{uri}/api/2.0/mlflow/experiments/create",
                              json={"name": f"bench-{uuid.uuid4().hex[:8]}"}).json()
    runs = [session.post(f"{uri}/api/2.0/mlflow/runs/create",
                         json={"experiment_id": experiment["experiment_id"]}
                         ).json()["run"]["info"]["run_id"] for _ in range(writers)]
    latencies, barrier = [], threading.Barrier(writers)

    def writer(run_id):
        own = requests.Session()
        barrier.wait()
        for step in range(calls):
            body = {"run_id": run_id, "metrics": [
                {"key": key, "value": 0.5, "timestamp": int(time.time() * 1000), "step": step}
                for key in EPOCH_METRICS]}
            started = time.perf_counter()
            own.post(f"{uri}/api/2.0/mlflow/runs/log-batch", json=body).raise_for_status()
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=writer, args=(run,)) for run in runs]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {"p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
            "writes_per_s": len(latencies) / wall}


def measure_latency(args, work):
    backends = [("sqlite", 1, contextlib.nullcontext(f"sqlite:///{work}/latency.db")),
                ("postgresql", 1, postgres_database(args.postgres)),
                ("postgresql", 4, postgres_database(args.postgres))]
    print(f"\nlog-batch of {len(EPOCH_METRICS)} metrics, {args.calls} calls per writer")
    print(f"{'backend':>10} {'server procs':>12} {'writers':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'writes/s':>8}")
    rows = []
    for name, server_workers, database in backends:
        with database as store_uri, mlflow_server(store_uri, work, server_workers) as uri:
            hammer(uri, 1, 5)  # warm up: first requests open connections and caches
            for writers in args.writers:
                r = hammer(uri, writers, args.calls)
                print(f"{name:>10} {server_workers:>12} {writers:>7} {r['p50_ms']:>7.1f} "
                      f"{r['p95_ms']:>7.1f} {r['writes_per_s']:>8.0f}", flush=True)
                rows.append({"backend": name, "server_processes": server_workers,
                             "writers": writers, **r})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=("writes", "latency"),
                        default=["writes", "latency"])
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    bench_record.add_option(parser, "store")
    args = parser.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as work:
        if "writes" in args.part:
            figures["writes"] = report_writes(*count_writes(Path(work)))
        if "latency" in args.part:
            figures["latency"] = measure_latency(args, Path(work))
    bench_record.write(args.record_path, "store", "MLflow writes and server latency", figures)
    print("(CPU shared with other processes on this machine: compare ratios, not ms.)")


if __name__ == "__main__":
    main()
