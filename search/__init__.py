"""bridge-search runner: CLI, config, data, Hyperband tuner, MLflow tracking, export."""

import logging

from search.core.config import SearchConfig
from search.core.errors import SearchFailed, UsageError

__all__ = ["SearchConfig", "UsageError", "SearchFailed", "run_search"]

# A library prints nothing unless its user configures logging (the CLI does).
logging.getLogger(__name__).addHandler(logging.NullHandler())


def run_search(config: SearchConfig) -> dict:
    """Run a search and return its summary; imported lazily so `import search`
    stays light. Progress goes to the "search" logger: nothing is printed unless
    logging is configured, e.g. `logging.basicConfig(level=logging.INFO)` or
    `search.core.logs.configure()` for the CLI's own lines on stderr."""
    from search.run import run_search as _run
    return _run(config)
