#!/usr/bin/env bash
# Install everything (scripts/bootstrap.sh) and run the whole test suite.
# pytest exits 5 when it collects no tests; that is a failure here too.
# Two test processes (pytest-xdist), a module each at a time so a module's shared
# search runs once, in the order tests/conftest.py sets (slow modules first).
# BRIDGE_SEARCH_TEST_PROCESSES=0 runs the suite in this process alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BRIDGE_SEARCH_EXTRAS=test bash scripts/bootstrap.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m pytest -n "${BRIDGE_SEARCH_TEST_PROCESSES:-2}" --dist loadscope \
    --no-loadscope-reorder "$@"
