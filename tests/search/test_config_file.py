"""`--config FILE` (TOML or YAML): read, checked, overridden by flags, and written
back next to the winner so that running it reproduces the search."""

import dataclasses
import json
from pathlib import Path

import pytest

from search.cli import config_from, parse_args
from search.core.config import SearchConfig
from search.core.config_file import RESOLVED_CONFIG_FILE, config_to_toml, load_config_file
from search.core.errors import UsageError
from tests.conftest import run_cli_here

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def write(path, text):
    path.write_text(text)
    return path


def test_toml_and_yaml_give_the_same_options(tmp_path):
    toml = write(tmp_path / "s.toml", 'max_epochs = 5\nmin-epochs = 2\nspace = "bridge-small"\n'
                                      'val_split = 0.2\noverwrite = true\n')
    yaml = write(tmp_path / "s.yaml", "max_epochs: 5\nmin-epochs: 2\nspace: bridge-small\n"
                                      "val_split: 0.2\noverwrite: true\n")
    expected = {"max_epochs": 5, "min_epochs": 2, "space": "bridge-small", "val_split": 0.2,
                "overwrite": True}
    assert load_config_file(toml) == load_config_file(yaml) == expected


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path / "s.toml", "max_epochs = 5\nfactor = 4\nmixed_precision = true\n")
    config = config_from(parse_args(["run", "--config", str(path), "--max-epochs", "7"]))
    assert (config.max_epochs, config.factor, config.mixed_precision) == (7, 4, True)
    assert config.seed == SearchConfig().seed  # neither file nor flag: the default


@pytest.mark.parametrize("text, message", [
    ("max_epoch = 5\n", r"unknown key 'max_epoch'; did you mean 'max_epochs'\?"),
    ("factor = \"3\"\n", r"key 'factor' must be an integer, got '3' \(str\)"),
    ("overwrite = 1\n", r"key 'overwrite' must be true or false, got 1"),
    ("val_split = true\n", r"key 'val_split' must be a number, got True"),
    ("image_size = [8, \"x\"]\n", r"key 'image_size' must be a list of integers"),
    ("max_epochs = \n", r"not valid TOML"),
])
def test_bad_keys_and_types_name_the_key(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        load_config_file(write(tmp_path / "s.toml", text))


def test_unknown_file_type_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match=r"unknown file type '.json'"):
        load_config_file(write(tmp_path / "s.json", "{}"))
    with pytest.raises(UsageError, match=r"no such file"):
        load_config_file(tmp_path / "absent.toml")


def test_a_bad_key_is_exit_2_with_one_line(tmp_path):
    path = write(tmp_path / "s.yaml", "max_epochs: 3\nbatchsize: 16\n")
    result = run_cli_here("run", "--config", path, cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown key 'batchsize'; did you mean 'batch_size'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_written_config_reads_back_to_the_same_config(tmp_path):
    config = SearchConfig(data="tfds:mnist", image_size=(16, 16), color="grayscale",
                          max_epochs=5, min_epochs=2, keep_checkpoints=2, log_models="best",
                          val_split=0.25, overwrite=True)
    path = write(tmp_path / "resolved.toml", config_to_toml(config))
    assert SearchConfig(**load_config_file(path)) == config


@pytest.fixture(scope="module")
def search_from_file(tmp_path_factory, tracking_uri):
    work = tmp_path_factory.mktemp("config")
    # Hyperband(2, 3): two trials whose drawn values the second search must repeat.
    path = write(work / "search.yaml", "space: bridge-small\nmax_epochs: 2\nfactor: 3\n"
                                       "seed: 5\nkeep_checkpoints: 2\nretrain: none\n")
    first = run_cli_here("run", "--config", path, "--experiment", "cfg-first",
                         "--tracking-uri", tracking_uri, "--project-dir", work / "p1",
                         "--export-dir", work / "e1", "--summary-json", work / "s1.json", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    written = work / "e1" / RESOLVED_CONFIG_FILE
    again = run_cli_here("run", "--config", written, "--experiment", "cfg-again",
                         "--project-dir", work / "p2", "--export-dir", work / "e2",
                         "--summary-json", work / "s2.json", cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    return work, [json.loads((work / f"s{i}.json").read_text()) for i in (1, 2)]


def test_resolved_config_is_on_the_parent_run_and_next_to_the_winner(search_from_file,
                                                                     mlflow_client):
    import mlflow
    work, (first, _) = search_from_file
    written = (work / "e1" / RESOLVED_CONFIG_FILE).read_text()
    logged = Path(mlflow.artifacts.download_artifacts(
        run_id=first["parent_run_id"], artifact_path=RESOLVED_CONFIG_FILE,
        dst_path=str(work / "dl"), tracking_uri=mlflow_client.tracking_uri)).read_text()
    assert logged == written
    resolved = load_config_file(work / "e1" / RESOLVED_CONFIG_FILE)
    # Whole: every option with a value, not only those the user gave.
    assert {f.name for f in dataclasses.fields(SearchConfig)
            if getattr(SearchConfig(), f.name) is not None} <= set(resolved)
    assert resolved["seed"] == 5 and resolved["keep_checkpoints"] == 2


def test_running_the_written_config_reproduces_the_search(search_from_file, mlflow_client):
    _, summaries = search_from_file
    where = {"experiment", "project_dir", "export_dir", "summary_json"}

    def search_params(summary):
        params = mlflow_client.get_run(summary["parent_run_id"]).data.params
        return {k: v for k, v in params.items() if k not in where}

    def first_round_hyperparameters(summary):
        runs = mlflow_client.search_runs(
            [summary["experiment_id"]],
            filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}'")
        return sorted((r.data.tags["trial_id"], r.data.params) for r in runs
                      if r.data.tags["hyperband_round"] == "0")

    first, again = summaries
    assert search_params(first) == search_params(again)
    assert first["n_trials"] == again["n_trials"]
    assert first_round_hyperparameters(first) == first_round_hyperparameters(again)
