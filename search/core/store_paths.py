"""Where a local MLflow store lives on disk, and the paths an export dir must
neither be nor contain. Imports nothing of the project: the ownership rule
(search/core/ownership.py) and the store checks (search/core/stores.py) use it."""

from pathlib import Path
from urllib.parse import urlparse


def store_path(tracking_uri):
    """The local file or folder of a sqlite:// or file: store; None for a server."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        return Path(tracking_uri[len("sqlite:///"):])
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" and Path(tracking_uri).is_absolute():
        return Path(tracking_uri)
    return None


def store_paths(tracking_uri):
    """(what, path) of the MLflow store and its artifact folder, when local."""
    store = store_path(tracking_uri) if tracking_uri else None
    if store is None:
        return []
    found = [("MLflow store", store.resolve())]
    if store.suffix == ".db":  # sqlite: artifacts live next to the db file
        found.append(("MLflow artifact store", (store.parent / "artifacts").resolve()))
    return found


def protected_paths(project_dir=None, tracking_uri=None):
    """(what, path) pairs an export dir must neither be nor contain."""
    found = [("working directory", Path.cwd().resolve())]
    if project_dir is not None:
        found.append(("project dir", Path(project_dir).resolve()))
    return found + store_paths(tracking_uri)
