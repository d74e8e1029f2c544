"""Can `serve` reach a model's artifacts through the store it was given? (Whether a
store answers at all is judged in search/core/stores.py, before MLflow is imported.)"""

from search.core.errors import UsageError
from search.core.stores import masked


def check_artifacts_reachable(tracking_uri, model_uri):
    """A --model-uri whose run or registered model is not in the store, and a model
    logged through a tracking server (`launch`, `bridge-search server`), whose
    `mlflow-artifacts:/` artifacts only such a server serves, with the database
    itself as --tracking-uri: `mlflow models serve` announced the model and then
    failed with a traceback. Exit 2 first, saying what is missing or which URI works."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=tracking_uri)
    location = _model_location(client, model_uri, tracking_uri)
    if tracking_uri.startswith(("http://", "https://")):
        return
    if location.startswith("mlflow-artifacts:"):
        raise UsageError(
            f"--tracking-uri {masked(tracking_uri)}: the model's artifacts ({location}) are "
            f"stored through an MLflow tracking server, which a database URI cannot reach; "
            f"start one on this store (`bridge-search server --store "
            f"{masked(tracking_uri)} --artifacts DIR`, DIR as the search used) and pass its "
            f"--tracking-uri http://HOST:PORT.")


def _model_location(client, model_uri, tracking_uri):
    """The artifact URI of the run that logged `model_uri` (runs:/ID/..,
    models:/NAME@ALIAS, models:/NAME/N); "" when that is not known here. A run,
    registered model or version the store does not hold is a usage error."""
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
        elif scheme == "models" and "/" in rest:  # NAME/latest, NAME/STAGE
            client.get_registered_model(rest.split("/")[0])
            return ""
        else:  # models:/m-ID (a logged model), a path, s3://...: mlflow judges them
            return ""
        return client.get_run(run_id).info.artifact_uri if run_id else ""
    except mlflow.exceptions.MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            return ""
        raise UsageError(f"--model-uri {model_uri}: not in the store {masked(tracking_uri)} "
                         f"({str(error).splitlines()[0]}); find run ids in `bridge-search "
                         f"report` or the MLflow UI, registered models in its Models "
                         f"tab.") from None
