"""Can `serve` reach a model's artifacts through the store it was given? (Whether a
store answers at all is judged in search/core/stores.py, before MLflow is imported.)"""

from search.core.errors import UsageError
from search.core.stores import masked


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
