"""`--warm-start` (issue 12 item 5): the earlier search's best hyperparameters are
the new search's first trial, and the parent run says where they came from."""

import keras_tuner
import pytest

from search import SearchConfig, run_search
from search.errors import UsageError
from search.tracking import warm_start
from search.tuning import kt_compat
from spaces.bridge_net import small_bridge_net
from tests.conftest import child_runs

# Hyperband(1, 2): one trial, the warm-started one.
TINY = dict(space="bridge-small", max_epochs=1, factor=2, retrain="none", log_models="none")


def _search(tmp_path, name, tracking_uri, experiment, seed, **extra):
    config = SearchConfig(**TINY, seed=seed, experiment=experiment,
                          project_dir=str(tmp_path / f"project-{name}"),
                          tracking_uri=tracking_uri, export_dir=str(tmp_path / f"export-{name}"),
                          **extra)
    return run_search(config)


def _first_trial(client, summary):
    runs = child_runs(client, summary)
    return min(runs, key=lambda r: r.info.start_time)


def test_a_warm_started_search_first_trains_the_earlier_best(
        tmp_path, tracking_uri, experiment_name, mlflow_client, tiny_search):
    earlier_config, earlier, _ = tiny_search  # the earlier search: the shared one
    # the new search, by experiment name and then by parent run id, with another seed
    for spec, name in [(earlier_config.experiment, "by-name"),
                       (earlier["parent_run_id"], "by-id")]:
        later = _search(tmp_path, name, tracking_uri, experiment_name + "-" + name, seed=7,
                        warm_start=spec)
        first = _first_trial(mlflow_client, later)
        assert {k: first.data.params[k] for k in earlier["best_hyperparameters"]} == \
            {k: str(v) for k, v in earlier["best_hyperparameters"].items()}
        parent = mlflow_client.get_run(later["parent_run_id"])
        assert parent.data.tags[warm_start.TAG_FROM] == earlier["parent_run_id"]


def test_warm_start_from_nothing_is_a_usage_error(tmp_path, tracking_uri, experiment_name):
    with pytest.raises(UsageError, match=r"--warm-start 'no-such-search': no finished search "
                                         r"with that experiment name or parent run id"):
        _search(tmp_path, "x", tracking_uri, experiment_name, seed=0,
                warm_start="no-such-search")


def test_queued_values_come_first_then_random_ones():
    space = keras_tuner.HyperParameters()
    small_bridge_net((8, 8, 1), 10, 16.0).build(space)
    given = {"bridge": "flatten", "residual_blocks": 1, "flatten_pool": 2,
             "learning_rate": 0.001, "dropout": 0.25}
    values = kt_compat.complete_values(space, given)
    assert {k: values[k] for k in given} == given
    assert kt_compat.complete_values(space, {"not_a_hp": 1}) is None
