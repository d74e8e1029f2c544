"""Data sources on real files: image folders decoded by keras, npz arrays, TFDS
datasets (mocked with `tfds.testing.mock_data`, and one built locally)."""

import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tests.search.data_helpers import build_local_tfds, write_image_tree, write_npz, write_split_tree
from search import SearchConfig, UsageError
from search import data
from search.cli import build_parser


# ----- folder: ------------------------------------------------------------------
def test_folder_tree_decodes_every_format_and_cuts_a_stratified_val_split(tmp_path):
    written = write_image_tree(tmp_path / "pets", per_class=8)
    image_data = data.load(f"folder:{tmp_path / 'pets'}", val_split=0.25, seed=0)
    assert image_data.class_names == ["cat", "dog", "owl"]
    assert image_data.input_shape == (10, 12, 3) and image_data.x_train.dtype == np.uint8
    assert len(image_data.y_train) + len(image_data.y_val) == 24  # png, jpg, bmp, gif
    assert np.bincount(image_data.y_val).tolist() == [2, 2, 2]  # stratified
    assert image_data.x_test is None
    # PNG is lossless: each one comes back pixel for pixel, with its folder's label.
    pngs = {path: image for path, image in written.items() if path.suffix == ".png"}
    x_all = np.concatenate([image_data.x_train, image_data.x_val])
    y_all = np.concatenate([image_data.y_train, image_data.y_val])
    for path, image in pngs.items():
        matches = np.flatnonzero((x_all == image).all(axis=(1, 2, 3)))
        assert len(matches) == 1
        assert image_data.class_names[y_all[matches[0]]] == path.parent.name


def test_folder_split_tree_keeps_its_train_val_test_folders(tmp_path):
    root = write_split_tree(tmp_path / "tree", splits=(("train", 5), ("val", 2), ("test", 3)))
    image_data = data.load(f"folder:{root}", val_split=0.5, seed=0)
    assert (len(image_data.y_train), len(image_data.y_val), len(image_data.y_test)) == (15, 6, 9)
    assert image_data.description()["data_test_size"] == 9


def test_folder_image_size_and_color_resize_and_convert(tmp_path):
    write_image_tree(tmp_path / "gray", channels=1, formats=("png", "bmp"))
    as_rgb = data.load(f"folder:{tmp_path / 'gray'}", image_size=(6, 8), color="rgb")
    assert as_rgb.input_shape == (6, 8, 3)
    write_image_tree(tmp_path / "colour", formats=("png", "gif", "bmp"))
    as_gray = data.load(f"folder:{tmp_path / 'colour'}", image_size=(20, 24), color="grayscale")
    assert as_gray.input_shape == (20, 24, 1)
    assert as_gray.description()["data_image_size"] == "20x24"
    assert as_gray.description()["data_color"] == "grayscale"


def test_folder_defaults_are_the_first_images_size_and_color(tmp_path):
    write_image_tree(tmp_path / "mixed", channels=1, size=(9, 7), formats=("png",))
    write_image_tree(tmp_path / "mixed", classes=("zebra",), size=(30, 30), channels=1,
                     formats=("png",))  # a later class of another size is resized
    image_data = data.load(f"folder:{tmp_path / 'mixed'}")
    assert image_data.input_shape == (9, 7, 1)
    assert image_data.description()["data_color"] == "grayscale"


def test_folder_description_hashes_the_file_list(tmp_path):
    write_image_tree(tmp_path / "pets")
    spec = f"folder:{tmp_path / 'pets'}"
    first, again = data.load(spec).description(), data.load(spec).description()
    assert first["data_files_sha256"] == again["data_files_sha256"]
    (tmp_path / "pets" / "cat" / "000.png").rename(tmp_path / "pets" / "cat" / "zzz.png")
    renamed = data.load(spec).description()
    assert renamed["data_files_sha256"] != first["data_files_sha256"]


def test_images_are_decoded_once_per_search_not_per_trial(tmp_path):
    """Every trial gets the same pipeline objects; after loading, the files are no
    longer read: deleting them leaves every epoch's data intact."""
    write_image_tree(tmp_path / "pets")
    image_data = data.load(f"folder:{tmp_path / 'pets'}", val_split=0.34, seed=0)
    pipeline = image_data.pipeline("train", batch_size=4, seed=0)
    shutil.rmtree(tmp_path / "pets")
    for _ in range(2):  # two epochs (or two trials) over the same pipeline
        labels = np.concatenate([y.numpy() for _, y in pipeline])
        assert sorted(labels) == sorted(image_data.y_train)


def test_skip_bad_images_leaves_out_an_unreadable_file_and_says_so(tmp_path):
    write_image_tree(tmp_path / "pets")
    bad = tmp_path / "pets" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    image_data = data.load(f"folder:{tmp_path / 'pets'}", val_split=0.34,
                           skip_bad_images=True)
    assert len(image_data.y_train) + len(image_data.y_val) == 18
    assert image_data.description()["data_skipped_images"] == 1
    assert len(image_data.notes) == 1 and str(bad) in image_data.notes[0]


# ----- npz: and the validation split -------------------------------------------
def test_npz_uses_its_own_val_and_test_arrays(tmp_path):
    y_val, y_test = np.array([0, 1, 2]), np.array([2, 1, 0, 0])
    path = write_npz(tmp_path / "d.npz", x_val=np.zeros((3, 8, 8), np.uint8), y_val=y_val,
                     x_test=np.zeros((4, 8, 8), np.uint8), y_test=y_test)
    image_data = data.load(f"npz:{path}", val_split=0.5)
    assert len(image_data.y_train) == 30 and image_data.x_train.dtype == np.uint8
    assert image_data.y_val.tolist() == [0, 1, 2] and image_data.y_test.tolist() == [2, 1, 0, 0]
    assert image_data.input_shape == (8, 8, 1)


def test_val_split_is_stratified_and_seeded(tmp_path):
    path = write_npz(tmp_path / "d.npz", n_train=60)
    split = {seed: data.load(f"npz:{path}", val_split=0.2, seed=seed) for seed in (0, 1)}
    again = data.load(f"npz:{path}", val_split=0.2, seed=0)
    assert np.bincount(split[0].y_val).tolist() == [4, 4, 4]
    np.testing.assert_array_equal(split[0].x_val, again.x_val)
    assert not np.array_equal(split[0].x_val, split[1].x_val)


# ----- tfds: --------------------------------------------------------------------
def test_tfds_mock_mnist_gives_train_val_and_test_splits():
    with tfds.testing.mock_data(num_examples=40):
        image_data = data.load("tfds:mnist")
    assert image_data.input_shape == (28, 28, 1) and image_data.num_classes == 10
    # mock_data serves every split the dataset asks for; TFDS's validation and test
    # splits are used as given, not cut from train.
    assert (len(image_data.y_train), len(image_data.y_val), len(image_data.y_test)) == (40, 40, 40)
    assert image_data.description()["data_tfds_name"] == "mnist/3.0.1"


def test_tfds_images_of_varying_size_are_resized_with_image_size():
    with tfds.testing.mock_data(num_examples=20):
        image_data = data.load("tfds:tf_flowers", image_size=(16, 20), color="grayscale")
        with pytest.raises(UsageError, match=r"vary in size .*pass --image-size HEIGHT WIDTH"):
            data.load("tfds:tf_flowers")
    assert image_data.input_shape == (16, 20, 1)
    assert image_data.class_names[:2] == ["dandelion", "daisy"]


def test_tfds_dataset_built_locally_loads_by_name_from_data_dir(tmp_path):
    sizes = build_local_tfds(tmp_path / "tfds")
    image_data = data.load("tfds:bridge_tiny", val_split=0.25, seed=0,
                           data_dir=str(tmp_path / "tfds"))
    assert image_data.class_names == ["bar", "dot", "ring"]
    assert len(image_data.y_train) + len(image_data.y_val) == sizes["train"]
    assert np.bincount(image_data.y_val).tolist() == [2, 2, 2]  # no validation split: cut
    assert len(image_data.y_test) == sizes["test"]
    assert image_data.input_shape == (12, 12, 1)
    assert image_data.description()["data_tfds_name"] == "bridge_tiny/1.0.0"


# ----- the data options on the command line -------------------------------------
def config_from(*argv):
    args = build_parser().parse_args(["run", *argv])
    return SearchConfig(**{name: getattr(args, name)
                           for name in SearchConfig.__dataclass_fields__})


def test_image_size_takes_two_integers_on_the_command_line():
    config = config_from("--data", "folder:x", "--image-size", "28", "32", "--color", "rgb")
    assert config.image_size == (28, 32) and config.color == "rgb"
    assert config.as_params()["image_size"] == (28, 32)
    with pytest.raises(SystemExit):
        config_from("--image-size", "28")  # argparse: exactly two values


@pytest.mark.parametrize("argv, message", [
    (("--data", "folder:x", "--image-size", "0", "5"), r"--image-size \(0, 5\) is invalid"),
    (("--data", "folder:x", "--color", "sepia"), r"--color 'sepia' is invalid: accepted: "
                                                   r"grayscale \| rgb"),
    (("--data-dir", "/tmp/tfds"), r"--data-dir applies to --data tfds: only, not to --data "
                                  r"digits"),
    (("--data", "npz:a.npz", "--image-size", "8", "8"), r"--image-size applies to --data "
                                                        r"folder: and tfds: only"),
    (("--data", "tfds:mnist", "--skip-bad-images"), r"--skip-bad-images applies to --data "
                                                    r"folder: only"),
    (("--data", "images:x"), r"--data 'images:x' is invalid: accepted: digits, tfds:"),
    (("--data", "folder"), r"--data 'folder' is invalid"),
])
def test_data_options_are_checked_before_anything_runs(argv, message):
    with pytest.raises(UsageError, match=message):
        config_from(*argv)
