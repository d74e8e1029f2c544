"""Bad data: a usage error with one clear line, raised before the search starts,
so nothing reaches MLflow or keras-tuner's project directory.

Each case writes its bad data set and returns the `--data` value (and any other
options); `run_search` must raise UsageError matching the message, and the
tracking store and the project directory must not exist afterwards."""

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli_here
from tests.search.data_helpers import write_image_tree, write_npz
from search import SearchConfig, UsageError, run_search

NO_UPSAMPLING_SPACE = '''
from spaces.bridge_net import HyperBridgeNet


class NoUpsampling(HyperBridgeNet):
    """The bridge space without its upsampling of small inputs, 3 blocks deep."""
    def __init__(self, input_shape, num_classes, pixel_max=255.0):
        super().__init__(input_shape, num_classes, pixel_max, min_size=0,
                         max_residual_blocks=3)
'''


def missing_folder(tmp):
    return {"data": f"folder:{tmp / 'nowhere'}"}


def empty_folder(tmp):
    (tmp / "empty").mkdir()
    return {"data": f"folder:{tmp / 'empty'}"}


def one_class(tmp):
    write_image_tree(tmp / "one", classes=("cat",))
    return {"data": f"folder:{tmp / 'one'}"}


def class_folder_without_images(tmp):
    write_image_tree(tmp / "pets")
    (tmp / "pets" / "yak").mkdir()
    (tmp / "pets" / "yak" / "notes.txt").write_text("no pictures yet")
    return {"data": f"folder:{tmp / 'pets'}"}


def corrupt_image(tmp):
    write_image_tree(tmp / "pets")
    (tmp / "pets" / "dog" / "broken.jpg").write_bytes(b"this is not a jpeg")
    return {"data": f"folder:{tmp / 'pets'}"}


def truncated_image(tmp):
    write_image_tree(tmp / "pets")
    whole = (tmp / "pets" / "owl" / "000.png").read_bytes()
    (tmp / "pets" / "owl" / "cut.png").write_bytes(whole[: len(whole) // 2])
    return {"data": f"folder:{tmp / 'pets'}"}


def missing_npz(tmp):
    return {"data": f"npz:{tmp / 'nowhere.npz'}"}


def npz_negative_label(tmp):
    y = np.arange(30) % 3
    y[4] = -1
    return {"data": f"npz:{write_npz(tmp / 'd.npz', y_train=y)}"}


def npz_test_label_out_of_range(tmp):
    x_test = np.zeros((2, 8, 8), np.uint8)
    return {"data": f"npz:{write_npz(tmp / 'd.npz', x_test=x_test, y_test=np.array([0, 7]))}"}


def npz_non_integer_labels(tmp):
    y = (np.arange(30) % 3).astype("float32")
    y[5] = 1.5
    return {"data": f"npz:{write_npz(tmp / 'd.npz', y_train=y)}"}


def npz_string_labels(tmp):
    y = np.array(["cat", "dog", "owl"] * 10)
    return {"data": f"npz:{write_npz(tmp / 'd.npz', y_train=y)}"}


def npz_lengths_differ(tmp):
    return {"data": f"npz:{write_npz(tmp / 'd.npz', y_train=np.arange(29) % 3)}"}


def tfds_unknown_name(tmp):
    return {"data": "tfds:mnsit", "data_dir": str(tmp / "tfds")}


def tfds_not_prepared(tmp):
    return {"data": "tfds:mnist", "data_dir": str(tmp / "tfds")}


def images_too_small_for_space(tmp):
    write_image_tree(tmp / "tiny", size=(4, 4), formats=("png",))
    (tmp / "space.py").write_text(NO_UPSAMPLING_SPACE)
    return {"data": f"folder:{tmp / 'tiny'}", "space": f"{tmp / 'space.py'}:NoUpsampling"}


BAD_DATA = {
    missing_folder: r"folder:.*nowhere: no such directory; expected PATH/CLASS/IMAGE",
    empty_folder: r"empty has no class subfolders; expected PATH/CLASS/IMAGE",
    one_class: r"has a single class folder 'cat'; a classifier needs at least 2",
    class_folder_without_images: r"class folder .*yak holds no images \(\.png, .*add images "
                                 r"or remove it",
    corrupt_image: r"cannot decode .*dog/broken\.jpg \(Unknown image file format.*"
                   r"pass --skip-bad-images",
    truncated_image: r"cannot decode .*owl/cut\.png \(.*PNG.*\).*--skip-bad-images",
    missing_npz: r"npz:.*nowhere\.npz: no such file; expected an \.npz saved with "
                 r"numpy\.savez",
    npz_negative_label: r"y_train holds label -1, out of range: .* classes are 0\.\.2",
    npz_test_label_out_of_range: r"y_test holds label 7, out of range: y_train's classes "
                                 r"are 0\.\.2",
    npz_non_integer_labels: r"y_train holds non-integer labels, e\.g\. 1\.5 at index 5",
    npz_string_labels: r"y_train holds non-integer labels of dtype <U3 \(e\.g\. 'cat'\)",
    npz_lengths_differ: r"x_train has 30 images but y_train has 29 labels",
    tfds_unknown_name: r"TFDS has no dataset named 'mnsit'; did you mean mnist",
    tfds_not_prepared: r"tfds:mnist: not prepared locally \(looked in .*tfds/mnist/"
                       r".*tfds build mnist --data_dir DIR.*--data-dir DIR",
    images_too_small_for_space: r"images are 4x4, but space .*NoUpsampling' needs at "
                                r"least 5x5 .*pass --image-size 5 5 or larger",
}


@pytest.mark.parametrize("make_bad_data, message", list(BAD_DATA.items()),
                         ids=[case.__name__ for case in BAD_DATA])
def test_bad_data_stops_before_the_search_with_one_clear_line(make_bad_data, message,
                                                              tmp_path):
    options = make_bad_data(tmp_path)
    store = tmp_path / "mlruns"
    config = SearchConfig(**{"space": "bridge-small", **options},
                          max_epochs=3, project_dir=str(tmp_path / "project"),
                          tracking_uri=f"sqlite:///{store}/mlflow.db")
    with pytest.raises(UsageError, match=message) as raised:
        run_search(config)
    assert "\n" not in str(raised.value)
    assert not store.exists(), "MLflow was written to for a search that never started"
    assert not (tmp_path / "project").exists()


@pytest.mark.parametrize("make_bad_data", [corrupt_image, tfds_not_prepared],
                         ids=lambda case: case.__name__)
def test_cli_exits_2_with_one_error_line_and_no_traceback(make_bad_data, tmp_path):
    options = make_bad_data(tmp_path)
    argv = [arg for name, value in options.items()
            for arg in (f"--{name.replace('_', '-')}", value)]
    result = run_cli_here("run", *argv, "--tracking-uri", f"sqlite:///{tmp_path}/mlruns/mlflow.db",
                          cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("bridge-search:")]
    assert len(ours) == 1 and ours[0].startswith("bridge-search: error: --data ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns").exists()
    assert not (Path(tmp_path) / "bridge_search_projects").exists()
