"""The answer from stored state: "this search already finished", given only when
the finished search's recorded options match what was asked.

At its end a search records in its state file (search/core/state.py) its options as
asked (`record`, before --time-budget replaces the Hyperband settings) and the
exports it wrote. Running the same experiment again then:
- with the same search options: says the stored result (nothing is trained);
- with other search options (another --seed, --data, ...): exit 2 naming them, and
  the way out (--overwrite, or a new --experiment); another --tracking-uri only if
  its store does not hold the search's parent run (`launch` records the URI of the
  server it starts, the same store);
- with only other export options (a new --export-dir, --quantize), or an export
  folder that is gone: exports the stored winner from MLflow again
  (search/winner/reexport.py), then says the stored result.
--summary-json is written either way. A state file of a version that recorded no
options cannot show a match: exit 2 with its result and the same way out.

Imports nothing heavy at the top: the CLI answers before TensorFlow loads; MLflow
and TensorFlow are imported only on the two paths that need them.
"""

import dataclasses
import json
from pathlib import Path

from search.core import quiet
from search.core.config_rules import flag
from search.core.errors import UsageError
from search.core.store_paths import store_path
from search.core import disk_full, stores
from search.core.stores import check_reachable
from search.core.state import (finished_summary, read_state, report_finished, state_path,
                               write_state)

# Options that do not change what the search trains, picks or logs, so a finished
# search answers whatever they are: where its own state lives (it was found there),
# how long to wait on a store or a chief, what is kept locally or logged per trial,
# and the outputs handled below.
NOT_COMPARED = frozenset({"project_dir", "overwrite", "store_retry_seconds", "chief_timeout",
                          "keep_checkpoints", "log_models", "summary_json",
                          "confirm_seeds"})  # a stage after the search (search/winner/confirm.py)
# What a new export of the stored winner gives: compared with the exports written.
EXPORT_OPTIONS = frozenset({"export_dir", "quantize"})


def record(config):
    """The options of `config` that make the search what it is, resolved (the store
    the URI leads to, a local one by its absolute path; the budget in seconds), as
    JSON values."""
    values = dataclasses.asdict(config)
    values["tracking_uri"] = stores.absolute_uri(config.resolved_tracking_uri())
    values["time_budget"] = config.time_budget_seconds
    return json.loads(json.dumps({k: v for k, v in values.items()
                                  if k not in NOT_COMPARED | EXPORT_OPTIONS}))


def export_record(config, export_dir):
    """The export as the command named it (a relative default, exports/EXPERIMENT/
    RUN_ID, still names it after the whole folder was moved)."""
    return {"export_dir": str(export_dir), "quantize": bool(config.quantize)}


def _same_export(recorded, target):
    # Records of earlier versions hold the resolved path.
    return recorded["export_dir"] in (str(target), str(Path(target).resolve()))


def finished_state(config, summary, export_dir):
    """What the state file holds of a finished search besides its summary."""
    return {"finished": summary, "config": record(config),
            "exports": [export_record(config, export_dir)]}


def differences(config, stored):
    """["--flag stored (asked value)"] for every compared option that differs; an
    option the stored record lacks (added later) counts as its default."""
    asked = record(config)
    defaults = record(type(config)(tracking_uri=asked["tracking_uri"]))
    return [f"{flag(name)} {_shown(stored.get(name, defaults[name]))} "
            f"(asked: {_shown(value)})"
            for name, value in asked.items() if stored.get(name, defaults[name]) != value]


def _store_only(changed):
    return [c for c in changed if c.startswith(flag("tracking_uri") + " ")]


def _holds_run(uri, summary):
    """Whether the store `uri` holds the finished search's parent run: another URI
    of the same store (`launch` records its own server's) is the same search. A
    server that does not answer is exit 2 (check_reachable); a store that is not
    there holds nothing, and nothing is created."""
    path = store_path(uri)
    if path is not None and not path.exists():
        return False
    check_reachable(uri)
    from search.tracking import holds_run  # MLflow: only when another URI is asked
    return holds_run(uri, summary["parent_run_id"])


def _shown(value):
    return "(none)" if value is None else value


def answer_finished(config):
    """The stored summary when this search has finished and may be answered from
    state (after exporting its winner again where only the export options
    differ); None when it has not finished or --overwrite asks for a new one.
    UsageError when the finished search was run with other options."""
    summary = finished_summary(config)
    if not summary:
        return None
    state = read_state(state_path(config))
    where = state_path(config).parent
    if "config" not in state:
        raise UsageError(f"{where} holds a search that finished (winner run "
                         f"{summary['best_run_id']}, exported to {summary['export_dir']}) "
                         f"under an earlier bridge-search that did not record its options, "
                         f"so they cannot be compared with this command's; pass --overwrite "
                         f"to search again, or choose a new --experiment.")
    changed = differences(config, state["config"])
    if changed and (changed != _store_only(changed)
                    or not _holds_run(config.resolved_tracking_uri(), summary)):
        raise UsageError(f"{where} holds a search that already finished with other options: "
                         f"{'; '.join(changed)}. Pass --overwrite to search again with these "
                         f"options (its results are replaced), or choose a new --experiment "
                         f"to keep both.")
    # The search's own export as it named it: relative by default (exports/...), so
    # a moved folder still finds it.
    target = Path(config.export_dir or summary["export_dir"])
    wanted = export_record(config, target)
    done = [e for e in state.get("exports", []) if _same_export(e, target)]
    # An export with the int8 model answers a command without --quantize too.
    if not target.is_dir() or not any(e["quantize"] or not wanted["quantize"] for e in done):
        quiet.import_tensorflow()  # its start-up lines filtered
        from search.winner.reexport import export_again  # TensorFlow, MLflow
        summary = {**summary, "export_dir": str(export_again(config, summary, target))}
        others = [e for e in state.get("exports", []) if e not in done]
        write_state(state_path(config), {**state, "exports": [*others, wanted]})
    elif config.export_dir:
        summary = {**summary, "export_dir": config.export_dir}
    return report_finished(config, summary)


def preflight(config):
    """The TF-free checks of `run`, once, in order: the stored answer first (it
    reads only the state file, so an option that differs is named even when the
    store is gone), then whether the store answers, then where a full disk would
    be reported. Returns the stored summary when the search was answered from
    state; None when it is to run."""
    finished = answer_finished(config)
    if finished:
        return finished
    uri = config.resolved_tracking_uri()
    stores.check_store(uri)
    disk_full.writes_to(config.project_dir, stores.local_folder(uri),
                        config.export_dir or "exports", config.summary_json)
    return None
