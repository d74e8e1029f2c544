#!/usr/bin/env bash
# The GPU check in one command, for a machine with an NVIDIA GPU (docs/development.md):
# a tiny search with --mixed-precision --jit-compile, the same search on the CPU for
# the epoch time, and one `launch` with a worker per GPU; prints the device each
# trial used, memory growth, XLA and the epoch times. Exit 1, with a line starting
# "gpu_check: FAIL", when there is no GPU or anything fell back to the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: FAIL: nvidia-smi not found: no NVIDIA driver on this machine; run" \
         "this check on a machine with an NVIDIA GPU" >&2
    exit 1
fi
if ! gpus=$(nvidia-smi -L 2>&1) || ! grep -q "^GPU " <<<"$gpus"; then
    echo "gpu_check: FAIL: nvidia-smi lists no GPU ($gpus)" >&2
    exit 1
fi
echo "gpu_check: nvidia-smi lists:" >&2
echo "$gpus" >&2
exec "$PYTHON" scripts/gpu_check.py --gpus "$(grep -c "^GPU " <<<"$gpus")" "$@"
