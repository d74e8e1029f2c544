"""`bridge-search` command line: sub-commands run, launch, export, report, serve, spaces, ui.

`run`'s options come from search/arguments.py (generated from SearchConfig), so the CLI, the
validation and what is logged to MLflow cannot drift apart. Exit codes: 0 ok,
2 bad input (one line on stderr), 1 any other failure.
"""

import dataclasses
import logging
import os
import sys
import time

IMPORTED_AT = time.perf_counter()  # a process's first command counts its imports too

from search.core import disk_full, logs, quiet, stores  # noqa: E402

quiet.set_quiet_defaults()  # before anything imports TensorFlow or MLflow

from search.arguments import build_parser  # noqa: E402
from search.core.config import SearchConfig, resolve_tracking_uri  # noqa: E402
from search.core.errors import SearchFailed, UsageError  # noqa: E402
from search.core.ports import check_port_free  # noqa: E402


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "config", None):
        from search.core.config_file import load_config_file
        # Parse again with the file's values as defaults: flags still override them.
        args = build_parser(load_config_file(args.config)).parse_args(argv)
    return args


def main(argv=None):
    started = _command_started()
    try:
        args = parse_args(argv)
        args.command_started = started  # --time-budget counts the whole command
        with logs.configured(args.verbosity):
            return COMMANDS[args.command](args)
    except (UsageError, ValueError) as error:
        if not _is_usage_error(error):
            raise
        print(f"bridge-search: error: {error}", file=sys.stderr)
        return 2
    except SearchFailed as error:
        full = disk_full.full_disk_error(error)  # e.g. every trial failed on a full disk
        print(f"bridge-search: search failed: {disk_full.message(full) if full else error}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bridge-search: interrupted; run the same command again to resume.",
              file=sys.stderr)
        return 1
    except Exception as error:
        full = disk_full.full_disk_error(error)
        if full is None:
            raise
        print(f"bridge-search: failed: {disk_full.message(full)}", file=sys.stderr)
        return 1


_main_called = False


def _command_started():
    """When the command began, on the perf_counter clock: the import of this module
    for a process's first main() (`bridge-search run` pays TensorFlow's import out
    of its --time-budget), the call itself for a later main() in the same process
    (a Python caller's second command, whose budget the first must not eat)."""
    global _main_called
    started = time.perf_counter() if _main_called else IMPORTED_AT
    _main_called = True
    return started


def config_from(args):
    return SearchConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SearchConfig)})


def launch_command(args):
    from search.distributed.launch import Launcher
    from search.distributed.launch_checks import (check_oracle_address, check_process_count,
                                                  project_claimed)
    check_process_count(args.workers, "--workers")
    check_oracle_address(args.oracle_host, args.oracle_port)
    config = config_from(args)
    if args.store:  # before TensorFlow loads: a wrong database is exit 2 in seconds
        from search.distributed.server import check_launch_store
        check_launch_store(args.store, config.resolved_tracking_uri())
    else:
        stores.check_store(config.resolved_tracking_uri())
    from search.preflight import answer_finished
    with project_claimed(config, args.workers):  # before any process starts
        if answer_finished(config):  # as for `run`: no processes for a finished search
            return 0
        # No TensorFlow here: the chief and workers load it, the launcher only starts them.
        return Launcher(config, args.workers, host=args.oracle_host,
                        oracle_port=args.oracle_port, store=args.store,
                        artifacts=args.artifacts).run()


def server_command(args):
    from search.distributed.launch_checks import check_process_count
    check_process_count(args.server_workers, "--server-workers")
    from search.distributed.server import serve
    serve(args.store, args.artifacts, args.host, args.port, args.server_workers)


def _is_usage_error(error):
    if isinstance(error, UsageError):  # decided without importing spaces (TensorFlow)
        return True
    from spaces import SpaceError  # a space's own error is the user's input too
    return isinstance(error, SpaceError)


def run_command(args):
    config = config_from(args)  # every check that needs no TensorFlow
    if args.dry_run:
        quiet.import_tensorflow()
        from search.plan.preview import show_plan
        timing = show_plan(config, out=print, started=args.command_started)
        if config.confirm_seeds:
            from search.plan.confirm_cost import dry_run_line
            print(dry_run_line(config, timing))
        return 0
    from search.preflight import preflight
    finished = preflight(config)
    if finished:  # the same search again: answered before TensorFlow loads
        return (_confirm_stage(config, finished, args.command_started)
                if config.confirm_seeds else 0)
    quiet.import_tensorflow()
    from search.run import run_search
    summary = run_search(config, started=args.command_started, preflight_done=True)
    if config.confirm_seeds and "parent_run_id" in summary and summary.get("role") != "worker":
        return _confirm_stage(config, summary, args.command_started)
    return 0


def _confirm_stage(config, summary, started):
    """`run --confirm-seeds K`: `confirm` on the search just finished (or finished
    before: a killed confirm stage resumes with the same `run` command). With
    --time-budget: the seeds the budget planned room for, and no run started
    that would end past the budget."""
    from search.core.confirm_plan import ConfirmRequest
    seeds = summary.get("budget_confirm_seeds", config.confirm_seeds)
    if not seeds:  # the budget's plan said so before training
        return 0
    request = ConfirmRequest(seeds=seeds)
    uri = config.resolved_tracking_uri()
    source, vary, folders = _confirm_prepare(uri, config.experiment, summary["parent_run_id"],
                                             request)
    quiet.import_tensorflow()
    from search.winner import confirm
    stop_at = started + config.time_budget_seconds if config.time_budget else None
    confirm.confirm(source, vary, request, uri, folders, out=_say, stop_at=stop_at)
    return 0


def confirm_command(args):
    from search.core.confirm_plan import ConfirmRequest
    request = ConfirmRequest(seeds=args.seeds, vary=args.vary, epochs=args.epochs)
    uri = _store_uri(args)  # a missing store: exit 2 before TensorFlow loads
    source, vary, folders = _confirm_prepare(uri, args.experiment, args.run_id, request,
                                             args.out)
    quiet.import_tensorflow()
    from search.winner import confirm
    confirm.confirm(source, vary, request, uri, folders, out=print)
    return 0


def _confirm_prepare(uri, experiment, run_id, request, out_dir=None):
    """The finished search, the varied name and the report folders (each usable
    and absent, empty or ours), judged from the store and the disk alone."""
    from search.tracking import confirm_runs, open_client
    from search.winner import confirm_report
    client = open_client(uri)
    source = confirm_runs.open_search(client, experiment, run_id)
    vary = confirm_runs.check_vary_name(source, request.vary)
    folders = confirm_report.folders(out_dir, client.get_experiment(source.experiment_id).name,
                                     source.parent_run_id, vary)
    confirm_report.check_folders(folders)
    return source, vary, folders


def _say(line):
    """The confirm stage's lines at the end of `run`, through its logger (-q silences)."""
    logging.getLogger("search.confirm").info(line)


def export_command(args):
    stores.check_dir(args.out, f"--out {args.out!r}")
    disk_full.writes_to(args.out)
    uri = _store_uri(args)  # a missing store: exit 2 before Keras loads
    from search.core import export_dir
    from search.tracking import open_client, registry
    export_dir.check_out_dir(args.out, args.overwrite, uri)  # before anything is downloaded
    client = open_client(uri)
    run = registry.trial_run(client, args.run_id)  # an unknown run too
    quiet.import_tensorflow()
    from search.tracking import models
    from search.winner import export
    model, _ = models.load_trial_model(client, args.run_id, unsafe=args.unsafe_load, run=run)
    out = export.export_model(model, args.out, models.trial_info(run),
                              owner=f"bridge-search export --run-id {args.run_id}")
    print(f"exported run {args.run_id} to {out}")
    return 0


def spaces_command(args):
    quiet.import_tensorflow()
    import spaces
    for name in sorted(spaces.SPACES):
        hypermodel = spaces.load_space(name, (8, 8, 1), 10, pixel_max=16)
        print(f"{name}{'  (default)' if name == spaces.DEFAULT_SPACE else ''}")
        for config in spaces.describe_space(hypermodel):
            details = {k: v for k, v in config.items()
                       if k not in ("name", "conditions", "default") and v is not None}
            condition = " (conditional)" if config.get("conditions") else ""
            print(f"  {config['name']}{condition}: {details}")
        for rule in getattr(hypermodel, "rules", lambda: [])():
            print(f"  rule: {rule} (other draws are drawn again)")
    return 0


def _store_uri(args):
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the default store, for the
    commands that only read it, judged as `run` judges it (search/core/stores.py): a
    URI MLflow does not open, a store that does not exist (no sqlite file, an http
    server that does not answer) is a usage error, and nothing is created."""
    return stores.check_store(resolve_tracking_uri(args.tracking_uri), existing=True)


def report_command(args):
    stores.check_dir(args.out or "reports", f"--out {args.out or 'reports'!r}")
    from search.core import ownership
    if args.out:  # the ownership rule, before the store is read
        ownership.check_folder(args.out, "--out", *ownership.REPORT_RULE)
    uri = _store_uri(args)
    from search.tracking import open_client, report
    client = open_client(uri)
    _, parent = report.find_search(client, args.experiment, args.run_id)
    out = args.out or os.path.join("reports", ownership.path_slug(args.experiment),
                                   parent.info.run_id)
    text, _ = report.build_report(client, args.experiment, out, parent.info.run_id,
                                  claim="--out" if args.out else "report folder")
    print(text)
    print(f"report.md, trials.csv and plots written to {out}", file=sys.stderr)
    return 0


def serve_command(args):
    check_port_free(args.host, args.port)  # before "Serving" and uvicorn's traceback
    uri = _store_uri(args)  # before MLflow is imported
    from search.tracking import registry  # not export: no TensorFlow to find the model
    model_uri = args.model_uri or registry.champion_uri(uri, args.experiment, args.alias)
    from search.tracking.reachable import check_artifacts_reachable
    check_artifacts_reachable(uri, model_uri)  # before it says "Serving"
    from search.distributed import server  # the venv's bin/ on PATH, for uvicorn
    env = {**server.server_env(), "MLFLOW_TRACKING_URI": uri}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "--host", args.host, "--port", str(args.port)]
    print(f"Serving {model_uri} on http://{args.host}:{args.port}/invocations "
          f"(POST {{\"inputs\": raw images as nested lists}})", file=sys.stderr, flush=True)
    if quiet.tensorflow_logs_asked():
        os.execve(sys.executable, command, env)
    from search.core.filtered import run_filtered  # the server's TensorFlow start-up lines
    return run_filtered(command, env, quiet.server_noise)


def ui_command(args):
    check_port_free(args.host, args.port)  # before the links are printed
    uri = _store_uri(args)
    # One user, one worker: MLflow's default 4 take a minute to start on 2 busy CPUs.
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port), "--workers", "1"]
    base = f"http://{args.host}:{args.port}"
    from search.tracking import links
    print("\n".join([f"MLflow UI on {base} for {uri}",
                     *links.latest_search_lines(uri, args.experiment, base)]),
          file=sys.stderr, flush=True)
    from search.distributed import server  # without MLflow's job runner
    os.execve(sys.executable, command, server.server_env())


COMMANDS = {"run": run_command, "launch": launch_command, "export": export_command,
            "spaces": spaces_command, "ui": ui_command, "report": report_command,
            "confirm": confirm_command,
            "serve": serve_command, "server": server_command}

if __name__ == "__main__":
    sys.exit(main())
