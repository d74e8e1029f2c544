"""Small real data sets on disk for the data-source tests: image trees written
with keras' own `save_img`, .npz files, a TFDS dataset built locally."""

from pathlib import Path

import keras
import numpy as np

FORMATS = ("png", "jpg", "bmp", "gif")


def class_pattern(label, size, channels):
    """A different, learnable picture per class: a bright band whose place
    depends on the class, plus a little noise."""
    rng = np.random.default_rng(label)
    image = rng.integers(0, 40, (*size, channels), dtype=np.uint8)
    band = slice(label * size[0] // 4, label * size[0] // 4 + max(size[0] // 4, 1))
    image[band] = 220
    return image


def write_image_tree(root, classes=("cat", "dog", "owl"), per_class=6, size=(10, 12),
                     channels=3, formats=FORMATS):
    """root/CLASS/NNN.EXT; returns {path: the array written} for lossless checks."""
    written = {}
    for label, name in enumerate(classes):
        (Path(root) / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            image = class_pattern(label, size, channels)
            image[0, 0] = index  # every file differs
            path = Path(root) / name / f"{index:03d}.{formats[index % len(formats)]}"
            keras.utils.save_img(path, image, scale=False)
            written[path] = image
    return written


def write_split_tree(root, splits=(("train", 6), ("test", 3)), **tree):
    for split, per_class in splits:
        write_image_tree(Path(root) / split, per_class=per_class, **tree)
    return Path(root)


def write_npz(path, n_train=30, num_classes=3, size=(8, 8), **overrides):
    y = np.arange(n_train) % num_classes
    x = np.stack([class_pattern(int(label), size, 1)[..., 0] for label in y])
    arrays = {"x_train": x, "y_train": y, **overrides}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return Path(path)


def build_local_tfds(data_dir, name="bridge_tiny", sizes=(("train", 24), ("test", 9)),
                     size=(12, 12)):
    """A real TFDS dataset prepared in `data_dir` (TFRecords + dataset_info.json),
    loadable by name with `tfds.builder(name, data_dir=data_dir)`."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    features = tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(*size, 1)),
        "label": tfds.features.ClassLabel(names=["bar", "dot", "ring"])})
    splits = {}
    for split, count in sizes:
        labels = np.arange(count) % 3
        images = np.stack([class_pattern(int(label), size, 1) for label in labels])
        splits[split] = tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": labels.astype("int64")})
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name, version="1.0.0", features=features, split_datasets=splits,
        data_dir=str(data_dir))
    return {split: count for split, count in sizes}
