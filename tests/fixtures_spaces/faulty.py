"""Test spaces whose trials fail on purpose, loaded with --space FILE.py:Class.

`Faulty`: a "fault" hyperparameter picks how a trial goes: "none" trains, "nan"
builds a model whose output (hence loss) is NaN, "oom" raises TensorFlow's
out-of-memory error from fit (what a too-large model on a GPU raises), "build"
raises from build. `AlwaysOOM`: every fit runs out of memory. The first build
(fault "none", the default) always works, so both pass the runner's space check.
"""

import keras
import keras_tuner
import tensorflow as tf

FAULTS = ("none", "nan", "oom", "build")


class Faulty(keras_tuner.HyperModel):
    def __init__(self, input_shape, num_classes, pixel_max=255.0):
        super().__init__()
        self.input_shape, self.num_classes, self.pixel_max = input_shape, num_classes, pixel_max

    def fault(self, hp):
        return hp.Choice("fault", list(FAULTS))

    def build(self, hp):
        fault = self.fault(hp)
        units = hp.Int("units", 8, 32, step=8)
        if fault == "build":
            raise ValueError("this space cannot build a model with fault=build")
        inputs = keras.Input(self.input_shape)
        x = keras.layers.Rescaling(1.0 / self.pixel_max)(inputs)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(units, activation="relu")(x)
        if fault == "nan":
            x = keras.layers.Rescaling(float("nan"))(x)  # every activation NaN
        outputs = keras.layers.Dense(self.num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        if hp.get("fault") == "oom":
            raise tf.errors.ResourceExhaustedError(
                None, None, "OOM when allocating tensor with shape[4096,4096,512]")
        return model.fit(*args, **kwargs)


class AlwaysOOM(Faulty):
    def fault(self, hp):
        return "none"

    def fit(self, hp, model, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[4096,4096,512]")
