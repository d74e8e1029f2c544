"""ImageData (the decoded splits and their `tf.data` pipelines) and the helpers
every source uses: the stratified validation split, image conversion, the
check that images fit a space."""

import hashlib
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from search.core.errors import UsageError

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class ImageData:
    """Split arrays of one dataset. `x_*` are raw pixels (N, H, W, C); `y_*` ints.

    `details` holds source-specific facts for the description (file-list hash,
    image size, TFDS version...); `notes` are lines to show the user (skipped files).
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str = ""
    class_names: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def pixel_max(self) -> float:
        """255 for 8-bit images; the observed maximum for other ranges (16 for digits)."""
        if self.x_train.dtype == np.uint8:
            return 255.0  # even a dark image set is 8-bit: its max is not its range
        observed = float(self.x_train.max())
        return 255.0 if observed > 16 else max(observed, 1.0)

    def description(self) -> dict:
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
                "data_sha256": digest.hexdigest()[:16],
                **self.details}

    def pipeline(self, split: str, batch_size: int, seed: int,
                 shuffle: bool | None = None) -> tf.data.Dataset:
        """A cached, shuffled, batched, prefetched tf.data pipeline of one split
        ("train", "val", "test", or "train+val" for the winner's final training).

        Pixels travel as stored (uint8 for 8-bit images: 4x less memory in the
        cache) and become float32 per batch; the model rescales them itself.
        """
        x, y = self._arrays(split)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle if shuffle is not None else split.startswith("train"):
            dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        dataset = dataset.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                              num_parallel_calls=AUTOTUNE)
        return dataset.prefetch(AUTOTUNE)

    def _arrays(self, split):
        parts = split.split("+")
        if len(parts) == 1:  # no copy of the arrays
            return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        return (np.concatenate([getattr(self, f"x_{part}") for part in parts]),
                np.concatenate([getattr(self, f"y_{part}") for part in parts]))


def stratified_split(x, y, val_split, seed, spec="digits"):
    """Hold out `val_split` of (x, y) for validation, every class in proportion."""
    from sklearn.model_selection import train_test_split
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise UsageError(f"--data {spec}: class {classes[counts.argmin()]} has only "
                         f"{counts.min()} training example; a stratified --val-split needs "
                         f"at least 2 per class. Add examples or provide a validation split.")
    n_val = int(np.ceil(val_split * len(y)))
    if not len(classes) <= n_val <= len(y) - len(classes):
        raise UsageError(f"--val-split {val_split} holds out {n_val} of {len(y)} examples, "
                         f"but each of the {len(classes)} classes needs at least one on "
                         f"both sides; choose a --val-split between "
                         f"{len(classes) / len(y):.3f} and {1 - len(classes) / len(y):.3f}.")
    return train_test_split(x, y, test_size=val_split, stratify=y, random_state=seed)


def make_image_data(spec, splits, class_names, val_split, seed, details=None, notes=()):
    """ImageData from {"train": (x, y), "val": ..., "test": ...}; a missing
    validation split is cut from train (stratified, seeded)."""
    x_train, y_train = splits["train"]
    if splits.get("val") is None:
        x_train, x_val, y_train, y_val = stratified_split(x_train, y_train, val_split, seed,
                                                          spec)
    else:
        x_val, y_val = splits["val"]
    x_test, y_test = splits.get("test") or (None, None)
    return ImageData(x_train, y_train, x_val, y_val, x_test, y_test, source=spec,
                     class_names=list(class_names), details=dict(details or {}),
                     notes=list(notes))


def convert_image(image, color=None, image_size=None):
    """One decoded image (H, W, C) -> the asked colour and size, as uint8.

    Resizing is bilinear, as keras' image loaders do; the result is rounded back
    to 8 bits so the decoded set stays small in memory.
    """
    channels = image.shape[-1]
    if color == "grayscale" and channels != 1:
        image = tf.image.rgb_to_grayscale(tf.cast(image[..., :3], tf.float32))
    elif color == "rgb" and channels == 1:
        image = tf.image.grayscale_to_rgb(image)
    elif color == "rgb" and channels == 4:
        image = image[..., :3]  # drop alpha
    if image_size is not None:
        image = tf.image.resize(image, image_size, method="bilinear")
    if image.dtype != tf.uint8:
        image = tf.cast(tf.clip_by_value(tf.round(tf.cast(image, tf.float32)), 0, 255),
                        tf.uint8)
    return image


def check_fits_space(image_data, hypermodel, space):
    """Images smaller than the space's downsampling allows are a usage error.

    A space states its limit as `min_input_size` (smallest height and width its
    every model can take); spaces without it are checked by building a model.
    """
    minimum = getattr(hypermodel, "min_input_size", None)
    height, width = image_data.input_shape[:2]
    if minimum and min(height, width) < minimum:
        raise UsageError(
            f"--data {image_data.source}: images are {height}x{width}, but space "
            f"'{space}' needs at least {minimum}x{minimum} (its downsampling); pass "
            f"--image-size {minimum} {minimum} or larger (folder:, tfds:), or choose a "
            f"space with less downsampling.")
