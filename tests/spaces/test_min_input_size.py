"""A space's `min_input_size` is exact: the deepest Flatten model builds at that
size and not one pixel below, so the data check can name the real minimum."""

import keras_tuner
import pytest

from spaces.bridge_net import FLATTEN_POOL, BRIDGE, RESIDUAL_BLOCKS, HyperBridgeNet


def build_deepest_flatten(hypermodel):
    hp = keras_tuner.HyperParameters()
    hp.Fixed(BRIDGE, "flatten")
    hp.Fixed(RESIDUAL_BLOCKS, hypermodel.max_residual_blocks)
    hp.Fixed(FLATTEN_POOL, 2)
    return hypermodel.build(hp)


@pytest.mark.parametrize("max_blocks, expected", [(1, 2), (2, 3), (3, 5)])
def test_min_input_size_is_the_smallest_side_that_builds(max_blocks, expected):
    def space(side):
        return HyperBridgeNet((side, side, 1), 3, min_size=0, max_residual_blocks=max_blocks)
    assert space(expected).min_input_size == expected
    build_deepest_flatten(space(expected))
    with pytest.raises(ValueError):
        build_deepest_flatten(space(expected - 1))


def test_upsampling_lets_the_default_space_take_any_size():
    hypermodel = HyperBridgeNet((1, 1, 1), 3)
    assert hypermodel.min_input_size == 1
    build_deepest_flatten(hypermodel)
