"""`bridge-search` command line: sub-commands run, launch, export, report, serve, spaces, ui.

`run`'s options are generated from SearchConfig's fields, so the CLI, the
validation and what is logged to MLflow cannot drift apart. Exit codes: 0 ok,
2 bad input (one line on stderr), 1 any other failure.
"""

import argparse
import dataclasses
import os
import sys
import time

COMMAND_STARTED = time.perf_counter()  # --time-budget counts the whole command from here

from search import logs, quiet  # noqa: E402

quiet.set_quiet_defaults()  # before anything imports TensorFlow or MLflow

from search.config import SearchConfig, flag, resolve_tracking_uri  # noqa: E402
from search.errors import SearchFailed, UsageError  # noqa: E402


def build_parser(search_defaults=None):
    parser = argparse.ArgumentParser(
        prog="bridge-search",
        description="Search the bridge layer (flatten/GAP/GMP/concat), residual depth and "
                    "dense width of an image classifier with keras-tuner Hyperband, "
                    "logging every trial to MLflow.")
    add_verbosity_flags(parser, default=0)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run a search (resumes an interrupted one)")
    add_search_options(run, search_defaults)
    run.add_argument("--dry-run", action="store_true",
                     help="print the Hyperband plan (brackets, rounds, trials, epochs) and "
                          "an estimated wall time, then stop without searching")

    launch = commands.add_parser(
        "launch", help="run a search with a chief and N worker processes on this machine "
                       "(keras-tuner's distributed mode)")
    add_search_options(launch, search_defaults)
    launch.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    launch.add_argument("--oracle-host", default="127.0.0.1",
                        help="address the chief oracle and MLflow server bind to "
                             "(default: 127.0.0.1)")
    launch.add_argument("--oracle-port", type=int, default=None,
                        help="chief oracle port (default: a free one)")
    from search.distributed.server import add_store_options  # light: no MLflow import
    add_store_options(launch, required=False)

    server = commands.add_parser(
        "server", help="run the MLflow tracking server that a chief and its workers on "
                       "several hosts share, on PostgreSQL or sqlite (see docs/multi-machine.md)")
    add_store_options(server, required=True)
    server.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 for other hosts; default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=5000)
    server.add_argument("--server-workers", type=int, default=1,
                        help="HTTP worker processes of the server (default: 1)")

    exporter = commands.add_parser("export", help="export any trial's best model")
    exporter.add_argument("--run-id", required=True, help="MLflow run id of a trial")
    exporter.add_argument("--out", required=True, help="output directory")
    exporter.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    exporter.add_argument("--tracking-uri", default=None)
    exporter.add_argument("--unsafe-load", action="store_true",
                          help="load a model holding Python code (Lambda layers); "
                               "only for files you trust")

    commands.add_parser("spaces", help="list registered search spaces and their hyperparameters")

    report = commands.add_parser(
        "report", help="print the trial table and best trial per bridge of a search and "
                       "write its plots, from the MLflow store alone")
    report.add_argument("--experiment", default=SearchConfig.experiment,
                        help=f"MLflow experiment (default: {SearchConfig.experiment})")
    report.add_argument("--run-id", default=None,
                        help="parent run id of the search (default: the latest search)")
    report.add_argument("--out", default=None,
                        help="folder for report.md, trials.csv and the PNG plots "
                             "(default: reports/EXPERIMENT/RUN_ID)")
    report.add_argument("--tracking-uri", default=None)

    serve = commands.add_parser(
        "serve", help="serve a registered model over HTTP: `mlflow models serve` on "
                      "models:/EXPERIMENT-classifier@champion, POST raw images to /invocations")
    serve.add_argument("--experiment", default=SearchConfig.experiment,
                       help=f"MLflow experiment whose model to serve (default: "
                            f"{SearchConfig.experiment})")
    serve.add_argument("--alias", default="champion",
                       help="registry alias to serve (default: champion)")
    serve.add_argument("--model-uri", default=None,
                       help="any MLflow model URI instead (runs:/..., models:/NAME/VERSION)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--tracking-uri", default=None)

    ui = commands.add_parser("ui", help="open the MLflow UI on the store in use and print "
                                        "the links to an experiment's latest search")
    ui.add_argument("--experiment", default=SearchConfig.experiment,
                    help=f"experiment whose latest search to link (default: "
                         f"{SearchConfig.experiment})")
    ui.add_argument("--tracking-uri", default=None)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000)
    for command in commands.choices.values():  # -v/-q after the sub-command too
        add_verbosity_flags(command, default=argparse.SUPPRESS)
    return parser


def add_verbosity_flags(parser, default):
    """-q: warnings and errors only; -v: debug lines too. On a sub-command the
    default is SUPPRESS, so it does not undo a flag given before the sub-command."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                       default=default, help="also print debug lines")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                       default=default, help="print warnings and errors only")


ARGPARSE_KEYS = ("nargs", "type", "metavar")


def add_search_options(parser, defaults=None):
    """One flag per SearchConfig field, plus --config; `defaults` (from a config
    file) replace the fields' own, so flags given on the command line win."""
    defaults = defaults or {}
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="TOML or YAML file with any of these options (keys as the "
                             "option names, e.g. max_epochs = 9); flags override it")
    for field in dataclasses.fields(SearchConfig):
        kwargs = {"dest": field.name, "help": field.metadata["help"]}
        if field.type in (bool, "bool"):
            parser.add_argument(flag(field.name), action="store_true",
                                default=defaults.get(field.name, False), **kwargs)
        else:
            default_note = "" if field.default is None else f" (default: {field.default})"
            # A field may shape its flag with argparse keywords in its metadata,
            # e.g. image_size: nargs=2, type=int, metavar=("HEIGHT", "WIDTH").
            shaping = {k: field.metadata[k] for k in ARGPARSE_KEYS if k in field.metadata}
            parser.add_argument(flag(field.name), default=defaults.get(field.name, field.default),
                                **{"type": _type_of(field), **shaping, **kwargs,
                                   "help": kwargs["help"] + default_note})


def _type_of(field):
    return {"int": int, "float": float, "str": str}.get(
        field.type if isinstance(field.type, str) else field.type.__name__, str)


def parse_args(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "config", None):
        from search.config_file import load_config_file
        # Parse again with the file's values as defaults: flags still override them.
        args = build_parser(load_config_file(args.config)).parse_args(argv)
    return args


def main(argv=None):
    try:
        args = parse_args(argv)
        with logs.configured(args.verbosity):
            return COMMANDS[args.command](args)
    except (UsageError, ValueError) as error:
        if not _is_usage_error(error):
            raise
        print(f"bridge-search: error: {error}", file=sys.stderr)
        return 2
    except SearchFailed as error:
        print(f"bridge-search: search failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bridge-search: interrupted; run the same command again to resume.",
              file=sys.stderr)
        return 1


def config_from(args):
    return SearchConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SearchConfig)})


def launch_command(args):
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers} is invalid: must be an integer >= 1.")
    config = config_from(args)
    if args.store:  # before TensorFlow loads: a wrong database is exit 2 in seconds
        from search.distributed.server import check_launch_store
        check_launch_store(args.store, config.resolved_tracking_uri())
    from search.state import finished_summary, report_finished
    if finished_summary(config):  # as for `run`: no processes for a finished search
        report_finished(config, finished_summary(config))
        return 0
    quiet.import_tensorflow()  # input judged: now TensorFlow may load
    from search.distributed.launch import Launcher
    return Launcher(config, args.workers, host=args.oracle_host, oracle_port=args.oracle_port,
                    store=args.store, artifacts=args.artifacts).run()


def server_command(args):
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
        from search.tuning.dry_run import dry_run
        dry_run(config, out=print)
        return 0
    from search.state import finished_summary, report_finished
    if finished_summary(config):  # the same command again: answered before TensorFlow loads
        report_finished(config, finished_summary(config))
        return 0
    from search.tracking.reachable import check_reachable
    check_reachable(config.resolved_tracking_uri())  # before TensorFlow's import
    quiet.import_tensorflow()
    from search.runner import run_search
    run_search(config, started=COMMAND_STARTED)
    return 0


def export_command(args):
    uri = _store_uri(args)  # a missing store: exit 2 before Keras loads
    quiet.import_tensorflow()
    from search.winner import export
    export.check_out_dir(args.out, args.overwrite, uri)  # before anything is downloaded
    from mlflow.tracking import MlflowClient
    model, run = export.load_trial_model(MlflowClient(tracking_uri=uri), args.run_id,
                                         unsafe=args.unsafe_load)
    out = export.export_model(model, args.out, export.trial_info(run),
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
    return 0


def _store_uri(args):
    """--tracking-uri, else MLFLOW_TRACKING_URI, else the default store, for the
    commands that only read it: a store that does not exist (no sqlite file, an
    http server that does not answer) is a usage error, and nothing is created."""
    from search.tracking.reachable import check_reachable, check_store_exists
    uri = resolve_tracking_uri(args.tracking_uri)
    check_store_exists(uri)
    check_reachable(uri)
    return uri


def report_command(args):
    from mlflow.tracking import MlflowClient

    from search.tracking import report
    client = MlflowClient(tracking_uri=_store_uri(args))
    _, parent = report.find_search(client, args.experiment, args.run_id)
    from search.ownership import path_slug
    out = args.out or os.path.join("reports", path_slug(args.experiment), parent.info.run_id)
    text, _ = report.build_report(client, args.experiment, out, parent.info.run_id)
    print(text)
    print(f"report.md, trials.csv and plots written to {out}", file=sys.stderr)
    return 0


def serve_command(args):
    from search.winner import export
    uri = _store_uri(args)
    model_uri = args.model_uri or export.champion_uri(uri, args.experiment, args.alias)
    # `mlflow models serve` starts uvicorn by name: the venv's bin/ must be on PATH.
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
               "--env-manager", "local", "--host", args.host, "--port", str(args.port)]
    print(f"Serving {model_uri} on http://{args.host}:{args.port}/invocations "
          f"(POST {{\"inputs\": raw images as nested lists}})", file=sys.stderr, flush=True)
    os.execve(sys.executable, command, env)


def ui_command(args):
    uri = _store_uri(args)
    # One user, one worker: MLflow's default 4 take a minute to start on 2 busy CPUs.
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port), "--workers", "1"]
    base = f"http://{args.host}:{args.port}"
    from search.tracking import links
    print("\n".join([f"MLflow UI on {base} for {uri}",
                     *links.latest_search_lines(uri, args.experiment, base)]),
          file=sys.stderr, flush=True)
    os.execv(sys.executable, command)


COMMANDS = {"run": run_command, "launch": launch_command, "export": export_command,
            "spaces": spaces_command, "ui": ui_command, "report": report_command,
            "serve": serve_command, "server": server_command}

if __name__ == "__main__":
    sys.exit(main())
