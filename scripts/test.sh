#!/usr/bin/env bash
# Install everything (scripts/bootstrap.sh) and run the whole test suite.
# pytest exits 5 when it collects no tests; that is a failure here too.
set -euo pipefail
cd "$(dirname "$0")/.."
BRIDGE_SEARCH_EXTRAS=test bash scripts/bootstrap.sh
export TF_CPP_MIN_LOG_LEVEL=2
.venv/bin/python -m pytest "$@"
