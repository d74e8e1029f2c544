import keras_tuner
import numpy as np
import pytest

import spaces
from spaces import blocks
from spaces.bridge_net import (BRIDGE, DENSE_UNITS, FLATTEN_POOL, LEARNING_RATE, RESIDUAL_BLOCKS,
                               HyperBridgeNet)


def fixed_hp(**values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


@pytest.mark.parametrize("bridge", blocks.BRIDGES)
@pytest.mark.parametrize("input_shape,num_classes", [((8, 8, 1), 10), ((32, 24, 3), 5)])
def test_every_bridge_builds_with_right_output_shape(bridge, input_shape, num_classes):
    model = HyperBridgeNet(input_shape, num_classes).build(fixed_hp(bridge=bridge))
    assert model.output_shape == (None, num_classes)
    batch = np.random.uniform(0, 255, size=(2, *input_shape)).astype("float32")
    probabilities = model.predict(batch, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_flatten_head_has_h_times_w_the_parameters_of_gap(depth):
    net = HyperBridgeNet((20, 20, 1), 10, min_size=0)

    def head_params(bridge):
        hp = fixed_hp(bridge=bridge, residual_blocks=depth, dense_units=64, filters=16)
        if bridge == blocks.FLATTEN:
            hp.Fixed(FLATTEN_POOL, 1)
        model = net.build(hp)
        feature_map = model.get_layer(f"bridge_{bridge}").input
        return model.get_layer("head_dense").count_params(), feature_map.shape

    gap_params, _ = head_params(blocks.GLOBAL_AVG)
    flatten_params, shape = head_params(blocks.FLATTEN)
    height, width = shape[1], shape[2]
    # Dense kernel: (H*W*C) x units for Flatten vs C x units for GAP (+ same bias).
    units = 64
    assert flatten_params - units == height * width * (gap_params - units)
    assert height * width > 1


def test_concat_bridge_doubles_the_features():
    model = HyperBridgeNet((16, 16, 1), 10).build(fixed_hp(bridge="concat", filters=16,
                                                          residual_blocks=1))
    assert model.get_layer("bridge_concat").output.shape[-1] == 2 * 16


def test_residual_blocks_project_when_width_changes():
    model = HyperBridgeNet((16, 16, 1), 10).build(fixed_hp(residual_blocks=3, filters=16))
    names = {layer.name for layer in model.layers}
    assert "res0_proj" not in names  # same width as the stem: identity skip
    assert {"res1_proj", "res2_proj"} <= names
    assert model.get_layer("res2_add").output.shape[-1] == 64


def test_flatten_pool_exists_only_for_flatten():
    net = HyperBridgeNet((8, 8, 1), 10)
    for bridge in blocks.BRIDGES:
        hp = fixed_hp(bridge=bridge)
        net.build(hp)
        assert hp.is_active(FLATTEN_POOL) == (bridge == blocks.FLATTEN)
        assert (FLATTEN_POOL in hp.values) == (bridge == blocks.FLATTEN)


def test_default_space_tunes_all_required_hyperparameters():
    hp = keras_tuner.HyperParameters()
    HyperBridgeNet((8, 8, 1), 10).build(hp)
    names = {p.name for p in hp.space}
    assert {BRIDGE, RESIDUAL_BLOCKS, DENSE_UNITS, "filters", "dropout", "learning_rate"} <= names
    assert set(hp.space[0].values) == set(blocks.BRIDGES)
    depth = next(p for p in hp.space if p.name == RESIDUAL_BLOCKS)
    assert (depth.min_value, depth.max_value) == (0, 3)


def test_pinned_argument_fixes_the_value():
    hp = keras_tuner.HyperParameters()
    HyperBridgeNet((8, 8, 1), 10, bridge="gap").build(hp)
    assert hp.values[BRIDGE] == "gap"
    assert isinstance(hp._hps[BRIDGE][0], keras_tuner.engine.hyperparameters.Fixed)


def test_model_takes_raw_pixels_and_upsamples_tiny_inputs():
    model = HyperBridgeNet((8, 8, 1), 10, pixel_max=16).build(fixed_hp(bridge="gap"))
    assert model.get_layer("upsample").output.shape[1:3] == (16, 16)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 16)


@pytest.mark.parametrize("name", sorted(spaces.SPACES))
def test_every_registered_space_builds(name):
    hypermodel = spaces.load_space(name, (8, 8, 1), 3, pixel_max=16)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 3)


def test_bad_arguments_say_what_is_accepted():
    with pytest.raises(ValueError, match=r"bridge must be one of .* but got 'avg'"):
        HyperBridgeNet((8, 8, 1), 10, bridge="avg")
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)"):
        HyperBridgeNet((8, 8), 10)


def test_pooled_bridge_with_fewer_than_two_blocks_is_rejected_with_the_rule():
    # Figures (near-chance first rounds of such models): docs/budget.md.
    everything = HyperBridgeNet((8, 8, 1), 10, min_pooled_blocks=0)
    assert everything.rejects({BRIDGE: "gap", RESIDUAL_BLOCKS: 0}) is None
    space = HyperBridgeNet((8, 8, 1), 10)  # the default rule: 2 blocks at least
    for bridge in ("gap", "gmp", "concat"):
        for depth in (0, 1):
            assert space.rejects({BRIDGE: bridge, RESIDUAL_BLOCKS: depth}) == (
                f"bridge {bridge!r} needs residual_blocks >= 2, got {depth}")
        assert space.rejects({BRIDGE: bridge, RESIDUAL_BLOCKS: 2}) is None
    assert space.rejects({BRIDGE: "flatten", RESIDUAL_BLOCKS: 0}) is None
    # A depth the caller pinned is theirs; a space of at most one block keeps it.
    pinned = HyperBridgeNet((8, 8, 1), 10, residual_blocks=0, min_pooled_blocks=2)
    assert pinned.rejects({BRIDGE: "gap", RESIDUAL_BLOCKS: 0}) is None
    shallow = HyperBridgeNet((8, 8, 1), 10, max_residual_blocks=1, min_pooled_blocks=2)
    assert shallow.rejects({BRIDGE: "gap", RESIDUAL_BLOCKS: 1}) is None
    assert shallow.rejects({BRIDGE: "gap", RESIDUAL_BLOCKS: 0}) is not None


def test_flatten_above_its_rate_cap_is_rejected_with_the_rule():
    # Figures (a 28x28 Flatten model at 5e-3 ends its first round at 0.47): docs/budget.md.
    space = HyperBridgeNet((8, 8, 1), 10)  # rates 2e-3..5e-3, Flatten's cap 3e-3
    assert space.rejects({BRIDGE: "flatten", RESIDUAL_BLOCKS: 3, LEARNING_RATE: 0.004}) == (
        "bridge 'flatten' needs learning_rate <= 0.003, got 0.004")
    assert space.rejects({BRIDGE: "flatten", RESIDUAL_BLOCKS: 3, LEARNING_RATE: 0.003}) is None
    assert space.rejects({BRIDGE: "gap", RESIDUAL_BLOCKS: 2, LEARNING_RATE: 0.005}) is None
    # A rate the caller pinned, or a range moved past the cap, is theirs.
    pinned = HyperBridgeNet((8, 8, 1), 10, learning_rate=0.005)
    assert pinned.rejects({BRIDGE: "flatten", LEARNING_RATE: 0.005}) is None
    moved = HyperBridgeNet((8, 8, 1), 10, learning_rate_range=(4e-3, 1e-2))
    assert moved.rejects({BRIDGE: "flatten", LEARNING_RATE: 0.008}) is None
    uncapped = HyperBridgeNet((8, 8, 1), 10, max_flatten_learning_rate=None)
    assert uncapped.rejects({BRIDGE: "flatten", LEARNING_RATE: 0.005}) is None


def test_rules_name_only_what_can_be_drawn():
    assert HyperBridgeNet((8, 8, 1), 10).rules() == [
        "gap, gmp, concat only with residual_blocks >= 2",
        "flatten only with learning_rate <= 0.003"]
    assert HyperBridgeNet((8, 8, 1), 10, bridge="gap").rules() == [
        "gap, gmp, concat only with residual_blocks >= 2"]
    assert HyperBridgeNet((8, 8, 1), 10, bridge="flatten").rules() == [
        "flatten only with learning_rate <= 0.003"]
    assert HyperBridgeNet((8, 8, 1), 10, residual_blocks=3, learning_rate=0.004).rules() == []
