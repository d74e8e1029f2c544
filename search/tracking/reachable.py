"""Is the tracking server there? Checked before anything slow is imported or
loaded (only `requests` here), so an unreachable `--tracking-uri` fails in seconds."""

from search.errors import UsageError


def check_reachable(tracking_uri, timeout=5.0):
    """Fail fast (exit 2) when an HTTP tracking server does not answer."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests
    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except requests.RequestException as error:
        raise UsageError(f"--tracking-uri {tracking_uri}: the MLflow server does not answer "
                         f"({type(error).__name__}); start it with `mlflow server` or fix "
                         f"the URI.") from None


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
