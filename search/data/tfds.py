"""`--data tfds:NAME[:CONFIG]`: an image classification dataset of TensorFlow Datasets.

Read through `tfds.builder(...).as_dataset` from a prepared local copy
(`--data-dir`, else $TFDS_DATA_DIR or ~/tensorflow_datasets); nothing is
downloaded, so a missing copy stops the run at once with the way to prepare it.
Splits: `train`; `validation` when the dataset has one, else cut from train;
`test` when it has one (it only scores the winner). TFDS's own `NAME/CONFIG:VERSION`
form is accepted too.
"""

import difflib

import numpy as np

from search.data.images import AUTOTUNE, convert_image, make_image_data
from search.core.errors import UsageError

SPLITS = {"train": "train", "val": "validation", "test": "test"}  # ours -> TFDS names


def load_tfds(spec, argument, val_split, seed, data_dir=None, image_size=None, color=None):
    import tensorflow_datasets as tfds

    builder = _builder(tfds, spec, _builder_name(argument), data_dir)
    image_key, label_key = _feature_keys(tfds, spec, builder.info)
    image_size = _check_image_size(spec, builder.info.features[image_key], image_size)
    datasets = {ours: _open_split(spec, builder, name, data_dir) for ours, name in SPLITS.items()}
    splits = {ours: _to_arrays(dataset, image_key, label_key, color, image_size)
              for ours, dataset in datasets.items() if dataset is not None}
    splits = {ours: arrays for ours, arrays in splits.items() if arrays is not None}
    if "train" not in splits:
        raise UsageError(f"--data {spec}: has no examples in a 'train' split (splits: "
                         f"{sorted(builder.info.splits)}); bridge-search trains on 'train'.")
    class_names = builder.info.features[label_key].names
    details = {"data_tfds_name": builder.info.full_name,
               "data_image_size": "x".join(str(d) for d in splits["train"][0].shape[1:3]),
               "data_color": color or "as stored"}
    return make_image_data(spec, splits, class_names, val_split, seed, details)


def _builder_name(argument):
    """`NAME[:CONFIG]` (our form) -> TFDS's `NAME/CONFIG`; TFDS's own form as is."""
    if "/" in argument:
        return argument
    name, _, config = argument.partition(":")
    return f"{name}/{config}" if config else name


def _builder(tfds, spec, name, data_dir):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        base = name.split("/")[0].split(":")[0]
        close = difflib.get_close_matches(base, tfds.list_builders(
            with_community_datasets=False), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UsageError(f"--data {spec}: TFDS has no dataset named {base!r}; {hint}See "
                         f"`tfds.list_builders()` for the catalogue.") from None
    except (AssertionError, ValueError) as error:  # unknown config or version
        _raise_unknown_config(tfds, spec, name)
        raise UsageError(f"--data {spec}: {' '.join(str(error).split())}") from None


def _raise_unknown_config(tfds, spec, name):
    base, _, rest = name.partition("/")
    config = rest.split(":")[0]
    try:
        configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
    except Exception:  # e.g. a dataset known only from files in --data-dir
        return
    if config and config not in configs:
        accepted = (f"its configs are {', '.join(configs)}" if configs else
                    f"it has no configs: use tfds:{base}")
        raise UsageError(f"--data {spec}: {base} has no config {config!r}; {accepted}.")


def _feature_keys(tfds, spec, info):
    """(image key, label key): the supervised keys, else the one Image and the one
    ClassLabel feature (datasets built with `store_as_tfds_dataset` have no keys)."""
    features = dict(info.features.items())
    if info.supervised_keys and len(info.supervised_keys) == 2:
        image_key, label_key = info.supervised_keys
    else:
        images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
        labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
        image_key, label_key = (images[0] if len(images) == 1 else None,
                                labels[0] if len(labels) == 1 else None)
    if not (isinstance(features.get(image_key), tfds.features.Image)
            and isinstance(features.get(label_key), tfds.features.ClassLabel)):
        raise UsageError(f"--data {spec}: is not an image classification dataset (features "
                         f"{sorted(features)}); expected one Image and one ClassLabel "
                         f"feature.")
    return image_key, label_key


def _check_image_size(spec, feature, image_size):
    if feature.np_dtype != np.uint8:
        raise UsageError(f"--data {spec}: images are {feature.np_dtype}; bridge-search reads "
                         f"8-bit images.")
    if image_size is None and None in feature.shape[:2]:
        raise UsageError(f"--data {spec}: images vary in size {feature.shape}; pass "
                         f"--image-size HEIGHT WIDTH to resize them.")
    return None if image_size is None else tuple(image_size)


def _open_split(spec, builder, name, data_dir):
    """The split as a dataset, None when the dataset has no such split."""
    known = set(builder.info.splits)
    if known and name not in known:
        return None
    try:
        return builder.as_dataset(split=name, shuffle_files=False)
    except AssertionError:  # TFDS's "could not find data in DIR": not prepared here
        where = builder.data_dir
        prepare = (f"on a machine with network run `tfds build {builder.name} --data_dir "
                   f"DIR` (or tfds.load('{builder.name}', data_dir=DIR)), copy DIR here and "
                   f"pass --data-dir DIR")
        raise UsageError(f"--data {spec}: not prepared locally (looked in {where}"
                         f"{'' if data_dir else ', the default --data-dir'}); nothing is "
                         f"downloaded: {prepare}.") from None


def _to_arrays(dataset, image_key, label_key, color, image_size):
    """Decode a whole split once, in batches, into (uint8 images, int64 labels);
    None for an empty split."""
    def convert(example):
        return convert_image(example[image_key], color, image_size), example[label_key]
    batches = dataset.map(convert, num_parallel_calls=AUTOTUNE).batch(1024).prefetch(AUTOTUNE)
    images, labels = [], []
    for x, y in batches.as_numpy_iterator():
        images.append(x)
        labels.append(y)
    if not images:
        return None
    return np.concatenate(images), np.concatenate(labels).astype("int64")

