"""The two kinds of failure the CLI tells apart.

`UsageError`: the user gave something we cannot use (exit 2, one line, no
traceback). Anything else is a failure of the run itself (exit 1).
"""


class UsageError(ValueError):
    """Bad input: the message names the value, what is accepted, how to fix it."""


class SearchFailed(RuntimeError):
    """The search ran but produced nothing usable (e.g. every trial failed)."""


def last_line(message):
    """The line of a failure message (a traceback) that names the error, for a
    tag or a one-line report."""
    lines = [line for line in (message or "unknown error").strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "unknown error"
