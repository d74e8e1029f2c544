"""bridge-search runner: CLI, config, data, Hyperband tuner, MLflow tracking, export."""

from search.config import SearchConfig
from search.errors import SearchFailed, UsageError

__all__ = ["SearchConfig", "UsageError", "SearchFailed", "run_search"]


def run_search(config, say=print):
    """Run a search; imported lazily so `import search` stays light."""
    from search.runner import run_search as _run
    return _run(config, say)
