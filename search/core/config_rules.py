"""The rules for single option values that need neither TensorFlow nor MLflow to
judge: a duration, a tracking URI's form, a space spec, the data spec and the
options only some sources read. `search.core.config.validate` applies them, so a bad
value is exit 2 with one line within a second of the command starting."""

import re
from pathlib import Path

import spaces  # light: a space's module (Keras) is imported only when it is loaded
from search.core.errors import UsageError


def flag(name):
    return "--" + name.replace("_", "-")


def require(condition, name, value, accepted):
    if not condition:
        raise UsageError(f"{flag(name)} {value!r} is invalid: {accepted}.")


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


# The tracking stores MLflow has built in; plugins add theirs as entry points.
TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file",
                    "databricks", "databricks-uc", "uc")
URI_FORMS = "expected sqlite:///PATH.db, http(s)://HOST:PORT, postgresql://... or file:PATH"


def check_tracking_uri(uri):
    """Judged from the text alone (MLflow and TensorFlow are not imported yet)."""
    from urllib.parse import urlparse
    parsed = urlparse(uri)
    if not parsed.scheme:  # MLflow reads a plain path as a file store
        require(Path(uri).is_absolute(), "tracking_uri", uri, URI_FORMS)
        return
    scheme = parsed.scheme.partition("+")[0]  # postgresql+psycopg2: dialect+driver
    accepted = TRACKING_SCHEMES + plugin_schemes()
    require(scheme in accepted, "tracking_uri", uri,
             f"scheme {scheme!r} is not a tracking store MLflow knows (accepted: "
             f"{', '.join(accepted)}); {URI_FORMS}")
    if scheme == "sqlite":
        require(uri.startswith("sqlite:///") and len(uri) > len("sqlite:///"), "tracking_uri",
                 uri, "expected sqlite:///PATH.db (three slashes, then the file's path)")
    if scheme in ("http", "https"):
        require(bool(parsed.hostname), "tracking_uri", uri,
                 f"expected {scheme}://HOST:PORT (no host given)")


def plugin_schemes():
    from importlib.metadata import entry_points
    return tuple(e.name for e in entry_points(group="mlflow.tracking_store"))


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
            isinstance(side, int) and side >= 1 for side in config.image_size),
            "image_size", config.image_size, "expected two integers HEIGHT WIDTH >= 1")
    require(config.color in (None, *COLORS), "color", config.color,
             f"accepted: {' | '.join(COLORS)}")
