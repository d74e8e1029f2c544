import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest


@pytest.fixture(autouse=True)
def seeded_fresh_keras():
    """Every test starts from the same seed and an empty Keras session."""
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()
