"""The project's state file: the parent run to resume, and once the search has
finished, its summary, so running the same command again only reports it.

Imports nothing heavy: the CLI answers a finished search before TensorFlow loads.
"""

import json
import logging
import os
from pathlib import Path

from search.core.errors import UsageError

log = logging.getLogger(__name__)

STATE_FILE = "bridge_search_state.json"  # in project_dir/project_name


def state_path(config):
    return Path(config.project_dir) / config.project_name / STATE_FILE


def read_state(path):
    """The state as written by write_state; {} when there is none. A file that is
    not one (edited by hand, a disk fault) is exit 2 naming it, not a traceback."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        first_line = str(error).splitlines()[0][:120]
        raise _not_a_state_file(path, f"{type(error).__name__}: {first_line}") from None
    if not isinstance(state, dict):
        raise _not_a_state_file(path, f"a JSON {type(state).__name__}, not an object")
    return state


def _not_a_state_file(path, what):
    return UsageError(f"{path} is not a bridge-search state file ({what}); move it away to "
                      f"start this search afresh, or pass --overwrite.")


def write_json(path, data, indent=None):
    """The one way the tool writes a JSON file (state, --summary-json, timings,
    launch.json): whole or not at all. Written beside the target, then renamed
    over it, so a kill or a full disk leaves the old file or the new one, and a
    reader polling the file never sees half of it. A symbolic link (a user's
    --summary-json pointing elsewhere) stays a link: its target is replaced."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(json.dumps(data, indent=indent))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_state(path, state):
    write_json(path, state)


def finished_summary(config):
    """The stored summary of this search when it has finished (and --overwrite
    does not ask for a new one); None otherwise."""
    if config.overwrite:
        return None
    return read_state(state_path(config)).get("finished")


def report_finished(config, summary):
    """Say the stored result of a finished search (and write --summary-json)."""
    test = summary.get("test_accuracy")
    # The exported trial (selected_*; best_* in summaries written before it).
    picked = "selected" if "selected_run_id" in summary else "best"
    log.info(f"This search already finished (project {state_path(config).parent}); nothing "
             f"was trained. Winner: run {summary[picked + '_run_id']}, val_accuracy "
             f"{summary[picked + '_val_accuracy']:.4f}"
             + (f", test_accuracy {test:.4f}" if test is not None else "")
             + f" | {summary[picked + '_hyperparameters']}")
    log.info(f"Exported to {summary['export_dir']}, registered as {summary['registered_model']} "
             f"v{summary['registered_version']}. Pass --overwrite to search again.")
    if config.summary_json:
        write_json(config.summary_json, summary, indent=2)
    return summary
