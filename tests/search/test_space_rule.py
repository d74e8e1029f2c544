"""The search never trains what the space rejects: the default HyperBridgeNet's
pooled bridges after fewer than 2 residual blocks and Flatten above a 3e-3
learning rate (near chance in a first round, docs/budget.md) are drawn again by
the tuner's oracle."""

import keras
import keras_tuner

import spaces
from spaces.bridge_net import HyperBridgeNet
from tests.search.tuner_helpers import bare_tuner


def residual_blocks_in(model):
    return sum(layer.name.endswith("_add") for layer in model.layers)


def test_the_search_draws_no_pooled_bridge_shallower_than_two_blocks_nor_a_fast_flatten(tmp_path):
    hypermodel = HyperBridgeNet((8, 8, 1), 10, pixel_max=16)
    tuner = bare_tuner(hypermodel, tmp_path, max_epochs=4, factor=3, seed=0)
    depths, flatten_rates = {}, []
    for _ in range(24):  # Hyperband opens only a round's trials: ask its random draw
        trial_hp = tuner.oracle.get_space()
        trial_hp.values = tuner.oracle._random_values()
        keras.backend.clear_session()
        built = residual_blocks_in(tuner.hypermodel.build(trial_hp))
        assert built == trial_hp.values["residual_blocks"]  # the logged depth is the model's
        depths.setdefault(trial_hp.values["bridge"], set()).add(built)
        if trial_hp.values["bridge"] == "flatten":
            flatten_rates.append(trial_hp.values["learning_rate"])
    assert set(depths) == set(spaces.BRIDGES)
    flatten = depths.pop("flatten")
    assert min(min(found) for found in depths.values()) == 2
    assert min(flatten) < 2  # Flatten keeps the layout: still drawn shallow
    assert max(flatten_rates) <= 3e-3


def test_a_plain_keras_tuner_space_is_drawn_as_before(tmp_path):
    class NoRule(keras_tuner.HyperModel):
        def build(self, hp):
            hp.Int("units", 1, 4)
            return keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])

    tuner = bare_tuner(NoRule(), tmp_path, max_epochs=4, factor=3, seed=0)
    drawn = {tuner.oracle._random_values()["units"] for _ in range(12)}
    assert drawn == {1, 2, 3, 4}


def test_queued_values_are_trained_as_given_even_against_the_rule(tmp_path):
    """--warm-start queues an earlier search's best, which may predate a rule (a
    Flatten model at 4e-3): it is chosen, not drawn, so it is not drawn again."""
    from search.kt import compat as kt_compat
    hypermodel = HyperBridgeNet((8, 8, 1), 10, pixel_max=16)
    tuner = bare_tuner(hypermodel, tmp_path, max_epochs=4, factor=3, seed=0)
    earlier_best = {"bridge": "flatten", "residual_blocks": 1, "filters": 16,
                    "dense_units": 64, "dropout": 0.25, "learning_rate": 0.004,
                    "flatten_pool": 1}
    assert hypermodel.rejects(earlier_best)
    tuner.oracle.queued_values = [dict(earlier_best)]
    first = kt_compat.draw_values(tuner.oracle)
    assert {name: first[name] for name in earlier_best} == earlier_best
    assert not hypermodel.rejects(kt_compat.draw_values(tuner.oracle))  # then random, ruled
