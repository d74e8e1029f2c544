"""Data sources -> train / validation / test `tf.data` pipelines + a description.

Sources are named by `--data`: `digits` (bundled scikit-learn digits) or
`npz:PATH`. Every source yields numpy arrays once; the pipelines are built from
them once per search and shared by all trials (decode once, not per trial).
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from search.errors import UsageError

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class ImageData:
    """Split arrays of one dataset. `x_*` are raw pixels (N, H, W, C); `y_*` ints."""
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    class_names: list = field(default_factory=list)

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def pixel_max(self):
        """255 for 8-bit images; the observed maximum for other ranges (16 for digits)."""
        observed = float(self.x_train.max())
        return 255.0 if observed > 16 else max(observed, 1.0)

    def description(self):
        """What makes two searches' data comparable, logged on the parent run."""
        sizes = {"train": len(self.y_train), "val": len(self.y_val),
                 "test": 0 if self.y_test is None else len(self.y_test)}
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_val, self.y_val,
                      self.x_test, self.y_test):
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        return {"data_source": self.source,
                "data_shape": "x".join(str(d) for d in self.input_shape),
                "data_classes": self.num_classes,
                "data_pixel_max": self.pixel_max,
                **{f"data_{name}_size": size for name, size in sizes.items()},
                "data_sha256": digest.hexdigest()[:16]}

    def pipeline(self, split, batch_size, seed, shuffle=None):
        """A cached, batched, prefetched tf.data pipeline of one split."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle if shuffle is not None else split == "train":
            dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(AUTOTUNE)


def load(spec, val_split=0.15, seed=0):
    """Load the data named by `--data`."""
    kind, _, argument = spec.partition(":")
    if kind == "digits" and not argument:
        return load_digits(val_split, seed)
    if kind == "npz" and argument:
        return load_npz(Path(argument), val_split, seed)
    raise UsageError(f"--data {spec!r} is not a known source; accepted: digits, npz:PATH.")


def load_digits(val_split=0.15, seed=0):
    """scikit-learn's 1,797 real 8x8 handwritten digits (pixel values 0..16).

    The split is fixed (seed 0, stratified) whatever the search seed, so searches
    with different seeds are scored on the same validation and test images:
    20% test (360), then `val_split` of the rest for validation (216), 1,221 train.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    x = bunch.images.astype("float32")[..., np.newaxis]
    y = bunch.target.astype("int64")
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=0)
    x_train, x_val, y_train, y_val = stratified_split(x_rest, y_rest, val_split, seed=0)
    return ImageData(x_train, y_train, x_val, y_val, x_test, y_test, source="digits",
                     class_names=[str(c) for c in range(10)])


def stratified_split(x, y, val_split, seed):
    from sklearn.model_selection import train_test_split
    return train_test_split(x, y, test_size=val_split, stratify=y, random_state=seed)


def load_npz(path, val_split=0.15, seed=0):
    """Arrays x_train, y_train[, x_val, y_val][, x_test, y_test] from one .npz file."""
    if not path.is_file():
        raise UsageError(f"--data npz:{path}: no such file; expected an .npz with "
                         f"x_train and y_train arrays.")
    with np.load(path) as arrays:
        arrays = dict(arrays)
    missing = {"x_train", "y_train"} - arrays.keys()
    if missing:
        raise UsageError(f"--data npz:{path}: missing arrays {sorted(missing)}; found "
                         f"{sorted(arrays)}.")
    x_train, y_train = _images(arrays["x_train"]), arrays["y_train"].astype("int64")
    if "x_val" in arrays:
        x_val, y_val = _images(arrays["x_val"]), arrays["y_val"].astype("int64")
    else:
        x_train, x_val, y_train, y_val = stratified_split(x_train, y_train, val_split, seed)
    x_test = _images(arrays["x_test"]) if "x_test" in arrays else None
    y_test = arrays["y_test"].astype("int64") if "y_test" in arrays else None
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    return ImageData(x_train, y_train, x_val, y_val, x_test, y_test, source=f"npz:{path}",
                     class_names=[str(c) for c in range(num_classes)])


def _images(array):
    """(N, H, W) grayscale gets a channel axis; pixels become float32."""
    array = np.asarray(array, dtype="float32")
    return array[..., np.newaxis] if array.ndim == 3 else array
