"""A space checked before anything is logged or trained: it loads, its images
fit, it builds, and its models hold no Python code Keras safe mode would refuse
when the winner is loaded at the end."""

import keras
import keras_tuner

import spaces
from search.core.errors import UsageError
from search.data import check_fits_space
from search.kt.safe_load import code_layers


def load_checked_space(spec, image_data):
    """Load the space and build one model from it, so a broken space is a usage
    error before anything is logged or trained."""
    hypermodel = spaces.load_space(spec, image_data.input_shape, image_data.num_classes,
                                   image_data.pixel_max)
    check_fits_space(image_data, hypermodel, spec)
    try:
        model = hypermodel.build(keras_tuner.HyperParameters())
    except Exception as error:
        raise UsageError(f"--space {spec}: building a model failed: "
                         f"{type(error).__name__}: {error}") from error
    else:
        if code_layers(model):  # found now, not when loading the winner at the end
            raise UsageError(
                f"--space {spec}: the model has Lambda layer(s) "
                f"{', '.join(code_layers(model))}; they hold Python code that Keras "
                f"safe mode refuses to load. Write them as layer subclasses registered "
                f"with @keras.saving.register_keras_serializable().")
    finally:
        keras.backend.clear_session()
    return hypermodel
