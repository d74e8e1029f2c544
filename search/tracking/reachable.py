"""Is the tracking server there? Checked before anything slow is imported or
loaded (only `requests` here), so an unreachable `--tracking-uri` fails in seconds."""

from search.errors import UsageError

# Servers that answered in this process: the CLI asks before TensorFlow loads,
# and run_search and SearchTracker (entry points of their own) need not ask again.
_answered = set()


def check_reachable(tracking_uri, timeout=5.0, option="--tracking-uri"):
    """Fail fast (exit 2) when an HTTP tracking server does not answer; asked once
    per server and process (a later outage is StoreRetry's business)."""
    if not tracking_uri.startswith(("http://", "https://")) or tracking_uri in _answered:
        return
    import requests
    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except requests.RequestException as error:
        raise UsageError(f"{option} {tracking_uri}: the MLflow server does not answer "
                         f"({type(error).__name__}); start it with `mlflow server` or fix "
                         f"the URI.") from None
    _answered.add(tracking_uri)


def check_store_exists(tracking_uri):
    """For commands that only read the store: a local store that is not there is
    a usage error (exit 2), raised before MLflow would create an empty one."""
    from search.ownership import store_path
    path = store_path(tracking_uri)
    if path is None or path.exists():
        return
    raise UsageError(f"--tracking-uri {tracking_uri}: no MLflow store at {path} (it does not "
                     f"exist; nothing was created); run `bridge-search run` first or point "
                     f"--tracking-uri (or MLFLOW_TRACKING_URI) at an existing store.")
