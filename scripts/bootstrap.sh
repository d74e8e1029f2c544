#!/usr/bin/env bash
# Create .venv (if missing) and install bridge-search with TensorFlow for this
# machine: the CUDA build when an NVIDIA GPU is visible, the CPU build otherwise.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
flavour=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    flavour=gpu
fi
extras="$flavour${BRIDGE_SEARCH_EXTRAS:+,$BRIDGE_SEARCH_EXTRAS}"  # test pulls postgres (psycopg2) too
echo "bootstrap: installing bridge-search[$extras] into .venv" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" 2>&1 \
    | grep -v "^WARNING: Location" >&2 || true
# TensorFlow's import writes its start-up lines (absl, oneDNN, cpu_feature_guard) to
# stderr: they are shown only when the import fails, to say why.
if ! check=$(.venv/bin/python -c "import search, spaces, tensorflow, keras_tuner, mlflow" 2>&1); then
    echo "$check" >&2
    echo "bootstrap: installation incomplete" >&2
    exit 1
fi
echo "bootstrap: ready; try .venv/bin/bridge-search run" >&2
