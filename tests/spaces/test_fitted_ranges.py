"""The space fits the image (issue 26 item 3): depth, filters and the learning
rate range follow one rule (spaces/bridge_net.py, fitted_ranges), shown on the
three shapes the issue names; an explicit value still wins; and the augmentation
hyperparameter (item 2) acts while training only."""

import keras
import keras_tuner
import numpy as np
import pytest

from spaces import blocks
from spaces.bridge_net import AUGMENT, HyperBridgeNet, fitted_ranges


@pytest.mark.parametrize("shape, depth, filters, rates", [
    ((8, 8, 1), 3, (16, 32), (2e-3, 5e-3)),      # digits: upsampled to 16x16
    ((28, 28, 1), 3, (16, 32), (2e-3, 5e-3)),    # MNIST-like: the measured defaults
    ((32, 32, 3), 4, (32, 64), (1.5e-3, 5e-3)),  # CIFAR-like
    ((64, 64, 3), 5, (32, 64), (1.2e-3, 5e-3)),
    ((224, 224, 3), 5, (32, 64), (1.2e-3, 5e-3)),
])
def test_the_rule_on_each_shape(shape, depth, filters, rates):
    fitted = fitted_ranges(shape)
    assert fitted["max_residual_blocks"] == depth
    assert fitted["filter_choices"] == filters
    assert fitted["learning_rate_range"] == pytest.approx(rates)
    space = HyperBridgeNet(shape, 10)
    assert (space.max_residual_blocks, tuple(space.filter_choices)) == (depth, filters)


@pytest.mark.parametrize("side", range(4, 200, 7))
def test_the_deepest_map_keeps_at_least_four_pixels(side):
    depth = fitted_ranges((side, side, 1))["max_residual_blocks"]
    upsampled = max(side, 16)
    assert upsampled / 2 ** (depth - 1) >= 4 or depth == 1


def test_given_values_win_over_the_rule():
    space = HyperBridgeNet((64, 64, 3), 10, max_residual_blocks=2, filter_choices=(8,),
                           learning_rate_range=(1e-3, 2e-3))
    assert (space.max_residual_blocks, space.filter_choices,
            space.learning_rate_range) == (2, [8], (1e-3, 2e-3))


def _model(level, allow_flips=False):
    hp = keras_tuner.HyperParameters()
    return HyperBridgeNet((28, 28, 1), 10, augment=level, allow_flips=allow_flips,
                          residual_blocks=1, bridge="gap").build(hp), hp


def test_augmentation_acts_while_training_only():
    keras.utils.set_random_seed(0)
    strong, _ = _model("strong")
    plain, _ = _model("none")
    plain.set_weights(strong.get_weights())  # augmentation layers hold no weights
    images = np.random.default_rng(0).integers(0, 255, (4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(strong(images, training=False), plain(images, training=False),
                               rtol=1e-5, atol=1e-6)
    augmented = strong.get_layer("augment_zoom").output
    probe = keras.Model(strong.input, augmented)
    assert not np.allclose(probe(images, training=True), probe(images, training=False))


def test_flips_only_when_allowed_and_every_level_is_a_choice():
    names = lambda model: {layer.name for layer in model.layers}  # noqa: E731
    assert "augment_flip" not in names(_model("strong")[0])
    assert "augment_flip" in names(_model("strong", allow_flips=True)[0])
    assert not any(n.startswith("augment") for n in names(_model("none")[0]))
    hp = keras_tuner.HyperParameters()
    HyperBridgeNet((8, 8, 1), 10).build(hp)
    assert list(hp.space[[p.name for p in hp.space].index(AUGMENT)].values) == \
        list(blocks.AUGMENTATIONS)


def test_the_shipped_model_has_no_augmentation_and_converts_to_tflite(tmp_path):
    """Keras' augmentation layers keep their random ops in the traced graph (TFLite
    refuses them): the winner is shipped with Identity in their place, same
    weights, same outputs."""
    from search.kt.training import inference_model
    from search.winner import tflite
    keras.utils.set_random_seed(0)
    trained, _ = _model("strong", allow_flips=True)
    shipped = inference_model(trained)
    assert not [layer.name for layer in shipped.layers
                if layer.name.startswith("augment") and type(layer).__name__ != "Identity"]
    images = np.random.default_rng(1).integers(0, 255, (3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(shipped.predict(images, verbose=0),
                               trained.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert tflite.TFLITE_FILE in tflite.write_tflite(shipped, tmp_path)
    plain, _ = _model("none")
    assert inference_model(plain) is plain
