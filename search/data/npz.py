"""`--data npz:PATH`: arrays x_train, y_train[, x_val, y_val][, x_test, y_test].

Images are (N, H, W) or (N, H, W, C) with C in 1..4; labels one integer class
per image, 0..K-1, every class present in y_train. uint8 images stay uint8.
"""

import zipfile
from pathlib import Path

import numpy as np

from search.data.images import make_image_data
from search.core.errors import UsageError

SPLITS = ("train", "val", "test")
HOW_TO_SAVE = "numpy.savez(PATH, x_train=images, y_train=labels[, x_val=..., y_val=..., " \
              "x_test=..., y_test=...])"


def load_npz(spec, path_text, val_split, seed):
    arrays = _read(spec, Path(path_text).expanduser())
    if not {"x_train", "y_train"} <= arrays.keys():
        raise UsageError(f"--data {spec}: missing arrays "
                         f"{sorted({'x_train', 'y_train'} - arrays.keys())}; found "
                         f"{sorted(arrays)}. Save with {HOW_TO_SAVE}.")
    splits = {split: _pair(spec, arrays, split) for split in SPLITS}
    _check_same_image_shape(spec, splits)
    num_classes = _check_labels(spec, splits)
    return make_image_data(spec, splits, [str(c) for c in range(num_classes)], val_split,
                           seed)


def _read(spec, path):
    if not path.is_file():
        raise UsageError(f"--data {spec}: no such file; expected an .npz saved with "
                         f"{HOW_TO_SAVE}.")
    _check_magic(spec, path)
    try:
        loaded = np.load(path, allow_pickle=False)  # never run pickled code from a file
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not named arrays")
        with loaded:
            return dict(loaded)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"--data {spec}: cannot read it as .npz ({reason}); save it with "
                         f"{HOW_TO_SAVE}.") from None


# numpy.load takes any file that is neither a zip (.npz) nor an .npy for a pickle,
# so a damaged file would be reported as "pickled data": look at the first bytes.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


def _check_magic(spec, path):
    with open(path, "rb") as file:
        head = file.read(6)
    if not head.startswith(ZIP_MAGIC + (NPY_MAGIC,)):
        raise UsageError(f"--data {spec}: is damaged or not an .npz file (its first bytes "
                         f"{head[:4]!r} are not those of a zip archive); save it again with "
                         f"{HOW_TO_SAVE}.")


def _pair(spec, arrays, split):
    """(images, labels) of one split, checked; None when the file has neither."""
    x_key, y_key = f"x_{split}", f"y_{split}"
    if x_key not in arrays and y_key not in arrays:
        return None
    if x_key not in arrays or y_key not in arrays:
        present, absent = (x_key, y_key) if x_key in arrays else (y_key, x_key)
        raise UsageError(f"--data {spec}: has {present} but no {absent}; give both or "
                         f"neither.")
    x, y = _images(spec, x_key, arrays[x_key]), _labels(spec, y_key, arrays[y_key])
    if len(x) != len(y):
        raise UsageError(f"--data {spec}: {x_key} has {len(x)} images but {y_key} has "
                         f"{len(y)} labels; they must be the same length.")
    if len(x) == 0:
        raise UsageError(f"--data {spec}: {x_key} is empty; give at least one image per "
                         f"class.")
    return x, y


def _images(spec, key, array):
    _check_real(spec, key, array)
    if not (np.issubdtype(array.dtype, np.number) and array.ndim in (3, 4)
            and (array.ndim == 3 or 1 <= array.shape[-1] <= 4)):
        raise UsageError(f"--data {spec}: {key} has shape {array.shape} and dtype "
                         f"{array.dtype}; expected numbers shaped (N, H, W) or (N, H, W, C) "
                         f"with C in 1..4 (channels last).")
    array = array if array.dtype == np.uint8 else array.astype("float32")
    return array[..., np.newaxis] if array.ndim == 3 else array


def _check_real(spec, key, array):
    """Complex numbers would lose their imaginary part with numpy's ComplexWarning."""
    if np.iscomplexobj(array):
        raise UsageError(f"--data {spec}: {key} holds complex numbers (dtype {array.dtype}); "
                         f"expected real numbers: save numpy.abs({key}) or {key}.real.")


def _labels(spec, key, array):
    _check_real(spec, key, array)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise UsageError(f"--data {spec}: {key} has shape {array.shape}; expected one "
                         f"integer class per image, shape (N,) (one-hot labels? save "
                         f"labels.argmax(axis=1)).")
    if not np.issubdtype(array.dtype, np.number):
        raise UsageError(f"--data {spec}: {key} holds non-integer labels of dtype "
                         f"{array.dtype} (e.g. {array[0].item()!r}); expected integer classes "
                         f"0..K-1.")
    fractional = np.flatnonzero(array != np.round(array))
    if fractional.size:
        index = fractional[0]
        raise UsageError(f"--data {spec}: {key} holds non-integer labels, e.g. "
                         f"{array[index].item()!r} at index {index}; expected integer classes "
                         f"0..K-1.")
    return array.astype("int64")


def _check_same_image_shape(spec, splits):
    shape = splits["train"][0].shape[1:]
    for split, pair in splits.items():
        if pair is not None and pair[0].shape[1:] != shape:
            raise UsageError(f"--data {spec}: x_{split} images are {pair[0].shape[1:]} but "
                             f"x_train images are {shape}; every split needs one shape.")


def _check_labels(spec, splits):
    """Labels are class indices 0..K-1, K = max(y_train) + 1; returns K."""
    y_train = splits["train"][1]
    num_classes = int(y_train.max()) + 1
    for split, pair in splits.items():
        if pair is None:
            continue
        labels = pair[1]
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if bad.size:
            raise UsageError(f"--data {spec}: y_{split} holds label {bad[0].item()}, out of range: "
                             f"y_train's classes are 0..{num_classes - 1}; labels must be "
                             f"0..K-1 with every class in y_train.")
    missing = sorted(set(range(num_classes)) - set(np.unique(y_train).tolist()))
    if missing:
        raise UsageError(f"--data {spec}: classes {missing[:5]} never occur in y_train "
                         f"though labels go up to {num_classes - 1}; labels must be 0..K-1 "
                         f"with every class present (1-based labels? subtract 1).")
    if num_classes < 2:
        raise UsageError(f"--data {spec}: y_train holds a single class; a classifier needs "
                         f"at least 2.")
    return num_classes
