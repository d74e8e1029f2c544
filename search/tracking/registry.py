"""The MLflow model registry side of the winner: its name, the tags that say what
it scored, the `champion` alias, and the trial runs that `export --run-id` reads.
No Keras here, so `serve` and `export` judge their input before TensorFlow loads."""

import mlflow

from search.core import ownership
from search.core.errors import UsageError

CHAMPION_ALIAS = "champion"


def registered_model_name(experiment: str) -> str:
    """Registry name derived from the experiment, valid for MLflow (no '/' or ':',
    not '..'-like): the experiment's path slug + '-classifier'."""
    return ownership.path_slug(experiment) + "-classifier"


def registry_tags(scores):
    """What the registered model scored: `search_val_accuracy` (the search's best
    trial on the validation split), `test_accuracy` (the registered model itself on
    the test split, when the data has one) and `retrained` (true when the
    registered model was trained afresh on train+val after the search, so its
    validation score is not known: the validation images were training data)."""
    tags = {"search_val_accuracy": f"{scores['search_val_accuracy']:.6f}",
            "retrained": "true" if scores["retrained"] else "false"}
    if scores.get("test_accuracy") is not None:
        tags["test_accuracy"] = f"{scores['test_accuracy']:.6f}"
    return tags


def champion_metric(new_tags, champion_tags):
    """Like with like: `test_accuracy` (the registered models' own score on unseen
    images) when both versions have it, else both versions' `search_val_accuracy`
    (versions registered before these tags carry it as `val_accuracy`)."""
    if "test_accuracy" in new_tags and "test_accuracy" in champion_tags:
        return "test_accuracy"
    return "search_val_accuracy"


def beats(new_tags, champion_tags):
    metric = champion_metric(new_tags, champion_tags)
    champion = champion_tags.get(metric, champion_tags.get("val_accuracy", "-inf"))
    return float(new_tags[metric]) > float(champion)


def version_of_run(client, name, run_id):
    try:
        found = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    except mlflow.exceptions.MlflowException:
        return None
    return str(found[0].version) if found else None


def champion_uri(tracking_uri: str, experiment: str, alias: str = CHAMPION_ALIAS) -> str:
    """`models:/EXPERIMENT-classifier@alias`, checked to exist in the registry."""
    name = registered_model_name(experiment)
    try:
        mlflow.tracking.MlflowClient(tracking_uri=tracking_uri).get_model_version_by_alias(
            name, alias)
    except mlflow.exceptions.MlflowException:
        raise UsageError(f"--experiment {experiment!r} --alias {alias!r}: no model "
                         f"{name}@{alias} in the registry of {tracking_uri}; a finished "
                         f"`bridge-search run --experiment {experiment}` registers one, or "
                         f"pass --model-uri.") from None
    return f"models:/{name}@{alias}"


def current_champion_tags(client, name):
    try:
        version = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except mlflow.exceptions.MlflowException:
        return None
    return {**version.tags, "version": str(version.version)}


def trial_run(client, run_id: str) -> "mlflow.entities.Run":
    """The run `export --run-id` names, or a usage error saying where run ids are."""
    try:
        return client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise UsageError(f"--run-id {run_id!r}: no such run in this tracking store; "
                         f"find trial run ids in `bridge-search report` or the MLflow UI.") from None
