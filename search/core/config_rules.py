"""The rules for single option values that need neither TensorFlow nor MLflow to
judge: a duration, a space spec, the data spec and the options only some sources
read (a tracking URI's form: search/core/stores.py). `search.core.config.validate`
applies them, so a bad value is exit 2 with one line within a second of the command
starting."""

import re

import spaces  # light: a space's module (Keras) is imported only when it is loaded
from search.core.errors import UsageError


def flag(name):
    return "--" + name.replace("_", "-")


def require(condition, name, value, accepted):
    if not condition:
        raise UsageError(f"{flag(name)} {value!r} is invalid: {accepted}.")


# Integer options with an upper bound, (least, most, why): past it a command hangs or
# fills memory before anything trains (the plan lists every round of every iteration
# and the dry run draws each first-round trial: search/plan/; --time-budget lists the
# final training's epochs: search/plan/budget.py), or dies once TensorFlow loaded
# (numpy seeds are below 2**32, and keras-tuner is given --seed + 1: search/kt/oracle.py;
# tf.data batches are int64).
MAX_EPOCHS = 1000
INT_BOUNDS = {
    "max_epochs": (1, MAX_EPOCHS, ""),
    "hyperband_iterations": (1, 100, " (each iteration is a full Hyperband sweep)"),
    "seed": (0, 2 ** 32 - 2, " (numpy's seed range; keras-tuner is given --seed + 1)"),
    "batch_size": (1, 65536, ""),
    "min_retrain_epochs": (1, MAX_EPOCHS, ""),
}
MAX_IMAGE_SIDE = 4096


def check_int_bounds(config):
    """The options of INT_BOUNDS: below the least as before, above the most named
    with the whole range."""
    for name, (least, most, why) in INT_BOUNDS.items():
        value = getattr(config, name)
        require(value >= least, name, value, f"must be an integer >= {least}")
        require(value <= most, name, value, f"must be an integer from {least} to {most}{why}")


def expand_home(config, path_fields):
    """`~` and `~user` at the start of a path option, from a flag (`--x=~/p`: no shell
    expands it) or a config file alike, and of folder:/npz: data and a space file:
    else the tool would create a folder literally named `~`."""
    from os.path import expanduser
    for name in path_fields:
        value = getattr(config, name)
        if isinstance(value, str) and value.startswith("~"):
            object.__setattr__(config, name, expanduser(value))
    kind, colon, argument = config.data.partition(":")
    if kind in ("folder", "npz") and argument.startswith("~"):
        object.__setattr__(config, "data", f"{kind}{colon}{expanduser(argument)}")
    if isinstance(config.tracking_uri, str) and config.tracking_uri.startswith("sqlite:///~"):
        object.__setattr__(config, "tracking_uri",
                           "sqlite:///" + expanduser(config.tracking_uri[len("sqlite:///"):]))


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
MIN_TIME_BUDGET_SECONDS = 10
# A deadline is a wall-clock timestamp: a budget of centuries overflows it in every
# trial's thread. No search needs more than this; without --time-budget there is none.
MAX_TIME_BUDGET_SECONDS = 30 * 24 * 3600


def parse_duration(text):
    """'90s', '15m', '2h', '1.5h' -> seconds (a float)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh])\s*", str(text))
    seconds = float(match[1]) * DURATION_UNITS[match[2]] if match else None
    require(seconds is not None and
             MIN_TIME_BUDGET_SECONDS <= seconds <= MAX_TIME_BUDGET_SECONDS, "time_budget",
             text, f"expected a number and a unit s, m or h (e.g. 90s, 15m, 2h), at least "
             f"{MIN_TIME_BUDGET_SECONDS}s and at most {MAX_TIME_BUDGET_SECONDS // 3600}h "
             f"(30 days; leave --time-budget out for no limit)")
    return seconds


def check_space(spec):
    """A registered name or an existing FILE.py, judged without importing Keras."""
    try:
        spaces.check_space_spec(spec)
    except spaces.SpaceError as error:
        raise UsageError(str(error)) from None


DATA_KINDS = {"digits": False, "tfds": True, "folder": True, "npz": True}  # kind -> takes :ARG
COLORS = ("grayscale", "rgb")
# Options that only some sources read: given with another source they would be
# silently ignored, so they are refused instead.
SOURCE_OPTIONS = {"data_dir": ("tfds",), "image_size": ("folder", "tfds"),
                  "color": ("folder", "tfds"), "skip_bad_images": ("folder",)}


def check_data_options(config):
    kind, colon, argument = config.data.partition(":")
    require(kind in DATA_KINDS and DATA_KINDS[kind] == bool(argument) and
             (bool(colon) == DATA_KINDS[kind]), "data", config.data,
             "accepted: digits, tfds:NAME[:CONFIG], folder:PATH, npz:PATH")
    for name, kinds in SOURCE_OPTIONS.items():
        value = getattr(config, name)
        if value not in (None, False) and kind not in kinds:
            raise UsageError(f"{flag(name)} applies to --data "
                             f"{' and '.join(k + ':' for k in kinds)} only, not to "
                             f"--data {config.data}; remove it.")
    if config.image_size is not None:
        require(len(config.image_size) == 2 and all(
            isinstance(side, int) and 1 <= side <= MAX_IMAGE_SIDE
            for side in config.image_size), "image_size", config.image_size,
            f"expected two integers HEIGHT WIDTH from 1 to {MAX_IMAGE_SIDE}")
    require(config.color in (None, *COLORS), "color", config.color,
             f"accepted: {' | '.join(COLORS)}")
