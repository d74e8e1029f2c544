"""The accuracy defaults of the bridge space are visible and overridable:
BatchNorm momentum, upsampling of tiny inputs, the random shift, the filter
choices and the learning-rate range (figures: docs/benchmarks.md, "Training
defaults for small data"; docs/budget.md, "First-round trials")."""

import keras
import keras_tuner
import numpy as np

from spaces.bridge_net import (DEFAULT_BN_MOMENTUM, DEFAULT_FILTER_CHOICES,
                               DEFAULT_LEARNING_RATE_RANGE, DEFAULT_MIN_SIZE,
                               DEFAULT_SHIFT_PIXELS, FILTERS, LEARNING_RATE, HyperBridgeNet)


def declared(hypermodel):
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    return {p.name: p for p in hp.space}, hp


def test_the_built_model_applies_every_default():
    space, hp = declared(HyperBridgeNet((8, 8, 1), 10, pixel_max=16))
    assert list(space[FILTERS].values) == list(DEFAULT_FILTER_CHOICES)
    assert (space[LEARNING_RATE].min_value, space[LEARNING_RATE].max_value) == \
        DEFAULT_LEARNING_RATE_RANGE
    model = HyperBridgeNet((8, 8, 1), 10, pixel_max=16).build(hp)
    assert {layer.momentum for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)} == {DEFAULT_BN_MOMENTUM}
    assert model.get_layer("upsample").output.shape[1:3] == (DEFAULT_MIN_SIZE,) * 2
    assert ("random_shift" in {layer.name for layer in model.layers}) == bool(
        DEFAULT_SHIFT_PIXELS)


def test_every_default_can_be_overridden():
    hypermodel = HyperBridgeNet((8, 8, 1), 10, pixel_max=16, bn_momentum=0.99, min_size=0,
                                filter_choices=(8, 64), learning_rate_range=(1e-4, 1e-2))
    space, hp = declared(hypermodel)
    assert list(space[FILTERS].values) == [8, 64]
    assert (space[LEARNING_RATE].min_value, space[LEARNING_RATE].max_value) == (1e-4, 1e-2)
    model = hypermodel.build(hp)
    assert model.get_layer("stem_bn").momentum == 0.99
    assert "upsample" not in {layer.name for layer in model.layers}


def test_random_shift_moves_images_while_training_and_never_at_inference():
    hypermodel = HyperBridgeNet((8, 8, 1), 10, pixel_max=16, shift_pixels=1)
    _, hp = declared(hypermodel)
    model = hypermodel.build(hp)
    shift = model.get_layer("random_shift")
    images = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(shift(images, training=False)), images)
    assert not np.allclose(np.asarray(shift(images, training=True)), images)
    # At inference the whole model ignores the layer: same output with it or without.
    without = HyperBridgeNet((8, 8, 1), 10, pixel_max=16).build(hp)
    without.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(images * 16, verbose=0),
                               without.predict(images * 16, verbose=0), atol=1e-6)
