"""The Keras callbacks of a trial (its MLflow epoch logger is the trial hook's,
search/tracking/trial_logger.py): NaN stops, the best epoch's model, epoch timing and memory peaks (also the dry run's timer),
and the --time-budget stops of a trial and of the final training."""

import logging
import math
import threading
import time

import keras
import keras_tuner

from search.kt import resources

logger = logging.getLogger(__name__)

OBJECTIVE = "val_accuracy"


class FailOnNaN(keras.callbacks.Callback):
    """Fails the trial (keras-tuner records it FAILED, no retry) at the end of the
    first epoch whose loss is NaN or infinite: later epochs would only waste time.
    Checked per epoch, not per batch: a batch hook makes Keras turn every step's
    logs into Python numbers, a device sync per step."""

    def on_epoch_end(self, epoch, logs=None):
        for name in ("loss", "val_loss"):
            self._check((logs or {}).get(name), name, f"epoch {epoch + 1}")

    @staticmethod
    def _check(value, name, where):
        if value is not None and not math.isfinite(float(value)):
            raise keras_tuner.errors.FailedTrialError(
                f"{name} became {float(value)} at {where}; the trial's model diverged.")


class BestEpochKeeper(keras.callbacks.Callback):
    """Keeps the weights and optimizer state of the best epoch (by val_accuracy)
    in memory and, when training ends, saves that model as a .keras file: the
    trial's best model, logged to MLflow and loaded by the trial that continues
    it in the next Hyperband round. It replaces keras-tuner's own checkpoint,
    which saved the weights again at every improving epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.best_value, self.best_epoch, self.best_logs = -float("inf"), None, {}
        self.epochs_seen = 0
        self._best_state = None

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_seen += 1
        value = (logs or {}).get(OBJECTIVE)
        if value is not None and value > self.best_value:
            self.best_value, self.best_epoch, self.best_logs = value, epoch + 1, dict(logs)
            self._best_state = (self.model.get_weights(),
                                [v.numpy() for v in self._optimizer_variables()])

    def on_train_end(self, logs=None):
        if self._best_state is not None:
            weights, optimizer_values = self._best_state
            self.model.set_weights(weights)
            for variable, value in zip(self._optimizer_variables(), optimizer_values):
                variable.assign(value)
            self.model.save(self.path)
            self._best_state = None  # do not hold a copy of the model past the trial

    def _optimizer_variables(self):
        optimizer = self.model.optimizer
        return optimizer.variables if optimizer is not None else []


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch, in order."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds = []
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)


class ResourceMonitor(EpochTimer):
    """Times each epoch and resets the memory peaks when training starts. Holds
    numbers only, so it keeps nothing of the trial alive after `metrics()`."""

    def on_train_begin(self, logs=None):
        resources.reset_peak_rss()
        resources.reset_gpu_peaks()

    def metrics(self):
        seconds = self.epoch_seconds
        return {"seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
                "peak_rss_mb": resources.peak_rss_mb(), "rss_mb": resources.rss_mb(),
                "gpu_peak_mb": resources.gpu_peak_mb()}


class DeadlineStop(keras.callbacks.Callback):
    """Stops a fit when another epoch would not end before the search's share is
    spent, and cuts an epoch when only the time to score it is left: a timer sets
    `model.stop_training`, which Keras checks after every batch (a batch hook
    would make Keras turn every step's logs into numbers, a device sync a step)."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline
        self._timer = None

    def on_train_begin(self, logs=None):
        self._first = True

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()
        self._cut = False
        wait = max(self.deadline.search_left() - self.deadline.val_seconds, 0.0)
        self._timer = threading.Timer(wait, self._cut_epoch)
        self._timer.daemon = True
        self._timer.start()

    def _cut_epoch(self):
        self._cut = self.model.stop_training = True
        self.deadline.epochs_cut += 1
        logger.info("Time budget: the search's share is spent; this epoch ends after its "
                    "current batch.")

    def on_epoch_end(self, epoch, logs=None):
        self._stop_timer()
        if not self._first and not self._cut:  # a fit's first epoch carries tracing
            self.deadline.observe_epoch(time.perf_counter() - self._started)
        self._first = False
        if self.deadline.search_left() < self.deadline.epoch_seconds:
            self.model.stop_training = True

    def on_train_end(self, logs=None):  # a fit that ended otherwise (a failed trial)
        self._stop_timer()

    def _stop_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __deepcopy__(self, memo):  # keras-tuner copies callbacks; the deadline is shared
        return DeadlineStop(self.deadline)


class StopBefore(EpochTimer):
    """Ends a fit after the epoch past which another one, as slow as the slowest
    so far, would end after `end` (a time.perf_counter() value). For the final
    training under --time-budget, whose epochs were counted at the winner's trial
    speed and can run slower (docs/budget.md, "Figures on a quiet machine")."""

    def __init__(self, end):
        super().__init__()
        self.end = end

    @property
    def epochs_done(self):
        return len(self.epoch_seconds)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if time.perf_counter() + max(self.epoch_seconds) > self.end:
            self.model.stop_training = True
