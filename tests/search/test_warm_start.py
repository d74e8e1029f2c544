"""`--warm-start` (issue 12 item 5): the earlier search's best hyperparameters are
the new search's first trial, and the parent run says where they came from."""

import keras_tuner
import pytest

from search import SearchConfig, run_search
from search.core.errors import UsageError
from search.tracking import warm_start
from search.kt import hp_values
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
             "learning_rate": 0.003, "dropout": 0.25}
    values = hp_values.complete_values(space, given)
    assert {k: values[k] for k in given} == given
    assert hp_values.complete_values(space, {"not_a_hp": 1}) is None


def test_the_warm_trial_is_promoted_even_when_a_random_one_scored_higher(tmp_path):
    """On keras-tuner's own oracle (Hyperband 9/3: first round 9 trials of 1 epoch,
    3 promoted): the warm values score lowest after their single epoch, yet their
    trial is promoted in every round of its bracket and trains all 9 epochs."""
    from search.kt.oracle import make_oracle
    space = keras_tuner.HyperParameters()
    space.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    oracle = make_oracle(9, 3, seed=3, hyperparameters=space)
    oracle._set_project_dir(str(tmp_path), "p")  # keras-tuner saves after each request
    oracle.queued_values = [{"learning_rate": 0.001}]

    def run_round(count, score_of):
        trials = [oracle.create_trial(f"tuner{i}") for i in range(count)]
        for trial in trials:
            oracle.update_trial(trial.trial_id, {"val_accuracy": score_of(trial)})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
        return trials

    first = run_round(9, lambda t: 0.1 if t.hyperparameters.get("learning_rate") == 0.001
                      else 0.5 + 0.01 * int(t.trial_id))
    warm = first[0]
    assert warm.hyperparameters.get("learning_rate") == 0.001  # the queued values went first
    second = run_round(3, lambda t: 0.9)
    assert warm.trial_id in [t.hyperparameters.get("tuner/trial_id") for t in second]
    third = run_round(1, lambda t: 0.9)
    assert third[0].hyperparameters.get("learning_rate") == 0.001
    assert third[0].hyperparameters.get("tuner/epochs") == 9
    # the rest of the second round was promoted on merit: the best random ones
    merit = sorted(first[1:], key=lambda t: -0.01 * int(t.trial_id))[:2]
    assert {t.hyperparameters.get("tuner/trial_id") for t in second} == \
        {warm.trial_id} | {t.trial_id for t in merit}
