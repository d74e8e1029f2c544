"""Every user-facing flag is checked before any training or MLflow write: exit 2
and one line naming the flag, the value and what is accepted (docs/faults.md, "Bad input").

Each row makes what it needs under tmp and returns the command line; the CLI's
`main` runs it in this process (the same code path as `bridge-search`, minus a
TensorFlow start-up per row)."""

import os

import pytest

from search.cli import main

NOT_A_HYPERMODEL = "class Space:\n    pass\n"
BUILD_RAISES = '''
import keras_tuner

class Space(keras_tuner.HyperModel):
    def build(self, hp):
        raise RuntimeError("no model today")
'''
WITH_LAMBDA = '''
import keras
import keras_tuner

class Space(keras_tuner.HyperModel):
    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.input_shape, self.num_classes = input_shape, num_classes

    def build(self, hp):
        inputs = keras.Input(self.input_shape)
        x = keras.layers.Lambda(lambda t: t / 16.0, name="scale")(inputs)
        x = keras.layers.Flatten()(x)
        outputs = keras.layers.Dense(self.num_classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
'''


def space_file(tmp, text):
    (tmp / "space.py").write_text(text)
    return f"{tmp / 'space.py'}:Space"


def non_empty_dir(tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "old.txt").write_text("keep me")
    return tmp / "out"


def deleted_experiment(tmp, store):
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=store)
    client.delete_experiment(client.create_experiment("gone"))
    return ["--experiment", "gone"]


# name -> (arguments of `run` given tmp and the store URI, the line it must print)
RUN_CASES = {
    "max_epochs_below_1": (lambda tmp, store: ["--max-epochs", "0"],
                           "--max-epochs 0 is invalid: must be an integer >= 1."),
    "factor_below_2": (lambda tmp, store: ["--factor", "1"],
                       "--factor 1 is invalid: must be an integer >= 2."),
    "hyperband_iterations_below_1": (lambda tmp, store: ["--hyperband-iterations", "0"],
                                     "--hyperband-iterations 0 is invalid: must be an "
                                     "integer >= 1."),
    "negative_seed": (lambda tmp, store: ["--seed", "-1"],
                      "--seed -1 is invalid: must be an integer >= 0."),
    "batch_size_0": (lambda tmp, store: ["--batch-size", "0"],
                     "--batch-size 0 is invalid: must be an integer >= 1."),
    "batch_size_not_a_number": (lambda tmp, store: ["--batch-size", "big"],
                                "argument --batch-size: invalid int value: 'big'"),
    "patience_0": (lambda tmp, store: ["--patience", "0"],
                   "--patience 0 is invalid: must be an integer >= 1."),
    "val_split_1": (lambda tmp, store: ["--val-split", "1.0"],
                    "--val-split 1.0 is invalid: must be a fraction strictly between 0 and 1."),
    "unknown_strategy": (lambda tmp, store: ["--strategy", "ring"],
                         "--strategy 'ring' is invalid: accepted: none, mirrored."),
    "unknown_data": (lambda tmp, store: ["--data", "mnist"],
                     "--data 'mnist' is invalid: accepted: digits, tfds:NAME[:CONFIG], "
                     "folder:PATH, npz:PATH."),
    "unknown_space_name": (lambda tmp, store: ["--space", "bridge-huge"],
                           "--space 'bridge-huge' is not a registered space; accepted: bridge, "
                           "bridge-small, or path/to/file.py:ClassName."),
    "space_file_missing": (lambda tmp, store: ["--space", f"{tmp / 'nope.py'}:Space"],
                           "nope.py' does not exist or is not a .py file; expected "
                           "path/to/file.py:ClassName."),
    "space_class_missing": (lambda tmp, store: ["--space", space_file(tmp, "x = 1\n")],
                            "space.py defines no 'Space'."),
    "space_not_a_hypermodel": (lambda tmp, store: ["--space", space_file(tmp, NOT_A_HYPERMODEL)],
                               "Space is not a keras_tuner.HyperModel subclass"),
    "space_file_does_not_import": (lambda tmp, store: ["--space", space_file(tmp, "def (:\n")],
                                   "space.py failed: SyntaxError"),
    "space_build_raises": (lambda tmp, store: ["--space", space_file(tmp, BUILD_RAISES)],
                           "building a model failed: RuntimeError: no model today"),
    "space_with_lambda_layer": (lambda tmp, store: ["--space", space_file(tmp, WITH_LAMBDA)],
                                "the model has Lambda layer(s) scale; they hold Python code "
                                "that Keras safe mode refuses to load."),
    "export_dir_not_writable": (lambda tmp, store: ["--export-dir", "/proc/bridge-export"],
                                "--export-dir '/proc/bridge-export' is not writable (/proc "
                                "denies writing); choose a writable directory."),
    "export_dir_not_empty": (lambda tmp, store: ["--export-dir", str(non_empty_dir(tmp))],
                             "out' holds files bridge-search did not write (old.txt); it only "
                             "replaces its own exports: choose a new or empty directory."),
    "export_dir_is_a_file": (lambda tmp, store: ["--export-dir", str(non_empty_dir(tmp) /
                                                                  "old.txt")],
                             "old.txt' is a file; give a directory."),
    "export_dir_under_a_file": (lambda tmp, store: ["--export-dir", str(non_empty_dir(tmp) /
                                                                     "old.txt" / "sub")],
                                "old.txt is a file; choose a directory path."),
    "malformed_tracking_uri": (lambda tmp, store: ["--tracking-uri", "mlruns"],
                               "--tracking-uri 'mlruns' is invalid: a plain path names MLflow's "
                               "filesystem store, which MLflow 3 no longer opens; use an sqlite "
                               "file instead, e.g. --tracking-uri sqlite:///mlruns/mlflow.db."),
    "file_store_uri": (lambda tmp, store: ["--tracking-uri", "file:/abs/store"],
                       "--tracking-uri 'file:/abs/store' is invalid: a file: URI names MLflow's "
                       "filesystem store, which MLflow 3 no longer opens; use an sqlite file "
                       "instead, e.g. --tracking-uri sqlite:////abs/store/mlflow.db."),
    "unsupported_tracking_uri_scheme": (
        lambda tmp, store: ["--tracking-uri", "notascheme://x"],
        "--tracking-uri 'notascheme://x' is invalid: scheme 'notascheme' is not a tracking "
        "store MLflow knows (accepted: sqlite, postgresql, mysql, mssql, http, https, "
        "databricks, databricks-uc, uc); expected sqlite:///PATH.db"),
    "sqlite_uri_with_two_slashes": (lambda tmp, store: ["--tracking-uri", "sqlite://mlflow.db"],
                                    "--tracking-uri 'sqlite://mlflow.db' is invalid: expected "
                                    "sqlite:///PATH.db (three slashes, then the file's path)."),
    "http_uri_without_host": (lambda tmp, store: ["--tracking-uri", "http://:5000"],
                              "--tracking-uri 'http://:5000' is invalid: expected "
                              "http://HOST:PORT (no host given)."),
    "unreachable_tracking_uri": (lambda tmp, store: ["--tracking-uri", "http://127.0.0.1:9"],
                                 "--tracking-uri http://127.0.0.1:9: the MLflow server does "
                                 "not answer (ConnectionError); start it with `mlflow server` "
                                 "or fix the URI."),
    "deleted_experiment": (deleted_experiment,
                           "--experiment 'gone' was deleted in MLflow; restore it"),
    "experiment_blank": (lambda tmp, store: ["--experiment", " "],
                         "--experiment ' ' is invalid: must be a non-empty name."),
}


def run_main(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    return code, capsys.readouterr().err


def assert_one_line(stderr, message):
    ours = [line for line in stderr.splitlines() if line.startswith(("bridge-search: error",
                                                                     "bridge-search run: error"))]
    assert len(ours) == 1, stderr
    assert message in ours[0], ours[0]
    assert "Traceback" not in stderr


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_run_input_exits_2_with_one_line_before_any_write(case, tmp_path, capsys):
    make_args, message = RUN_CASES[case]
    store_dir = tmp_path / "store"
    store = f"sqlite:///{store_dir}/mlflow.db"
    args = make_args(tmp_path, store)
    if "--tracking-uri" not in args:
        args += ["--tracking-uri", store]
    runs_before = _run_count(store) if store_dir.exists() else 0
    code, stderr = run_main(["run", "--space", "bridge-small", "--project-dir",
                             str(tmp_path / "project"), *args], capsys)
    assert code == 2
    assert_one_line(stderr, message)
    # Nothing trained, nothing logged.
    assert not list((tmp_path / "project").glob("*/trial_*"))
    assert not list((tmp_path / "project").glob("*/oracle.json"))
    if store_dir.exists():
        assert _run_count(store) == runs_before


def _run_count(store):
    from mlflow.tracking import MlflowClient
    from mlflow.entities import ViewType
    client = MlflowClient(tracking_uri=store)
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return len(client.search_runs(ids, run_view_type=ViewType.ALL)) if ids else 0


# Rows that need no TensorFlow to judge: they must fail before it is imported
# (seconds, and no TensorFlow log lines before the one error line).
BEFORE_TENSORFLOW = ["malformed_tracking_uri", "unsupported_tracking_uri_scheme",
                     "sqlite_uri_with_two_slashes", "http_uri_without_host",
                     "unknown_space_name", "space_file_missing"]
JUDGE_IN_A_FRESH_PROCESS = """
import json, sys
from search.cli import main
for argv in json.loads(sys.argv[1]):
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    print(json.dumps([code, sorted(m for m in ("tensorflow", "keras", "mlflow")
                                   if m in sys.modules)]), flush=True)
"""


def test_bad_input_that_needs_no_tensorflow_is_judged_before_it_loads(tmp_path):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT
    store = f"sqlite:///{tmp_path}/store/mlflow.db"
    argvs, messages = [], []
    for case in BEFORE_TENSORFLOW:
        args = RUN_CASES[case][0](tmp_path, store)
        args += [] if "--tracking-uri" in args else ["--tracking-uri", store]
        for command in ("run", "launch"):  # launch judges the same options first
            argvs.append([command, "--project-dir", str(tmp_path / "project"), *args])
            messages.append(RUN_CASES[case][1])
    result = subprocess.run([sys.executable, "-c", JUDGE_IN_A_FRESH_PROCESS, json.dumps(argvs)],
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert verdicts == [[2, []]] * len(argvs), (verdicts, result.stderr[-2000:])
    lines = result.stderr.splitlines()  # one error line per case, nothing else
    assert len(lines) == len(argvs), result.stderr
    for message, line in zip(messages, lines):
        assert line.startswith("bridge-search: error: ") and message in line


def test_a_bad_space_prints_only_its_error_line(tmp_path):
    from tests.conftest import run_cli
    result = run_cli("run", "--space", "bridge-huge", cwd=tmp_path,
                     env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bridge-search: error: " + RUN_CASES["unknown_space_name"][1]]
    assert not (tmp_path / "mlruns").exists()


EXPORT_CASES = {
    "unknown_run_id": (lambda tmp: ["--run-id", "0123456789abcdef", "--out", str(tmp / "o")],
                       "--run-id '0123456789abcdef': no such run in this tracking store"),
    "out_not_empty": (lambda tmp: ["--run-id", "0123456789abcdef", "--out",
                                   str(non_empty_dir(tmp))],
                      "out' holds files bridge-search did not write (old.txt)"),
    "unreachable_tracking_uri": (lambda tmp: ["--run-id", "abc", "--out", str(tmp / "o"),
                                              "--tracking-uri", "http://127.0.0.1:9"],
                                 "the MLflow server does not answer"),
}


@pytest.mark.parametrize("case", list(EXPORT_CASES))
def test_bad_export_input_exits_2_with_one_line(case, tmp_path, capsys, tracking_uri):
    make_args, message = EXPORT_CASES[case]
    args = make_args(tmp_path)
    if "--tracking-uri" not in args:
        args += ["--tracking-uri", tracking_uri]
    code, stderr = run_main(["export", *args], capsys)
    assert code == 2
    assert_one_line(stderr, message)

