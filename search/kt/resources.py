"""Per-trial resource figures: seconds per epoch, resident and peak memory, GPU memory.

Logged as metrics on each child run so memory growth across trials and slow
architectures show up in the MLflow runs table. Linux gives a per-trial peak:
writing "5" to /proc/self/clear_refs resets the process's high-water mark
(VmHWM), which `getrusage` cannot do; elsewhere the peak is the process's.
"""

import contextlib
import gc
import resource
import sys
from pathlib import Path

from search.kt.hooks import TrialHook


MB = 1024 * 1024


def rss_mb():
    """Resident memory now."""
    import psutil
    return psutil.Process().memory_info().rss / MB


def reset_peak_rss():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """Peak resident memory since the last reset (Linux) or since start."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB else


def _gpu_devices():
    import tensorflow as tf
    return [f"GPU:{i}" for i, _ in enumerate(tf.config.list_logical_devices("GPU"))]


def reset_gpu_peaks():
    import tensorflow as tf
    for device in _gpu_devices():
        try:
            tf.config.experimental.reset_memory_stats(device)
        except (ValueError, RuntimeError):
            pass


def gpu_peak_mb():
    """Largest GPU memory peak over the visible GPUs, or None without a GPU."""
    import tensorflow as tf
    peaks = []
    for device in _gpu_devices():
        try:
            peaks.append(tf.config.experimental.get_memory_info(device)["peak"] / MB)
        except (ValueError, RuntimeError):
            pass
    return max(peaks) if peaks else None


@contextlib.contextmanager
def long_lived_objects_frozen():
    """Keep the objects that exist before the search out of every garbage
    collection during it.

    Why: keras-tuner runs a full `gc.collect()` twice a trial (in its `_try_build`
    and in Keras' `clear_session`), and each one walks every object of the process:
    hundreds of thousands from TensorFlow, Keras and MLflow alone, none of them
    trial garbage (scripts/bench_overhead.py; docs/benchmarks.md).
    That walk was the largest per-trial cost outside training. `gc.freeze()` moves
    them out of the collector's reach for the search; the trials' own objects are
    made later and are collected as before. `gc.unfreeze()` gives them back."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _gradient_registry():
    """TF's process-global {name: gradient function} registry, or None if this TF
    version keeps it elsewhere (then there is nothing we can release)."""
    try:
        from tensorflow.python.framework import ops
        return ops._gradient_registry._registry
    except (ImportError, AttributeError):
        return None


class GraphJanitor:
    """Releases what TensorFlow keeps of a trial's traced functions after the trial.

    Why: `tf.custom_gradient` (Keras uses it in its TF backend) registers each
    traced gradient under a fresh name ("CustomGradient-N") in a process-global
    registry and never removes it. The gradient closure holds the traced graph, so
    every trial's train and test functions stayed alive: resident memory grew with
    every build-and-fit, even with `clear_session()` (scripts/bench_memory.py; its
    figures are in docs/benchmarks.md). Entries made during the trial are dropped
    at its end, when nothing can trace that model's functions again."""

    PREFIX = "CustomGradient-"

    def __init__(self):
        registry = _gradient_registry()
        self._before = set(registry) if registry is not None else None

    def release(self):
        registry = _gradient_registry()
        if registry is None or self._before is None:
            return 0
        new = [name for name in registry
               if name.startswith(self.PREFIX) and name not in self._before]
        for name in new:
            del registry[name]
        # No gc.collect() here: a full collection is a visible share of a small
        # trial (docs/benchmarks.md), and keras-tuner's clear_session() before the
        # next build collects anyway.
        return len(new)


class GraphRelease(TrialHook):
    """A GraphJanitor per trial, as a trial hook: else each trial's graphs stay
    in memory for the rest of the search."""

    def __init__(self):
        self._janitors = {}

    def trial_begin(self, trial):
        self._janitors[trial.trial_id] = GraphJanitor()

    def trial_closed(self, report):
        self._janitors.pop(report.trial_id).release()
