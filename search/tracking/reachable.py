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
