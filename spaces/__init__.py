"""Search spaces: keras-tuner HyperModels, found by name or loaded from a file.

A space is a factory called as `factory(input_shape=..., num_classes=...,
pixel_max=...)` that returns a `keras_tuner.HyperModel`. Users plug in their own
with `--space path/to/file.py:ClassName`; the class receives those keyword
arguments that its `__init__` accepts.
"""

import functools
import importlib
import importlib.util
import inspect
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras_tuner loads TensorFlow: only for the type checker
    import keras_tuner

__all__ = ["SPACES", "BRIDGES", "HyperBridgeNet", "SpaceError", "check_space_spec",
           "load_space", "describe_space", "summary_keys"]

# name -> "module:attribute" of its factory, imported only when the space is
# loaded: the names (and a bad --space) are known without importing TensorFlow.
SPACES = {
    # The default: every bridge, 0-3 residual blocks, width, filters, dropout, lr.
    "bridge": "spaces.bridge_net:HyperBridgeNet",
    # A smaller space for quick looks and tests: at most one residual block,
    # narrow layers. Same hyperparameter names, so its runs compare with "bridge".
    "bridge-small": "spaces.bridge_net:small_bridge_net",
}

DEFAULT_SPACE = "bridge"
# The default space's summary keys (HyperBridgeNet.summary_keys), also what searches
# logged before spaces named their own are shown with.
BRIDGE_NET_SUMMARY_KEYS = {"bridge": "bridge", "residual_blocks": "depth",
                           "dense_units": "width"}
_LAZY = {"HyperBridgeNet": "spaces.bridge_net", "BRIDGES": "spaces.blocks"}


def __getattr__(name):  # `spaces.HyperBridgeNet` and `spaces.BRIDGES` import Keras on use
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'spaces' has no attribute {name!r}")


class SpaceError(ValueError):
    """The --space value names no space, or its file does not hold a HyperModel."""


def check_space_spec(spec):
    """Judge a --space value without importing anything: a registered name, or
    FILE.py:Class where the file exists. Raises SpaceError."""
    if spec in SPACES:
        return
    if ":" not in spec:
        raise SpaceError(f"--space {spec!r} is not a registered space; accepted: "
                         f"{', '.join(sorted(SPACES))}, or path/to/file.py:ClassName.")
    path_text, _, _ = spec.rpartition(":")
    path = Path(path_text)
    if path.suffix != ".py" or not path.is_file():
        raise SpaceError(f"--space {spec}: file {path_text!r} does not exist or is not a "
                         f".py file; expected path/to/file.py:ClassName.")


def load_space(spec: str, input_shape: Sequence[int], num_classes: int,
               pixel_max: float = 255.0) -> "keras_tuner.HyperModel":
    """Return the HyperModel named by `spec`: a registry name or FILE.py:Class."""
    factory = _find_factory(spec)
    kwargs = {"input_shape": tuple(input_shape), "num_classes": int(num_classes),
              "pixel_max": float(pixel_max)}
    if not isinstance(factory, functools.partial):
        accepted = inspect.signature(factory).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
        kwargs = {k: v for k, v in kwargs.items() if takes_any or k in accepted}
    import keras_tuner
    try:
        hypermodel = factory(**kwargs)
    except Exception as error:  # a user's constructor may raise anything
        raise SpaceError(f"--space {spec}: creating the space failed: "
                         f"{type(error).__name__}: {error}") from error
    if not isinstance(hypermodel, keras_tuner.HyperModel):
        raise SpaceError(f"--space {spec}: expected a keras_tuner.HyperModel, but got "
                         f"{type(hypermodel).__name__}. Subclass keras_tuner.HyperModel.")
    return hypermodel


def _find_factory(spec):
    check_space_spec(spec)
    if spec in SPACES:
        module_name, _, attribute = SPACES[spec].partition(":")
        return getattr(importlib.import_module(module_name), attribute)
    import keras_tuner
    path_text, _, class_name = spec.rpartition(":")
    module = _import_file(Path(path_text), spec)
    factory = getattr(module, class_name, None)
    if factory is None:
        raise SpaceError(f"--space {spec}: {path_text} defines no {class_name!r}.")
    if not (inspect.isclass(factory) and issubclass(factory, keras_tuner.HyperModel)):
        raise SpaceError(f"--space {spec}: {class_name} is not a keras_tuner.HyperModel "
                         f"subclass; got {factory!r}.")
    return factory


def _import_file(path, spec):
    module_spec = importlib.util.spec_from_file_location(f"user_space_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:
        raise SpaceError(f"--space {spec}: importing {path} failed: "
                         f"{type(error).__name__}: {error}") from error
    return module


def describe_space(hypermodel):
    """The hyperparameters a space declares, as keras-tuner configs (for `spaces`)."""
    import keras_tuner
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    return [p.get_config() for p in hp.space]


def summary_keys(hypermodel) -> dict:
    """What a search shows of each trial of this space (the progress line, run
    names, the report, the description): {hyperparameter name: short label}, the
    space's question (what "best per ..." groups by) first. A space says it with a
    `summary_keys` attribute; else its first three hyperparameters are shown."""
    keys = getattr(hypermodel, "summary_keys", None)
    if keys:
        return dict(keys)
    return {config["name"]: config["name"] for config in describe_space(hypermodel)[:3]}
