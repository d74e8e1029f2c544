"""Is the tracking server there? Checked before anything slow is imported or
loaded (only `requests` here), so an unreachable `--tracking-uri` fails in seconds."""

from search.errors import UsageError

# Servers that answered in this process: the CLI asks before TensorFlow loads,
# and run_search and SearchTracker (entry points of their own) need not ask again.
_answered = set()


def check_reachable(tracking_uri, timeout=5.0):
    """Fail fast (exit 2) when an HTTP tracking server does not answer; asked once
    per server and process (a later outage is StoreRetry's business)."""
    if not tracking_uri.startswith(("http://", "https://")) or tracking_uri in _answered:
        return
    import requests
    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except requests.RequestException as error:
        raise UsageError(f"--tracking-uri {tracking_uri}: the MLflow server does not answer "
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


def check_artifacts_reachable(tracking_uri, model_uri):
    """A model logged through a tracking server (`launch`, `bridge-search server`)
    has `mlflow-artifacts:/` artifacts, which only such a server serves: with the
    database itself as --tracking-uri, `mlflow models serve` announced the model
    and then failed with a traceback. Exit 2 first, saying which URI works."""
    if tracking_uri.startswith(("http://", "https://")):
        return
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    location = _model_location(client, model_uri)
    if location.startswith("mlflow-artifacts:"):
        from search.distributed.server import masked
        raise UsageError(
            f"--tracking-uri {masked(tracking_uri)}: the model's artifacts ({location}) are "
            f"stored through an MLflow tracking server, which a database URI cannot reach; "
            f"start one on this store (`bridge-search server --store "
            f"{masked(tracking_uri)} --artifacts DIR`, DIR as the search used) and pass its "
            f"--tracking-uri http://HOST:PORT.")


def _model_location(client, model_uri):
    """The artifact URI of the run that logged `model_uri` (runs:/ID/..,
    models:/NAME@ALIAS, models:/NAME/N); "" when that is not known here."""
    import mlflow
    scheme, _, rest = model_uri.partition(":/")
    rest = rest.strip("/")
    try:
        if scheme == "runs":
            run_id = rest.split("/")[0]
        elif scheme == "models" and "@" in rest:
            run_id = client.get_model_version_by_alias(*rest.split("@", 1)).run_id
        elif scheme == "models" and rest.rpartition("/")[2].isdigit():
            run_id = client.get_model_version(*rest.rsplit("/", 1)).run_id
        else:
            return ""
        return client.get_run(run_id).info.artifact_uri if run_id else ""
    except mlflow.exceptions.MlflowException:
        return ""
