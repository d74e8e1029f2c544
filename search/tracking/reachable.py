"""Moved to search/stores.py, which judges every store before anything heavy is
imported (importing this package imports MLflow); the names stay importable here."""

from search.stores import check_reachable, check_store_exists  # noqa: F401
