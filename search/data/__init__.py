"""Data sources -> train / validation / test `tf.data` pipelines + a description.

Sources are named by `--data`: `digits` (bundled scikit-learn digits),
`tfds:NAME[:CONFIG]`, `folder:PATH` and `npz:PATH` (modules in `search/data/`).
Every source decodes its images once, into numpy arrays (8-bit images stay
uint8); the pipelines are built from them once per search and shared by all
trials, so no trial decodes a file again. Every check of the data happens here,
before anything is trained or written to MLflow.
"""

from search.core.errors import UsageError
from search.data.digits import load_digits
from search.data.folder import load_folder
from search.data.images import ImageData, check_fits_space
from search.data.npz import load_npz
from search.data.tfds import load_tfds

__all__ = ["ImageData", "check_fits_space", "load", "load_digits", "load_from_config"]


def load_from_config(config) -> ImageData:
    """The data a SearchConfig names (`--data` and its options)."""
    return load(config.data, config.val_split, config.seed, data_dir=config.data_dir,
                image_size=config.image_size, color=config.color,
                skip_bad_images=config.skip_bad_images)


def load(spec, val_split=0.15, seed=0, *, data_dir=None, image_size=None, color=None,
         skip_bad_images=False):
    """Load the data named by `--data`."""
    kind, _, argument = spec.partition(":")
    if kind == "digits" and not argument:
        return load_digits(val_split, seed)
    if kind == "npz" and argument:
        return load_npz(spec, argument, val_split, seed)
    if kind == "folder" and argument:
        return load_folder(spec, argument, val_split, seed, image_size=image_size,
                           color=color, skip_bad_images=skip_bad_images)
    if kind == "tfds" and argument:
        return load_tfds(spec, argument, val_split, seed, data_dir=data_dir,
                         image_size=image_size, color=color)
    raise UsageError(f"--data {spec!r} is not a known source; accepted: digits, "
                     f"tfds:NAME[:CONFIG], folder:PATH, npz:PATH.")
