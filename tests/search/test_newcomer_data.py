"""Data a newcomer has lying around (issue 25, item 3): a folder Jupyter opened
(hidden .ipynb_checkpoints/ everywhere), macOS's ._* files, a damaged or complex
.npz. Each is judged by the tool in its own words, never by numpy's or keras'."""

import shutil
import warnings

import numpy as np
import pytest

from search.core.errors import UsageError
from search.data.folder import load_folder
from search.data.npz import load_npz
from tests.search.data_helpers import write_image_tree, write_npz, write_split_tree


def _hide_things(root, class_dirs):
    """What Jupyter and macOS leave: a hidden folder with a stale image copy in
    every class, a hidden class-like folder at the top, an AppleDouble ._ file."""
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "notes-checkpoint.png").write_bytes(b"not an image")
    for class_dir in class_dirs:
        (class_dir / ".ipynb_checkpoints").mkdir()
        shutil.copy(next(class_dir.glob("*.png")), class_dir / ".ipynb_checkpoints" / "a.png")
        (class_dir / "._000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    return 1 + 2 * len(class_dirs)


@pytest.mark.parametrize("layout", ["class-tree", "splits"])
def test_folder_skips_hidden_folders_and_files_and_says_how_many(tmp_path, layout):
    root = tmp_path / "pets"
    if layout == "splits":
        write_split_tree(root, formats=("png",))
        class_dirs = [p for split in ("train", "test") for p in (root / split).iterdir()]
    else:
        write_image_tree(root, formats=("png",))
        class_dirs = list(root.iterdir())
    hidden = _hide_things(root, class_dirs)
    data = load_folder(f"folder:{root}", str(root), 0.2, 0)
    assert data.class_names == ["cat", "dog", "owl"]
    assert len(data.x_train) + len(data.x_val) == 18  # 6 per class, no hidden copy
    assert data.details["data_skipped_images"] == 0  # ._000.png is not a bad image
    assert any(f"left out {hidden} hidden" in note for note in data.notes), data.notes


def test_a_hidden_folder_beside_train_and_test_keeps_the_split_layout(tmp_path):
    root = write_split_tree(tmp_path / "pets", formats=("png",))
    (root / ".ipynb_checkpoints").mkdir()
    data = load_folder(f"folder:{root}", str(root), 0.2, 0)
    assert data.x_test is not None and len(data.x_test) == 9


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(2000))


def _truncated_npz(path):
    write_npz(path)
    path.write_bytes(path.read_bytes()[:300])


def _text_file(path):
    path.write_text("x_train,y_train\n1,2\n")


DAMAGED = {_random_bytes: r"is damaged or not an \.npz file",
           _truncated_npz: r"cannot read it as \.npz",
           _text_file: r"is damaged or not an \.npz file"}


@pytest.mark.parametrize("damage, message", list(DAMAGED.items()),
                         ids=[f.__name__ for f in DAMAGED])
def test_a_damaged_npz_is_reported_as_damaged_not_as_pickled(tmp_path, damage, message):
    path = tmp_path / "data.npz"
    damage(path)
    with pytest.raises(UsageError, match=message) as raised:
        load_npz(f"npz:{path}", str(path), 0.2, 0)
    assert "pickle" not in str(raised.value)


COMPLEX = {"x_train": {"x_train": np.ones((30, 8, 8), np.complex64)},
           "y_train": {"y_train": (np.arange(30) % 3).astype(np.complex128)}}


@pytest.mark.parametrize("key", list(COMPLEX))
def test_complex_arrays_are_refused_in_the_tools_words_without_numpy_warning(tmp_path, key):
    path = write_npz(tmp_path / "data.npz", **COMPLEX[key])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning would be raised here
        with pytest.raises(UsageError, match=rf"{key} holds complex numbers .*\.real"):
            load_npz(f"npz:{path}", str(path), 0.2, 0)
