"""Riding out a flaky MLflow store: transient failures are retried with backoff.

A server restart, a dropped connection, an HTTP 5xx or a locked sqlite file
should not end a search that has hours of training behind it. Every call that
SearchTracker makes goes through `RetryingClient`, which retries a call that
failed for a transient reason until the store answers again. The clock is the
*outage*, shared by all calls and threads: once the store has not answered for
`--store-retry-seconds`, every call fails at once with SearchFailed (exit 1, one
line), and the same command resumes the search later (tracking/resume.py).

MLflow's HTTP client has its own retry loop (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7
with backoff factor 2: up to ~4 minutes per call, and a 120 s timeout per
attempt). Stacked under ours that would make the total unpredictable, so unless
the user set them, MLflow's retries are turned off and its per-attempt timeout
lowered: the outage bound is then `--store-retry-seconds` plus one attempt.
"""

import logging
import os
import threading
import time

from search.core.errors import SearchFailed

log = logging.getLogger(__name__)

MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                        "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
# Fragments of the messages of transport-level failures (requests/urllib3 text
# that MLflow wraps in "API request to ... failed with exception ...").
# Most telling first: the first one found is the reason shown to the user.
TRANSIENT_TEXT = ("database is locked", "connection refused", "connection reset",
                  "connection aborted", "remotedisconnected", "timed out", "error responses",
                  "bad gateway", "service unavailable", "gateway timeout",
                  "temporarily unavailable", "max retries exceeded")
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0


def bound_mlflow_http_retries():
    """Leave retrying to `StoreRetry` (see module docstring); a user's own
    setting of these variables wins."""
    for name, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def is_transient(error):
    """Would the same call likely succeed a little later?"""
    import requests
    from mlflow.exceptions import MlflowException
    if isinstance(error, (ConnectionError, TimeoutError, requests.ConnectionError,
                          requests.Timeout)):
        return True
    if isinstance(error, requests.HTTPError):
        return error.response is not None and error.response.status_code >= 500
    if isinstance(error, MlflowException):
        if error.error_code == "TEMPORARILY_UNAVAILABLE":
            return True
        text = str(error).lower()
        return any(fragment in text for fragment in TRANSIENT_TEXT)
    return False


class StoreRetry:
    """Calls a function until it succeeds, a non-transient error comes, or the
    store has been failing for longer than `max_seconds`."""

    def __init__(self, store, max_seconds):
        self.store, self.max_seconds = store, max_seconds
        self._lock = threading.Lock()
        self._down_since = None  # monotonic time of the outage's first failure

    def call(self, function, *args, **kwargs):
        backoff = FIRST_BACKOFF
        while True:
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                if not is_transient(error):
                    raise
                waited = self._failed(error)
                time.sleep(min(backoff, max(self.max_seconds - waited, 0.0) + 0.1))
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            self._answered()
            return result

    def _failed(self, error):
        """Record a transient failure; raise once the outage is too long."""
        with self._lock:
            now = time.monotonic()
            if self._down_since is None:
                self._down_since = now
                log.warning(f"MLflow store {self.store} did not answer ({_reason(error)}); "
                            f"retrying for up to {self.max_seconds:g} s "
                            f"(--store-retry-seconds).")
            waited = now - self._down_since
        if waited > self.max_seconds:
            raise SearchFailed(
                f"the MLflow store {self.store} has not answered for {waited:.0f} s "
                f"(--store-retry-seconds {self.max_seconds:g}; last error: {_reason(error)}). "
                f"Run the same command again to resume the search once it is back.") from None
        return waited

    def _answered(self):
        if self._down_since is None:  # the usual case: no lock taken
            return
        with self._lock:
            if self._down_since is not None:
                log.info(f"MLflow store {self.store} answers again after "
                         f"{time.monotonic() - self._down_since:.0f} s; the search goes on.")
                self._down_since = None


class RetryingClient:
    """An MlflowClient whose every method call goes through a StoreRetry."""

    def __init__(self, client, retry):
        self._client, self._retry = client, retry

    def __getattr__(self, name):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: self._retry.call(attribute, *args, **kwargs)


def _reason(error):
    """Short: MLflow's message repeats the URL and urllib3's whole retry story."""
    text = str(error)
    fragment = next((f for f in TRANSIENT_TEXT if f in text.lower()), None)
    if fragment is not None:
        start = text.lower().index(fragment)
        text = text[start:start + len(fragment)]
    lines = text.strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0][:200]}"
