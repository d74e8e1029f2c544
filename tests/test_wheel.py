"""A wheel that installs (issue 25, item 4): `python -m build` makes a wheel and an
sdist from a copy of the checkout; the wheel goes into a fresh venv outside the
checkout, where `bridge-search --version` and a tiny search on the default digits
data run from a folder that is not the checkout.

The fresh venv gets no copy of TensorFlow and MLflow (a download of ~1 GB): a
.pth file appends the test interpreter's site-packages to its path, after its own
site-packages, where the wheel is. That path is added as a plain folder, so the
editable install of this checkout that lives there (a .pth import hook) is not
loaded: `search` comes from the wheel, which the test checks; `pip check` checks
that the wheel's declared requirements are met by what is importable."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # scheduled first: see tests/conftest.py


def _clean_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TF_CPP_MIN_LOG_LEVEL")}


def _run(command, cwd, timeout=600):
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=_clean_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("build", reason="`pip install build` (the test extra)")
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # the build writes egg-info into its source folder
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached",
                              "--others", "--exclude-standard"], capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, archive):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPO_ROOT / name).read_bytes())
    _run([sys.executable, "-m", "build", "--outdir", work / "dist", source], cwd=work)
    return work, sorted((work / "dist").iterdir())


def test_build_makes_a_wheel_and_an_sdist(built):
    _, files = built
    assert [f.name for f in files] == ["bridge_search-0.1.0-py3-none-any.whl",
                                       "bridge_search-0.1.0.tar.gz"]


@pytest.fixture(scope="module")
def installed(built):
    work, files = built
    venv = work / "venv"
    base_python = Path(sys.base_prefix) / "bin" / "python3"
    _run([base_python, "-m", "venv", venv], cwd=work)
    site = Path(_run([venv / "bin" / "python", "-c",
                      "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=work).stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "--quiet", files[0]], cwd=work)
    return venv, work


def test_the_installed_wheel_is_what_runs_and_its_requirements_are_met(installed):
    venv, work = installed
    where = _run([venv / "bin" / "python", "-c", "import search, spaces; "
                  "print(search.__file__); print(spaces.__file__)"], cwd=work).stdout
    assert all(line.startswith(str(venv)) for line in where.split()), where
    _run([venv / "bin" / "python", "-m", "pip", "check", "--disable-pip-version-check"],
         cwd=work)


def test_version_names_the_tool_and_its_libraries(installed):
    venv, work = installed
    text = _run([venv / "bin" / "bridge-search", "--version"], cwd=work).stdout
    lines = text.splitlines()
    assert lines[0] == "bridge-search 0.1.0"
    assert [line.split()[0] for line in lines[1:]] == ["TensorFlow", "Keras", "keras-tuner",
                                                      "MLflow"]
    assert "not installed" not in text


def test_a_tiny_search_runs_from_the_wheel_outside_the_checkout(installed):
    venv, work = installed
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    _run([venv / "bin" / "bridge-search", "run", "--space", "bridge-small", "--max-epochs", 1,
          "--factor", 2, "--retrain", "none", "--summary-json", "summary.json"],
         cwd=elsewhere)  # the default digits data and the default store under ./mlruns
    assert (elsewhere / "summary.json").is_file()
    assert (elsewhere / "mlruns" / "mlflow.db").is_file()
