"""The `bridge-search` argument parser: its sub-commands, and `run`'s options
generated from SearchConfig's fields (their `metadata` holds the help), so the
CLI, the validation and what is logged to MLflow cannot drift apart."""

import argparse
import dataclasses

from search.core.config import SearchConfig, flag
from search.core.ports import check_port_number
from search.core.versions import version_text


def build_parser(search_defaults=None):
    parser = argparse.ArgumentParser(
        prog="bridge-search",
        description="Search the bridge layer (flatten/GAP/GMP/concat), residual depth and "
                    "dense width of an image classifier with keras-tuner Hyperband, "
                    "logging every trial to MLflow.")
    add_verbosity_flags(parser, default=0)
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of bridge-search, TensorFlow, Keras, "
                             "keras-tuner and MLflow, and exit")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run(commands, search_defaults)
    _add_launch(commands, search_defaults)
    _add_server(commands)
    _add_export(commands)
    commands.add_parser("spaces", help="list registered search spaces and their hyperparameters")
    _add_report(commands)
    _add_confirm(commands)
    _add_serve(commands)
    _add_ui(commands)
    for command in commands.choices.values():  # -v/-q after the sub-command too
        add_verbosity_flags(command, default=argparse.SUPPRESS)
    return parser


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


class PortAction(argparse.Action):
    """Every port option (type=int): a number outside 1-65535 is exit 2 with one
    line naming the option, while the arguments are parsed (argparse's own error
    would print the usage too), before anything starts."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, check_port_number(values, option_string))


def _add_run(commands, search_defaults):
    run = commands.add_parser("run", help="run a search (resumes an interrupted one)")
    add_search_options(run, search_defaults)
    run.add_argument("--dry-run", action="store_true",
                     help="print the Hyperband plan (brackets, rounds, trials, epochs) and "
                          "an estimated wall time, then stop without searching")


def _add_launch(commands, search_defaults):
    launch = commands.add_parser(
        "launch", help="run a search with a chief and N worker processes on this machine "
                       "(keras-tuner's distributed mode)")
    add_search_options(launch, search_defaults)
    launch.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    launch.add_argument("--oracle-host", default="127.0.0.1",
                        help="address the chief oracle and MLflow server bind to "
                             "(default: 127.0.0.1)")
    launch.add_argument("--oracle-port", type=int, default=None, action=PortAction,
                        help="chief oracle port (default: a free one)")
    from search.distributed.server import add_store_options  # light: no MLflow import
    add_store_options(launch, required=False)


def _add_server(commands):
    from search.distributed.server import add_store_options  # light: no MLflow import
    server = commands.add_parser(
        "server", help="run the MLflow tracking server that a chief and its workers on "
                       "several hosts share, on PostgreSQL or sqlite (see docs/scale.md)")
    add_store_options(server, required=True)
    server.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 for other hosts; default: 127.0.0.1)")
    server.add_argument("--port", type=int, default=5000, action=PortAction)
    server.add_argument("--server-workers", type=int, default=1,
                        help="HTTP worker processes of the server (default: 1)")


def _add_export(commands):
    exporter = commands.add_parser("export", help="export any trial's best model")
    exporter.add_argument("--run-id", required=True, help="MLflow run id of a trial")
    exporter.add_argument("--out", required=True, help="output directory")
    exporter.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    exporter.add_argument("--tracking-uri", default=None)
    exporter.add_argument("--unsafe-load", action="store_true",
                          help="load a model holding Python code (Lambda layers); "
                               "only for files you trust")


def _add_experiment(parser, what):
    parser.add_argument("--experiment", default=SearchConfig.experiment,
                        help=f"{what} (default: {SearchConfig.experiment})")
    parser.add_argument("--tracking-uri", default=None)


def _add_report(commands):
    report = commands.add_parser(
        "report", help="print the trial table and best trial per bridge of a search and "
                       "write its plots, from the MLflow store alone")
    _add_experiment(report, "MLflow experiment")
    report.add_argument("--run-id", default=None,
                        help="parent run id of the search (default: the latest search)")
    report.add_argument("--out", default=None,
                        help="folder for report.md, trials.csv and the PNG plots "
                             "(default: reports/EXPERIMENT/RUN_ID)")


def _add_confirm(commands):
    confirm = commands.add_parser(
        "confirm", help="a controlled ablation of a finished search's winner: train each "
                        "value of one hyperparameter (default: the space's question, the "
                        "bridge) with K seeds, the rest kept, and say which is ahead, "
                        "behind or within noise (95%% paired t-interval)")
    _add_experiment(confirm, "MLflow experiment of the search")
    confirm.add_argument("--run-id", default=None,
                         help="parent run id of the search (default: the latest search)")
    confirm.add_argument("--seeds", type=int, default=3,
                         help="seeds per value, 0..K-1 (default: 3; 1 gives no interval)")
    confirm.add_argument("--vary", default=None,
                         help="the hyperparameter to vary: any categorical or integer one of "
                              "the space (default: the space's question)")
    confirm.add_argument("--epochs", type=int, default=None,
                         help="epochs per run (default: the winner's final-training epochs)")
    confirm.add_argument("--out", default=None,
                         help="folder for confirm.md, confirm.csv and confirm.png "
                              "(default: reports/EXPERIMENT/RUN_ID/confirm/VARY)")


def _add_serve(commands):
    serve = commands.add_parser(
        "serve", help="serve a registered model over HTTP: `mlflow models serve` on "
                      "models:/EXPERIMENT-classifier@champion, POST raw images to /invocations")
    _add_experiment(serve, "MLflow experiment whose model to serve")
    serve.add_argument("--alias", default="champion",
                       help="registry alias to serve (default: champion)")
    serve.add_argument("--model-uri", default=None,
                       help="any MLflow model URI instead (runs:/..., models:/NAME/VERSION)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001, action=PortAction)


def _add_ui(commands):
    ui = commands.add_parser("ui", help="open the MLflow UI on the store in use and print "
                                        "the links to its latest search")
    ui.add_argument("--experiment", default=None,
                    help="experiment whose latest search to link (default: the latest "
                         "search in the store, whatever its experiment)")
    ui.add_argument("--tracking-uri", default=None)
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=5000, action=PortAction)


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
