"""The package's one logger, "search", and how the CLI sets it up.

Every module logs through `logging.getLogger(__name__)` (children of "search").
As a library the package prints nothing: "search" has a NullHandler until
`configure` (called by the CLI) gives it a plain-message handler on stderr, so
the progress lines users and tests grep look exactly as they always did.
"""

import contextlib
import logging
import sys

LOGGER_NAME = "search"
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (pytest's capsys swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _ignored):
        pass


def configure(verbosity=0):
    """-q: warnings and errors only (-1); default: progress (0); -v: debug too (1).
    Lines stop at this handler: a root handler that a library may add during
    the run (MLflow's model logging does) must not print each line twice."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(LEVELS[max(-1, min(1, verbosity))])
    logger.propagate = False
    return handler


@contextlib.contextmanager
def configured(verbosity=0):
    """`configure` for the block, then the logger as it was (the CLI's main() may
    be called in a process that goes on, e.g. a test session using caplog)."""
    logger = logging.getLogger(LOGGER_NAME)
    level, propagate = logger.level, logger.propagate
    handler = configure(verbosity)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def verbosity_flags():
    """The -q/-v that give a child process (a launched chief or worker) this
    process's level."""
    level = logging.getLogger(LOGGER_NAME).getEffectiveLevel()
    return ["-v"] if level <= logging.DEBUG else ["-q"] if level >= logging.WARNING else []
