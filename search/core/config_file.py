"""`--config FILE`: any `run` option in a TOML or YAML file, and the resolved
config written back as TOML so `bridge-search run --config FILE` reproduces a search.

Keys are SearchConfig field names (`max_epochs`, or `max-epochs` as on the command
line). The command line overrides the file. An unknown key or a value of the wrong
type is a usage error (exit 2) naming the key; ranges are checked by
`config.validate` like any flag.
"""

import dataclasses
import difflib
import tomllib
from pathlib import Path

import tomli_w

from search.core.config import SearchConfig
from search.core.errors import UsageError

FIELDS = {f.name: f for f in dataclasses.fields(SearchConfig)}
SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}
RESOLVED_CONFIG_FILE = "search.toml"  # name of the written config, next to the winner


def load_config_file(path):
    """The file's options as {field name: value}, each checked against its field."""
    values = _read_mapping(Path(path))
    options = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in FIELDS:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(f"--config {path}: unknown key {key!r}; {hint}accepted keys: "
                             f"{', '.join(FIELDS)}.")
        options[name] = _checked(path, key, value, FIELDS[name])
    return options


def _read_mapping(path):
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UsageError(f"--config {path}: unknown file type {path.suffix!r}; accepted: "
                         f"{', '.join(SUFFIXES)}.")
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file.")
    try:
        if kind == "toml":
            values = tomllib.loads(path.read_text())
        else:
            import yaml
            values = yaml.safe_load(path.read_text()) or {}
    except Exception as error:  # tomllib and yaml raise their own parse errors
        raise UsageError(f"--config {path}: not valid {kind.upper()}: "
                         f"{str(error).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected key = value pairs at the top level, "
                         f"got a {type(values).__name__}.")
    return values


# Field type -> (check, description for the message).
TYPE_CHECKS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
    tuple: (lambda v: isinstance(v, (list, tuple)) and all(
        isinstance(x, int) and not isinstance(x, bool) for x in v), "a list of integers"),
}


def _checked(path, key, value, field):
    check, expected = TYPE_CHECKS[field.type]
    if not check(value):
        raise UsageError(f"--config {path}: key {key!r} must be {expected}, got {value!r} "
                         f"({type(value).__name__}).")
    if field.type is float:
        return float(value)
    return tuple(value) if field.type is tuple else value


def config_to_toml(config):
    """The whole config as TOML (unset options, None, are left out: TOML has no
    null, and leaving them out means the same default again)."""
    values = {k: list(v) if isinstance(v, tuple) else v
              for k, v in dataclasses.asdict(config).items() if v is not None}
    header = ("# bridge-search resolved config: `bridge-search run --config THIS_FILE` "
              "reproduces the search\n")
    return header + tomli_w.dumps(values)
