"""Any experiment name MLflow accepts works (issue 11, item 2): each runs a tiny
search (and `report`) from a temporary working directory, and nothing is written
outside the project dir, the store, the export dir and the report dir; the
registered model name is valid. A name MLflow refuses is exit 2 before anything runs."""

from pathlib import Path

import pytest

from search.cli import main
from search.core.config import MAX_EXPERIMENT_NAME_LENGTH, SearchConfig
from search.core.errors import UsageError
from search.core.ownership import path_slug
from search.run import run_search
from search.tracking.registry import registered_model_name

# Four searches cover six kinds of name: an absolute path with a slash inside,
# "..", spaces with non-ASCII letters, and a sibling folder's relative path.
NAMES = {"absolute_slash": "/Shared/team/digits", "dot_dot": "..",
         "spaces_non_ascii": "my Zürich Ünïcode run", "sibling": "../victim"}
MORE_NAMES = ["team/digits", "/Shared/x", "my digits run", "Zürich Ünïcode"]  # no search


def tree(root):
    return {str(p.relative_to(root)) for p in Path(root).rglob("*")}


@pytest.mark.parametrize("case", list(NAMES))
def test_a_search_under_any_mlflow_name_stays_in_its_folders(case, tmp_path, monkeypatch,
                                                            tracking_uri, mlflow_client):
    name = NAMES[case]
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "victim").mkdir()  # what `../victim` used to delete
    (tmp_path / "victim" / "precious.txt").write_bytes(b"keep\n")
    monkeypatch.chdir(work)
    before = tree(tmp_path)
    config = SearchConfig(space="bridge-small", max_epochs=1, factor=2, retrain="none",
                          log_models="none", experiment=name, project_dir="projects",
                          tracking_uri=tracking_uri, overwrite=True)
    summary = run_search(config)
    assert main(["report", "--experiment", name, "--tracking-uri", tracking_uri]) == 0

    new = tree(tmp_path) - before
    outside = [p for p in new if not p.startswith(("work/projects", "work/exports",
                                                                "work/reports"))]
    assert not outside, outside
    assert (tmp_path / "victim" / "precious.txt").read_bytes() == b"keep\n"
    slug = path_slug(name)
    assert (work / "projects" / slug / "oracle.json").is_file()
    assert Path(summary["export_dir"]) == Path("exports") / slug / summary["parent_run_id"]
    assert (work / summary["export_dir"] / "model.keras").is_file()
    assert (work / "reports" / slug / summary["parent_run_id"] / "report.md").is_file()
    assert summary["registered_model"] == registered_model_name(name)
    version = mlflow_client.get_model_version(summary["registered_model"],
                                              summary["registered_version"])
    assert version.run_id == summary["parent_run_id"]
    assert mlflow_client.get_experiment_by_name(name).experiment_id == summary["experiment_id"]


def test_slugs_stay_inside_their_base_and_keep_names_apart():
    for name in [*NAMES.values(), *MORE_NAMES, ".", "a/../../b", "-", "...", "x" * 500]:
        slug = path_slug(name)
        assert "/" not in slug and not slug.startswith(".") and slug not in ("", ".", "..")
        assert (Path("/base") / slug).resolve().parent == Path("/base")
    assert path_slug("a/b") != path_slug("a-b") == "a-b"
    assert path_slug("bridge-search") == "bridge-search"  # plain names are unchanged


def test_registered_model_names_pass_mlflows_validation():
    from mlflow.utils.validation import _validate_model_name
    for name in [*NAMES.values(), *MORE_NAMES, ".", "a:b", "x" * 500]:
        _validate_model_name(registered_model_name(name))  # raises when MLflow refuses


def test_a_name_a_store_refuses_is_a_usage_error():
    """MLflow checks 500 characters, its SQL schema holds 256 (experiments) and 250
    (runs, named after the experiment): the tool's bound fits every store."""
    from mlflow.utils import validation
    from search.tracking import run_names
    assert MAX_EXPERIMENT_NAME_LENGTH < validation.MAX_EXPERIMENT_NAME_LENGTH
    name = "x" * MAX_EXPERIMENT_NAME_LENGTH
    SearchConfig(experiment=name)
    long_answer = {f"h{i}": "v" * 40 for i in range(8)}
    for run_name in (run_names.running_name(name), run_names.stopped_name(name, "KILLED"),
                     run_names.finished_name(name, long_answer, 0.5,
                                             {k: k for k in long_answer})):
        assert len(run_name) <= 250, run_name
    assert run_names.running_name(name).startswith(name + ": running")
    with pytest.raises(UsageError, match=r"--experiment 'xxxx.*\.\.\.' is invalid: names of "
                                         r"at most 200 characters fit every MLflow store "
                                         r".*, got 201"):
        SearchConfig(experiment="x" * 201)
