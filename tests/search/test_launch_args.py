"""`launch` starts chief and workers with `run` + to_cli_args(config): every
SearchConfig field must come back exactly from the command line (issue 11, item 7).

The configs are generated from dataclasses.fields, so a field added later is
covered without touching this file, or the test says which field it cannot vary."""

import dataclasses

import pytest

from search.cli import config_from, parse_args
from search.core.config import SearchConfig, to_cli_args

ODD_TEXT = "odd name -x 'q' \"dq\" ü=1 $HOME"


def _varied_value(field, tmp_path):
    """A valid value that differs from the field's default, by type."""
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    if kind == "bool":
        return True
    if kind == "tuple":
        return (12, 13)
    if kind == "int":
        return (field.default or 0) + 1
    if kind == "float":
        return 0.123456789012345  # every digit must survive
    # free text: a path of its own per field (an export dir may not hold the project)
    return str(tmp_path / f"dir with spaces {field.name}" / ODD_TEXT)


def _space_file(tmp_path):
    folder = tmp_path / "my spaces ü"
    folder.mkdir(exist_ok=True)
    (folder / "space.py").write_text("class Space:\n    pass\n")
    return f"{folder / 'space.py'}:Space"


# Fields whose values are checked against a list (or a file), and the pairs of
# source-only options that exclude each other: two configs cover them all.
def _configs(tmp_path):
    choices = {"lr_schedule": "constant", "retrain": "none", "log_models": "best",
               "strategy": "mirrored", "color": "rgb", "space": _space_file(tmp_path),
               "tracking_uri": f"sqlite:///{tmp_path}/store ü/mlflow.db",
               "experiment": "team/digits " + ODD_TEXT, "select": "smallest-within:0.5pt",
               "time_budget": "1.5h", "sampler": "bohb"}
    generic = {f.name: choices.get(f.name, _varied_value(f, tmp_path))
               for f in dataclasses.fields(SearchConfig)}
    tfds = {**generic, "data": "tfds:mnist:3.0.1", "skip_bad_images": False}
    folder = {**generic, "data": f"folder:{tmp_path / 'images ü'}", "data_dir": None}
    return [SearchConfig(**tfds), SearchConfig(**folder),
            SearchConfig(space="bridge-small", data="npz:" + str(tmp_path / "a b.npz"),
                         val_split=1e-05, seed=2 ** 32 - 2)]  # the largest seed


def test_every_field_is_varied_by_some_config(tmp_path):
    configs = _configs(tmp_path)
    for field in dataclasses.fields(SearchConfig):
        assert any(getattr(c, field.name) != field.default for c in configs), (
            f"no round-trip config gives {field.name} a non-default value; add one")


@pytest.mark.parametrize("which", [0, 1, 2])
def test_launch_arguments_round_trip_every_field(which, tmp_path):
    config = _configs(tmp_path)[which]
    argv = ["run", *to_cli_args(config)]
    assert config_from(parse_args(argv)) == config, argv


def test_image_size_is_two_words_not_a_tuple_literal(tmp_path):
    config = SearchConfig(data="folder:x", image_size=(12, 12))
    assert to_cli_args(config) == ["--data=folder:x", "--image-size", "12", "12"]


def test_overrides_replace_a_field(tmp_path):
    config = SearchConfig(space="bridge-small")
    argv = ["run", *to_cli_args(config, tracking_uri="http://127.0.0.1:5999")]
    assert config_from(parse_args(argv)) == dataclasses.replace(
        config, tracking_uri="http://127.0.0.1:5999")


@pytest.mark.parametrize("flags, message", [
    (["--oracle-port", "0"], "--oracle-port 0 is invalid: must be a port number 1-65535."),
    (["--oracle-port", "70000"], "--oracle-port 70000 is invalid: must be a port number 1-65535."),
    (["--oracle-host", "no-such-host.invalid"],
     "--oracle-host no-such-host.invalid: this machine cannot listen there ("),
    (["--oracle-host", "192.0.2.1"],  # TEST-NET-1: never an address of this machine
     "--oracle-host 192.0.2.1: this machine cannot listen there (")])
def test_an_oracle_address_launch_cannot_use_is_exit_2_before_any_process(
        flags, message, tmp_path, capsys):
    from search.cli import main
    assert main(["launch", *flags, "--project-dir", str(tmp_path / "project")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"bridge-search: error: {message}"), line
    assert not (tmp_path / "project").exists()  # nothing started, nothing written
