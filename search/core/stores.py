"""Is a store URI or a path usable at all? One answer for every command.

`run`, `launch`, `export`, `report`, `serve`, `ui` and `server` all take an MLflow
store; each asks `store_uri` (the URI MLflow is given) and `check_store` (can it be
used) here, before TensorFlow or MLflow is imported, so a store that cannot work is
exit 2 with one line in seconds instead of a traceback after minutes of retries.
The folders and files a search writes (project dir, summary, report) are judged by
`check_dir` and `check_file` the same way. Whose files may be replaced is another
question: search/core/ownership.py.
"""

import importlib.util
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from search.core.errors import UsageError
from search.core.store_paths import store_path

POSTGRES_HINT = "pip install bridge-search[postgres]"
# SQLAlchemy's name for a driver -> the module that must be importable.
POSTGRES_DRIVERS = {"psycopg2": "psycopg2", "psycopg": "psycopg", "pg8000": "pg8000",
                    "asyncpg": "asyncpg", "psycopg2cffi": "psycopg2cffi"}
CONNECT_TIMEOUT_S = 5
# Set by `launch` for its chief: the store behind launch's temporary server and its
# artifact folder, so the commands and links the chief prints name what outlasts
# launch (search/tracking/links.py).
LAUNCH_STORE_ENV = "BRIDGE_SEARCH_LAUNCH_STORE"
LAUNCH_ARTIFACTS_ENV = "BRIDGE_SEARCH_LAUNCH_ARTIFACTS"


def masked(uri):
    """The URI with its password (if any) hidden, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", uri)


def store_uri(uri, option="--tracking-uri"):
    """The URI to hand MLflow. `postgresql://` names no driver, and SQLAlchemy 2.1
    then imports psycopg (3), while the [postgres] extra installs psycopg2: name the
    driver that is installed. Other URIs are returned as given."""
    dialect, _, driver = urlparse(uri).scheme.partition("+")
    if dialect != "postgresql":
        return uri
    if driver:
        module = POSTGRES_DRIVERS.get(driver, driver)
        if not _importable(module):
            raise UsageError(f"{option} {masked(uri)}: the PostgreSQL driver {driver!r} is not "
                             f"installed; install it, or use postgresql:// with "
                             f"`{POSTGRES_HINT}`.")
        return uri
    for driver in ("psycopg2", "psycopg"):
        if _importable(driver):
            return f"postgresql+{driver}://" + uri.partition("://")[2]
    raise UsageError(f"{option} {masked(uri)}: PostgreSQL needs a driver (psycopg2) that is "
                     f"not installed; install it with `{POSTGRES_HINT}`.")


def _importable(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# The tracking stores MLflow has built in; plugins add theirs as entry points. Not
# `file:` (nor a plain path, which MLflow reads as one): MLflow 3 refuses its
# filesystem store ("maintenance mode") when it opens it, after TensorFlow loaded.
TRACKING_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https",
                    "databricks", "databricks-uc", "uc")
URI_FORMS = "expected sqlite:///PATH.db, postgresql://USER@HOST/DATABASE or http(s)://HOST:PORT"


def check_uri_form(uri, option="--tracking-uri"):
    """The URI's form, judged from the text alone (MLflow and TensorFlow are not
    imported yet) by every command that takes a store (check_store)."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.partition("+")[0]  # postgresql+psycopg2: dialect+driver
    if scheme in ("", "file"):
        path = (parsed.path if scheme else uri).rstrip("/") or "/"
        sqlite = f"sqlite:///{path if path.endswith('.db') else path + '/mlflow.db'}"
        _invalid(uri, option, f"{'a file: URI' if scheme else 'a plain path'} names MLflow's "
                              f"filesystem store, which MLflow 3 no longer opens; use an sqlite "
                              f"file instead, e.g. {option} {sqlite}")
    accepted = TRACKING_SCHEMES
    if scheme not in accepted:
        accepted += plugin_schemes()
    if scheme not in accepted:
        _invalid(uri, option, f"scheme {scheme!r} is not a tracking store MLflow knows "
                              f"(accepted: {', '.join(accepted)}); {URI_FORMS}")
    if scheme == "sqlite" and not (uri.startswith("sqlite:///") and uri != "sqlite:///"):
        _invalid(uri, option, "expected sqlite:///PATH.db (three slashes, then the file's path)")
    if scheme in ("http", "https") and not parsed.hostname:
        _invalid(uri, option, f"expected {scheme}://HOST:PORT (no host given)")


def _invalid(uri, option, accepted):
    raise UsageError(f"{option} {uri!r} is invalid: {accepted}.")


def plugin_schemes():
    from importlib.metadata import entry_points
    return tuple(e.name for e in entry_points(group="mlflow.tracking_store"))


def check_store(uri, option="--tracking-uri", existing=False, network=True):
    """Raise UsageError (one line) unless the store can be used: a URI of a form
    MLflow opens (check_uri_form), a sqlite file that can be created (`existing`:
    that is there already, for the commands that only read), and with `network` a
    database that accepts a connection, an HTTP server that answers. Returns the
    URI for MLflow (store_uri)."""
    check_uri_form(uri, option)
    uri = store_uri(uri, option)
    if existing:
        check_store_exists(uri, option)
    scheme = urlparse(uri).scheme.partition("+")[0]
    if scheme == "sqlite":
        check_file(uri[len("sqlite:///"):], f"{option} {uri}", create_levels=1,
                   existing=existing)
        check_sqlite_file(uri[len("sqlite:///"):], f"{option} {uri}")
    elif scheme == "postgresql" and network:
        check_postgres(uri, option)
    elif scheme in ("http", "https") and network:
        check_reachable(uri, option=option)
    return uri


def absolute_uri(uri):
    """The store a URI leads to from here: a sqlite URI with its file's absolute
    path (the default sqlite:///mlruns/mlflow.db is another file in another
    directory); other URIs as they are."""
    if urlparse(uri).scheme != "sqlite":
        return uri
    return "sqlite:///" + os.path.abspath(uri[len("sqlite:///"):])


def local_folder(uri):
    """The folder a sqlite store writes in; None for a server or database."""
    return Path(uri[len("sqlite:///"):]).parent if urlparse(uri).scheme == "sqlite" else None


def check_postgres(uri, option):
    """Connect once, with a timeout: a wrong host, port, user or database is one
    line in seconds (MLflow would retry for minutes and end in a traceback)."""
    try:
        import psycopg2
    except ImportError:
        return  # psycopg 3 only (store_uri found it): MLflow's own errors then
    libpq_uri = re.sub(r"^postgresql\+\w+://", "postgresql://", uri)
    try:
        psycopg2.connect(libpq_uri, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg2.Error as error:
        reason = _first_line(str(error))
        raise UsageError(f"{option} {masked(uri)}: cannot open the database ({reason}); "
                         f"check host, port, user and database name (create it with "
                         f"`createdb NAME`).") from None


def _first_line(text):
    """libpq's message for one failed address, without the detail lines."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def check_reachable(tracking_uri, timeout=5.0, option="--tracking-uri"):
    """Fail fast (exit 2) when an HTTP tracking server does not answer. Asked once
    per command, before anything slow (search/cli.py, or run_search when called
    from Python); a later outage is StoreRetry's business."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    import requests  # not MLflow: seconds saved on every refusal
    try:
        requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
    except requests.RequestException as error:
        raise UsageError(f"{option} {tracking_uri}: the MLflow server does not answer "
                         f"({type(error).__name__}); start it with `mlflow server` or fix "
                         f"the URI.") from None


def check_store_exists(tracking_uri, option="--tracking-uri"):
    """For commands that only read the store: a local store that is not there is
    a usage error (exit 2), raised before MLflow would create an empty one."""
    path = store_path(tracking_uri)
    if path is None or path.exists():
        return
    raise UsageError(f"{option} {tracking_uri}: no MLflow store at {path} (it does not "
                     f"exist; nothing was created); run `bridge-search run` first or point "
                     f"--tracking-uri (or MLFLOW_TRACKING_URI) at an existing store.")


SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path, what):
    """A file that is there must be a database (or empty): MLflow would stop on
    someone's notes.txt with a page of SQLAlchemy traceback."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise UsageError(f"{what}: {path} is not an sqlite database; point the URI at an "
                         f"MLflow sqlite file or at a new path.")


# ----- local paths ---------------------------------------------------------------
def check_dir(path, what, create_levels=None, existing=False):
    """A folder the command writes into: a folder, or creatable (at most
    `create_levels` missing levels, so a typo does not grow a tree elsewhere)
    inside a folder this process can write in."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what}: {path} is a file, not a folder; choose a folder path.")
    if existing:  # read only: there is all it needs to be
        if not path.is_dir():
            raise UsageError(f"{what}: {path} does not exist (nothing was created); point it "
                             f"at an existing one.")
        return
    _check_parent(path, what, create_levels)


def check_file(path, what, create_levels=None, existing=False):
    """A file the command writes (or, `existing`, reads): not a folder, in a
    folder that is there or can be made, and writable: tried, because os.access
    says yes to root where writing fails (/proc, a read-only mount)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what}: {path} is a folder; give a file path.")
    if path.exists():
        if existing or not path.is_file():  # a device or pipe: opening it could block
            return
        try:
            open(path, "r+b").close()  # opens for writing, changes nothing
        except OSError as error:
            raise UsageError(f"{what}: {path} cannot be written ({error.strerror}); choose "
                             f"a writable path.") from None
        return
    if existing:
        raise UsageError(f"{what}: {path} does not exist (nothing was created); point it at "
                         f"an existing file.")
    _check_parent(path.parent, what, create_levels)


def _check_parent(folder, what, create_levels):
    """The nearest folder of `folder` that exists (itself included) must be a
    folder we can write in, at most `create_levels` levels up (None: any)."""
    folder = folder if folder.is_absolute() else Path.cwd() / folder
    nearest = next(p for p in [folder, *folder.parents] if p.exists())
    if not nearest.is_dir():
        raise UsageError(f"{what}: {nearest} is a file, so nothing can be created under it; "
                         f"choose a path in a folder.")
    missing = folder.relative_to(nearest).parts
    if create_levels is not None and len(missing) > create_levels:
        raise UsageError(f"{what}: {folder} does not exist, nor does {nearest / missing[0]}; "
                         f"create the folder first (only its last level is made for you).")
    if not can_write_in(nearest):
        raise UsageError(f"{what}: {nearest} denies writing; choose a writable folder.")


def can_write_in(folder):
    """Try it: os.access says yes to root even where writing fails (e.g. /proc)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def resolve_store(tracking_uri):
    """Create the folder of a sqlite store; return (uri as MLflow is given it,
    artifact root or None)."""
    tracking_uri = store_uri(tracking_uri)  # postgresql:// names the installed driver
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        db_path = Path(tracking_uri[len("sqlite:///"):])
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return tracking_uri, (db_path.parent / "artifacts").resolve().as_uri()
    return tracking_uri, None
