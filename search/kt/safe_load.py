"""Keras safe mode: a model file that holds Python code (a Lambda layer's
bytecode) is refused unless the user opts in."""

from pathlib import Path

import keras

from search.core.errors import UsageError


def code_layers(model: keras.Model) -> list[str]:
    """Names of the layers that hold Python code (Lambda), nested models included:
    Keras safe mode refuses to load a file with them."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.Lambda):
            found.append(layer.name)
        found += code_layers(layer)
    return found


def load_model_safely(path: str | Path, unsafe: bool = False,
                      flag: str = "--unsafe-load") -> keras.Model:
    """Load a .keras file in Keras safe mode: a file holding Python code (a
    Lambda layer's bytecode) is refused unless the user opts in with `flag`."""
    try:
        return keras.models.load_model(path, safe_mode=not unsafe)
    except ValueError as error:
        if unsafe or "safe_mode" not in str(error):
            raise
        raise UsageError(f"{path.name if hasattr(path, 'name') else path}: the model holds "
                         f"Python code (e.g. a Lambda layer), which Keras safe mode refuses "
                         f"to load; pass {flag} only if you trust where it came from.") from None
