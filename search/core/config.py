"""SearchConfig: every option of a search, validated in one place.

The CLI is generated from these fields (their `metadata` holds flag help), and the
whole config is logged to MLflow as the parent run's params, so a search can be
reproduced from its run.
"""

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import spaces

from search.core.config_rules import (MAX_TIME_BUDGET_SECONDS, check_data_options,
                                      check_int_bounds, check_space, expand_home, require,
                                      flag, parse_duration)
from search.core.confirm_plan import check_seeds
from search.core.errors import UsageError
from search.core.select_rule import parse_select
from search.core.stores import (can_write_in, check_dir, check_file, check_store,
                                 check_uri_form, store_uri)
from search.core.ownership import check_apart, check_project_folder, path_slug
from search.core.store_paths import protected_paths, store_paths
from search.core.export_dir import check_export_target

DEFAULT_TRACKING_URI = "sqlite:///mlruns/mlflow.db"
STRATEGIES = ("none", "mirrored")
LOG_MODELS = ("all", "best", "none")
# MLflow checks names up to 500 characters, but its SQL schema holds experiments.name
# VARCHAR(256) and runs.name VARCHAR(250), and the parent run is named after the
# experiment ("NAME: running (started ...)", 36 more; search/tracking/run_names.py):
# 200 fits every store (PostgreSQL and MySQL refuse longer values, sqlite does not).
MAX_EXPERIMENT_NAME_LENGTH = 200
LR_SCHEDULES = ("cosine", "constant")  # search.kt.training implements them
SAMPLERS = ("random", "bohb")  # search.kt.sampler implements them
RETRAIN_CHOICES = ("train+val", "none")
PATH_FIELDS = ("data_dir", "space", "project_dir", "export_dir", "summary_json")


def option(default, help, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class SearchConfig:
    data: str = option("digits", "digits | tfds:NAME[:CONFIG] | folder:PATH | npz:PATH")
    data_dir: str = option(None, "tfds: local TFDS data directory (default: $TFDS_DATA_DIR "
                                 "or ~/tensorflow_datasets); nothing is downloaded")
    image_size: tuple = option(None, "folder:, tfds: resize images to HEIGHT WIDTH "
                                     "(default: as stored; folders: the first image's size)",
                               nargs=2, type=int, metavar=("HEIGHT", "WIDTH"))
    color: str = option(None, "folder:, tfds: grayscale | rgb (default: as stored)")
    skip_bad_images: bool = option(False, "folder: leave out image files that cannot be "
                                          "decoded instead of stopping")
    space: str = option(spaces.DEFAULT_SPACE, "registered space name or path/to/file.py:ClassName")
    max_epochs: int = option(4, "Hyperband: epochs of the longest-trained models")
    min_epochs: int = option(1, "Hyperband: epochs of the first round at least (the smallest "
                                "budget; brackets training fewer are dropped)")
    factor: int = option(3, "Hyperband: reduction factor between rounds (>= 2)")
    hyperband_iterations: int = option(1, "Hyperband: full iterations over all brackets")
    seed: int = option(0, "random seed of the search, data split and weights")
    time_budget: str = option(None, "wall time for the whole command, final training and "
                                    "export included, e.g. 90s, 15m, 2h: the tool picks "
                                    "--max-epochs/--factor/--hyperband-iterations to fit "
                                    "(they are replaced) and stops starting trials in time")
    warm_start: str = option(None, "experiment name or parent run id of an earlier search "
                                   "whose best hyperparameters are this search's first trial")
    sampler: str = option("random", "random | bohb: how Hyperband draws new configurations: "
                                    "at random, or (bohb) mostly from a density model of the "
                                    "best and worst finished trials (BOHB)")
    batch_size: int = option(32, "training batch size")
    patience: int = option(3, "early stopping inside a trial: epochs without val_accuracy gain")
    lr_schedule: str = option("cosine", "cosine | constant: learning rate over each trial's "
                                        "epochs (cosine warms up over half of the first "
                                        "epoch, then decays towards 0 within every fit)")
    retrain: str = option("train+val", "train+val | none: train the winner's hyperparameters "
                                       "afresh on train + validation before export")
    min_retrain_epochs: int = option(8, "epochs of that final training at least (else the "
                                        "winner's best epoch count)")
    val_split: float = option(0.15, "share of the training data held out for validation "
                                    "when the source has no validation split")
    mixed_precision: bool = option(False, "train in mixed_float16 (output layer stays float32); "
                                          "pays off on GPUs with tensor cores")
    jit_compile: bool = option(False, "compile each model with XLA")
    strategy: str = option("none", "none | mirrored: train each trial on all visible devices "
                                   "with tf.distribute.MirroredStrategy")
    keep_checkpoints: int = option(3, "keep the local checkpoints of the best K trials only "
                                      "(and of those a later Hyperband round still needs)")
    log_models: str = option("all", "which trials log their best model to MLflow: all | best "
                                    "(trials that beat the best so far) | none")
    max_params: int = option(None, "models with more parameters are not trained: the "
                                   "search draws other hyperparameters instead")
    max_latency_ms: float = option(None, "models slower than this (median ms per image at "
                                         "batch 1 on the search device) are not trained: "
                                         "the search draws others instead")
    select: str = option("best", "which trial is retrained and exported: best | "
                                 "smallest-within:DELTA | fastest-within:DELTA (DELTA: "
                                 "accuracy points, e.g. 1pt, or a fraction, e.g. 0.01)")
    quantize: bool = option(False, "also export model_int8.tflite (int8 dynamic-range "
                                   "quantized) beside model.tflite (float32)")
    confirm_seeds: int = option(0, "after the search, the confirm stage (`bridge-search "
                                   "confirm`): train each value of the space's question "
                                   "with the winner's other hyperparameters and this many "
                                   "seeds (0: no confirm stage)")
    experiment: str = option("bridge-search", "MLflow experiment name (at most 200 "
                                              "characters)")
    project_dir: str = option("bridge_search_projects", "keras-tuner state (checkpoints, oracle)")
    tracking_uri: str = option(None, "MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                     f"{DEFAULT_TRACKING_URI})")
    store_retry_seconds: float = option(300.0, "keep retrying MLflow calls that fail for a "
                                               "transient reason (server restart, HTTP 5xx, "
                                               "locked sqlite) this long before the search "
                                               "stops (it resumes with the same command)")
    chief_timeout: float = option(600.0, "distributed workers: wait this many seconds for a "
                                         "chief that does not answer (dead or restarting), "
                                         "then stop with one line")
    export_dir: str = option(None, "where the winner is exported (default: "
                                   "exports/EXPERIMENT/PARENT_RUN_ID)")
    summary_json: str = option(None, "write a JSON summary of the search here")
    overwrite: bool = option(False, "start the search afresh instead of resuming or "
                                    "reporting a finished one (also replaces an earlier "
                                    "export of bridge-search in --export-dir; never files "
                                    "it did not write)")

    @property
    def time_budget_seconds(self) -> float | None:
        return None if self.time_budget is None else parse_duration(self.time_budget)

    @property
    def project_name(self) -> str:
        """keras-tuner's folder inside --project-dir: a slug of the experiment, so
        `../victim` or `team/digits` stay one folder inside it."""
        return path_slug(self.experiment)

    def search_identity(self) -> str:
        """Which search this is, across restarts: its keras-tuner project."""
        return str(Path(self.project_dir).resolve() / self.project_name)

    def resolved_tracking_uri(self) -> str:
        return resolve_tracking_uri(self.tracking_uri)

    def as_params(self) -> dict:
        """Flat dict for MLflow params (None shown as empty)."""
        return {k: ("" if v is None else v) for k, v in dataclasses.asdict(self).items()}

    def __post_init__(self) -> None:
        if self.image_size is not None:  # argparse gives a list; keep the config hashable
            object.__setattr__(self, "image_size", tuple(self.image_size))
        expand_home(self, PATH_FIELDS)  # from flags and config files alike
        validate(self)


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """--tracking-uri, else $MLFLOW_TRACKING_URI, else the default store, as MLflow
    is given it (search/core/stores.py: postgresql:// names the installed driver)."""
    return store_uri(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or
                     DEFAULT_TRACKING_URI)


def validate(config):
    """Check every option before anything trains or writes to MLflow."""
    _check_training_options(config)
    check_seeds(config.confirm_seeds, "--confirm-seeds", allow_zero=True)
    check_data_options(config)
    _check_cost_options(config)
    _check_waits_and_names(config)
    check_uri_form(config.resolved_tracking_uri())  # search/core/stores.py
    check_space(config.space)
    _check_paths(config)
    _check_export_dir(config)
    check_project_folder(config.project_dir, config.project_name,  # the ownership rule
                         config.resolved_tracking_uri(), config.overwrite)


def _check_training_options(config):
    check_int_bounds(config)  # max_epochs, hyperband_iterations, seed, batch_size, ...
    require(1 <= config.min_epochs <= config.max_epochs, "min_epochs", config.min_epochs,
             f"must be an integer from 1 to --max-epochs ({config.max_epochs})")
    require(config.factor >= 2, "factor", config.factor, "must be an integer >= 2")
    if config.time_budget is not None:
        parse_duration(config.time_budget)
    require(config.warm_start is None or bool(config.warm_start.strip()), "warm_start",
             config.warm_start, "expected an experiment name or a parent run id")
    require(config.patience >= 1, "patience", config.patience, "must be an integer >= 1")
    require(config.sampler in SAMPLERS, "sampler", config.sampler,
             f"accepted: {', '.join(SAMPLERS)}")
    require(config.lr_schedule in LR_SCHEDULES, "lr_schedule", config.lr_schedule,
             f"accepted: {', '.join(LR_SCHEDULES)}")
    require(config.retrain in RETRAIN_CHOICES, "retrain", config.retrain,
             f"accepted: {', '.join(RETRAIN_CHOICES)}")
    require(0.0 < config.val_split < 1.0, "val_split", config.val_split,
             "must be a fraction strictly between 0 and 1")
    require(config.keep_checkpoints >= 1, "keep_checkpoints", config.keep_checkpoints,
             "must be an integer >= 1 (the best trial's checkpoint is always kept)")
    require(config.log_models in LOG_MODELS, "log_models", config.log_models,
             f"accepted: {' | '.join(LOG_MODELS)}")
    require(config.strategy in STRATEGIES, "strategy", config.strategy,
             f"accepted: {', '.join(STRATEGIES)}")


def _check_waits_and_names(config):
    # Bounded as --time-budget is: a wait of centuries overflows the clock's timestamps.
    require(0 <= config.store_retry_seconds <= MAX_TIME_BUDGET_SECONDS, "store_retry_seconds",
             config.store_retry_seconds, "must be a number of seconds from 0 to 2592000 "
                                         "(30 days)")
    require(0 < config.chief_timeout <= MAX_TIME_BUDGET_SECONDS, "chief_timeout",
             config.chief_timeout, "must be a number of seconds > 0 and at most 2592000 "
                                   "(30 days)")
    require(bool(config.experiment.strip()), "experiment", config.experiment,
             "must be a non-empty name")
    require(len(config.experiment) <= MAX_EXPERIMENT_NAME_LENGTH, "experiment",
             config.experiment[:40] + "...",
             f"names of at most {MAX_EXPERIMENT_NAME_LENGTH} characters fit every MLflow "
             f"store (its database holds 256 for an experiment, 250 for a run named after "
             f"it), got {len(config.experiment)}")


def _check_paths(config):
    """Can the files and folders the search writes be written at all (a folder
    where a file goes, a path under a file, /proc)? Whether bridge-search may
    replace what is there is search/core/ownership.py's question. The store's server
    or database is asked by the CLI (search/core/stores.py), not on every config."""
    check_store(config.resolved_tracking_uri(), network=False)
    check_dir(config.project_dir, f"--project-dir {config.project_dir!r}")
    check_dir(Path(config.project_dir) / config.project_name,  # keras-tuner's folder in it
              f"--project-dir {config.project_dir!r} with --experiment {config.experiment!r}")
    if config.summary_json:
        check_file(config.summary_json, f"--summary-json {config.summary_json!r}")
        # Never over the store, in its artifacts or in the folder --overwrite deletes.
        check_apart(config.summary_json, "--summary-json", [
            *store_paths(config.resolved_tracking_uri()),
            ("project folder", Path(config.project_dir) / config.project_name)],
            "write the summary somewhere else.")


def _check_cost_options(config):
    require(config.max_params is None or config.max_params >= 1, "max_params",
             config.max_params, "must be an integer >= 1 (a number of parameters)")
    require(config.max_latency_ms is None or config.max_latency_ms > 0, "max_latency_ms",
             config.max_latency_ms, "must be a number of milliseconds > 0")
    parse_select(config.select)


def _check_export_dir(config):
    if config.export_dir is None:
        return  # the default directory is new for every search
    check_export_target(
        config.export_dir, "--export-dir",
        protected_paths(config.project_dir, config.resolved_tracking_uri()),
        owner=config.search_identity(), replace_own=config.overwrite)
    # The project folder (--overwrite deletes it) is neither an export nor holds one.
    check_apart(config.export_dir, "--export-dir", [
        ("project folder", Path(config.project_dir) / config.project_name)],
        "exports go to a directory of their own: choose another one.")
    existing = next((p for p in [Path(config.export_dir), *Path(config.export_dir).parents]
                     if p.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"--export-dir {config.export_dir!r} cannot be created: {existing} "
                         f"is a file; choose a directory path.")
    if not can_write_in(existing):
        raise UsageError(f"--export-dir {config.export_dir!r} is not writable "
                         f"({existing} denies writing); choose a writable directory.")


def to_cli_args(config, **overrides):
    """The `run` flags that reproduce `config` (only values that differ from the
    defaults), e.g. to start chief and worker processes with the same search.
    `search.cli.parse_args(["run", *to_cli_args(c)])` gives back `c` exactly."""
    values = {**dataclasses.asdict(config), **overrides}
    args = []
    for item in dataclasses.fields(SearchConfig):
        value = values[item.name]
        if value == item.default:
            continue
        if value is None or value is False:  # only the default is spelt by no flag
            raise ValueError(f"{item.name}={value!r} cannot be passed as a flag "
                             f"(its default is {item.default!r}).")
        if value is True:
            args.append(flag(item.name))
        elif isinstance(value, (tuple, list)):  # nargs flags: one word per element
            args += [flag(item.name), *map(str, value)]
        else:
            # --flag=VALUE keeps a value that starts with "-" from reading as a flag
            # (str() of a float keeps every digit).
            args.append(f"{flag(item.name)}={value}")
    return args
