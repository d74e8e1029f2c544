"""`--data digits`: scikit-learn's bundled 8x8 handwritten digits."""

import numpy as np

from search.data.images import ImageData, stratified_split


def load_digits(val_split: float = 0.15, seed: int = 0) -> ImageData:
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
