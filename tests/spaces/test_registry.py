import keras_tuner
import pytest

import spaces

USER_SPACE = '''
import keras
import keras_tuner

class TinySpace(keras_tuner.HyperModel):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.input_shape, self.num_classes = input_shape, num_classes

    def build(self, hp):
        units = hp.Int("units", 4, 8, step=4)
        inputs = keras.Input(self.input_shape)
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(units, activation="relu")(x)
        outputs = keras.layers.Dense(self.num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

class NotAHyperModel:
    pass
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(USER_SPACE)
    return path


def test_user_space_loads_from_file_with_the_arguments_it_accepts(user_file):
    hypermodel = spaces.load_space(f"{user_file}:TinySpace", (8, 8, 1), 4, pixel_max=16)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert model.output_shape == (None, 4)


@pytest.mark.parametrize("spec_suffix,message", [
    (":NotAHyperModel", r"NotAHyperModel is not a keras_tuner.HyperModel subclass"),
    (":Missing", r"defines no 'Missing'"),
])
def test_bad_user_space_names_the_problem(user_file, spec_suffix, message):
    with pytest.raises(spaces.SpaceError, match=message):
        spaces.load_space(f"{user_file}{spec_suffix}", (8, 8, 1), 4)


def test_unknown_space_lists_the_registered_ones():
    with pytest.raises(spaces.SpaceError, match=r"'nope' is not a registered space; accepted: bridge"):
        spaces.load_space("nope", (8, 8, 1), 4)


def test_missing_space_file_is_named(tmp_path):
    with pytest.raises(spaces.SpaceError, match=r"does not exist or is not a \.py file"):
        spaces.load_space(f"{tmp_path}/absent.py:Space", (8, 8, 1), 4)


def test_the_default_space_names_its_summary_keys_question_first():
    from spaces.bridge_net import HyperBridgeNet
    hypermodel = HyperBridgeNet((8, 8, 1), 10)
    assert spaces.summary_keys(hypermodel) == spaces.BRIDGE_NET_SUMMARY_KEYS
    assert next(iter(spaces.BRIDGE_NET_SUMMARY_KEYS)) == "bridge"  # the question
