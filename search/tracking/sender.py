"""Per-epoch metrics sent to MLflow by a background thread, so training never
waits for the store; drained at the end of each trial."""

import queue
import threading


class BackgroundSender:
    """One daemon thread that sends metric batches in order.

    Why not MLflow's own `log_batch(synchronous=False)`: ending a run then shuts
    its async queue down, which cost more per trial than the logging itself
    (scripts/bench_overhead.py; docs/benchmarks.md). A plain queue drained at
    trial end costs next to nothing."""

    def __init__(self, client):
        self.client = client
        self._queue = queue.Queue()
        self._error = None
        threading.Thread(target=self._work, name="mlflow-metrics", daemon=True).start()

    def send(self, run_id, metrics):
        self._queue.put((run_id, metrics))

    def drain(self):
        """Block until every batch sent so far is stored; re-raise a failure (the
        client retries transient ones, so only an outage longer than
        --store-retry-seconds gets here; the journal keeps the epochs)."""
        self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self):
        while True:
            run_id, metrics = self._queue.get()
            try:
                self.client.log_batch(run_id, metrics=metrics)
            except Exception as error:  # surfaced to the trainer by drain()
                self._error = error
            finally:
                self._queue.task_done()
