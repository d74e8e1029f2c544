"""What a model costs: parameters, file size and inference latency.

Measured on each trial's best model after training (metrics on its child run, so
the MLflow UI plots accuracy against cost) and, as a quick probe, on a value set
the oracle draws when `--max-params` / `--max-latency-ms` limit the search
(search/kt/limits.py).

Latency is the median of a few timed calls of `model(x, training=False)` on the
search device, after warm-up calls (the first calls trace and allocate). The
median, not the mean: the machine is shared and one slow call must not decide.
The timed calls stop after TIMING_BUDGET_S once MIN_TIMED_CALLS are in: an eager
call of even a small model is slow on a CPU, and 20 calls at two batch sizes were a
visible share of a small search's CPU (docs/benchmarks.md, "test suite").
"""

import os
import statistics
import time

import numpy as np

LATENCY_BATCHES = (1, 64)  # ms per call at batch 1 (one image) and per batch of 64
WARMUP_CALLS = 2
TIMED_CALLS = 20  # at most
MIN_TIMED_CALLS = 5
TIMING_BUDGET_S = 0.1  # per batch size, once MIN_TIMED_CALLS are in


def latency_ms(model, batch_size, warmup=WARMUP_CALLS, calls=TIMED_CALLS):
    """Median milliseconds of one inference call on a batch of `batch_size`."""
    x = np.zeros((batch_size, *model.input_shape[1:]), dtype="float32")
    for _ in range(warmup):
        np.asarray(model(x, training=False))
    times = []
    stop_at = time.perf_counter() + TIMING_BUDGET_S
    while len(times) < calls and (len(times) < min(calls, MIN_TIMED_CALLS)
                                  or time.perf_counter() < stop_at):
        started = time.perf_counter()
        np.asarray(model(x, training=False))  # np.asarray waits for the device
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def model_cost(model, model_path=None):
    """The cost metrics of a trained model (and of its saved .keras file)."""
    cost = {"param_count": model.count_params()}
    for batch_size in LATENCY_BATCHES:
        cost[f"latency_ms_batch{batch_size}"] = latency_ms(model, batch_size)
    if model_path and os.path.exists(model_path):
        cost["model_size_mb"] = os.path.getsize(model_path) / 1e6
    return cost
