"""`--data folder:PATH`: a class-per-subfolder image tree, or train/ test/ [val/] of them.

    PATH/cat/001.png  PATH/dog/002.jpg ...          validation is cut from it
    PATH/train/cat/...  PATH/test/cat/...  [PATH/val/cat/...]   splits as given

Files are indexed, decoded and resized by keras' `image_dataset_from_directory`
(PNG, JPEG, BMP, GIF; an animated GIF gives its first frame), once per search.
Decoding goes through the files in keras' order one by one, so a file that
fails is named, and `--skip-bad-images` can leave it out. Hidden folders and files
(a name starting with "."; Jupyter's .ipynb_checkpoints/, macOS's ._* files) are
left out, and the user is told how many.
"""

import hashlib
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from search.data.images import convert_image, make_image_data
from search.core.errors import UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # keras' allow-list
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
LAYOUT = "PATH/CLASS/IMAGE (one subfolder per class) or PATH/train/CLASS/IMAGE with " \
         "PATH/test/... and optionally PATH/val/..."


def load_folder(spec, path_text, val_split, seed, image_size=None, color=None,
                skip_bad_images=False):
    root = Path(path_text).expanduser()  # "folder:~/pets": the shell leaves ~ alone here
    if not root.is_dir():
        raise UsageError(f"--data {spec}: no such directory; expected {LAYOUT}.")
    split_dirs = _split_dirs(spec, root)
    class_names = _class_names(spec, split_dirs)
    for folder in split_dirs.values():
        _check_every_class_has_images(spec, folder, class_names)
    image_size, color = _fill_defaults(spec, split_dirs["train"], image_size, color)
    splits, paths, bad = {}, [], []
    hidden = _count_hidden(root)
    for split, folder in split_dirs.items():
        splits[split], split_paths, split_bad = _decode(folder, class_names, image_size,
                                                        color)
        paths += split_paths
        bad += split_bad
    if bad and not skip_bad_images:
        path, reason = bad[0]
        raise UsageError(f"--data {spec}: cannot decode {path} ({reason}); {len(bad)} "
                         f"unreadable image file(s) in all. Fix or delete them, or pass "
                         f"--skip-bad-images to leave them out.")
    _check_decoded_classes(spec, split_dirs, splits, class_names)
    details = {"data_files_sha256": _file_list_hash(root, paths),
               "data_image_size": f"{image_size[0]}x{image_size[1]}", "data_color": color,
               "data_skipped_images": len(bad)}
    notes = [f"--skip-bad-images: left out {len(bad)} unreadable image file(s): "
             + ", ".join(f"{path} ({reason})" for path, reason in bad[:3])
             + (" ..." if len(bad) > 3 else "")] if bad else []
    if hidden:
        notes.append(f"--data {spec}: left out {hidden} hidden folder(s)/file(s) (names "
                     f"starting with '.', e.g. .ipynb_checkpoints)")
    return make_image_data(spec, splits, class_names, val_split, seed, details, notes)


def _hidden(path, root):
    return any(part.startswith(".") for part in Path(path).relative_to(root).parts)


def _count_hidden(root):
    """Hidden entries under root, each counted once (not what lies inside them)."""
    count = 0
    for _, dirs, files in os.walk(root):
        count += sum(name.startswith(".") for name in dirs + files)
        dirs[:] = [name for name in dirs if not name.startswith(".")]
    return count


def _subfolders(folder):
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder):
    """Image files under folder, hidden ones left out, sorted."""
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and not _hidden(p, folder))


def _split_dirs(spec, root):
    """{"train": dir[, "val": dir][, "test": dir]}: the root itself when it is a
    plain class tree, its split folders when it holds only train/ val/ test/."""
    names = {p.name for p in _subfolders(root)}
    if "train" not in names or not names <= SPLIT_FOLDERS.keys():
        return {"train": root}
    if {"val", "validation"} <= names:
        raise UsageError(f"--data {spec}: has both val/ and validation/; keep one.")
    return {SPLIT_FOLDERS[name]: root / name for name in sorted(names)}


def _class_names(spec, split_dirs):
    train = split_dirs["train"]
    names = [p.name for p in _subfolders(train)]
    if not names:
        loose = [p.name for p in train.iterdir()
                 if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
        hint = f" ({len(loose)} images lie loose in it)" if loose else ""
        raise UsageError(f"--data {spec}: {train} has no class subfolders{hint}; expected "
                         f"{LAYOUT}.")
    if len(names) < 2:
        raise UsageError(f"--data {spec}: {train} has a single class folder {names[0]!r}; "
                         f"a classifier needs at least 2 (one subfolder per class).")
    for split, folder in split_dirs.items():
        others = [p.name for p in _subfolders(folder)]
        if others != names:
            raise UsageError(f"--data {spec}: {split} classes {others} differ from train "
                             f"classes {names}; every split needs the same class folders.")
    return names


def _check_every_class_has_images(spec, folder, class_names):
    for name in class_names:
        if not _images_in(folder / name):
            raise UsageError(f"--data {spec}: class folder {folder / name} holds no images "
                             f"({', '.join(IMAGE_EXTENSIONS)}); add images or remove it.")


def _fill_defaults(spec, folder, image_size, color):
    """Unset --image-size / --color take the first readable image's size and colour."""
    if image_size is not None and color is not None:
        return tuple(image_size), color
    for path in _images_in(folder):
        try:
            shape = tf.io.decode_image(tf.io.read_file(str(path)),
                                       expand_animations=False).shape
        except tf.errors.OpError:
            continue  # reported with the others when everything is decoded
        return (tuple(image_size or shape[:2]),
                color or ("grayscale" if shape[-1] in (1, 2) else "rgb"))
    raise UsageError(f"--data {spec}: none of the images in {folder} can be decoded; "
                     f"expected PNG, JPEG, BMP or GIF files.")


def _decode(folder, class_names, image_size, color):
    """((images, labels), file paths, [(bad path, reason)]) of one split folder."""
    dataset = keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="int", class_names=class_names,
        color_mode="rgb",  # keras' own grayscale decode fails on colour BMP/GIF files
        batch_size=None, image_size=image_size, shuffle=False, verbose=False)
    paths = list(dataset.file_paths)
    dataset = dataset.map(lambda image, label: (convert_image(image, color), label))
    images, labels, bad = [], [], []
    iterator = iter(dataset)
    for path in paths:  # without shuffling, the k-th element is the k-th file
        try:
            image, label = next(iterator)
        except tf.errors.OpError as error:  # the iterator goes on with the next file
            if not _hidden(path, folder):  # a macOS ._* file is no image at all
                bad.append((path, _reason(error)))
            continue
        if _hidden(path, folder):  # keras walks into hidden folders of a class
            continue
        images.append(image.numpy())
        labels.append(int(label))
    channels = 1 if color == "grayscale" else 3
    x = np.stack(images) if images else np.zeros((0, *image_size, channels), np.uint8)
    paths = [path for path in paths if not _hidden(path, folder)]
    return (x, np.asarray(labels, dtype="int64")), paths, bad


def _reason(error):
    """TF's decode error, e.g. 'Invalid PNG data, size 219', without the op trail."""
    first_line = (error.message or type(error).__name__).splitlines()[0]
    return first_line.rsplit(": ", 1)[-1].strip()


def _check_decoded_classes(spec, split_dirs, splits, class_names):
    counts = np.bincount(splits["train"][1], minlength=len(class_names))
    for name, count in zip(class_names, counts):
        if count == 0:
            raise UsageError(f"--data {spec}: class folder {split_dirs['train'] / name} has "
                             f"no readable images left; add images or remove it.")


def _file_list_hash(root, paths):
    """sha256 of the relative paths and byte sizes of the files used: a renamed,
    added, removed or rewritten file changes it."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]
