"""What the MLflow UI is handed without a search: trial run names, the experiment
kind tag, the links, the parent run's description (on a real store, no training)."""

from urllib.parse import unquote

import spaces
from search import SearchConfig, tracking
from search.plan.hyperband import SearchPlan
from search.tracking import description, links


BRIDGE_KEYS = spaces.BRIDGE_NET_SUMMARY_KEYS


def test_trial_run_name_carries_the_architecture():
    hps = {"bridge": "flatten", "residual_blocks": 3, "dense_units": 64, "dropout": 0.1}
    assert tracking.trial_run_name("0003", hps, BRIDGE_KEYS) == "0003 flatten d3 w64"


def test_trial_run_name_shows_a_user_space_by_its_own_keys():
    keys = {"units": "units", "activation": "activation"}
    assert tracking.trial_run_name("0007", {"units": 32, "activation": "relu"},
                                   keys) == "0007 32 arelu"
    assert tracking.trial_run_name("0007", {"units": 32}, BRIDGE_KEYS) == "0007"
    assert tracking.trial_run_name("0001", {"bridge": "gap"}, BRIDGE_KEYS) == "0001 gap"


def test_new_and_older_experiments_are_marked_model_training(tracking_uri, mlflow_client,
                                                             experiment_name):
    older = mlflow_client.create_experiment(f"{experiment_name}-older")  # no kind tag
    for name in (experiment_name, f"{experiment_name}-older"):
        experiment_id = tracking.SearchTracker(tracking_uri, name).open_experiment()
        tags = mlflow_client.get_experiment(experiment_id).tags
        assert tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development", name
    assert experiment_id == older


def test_an_experiment_kind_the_user_chose_is_kept(tracking_uri, mlflow_client, experiment_name):
    mlflow_client.create_experiment(experiment_name,
                                    tags={tracking.EXPERIMENT_KIND_TAG: "classification"})
    experiment_id = tracking.SearchTracker(tracking_uri, experiment_name).open_experiment()
    assert mlflow_client.get_experiment(experiment_id).tags[
        tracking.EXPERIMENT_KIND_TAG] == "classification"


def test_links_open_the_runs_table_of_one_search_in_model_training_mode():
    url = unquote(links.runs_table_url("http://127.0.0.1:5000", "4", "abc123"))
    assert url.startswith("http://127.0.0.1:5000/#/experiments/4/runs?workflowType=machine_learning")
    assert "searchFilter=tags.`bridge_search.search_run_id` = 'abc123'" in url
    assert "orderByKey=metrics.`best_val_accuracy`&orderByAsc=false" in url
    compare = unquote(links.compare_url("http://h:5000", "4", ["r1", "r2"]))
    assert compare.endswith('/#/compare-runs?runs=["r1","r2"]&experiments=["4"]'
                           '&workflowType=machine_learning')


def test_a_tracking_server_serves_the_ui_itself():
    assert links.ui_base("http://tracking-host:5000/") == "http://tracking-host:5000"
    assert links.ui_base("sqlite:///mlruns/mlflow.db") == links.DEFAULT_UI


def test_description_holds_the_answer():
    config = SearchConfig(space="bridge-small", max_epochs=2, factor=2, retrain="none",
                          experiment="demo")
    hps = {"bridge": "gap", "residual_blocks": 1, "dense_units": 32}
    summary = {"best_hyperparameters": hps, "best_trial_id": "0004", "best_run_id": "r4",
               "best_val_accuracy": 0.98765, "selected_hyperparameters": hps,
               "selected_trial_id": "0004", "selected_run_id": "r4",
               "selected_val_accuracy": 0.98765, "select": "best",
               "test_accuracy": 0.97, "n_trials": 5,
               "n_failed_trials": 0, "wall_seconds": 90, "export_dir": "exports/demo/p",
               "registered_model": "demo-classifier", "registered_version": "1",
               "summary_keys": BRIDGE_KEYS, "best_per_bridge": {
                   "flatten": {"val_accuracy": 0.9, "trial_id": "0002",
                               "hyperparameters": {**hps, "bridge": "flatten"}},
                   "gap": {"val_accuracy": 0.98765, "trial_id": "0004", "hyperparameters": hps}}}
    data = {"data_source": "digits", "data_shape": "8x8x1", "data_classes": 10,
            "data_train_size": 1000, "data_val_size": 300, "data_test_size": 400}
    text = description.describe_search(config, SearchPlan.of(config), summary, data,
                                       {"0002": 8482, "0004": 1234})
    for expected in ("## Winner: bridge **gap**, depth 1, width 32",
                     "`0004 gap d1 w32`", "val accuracy 0.9877", "test accuracy 0.9700",
                     "| flatten | 0002 flatten d1 w32 | 0.9000 | 8,482 |",
                     "| gap | 0004 gap d1 w32 | 0.9877 | 1,234 |", "| dense_units | 32 |",
                     "`digits`, images 8x8x1, 10 classes; train 1000, val 300, test 400",
                     "max_epochs 2, factor 2", "5 trials (0 failed) in 1.5 min",
                     "bridge-search export --run-id r4 --out winner",
                     "bridge-search serve --experiment demo"):
        assert expected in text, expected
