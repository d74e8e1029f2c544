"""The confirm stage end to end (issue 24): a real tiny search on digits with
`run --confirm-seeds 2` (real TensorFlow, keras-tuner and MLflow), then what it
left in MLflow and on disk; `bridge-search confirm` killed with SIGKILL and run
again; and bad input, exit 2 with one line (before TensorFlow loads where the
store alone decides)."""

import os
import signal
import subprocess
import sys
import uuid

import keras_tuner
import pytest

import spaces
from search.core.crashpoints import ENV as CRASH_ENV
from search.kt import vary
from search.tracking import confirm_runs, report, trial_logger
from search.core.errors import UsageError
from tests.conftest import (LIST_IMPORTS, REPO_ROOT, imported_tensorflow, run_cli,
                            run_cli_here)
from tests.search.test_bad_input import assert_one_line

SEARCH = ["--space", "bridge-small", "--max-epochs", "2", "--retrain", "none",
          "--min-retrain-epochs", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory, tracking_uri):
    """`bridge-search run ... --confirm-seeds 2`: the search, then its confirm stage."""
    work = tmp_path_factory.mktemp("confirm")
    experiment = f"confirm-{uuid.uuid4().hex[:6]}"
    args = ["run", *SEARCH, "--confirm-seeds", "2", "--experiment", experiment,
            "--tracking-uri", tracking_uri, "--project-dir", work / "project",
            "--summary-json", work / "summary.json"]
    done = run_cli_here(*args, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    import json
    return {"work": work, "experiment": experiment, "args": args, "run": done,
            "summary": json.loads((work / "summary.json").read_text())}


def _confirm_runs(client, summary, vary="bridge"):
    """The confirm runs of the search that vary `vary` (the slow test adds its own)."""
    return client.search_runs(
        [summary["experiment_id"]],
        filter_string=f"tags.mlflow.parentRunId = '{summary['parent_run_id']}' and "
                      f"tags.`{confirm_runs.TAG_STAGE}` = 'confirm' and "
                      f"tags.`{confirm_runs.TAG_VARY}` = '{vary}'")


def _keys(runs, status="FINISHED"):
    return sorted(confirm_runs.run_key(r) for r in runs if r.info.status == status)


def test_each_bridge_is_trained_with_each_seed_once(confirmed, mlflow_client):
    summary = confirmed["summary"]
    runs = _confirm_runs(mlflow_client, summary)
    bridges = ["concat", "flatten", "gap", "gmp"]
    assert _keys(runs) == sorted((b, s) for b in bridges for s in (0, 1))
    assert len(runs) == 8
    winner = summary["best_hyperparameters"]
    question = next(iter(summary["summary_keys"]))
    for run in runs:
        value, seed = confirm_runs.run_key(run)
        params, tags = run.data.params, run.data.tags
        assert tags["bridge_search.role"] == "confirm" and tags[confirm_runs.TAG_VARY] == question
        assert tags[confirm_runs.TAG_WINNER] == summary["best_run_id"]
        assert params[question] == value and params["seed"] == str(seed)
        # Every other hyperparameter is the winner's (a conditional one may change).
        kept = {k: str(v) for k, v in winner.items() if k != question and k in params}
        assert {k: params[k] for k in kept if params[k] != "n/a"} == \
            {k: v for k, v in kept.items() if params[k] != "n/a"}
        assert value in run.info.run_name and f"s{seed}" in run.info.run_name
        assert 0.0 <= run.data.metrics["test_accuracy"] <= 1.0
        assert run.data.metrics["param_count"] > 0 and run.data.metrics["latency_ms_batch1"] > 0


def test_values_the_space_refuses_are_trained_and_marked(confirmed, mlflow_client):
    hypermodel = spaces.load_space("bridge-small", (8, 8, 1), 10, pixel_max=16)
    for run in _confirm_runs(mlflow_client, confirmed["summary"]):
        values = {k: v for k, v in run.data.params.items() if k != "seed"}
        typed = {**values, "residual_blocks": int(values["residual_blocks"]),
                 "learning_rate": float(values["learning_rate"])}
        assert run.data.tags.get(confirm_runs.TAG_REFUSED) == hypermodel.rejects(typed)


def test_report_plot_and_verdict_on_the_parent(confirmed, mlflow_client):
    summary = confirmed["summary"]
    parent = summary["parent_run_id"]
    logged = {a.path for a in mlflow_client.list_artifacts(parent, "confirm/bridge")}
    assert logged == {f"confirm/bridge/confirm.{suffix}" for suffix in ("md", "csv", "png")}
    note = mlflow_client.get_run(parent).data.tags["mlflow.note.content"]
    # The slow test may have put its residual_blocks verdict above: one block each.
    block = note[note.index("<!-- confirm bridge -->"):]
    assert block.startswith("<!-- confirm bridge -->\n## Controlled ablation of bridge: best ")
    assert "## Winner:" in block  # the search's own description follows
    said = confirmed["run"].stderr
    assert "Controlled ablation of bridge: best" in said
    assert "Intervals: paired Student t over seeds, 95%" in said
    assert "Confirm runs in the MLflow UI" in said and "bridge_search.stage" in said
    folder = confirmed["work"] / "reports" / confirmed["experiment"] / parent / "confirm" / "bridge"
    lines = (folder / "confirm.csv").read_text().splitlines()
    assert len(lines) == 9 and lines[0].startswith("value,seed,accuracy")
    text = (folder / "confirm.md").read_text()
    assert text.count("| best |") == 1 and ("behind" in text or "within noise" in text)


def test_export_and_search_report_are_unchanged(confirmed, mlflow_client):
    summary = confirmed["summary"]
    parent = mlflow_client.get_run(summary["parent_run_id"])
    assert parent.data.tags["best_run_id"] == summary["best_run_id"]
    assert len(mlflow_client.search_model_versions(
        f"name = '{summary['registered_model']}'")) == 1
    trials = report.collect_trials(mlflow_client, summary["experiment_id"],
                                   summary["parent_run_id"], summary["summary_keys"])
    assert len(trials) == summary["n_trials"]


def test_the_same_run_command_again_trains_nothing(confirmed, mlflow_client):
    again = run_cli_here(*confirmed["args"], cwd=confirmed["work"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "8 runs finished earlier, 0 to train" in again.stderr
    runs = _confirm_runs(mlflow_client, confirmed["summary"])
    assert len(runs) == 8
    note = mlflow_client.get_run(confirmed["summary"]["parent_run_id"]).data.tags[
        "mlflow.note.content"]
    assert note.count("<!-- confirm bridge -->") == 1  # replaced, not stacked


@pytest.mark.parametrize("runs", [0, 1])
def test_no_run_starts_past_the_time_it_was_given(runs, confirmed, tracking_uri, mlflow_client,
                                                  monkeypatch, tmp_path):
    """`run --time-budget --confirm-seeds`: the stage trains while a run as long as
    the longest so far still fits, then reports what it has (issue 24 item 4). On
    a clock that moves 10 s each time it is read: the first run starts if the
    time is not over, the next only if 10 s more still fit."""
    from search.core.confirm_plan import ConfirmRequest
    from search.tracking import open_client
    from search.winner import confirm
    ticks = iter(range(0, 10_000, 10))
    monkeypatch.setattr(confirm, "clock", lambda: next(ticks))
    source = confirm_runs.open_search(open_client(tracking_uri), confirmed["experiment"], None)
    lines, vary = [], ["dropout", "flatten_pool"][runs]
    out = tmp_path / "confirm-report"
    summary = confirm.confirm(source, vary, ConfirmRequest(2, vary, 1), tracking_uri,
                              [(out, "--out")], out=lines.append, stop_at=[-1, 25][runs])
    assert any(f"the confirm stage stopped after {runs} of" in line for line in lines), lines
    assert len(_confirm_runs(mlflow_client, confirmed["summary"], vary)) == runs
    assert len(summary["rows"]) == runs  # the report covers the runs trained
    if not runs:
        assert "no run finished yet" in (out / "confirm.md").read_text()


def _start_confirm(confirmed, tracking_uri, crash_at=None):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(CRASH_ENV, None)
    if crash_at:
        env[CRASH_ENV] = crash_at
    command = [sys.executable, "-m", "search", "confirm", "--experiment",
               confirmed["experiment"], "--tracking-uri", tracking_uri, "--vary",
               "residual_blocks", "--seeds", "2", "--epochs", "1"]
    return subprocess.run(command, cwd=confirmed["work"], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_confirm_killed_twice_resumes_without_training_twice(confirmed, tracking_uri,
                                                             mlflow_client):
    """Killed after training its 2nd run, before MLflow heard of the score; then
    killed between a run's score and its end; the third start trains the rest."""
    first = _start_confirm(confirmed, tracking_uri, crash_at="confirm_trained:2")
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    second = _start_confirm(confirmed, tracking_uri, crash_at="confirm_logged:1")
    assert second.returncode == -signal.SIGKILL, second.stderr[-2000:]
    assert "1 runs finished earlier, 3 to train" in second.stdout
    third = _start_confirm(confirmed, tracking_uri)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "2 runs finished earlier, 2 to train" in third.stdout  # the logged one was closed
    runs = _confirm_runs(mlflow_client, confirmed["summary"], "residual_blocks")
    assert _keys(runs) == [("0", 0), ("0", 1), ("1", 0), ("1", 1)]
    assert _keys(runs, "KILLED") == [("1", 0)]  # trained, score lost: trained once more
    assert len(runs) == 5
    assert "Controlled ablation of residual_blocks" in third.stdout
    note = mlflow_client.get_run(confirmed["summary"]["parent_run_id"]).data.tags[
        "mlflow.note.content"]
    assert note.startswith("<!-- confirm residual_blocks -->\n## Controlled ablation of "
                           "residual_blocks")
    assert note.count("<!-- confirm residual_blocks -->") == 1


def test_the_search_report_goes_beside_the_confirm_report(confirmed, tracking_uri):
    """Both write under reports/EXPERIMENT/RUN_ID, which either may create first."""
    done = run_cli_here("report", "--experiment", confirmed["experiment"], "--tracking-uri",
                        tracking_uri, cwd=confirmed["work"])
    assert done.returncode == 0, done.stderr[-2000:]
    folder = confirmed["work"] / "reports" / confirmed["experiment"] / confirmed["summary"][
        "parent_run_id"]
    assert (folder / "report.md").is_file() and (folder / "confirm" / "bridge").is_dir()


def _users_out(work, case):
    """`confirm --out` at a folder of the user's (issue 27: the rule for every
    folder the tool writes): (the option's value, the message)."""
    users = work / f"users-{case}"
    users.mkdir()
    (users / "confirm.md").write_text("the user's own notes\n")
    if case == "out_user_folder":
        return users, "holds files bridge-search did not write (confirm.md)"
    if case == "out_link":
        (work / "link-to-users").symlink_to(users)
        return work / "link-to-users", "is a symbolic link"
    return users / "confirm.md" / "inner", "confirm.md is a file"


@pytest.mark.parametrize("case", ["seeds_0", "unknown_vary", "unfinished", "other_tool",
                                  "no_experiment", "out_user_folder", "out_link",
                                  "out_under_file"])
def test_bad_input_exits_2_before_tensorflow_loads(case, confirmed, tracking_uri,
                                                   mlflow_client):
    experiment, extra, message = confirmed["experiment"], [], None
    if case.startswith("out_"):
        out, message = _users_out(confirmed["work"], case)
        extra = ["--out", out]
    elif case == "seeds_0":
        extra, message = ["--seeds", "0"], "--seeds 0 is invalid: must be an integer >= 1"
    elif case == "unknown_vary":
        extra, message = ["--vary", "depth"], "--vary 'depth' is not a hyperparameter"
    elif case == "unfinished":
        experiment = f"unfinished-{uuid.uuid4().hex[:6]}"
        run = mlflow_client.create_run(mlflow_client.create_experiment(experiment),
                                       tags={"bridge_search.role": "search"})
        message = f"(run {run.info.run_id}) has not finished (status RUNNING)"
    elif case == "other_tool":
        run = mlflow_client.create_run(confirmed["summary"]["experiment_id"])
        mlflow_client.set_terminated(run.info.run_id)
        extra, message = ["--run-id", run.info.run_id], "is not a search (parent) run"
    else:
        experiment, message = "no-such-experiment", "no such experiment in this tracking store"
    done = run_cli("confirm", "--experiment", experiment, "--tracking-uri", tracking_uri,
                   *extra, cwd=confirmed["work"], env=LIST_IMPORTS)
    assert done.returncode == 2
    assert_one_line(done.stderr, message)
    assert not imported_tensorflow(done.stderr)
    if case.startswith("out_"):  # nothing written into the user's folder
        users = confirmed["work"] / f"users-{case}"
        assert [p.name for p in users.iterdir()] == ["confirm.md"]
        assert (users / "confirm.md").read_text() == "the user's own notes\n"


@pytest.mark.parametrize("name, message", [
    ("learning_rate", "--vary 'learning_rate' is continuous (a Float without a step)"),
    ("filters", "--vary 'filters' is fixed to one value in this space"),
])
def test_a_hyperparameter_without_values_to_compare_exits_2(name, message, confirmed,
                                                            tracking_uri):
    done = run_cli_here("confirm", "--experiment", confirmed["experiment"], "--vary", name,
                        "--tracking-uri", tracking_uri, cwd=confirmed["work"])
    assert done.returncode == 2
    assert_one_line(done.stderr, message)


@pytest.mark.parametrize("value", ["-1", "two"])
def test_run_confirm_seeds_below_zero_exits_2(value, tmp_path):
    done = run_cli_here("run", "--confirm-seeds", value, cwd=tmp_path)
    assert done.returncode == 2
    assert "--confirm-seeds" in done.stderr and "Traceback" not in done.stderr


def _space(declare):
    hps = keras_tuner.HyperParameters()
    declare(hps)
    return hps


@pytest.mark.parametrize("declare, values", [
    (lambda hp: hp.Choice("x", ["a", "b", "c"]), ["a", "b", "c"]),
    (lambda hp: hp.Int("x", 0, 3), [0, 1, 2, 3]),
    (lambda hp: hp.Int("x", 2, 8, step=3), [2, 5, 8]),
    (lambda hp: hp.Boolean("x"), [False, True]),
    (lambda hp: hp.Float("x", 0.0, 0.5, step=0.25), [0.0, 0.25, 0.5]),
])
def test_values_of_each_kind(declare, values):
    assert vary.values_of(_space(declare), "x") == values


@pytest.mark.parametrize("declare, message", [
    (lambda hp: hp.Float("x", 1e-3, 1e-2, sampling="log"), "is continuous"),
    (lambda hp: hp.Fixed("x", 3), "is fixed to one value"),
    (lambda hp: hp.Int("y", 0, 2), "'x' is not a hyperparameter of the space; accepted: y"),
])
def test_values_of_refuses_what_cannot_be_compared(declare, message):
    with pytest.raises(UsageError, match=message):
        vary.values_of(_space(declare), "x")


def test_with_value_keeps_the_winner_and_completes_conditionals():
    hypermodel = spaces.load_space("bridge-small", (8, 8, 1), 10, pixel_max=16)
    space_hps = vary.space_hyperparameters(hypermodel)
    winner = {"bridge": "gap", "residual_blocks": 1, "filters": 8, "dense_units": 16,
              "dropout": 0.25, "learning_rate": 0.003}
    flatten = vary.with_value(space_hps, winner, "bridge", "flatten").values
    # its default; augment is fixed in bridge-small
    assert flatten == {**winner, "bridge": "flatten", "flatten_pool": 1, "augment": "none"}
    gap = vary.with_value(space_hps, {**flatten, "flatten_pool": 2}, "bridge", "gap").values
    assert gap == {**winner, "augment": "none"}


def test_inactive_marker_is_the_trial_loggers():
    assert confirm_runs.INACTIVE == trial_logger.INACTIVE
