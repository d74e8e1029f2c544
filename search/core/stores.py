"""Where a tracking URI keeps its data on this machine (no MLflow import)."""

from pathlib import Path
from urllib.parse import urlparse


def resolve_store(tracking_uri):
    """Create the folder of a sqlite store; return (uri, artifact root or None)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        db_path = Path(tracking_uri[len("sqlite:///"):])
        db_path.parent.mkdir(parents=True, exist_ok=True)
        return tracking_uri, (db_path.parent / "artifacts").resolve().as_uri()
    return tracking_uri, None
