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
    config = SearchConfig(**{**TINY, **extra}, seed=seed, experiment=experiment,
                          project_dir=str(tmp_path / f"project-{name}"),
                          tracking_uri=tracking_uri, export_dir=str(tmp_path / f"export-{name}"))
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


# ----- issue 27 item 14: values of another space are fitted, said and tagged -------
def _space_of_bridge(**pinned):
    from spaces.bridge_net import HyperBridgeNet
    space = keras_tuner.HyperParameters()
    HyperBridgeNet((8, 8, 1), 10, 16.0, **pinned).build(space)
    return space


@pytest.mark.parametrize("params, expected, change", [
    ({"residual_blocks": "3"}, {"residual_blocks": 1}, "residual_blocks 3 -> 1 (clipped to 0..1)"),
    ({"residual_blocks": "-2"}, {"residual_blocks": 0}, "residual_blocks -2 -> 0 (clipped to 0..1)"),
    ({"learning_rate": "0.1"}, {"learning_rate": 0.005}, "learning_rate 0.1 -> 0.005 (clipped"),
    ({"bridge": "gap", "residual_blocks": "1"}, {"bridge": "gap", "residual_blocks": 1}, None),
    ({"filters": "32"}, {}, "filters 32 -> 8 (fixed in this space)"),
    ({"filters": "8"}, {}, None),
])
def test_warm_start_values_outside_the_space_are_clipped_and_named(params, expected, change):
    space = keras_tuner.HyperParameters()
    small_bridge_net((8, 8, 1), 10, 16.0).build(space)  # residual_blocks 0..1, filters 8
    values, changes = warm_start.fit_to_space(params, space)
    assert values == expected
    if change is None:
        assert changes == []
    else:
        assert len(changes) == 1 and changes[0].startswith(change)


@pytest.mark.parametrize("text, expected, why", [
    ("8", 16, "nearest of [16, 32]"), ("64", 32, "nearest of [16, 32]"),
    ("32", 32, None)])
def test_a_choice_this_space_lacks_becomes_the_nearest(text, expected, why):
    values, changes = warm_start.fit_to_space({"filters": text}, _space_of_bridge())
    assert values == {"filters": expected}
    assert changes == ([] if why is None else [f"filters {text} -> {expected} ({why})"])


def test_warm_start_from_another_space_says_what_changed_and_tags_what_trained(
        tmp_path, tracking_uri, experiment_name, mlflow_client, tiny_search, caplog):
    """tiny_search is bridge-small (filters 8, dense_units 16 fixed); the space
    `bridge` has neither value: the first trial trains the nearest, and says so."""
    import json
    earlier_config, earlier, _ = tiny_search
    with caplog.at_level("INFO", logger="search"):
        later = _search(tmp_path, "bridge", tracking_uri, experiment_name, seed=7,
                        warm_start=earlier_config.experiment, space="bridge")
    said = [r.getMessage() for r in caplog.records if "outside space 'bridge'" in r.getMessage()]
    assert len(said) == 1 and "filters 8 -> 16 (nearest of [16, 32])" in said[0]
    assert "dense_units 16 -> 32" in said[0]
    tags = mlflow_client.get_run(later["parent_run_id"]).data.tags
    trained = json.loads(tags[warm_start.TAG_VALUES])
    first = _first_trial(mlflow_client, later)
    assert {k: first.data.params[k] for k in trained} == {k: str(v) for k, v in trained.items()}
    assert trained["filters"] == 16 and "filters 8 -> 16" in tags[warm_start.TAG_CHANGED]


# ----- issue 27 item 16: a refused warm start leaves nothing --------------------------
@pytest.mark.parametrize("store", ["existing", "missing"])
def test_a_refused_warm_start_leaves_no_experiment_and_no_folder(
        tmp_path, tracking_uri, experiment_name, mlflow_client, store):
    from tests.conftest import run_cli_here
    uri = tracking_uri if store == "existing" else f"sqlite:///{tmp_path}/none/m.db"
    result = run_cli_here("run", "--space", "bridge-small", "--max-epochs", "1", "--factor", "2",
                          "--experiment", experiment_name, "--project-dir", "proj",
                          "--tracking-uri", uri, "--warm-start", "nosuch", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "--warm-start 'nosuch': no finished search" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no project, no store, no export
    assert mlflow_client.get_experiment_by_name(experiment_name) is None
