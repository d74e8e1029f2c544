"""Keep the CLI's output to the tool's own lines.

TensorFlow 2.21 writes absl/oneDNN lines to fd 2 while it is imported, before
absl is set up, so TF_CPP_MIN_LOG_LEVEL cannot stop them (TF_ENABLE_ONEDNN_OPTS=0
would, but turns oneDNN off). So the CLI sets TF_CPP_MIN_LOG_LEVEL=2 for later
C++ logging (errors stay visible) and imports TensorFlow with fd 2 pointed at a
file, replaying whatever is not that start-up noise. A user who set
TF_CPP_MIN_LOG_LEVEL=0 gets TensorFlow's logs as they asked; 1, 2 or 3 (many keep
2 in their shell profile) ask for less, so the start-up noise is dropped then too,
and the level is theirs. Keras progress bars
(raw ANSI escapes in a log file) are off in every case, and so are MLflow's INFO
lines (MLFLOW_LOGGING_LEVEL, unless the user set it).
"""

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings

# Set next to our TF_CPP_MIN_LOG_LEVEL default, so the chief and worker
# processes that `launch` starts know the level was ours, not the user's.
QUIET_MARK = "BRIDGE_SEARCH_QUIET_TF"
START_UP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} [\d:.]+ +\d+ \S+:\d+\]"  # absl: I0000 00:00:1796.22 25226 port.cc:153]
    r"|To enable the following instructions: .* rebuild TensorFlow)")


# What a served model's every prediction draws: "1/1 ━━━━ 0s 83ms/step".
KERAS_PROGRESS_BAR = re.compile(r"━|\d+(ms|s|us)/step")


def server_noise(line):
    """TensorFlow's start-up lines and Keras progress bars, for `serve`'s output."""
    return bool(START_UP_NOISE.match(line) or KERAS_PROGRESS_BAR.search(line))


def set_quiet_defaults():
    """Before anything imports TensorFlow or MLflow."""
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get(QUIET_MARK) == "1":
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        os.environ[QUIET_MARK] = "1"
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow prints "View run ... at: URL" / "View experiment at" to stdout when a run
    # ends on an http store (launch, a server); the tool's own lines give the links.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # tqdm bars of artifact downloads (serve's model, export's trial model)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow logs a store error with its whole traceback, then raises it; the tool's
    # one line says what failed (e.g. a full disk), so that log record is dropped.
    logging.getLogger("mlflow.store.db.utils").addFilter(_not_a_store_error_it_raises)
    # TensorFlow warns after 5 new predict functions in a row: a process that runs
    # several searches (run_search from Python, the test suite) traces one per winner
    # it registers (search/tracking/models.py), which is expected, not a slowdown.
    logging.getLogger("tensorflow").addFilter(_not_a_retracing_warning)
    keras_load_warning_off()


# Keras warns, with its source path, when it loads a model whose optimizer state was
# saved before the optimizer was built (a trial's best model, the logged winner):
# the state is not restored, which evaluating, exporting and serving never need.
OPTIMIZER_NOT_LOADED = "Skipping variable loading for optimizer"


def keras_load_warning_off():
    """That warning off here and (PYTHONWARNINGS) in the processes this one starts,
    e.g. `serve`'s `mlflow models serve`."""
    warnings.filterwarnings("ignore", message=OPTIMIZER_NOT_LOADED, category=UserWarning)
    rule = f"ignore:{OPTIMIZER_NOT_LOADED}:UserWarning"
    given = os.environ.get("PYTHONWARNINGS", "")
    if rule not in given.split(","):
        os.environ["PYTHONWARNINGS"] = f"{given},{rule}" if given else rule


def _not_a_store_error_it_raises(record):
    return not record.getMessage().startswith("SQLAlchemy database error")


def _not_a_retracing_warning(record):
    return "triggered tf.function retracing" not in record.getMessage()


def tensorflow_logs_asked():
    """Whether the user asked for TensorFlow's own lines: TF_CPP_MIN_LOG_LEVEL=0
    (or another value than 1..3) set by them, not by us."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    return os.environ.get(QUIET_MARK) != "1" and level not in (None, "1", "2", "3")


def import_tensorflow():
    """Import TensorFlow and Keras once, without their start-up lines where the
    user did not ask for TensorFlow's logs; turn Keras progress bars off."""
    if "tensorflow" not in sys.modules and not tensorflow_logs_asked():
        with _start_up_noise_dropped():
            import tensorflow  # noqa: F401
    import keras
    keras.utils.disable_interactive_logging()  # no progress bars, in fit/predict alike


def _start_up_noise_dropped():
    """fd 2 for the block, less TensorFlow's start-up noise (a real error stays visible)."""
    return fd2_filtered(lambda line: not START_UP_NOISE.match(line))


@contextlib.contextmanager
def fd2_filtered(keep):
    """Point fd 2 at a file for the block (C++ code writes there, below Python);
    afterwards write back every line of it for which `keep(line)` is true."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines()
                    if keep(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


# MLflow prints these straight to sys.stderr (not through logging, and its own
# log_model turns its event stream back on); the tool says it in its own line.
MLFLOW_CHATTER = re.compile(r"^(Successfully registered model '|Created version '\d+' of model"
                            r"|Registered model '.*' already exists\. Creating a new version)")


@contextlib.contextmanager
def registration_prints_off():
    """Around logging and registering the winner: no MLflow registry chatter, and
    no Keras progress bar from the predict MLflow runs on the input example."""
    import keras
    keras.utils.disable_interactive_logging()  # keras.backend.clear_session() resets it
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        kept = [line for line in captured.getvalue().splitlines()
                if not MLFLOW_CHATTER.match(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr, flush=True)
