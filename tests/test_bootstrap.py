"""scripts/bootstrap.sh prints only its own lines (issue 25, item 1): its import
check loads TensorFlow, whose start-up lines (absl, oneDNN, cpu_feature_guard)
are shown only when the import fails. pip is stood in for by a stub (installing
TensorFlow here would take minutes and the network); the import check is real."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

TF_LINES = re.compile(r"^[IWE]\d{4} |absl|oneDNN|cpu_feature_guard|rebuild TensorFlow",
                      re.MULTILINE)
PYTHON_STUB = """#!/usr/bin/env bash
# pip is a no-op here; anything else runs on the test's interpreter and checkout
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit 0; fi
PYTHONPATH="{pythonpath}" exec "{python}" "$@"
"""


def _checkout(tmp_path, pythonpath):
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "bootstrap.sh", root / "scripts")
    (root / ".venv" / "bin").mkdir(parents=True)
    stub = root / ".venv" / "bin" / "python"
    stub.write_text(PYTHON_STUB.format(pythonpath=pythonpath, python=sys.executable))
    stub.chmod(0o755)
    return root


def _bootstrap(root):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")}  # a fresh shell
    return subprocess.run(["bash", str(root / "scripts" / "bootstrap.sh")], env=env,
                          capture_output=True, text=True, timeout=300)


def test_bootstrap_prints_no_tensorflow_start_up_line(tmp_path):
    done = _bootstrap(_checkout(tmp_path, REPO_ROOT))
    assert done.returncode == 0, done.stderr
    assert not TF_LINES.search(done.stdout + done.stderr), done.stderr
    assert done.stderr.splitlines()[-1].startswith("bootstrap: ready")


@pytest.mark.parametrize("broken", ["mlflow"])
def test_a_failed_import_check_shows_why(tmp_path, broken):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / f"{broken}.py").write_text(f"raise ImportError('{broken} is broken here')")
    done = _bootstrap(_checkout(tmp_path, f"{shadow}:{REPO_ROOT}"))
    assert done.returncode == 1
    assert f"ImportError: {broken} is broken here" in done.stderr
    assert done.stderr.splitlines()[-1] == "bootstrap: installation incomplete"
