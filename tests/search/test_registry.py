"""The registry describes the model that was registered (issue 11, item 9): each
version carries the search's validation score, the registered model's own test
score and whether it was retrained on train+val, and the champion comparison
uses the same metric on both versions (test_accuracy when both have it, else
search_val_accuracy)."""

from search import tracking
from search.data import load_digits
from search.tracking.models import log_winner
from search.tracking.registry import CHAMPION_ALIAS, beats, champion_metric, registered_model_name
from tests.search.test_serving import tiny_model


def register(tracking_uri, experiment_name, search_val, test, retrained):
    tracker = tracking.SearchTracker(tracking_uri, experiment_name)
    tracker.open_experiment()
    tracker.start_search(f"search-{search_val}", params={}, tags={})
    _, version = log_winner(tracker, tiny_model(), load_digits().x_val[:2],
                            {"search_val_accuracy": search_val, "test_accuracy": test,
                             "retrained": retrained})
    tracker.end_search()
    return version


def test_versions_are_tagged_and_the_champion_compares_like_with_like(
        tracking_uri, experiment_name, mlflow_client):
    name = registered_model_name(experiment_name)
    champions = []
    # (search val score, registered model's test score, retrained)
    for scores in [(0.90, 0.80, True),   # first: champion
                   (0.95, 0.70, True),   # better search score, worse model: stays v1
                   (0.85, 0.85, True),   # worse search score, better model: v3
                   (0.99, None, False)]:  # no test split: search scores compared, v4
        version = register(tracking_uri, experiment_name, *scores)
        champion = mlflow_client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        champions.append((version, str(champion.version)))
    assert champions == [("1", "1"), ("2", "1"), ("3", "3"), ("4", "4")]
    first = mlflow_client.get_model_version(name, "1").tags
    assert first == {"search_val_accuracy": "0.900000", "test_accuracy": "0.800000",
                     "retrained": "true"}
    assert "test_accuracy" not in mlflow_client.get_model_version(name, "4").tags


def test_champion_metric_rules_including_versions_tagged_before():
    with_test = {"search_val_accuracy": "0.9", "test_accuracy": "0.8"}
    without = {"search_val_accuracy": "0.95"}
    assert champion_metric(with_test, with_test) == "test_accuracy"
    assert champion_metric(with_test, without) == "search_val_accuracy"
    assert champion_metric(without, with_test) == "search_val_accuracy"
    legacy = {"val_accuracy": "0.92"}  # versions registered before these tags
    assert beats(without, legacy) and not beats(with_test, legacy)


def test_logging_the_winner_leaves_mlflows_global_state_as_it_found_it(
        tracking_uri, experiment_name):
    """MLflow behind one door: its one fluent call (MLflow 3's LoggedModel) sets the
    global tracking URI and active run for itself only."""
    import mlflow
    before = mlflow.get_tracking_uri()
    register(tracking_uri, experiment_name, 0.9, 0.8, True)
    assert mlflow.get_tracking_uri() == before != tracking_uri
    assert mlflow.active_run() is None
