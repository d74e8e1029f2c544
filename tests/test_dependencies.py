"""Every third-party package the code imports is declared in setup.cfg: a fresh
install of the wheel must not miss one that happened to be in the venv."""

import ast
import configparser
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "spaces")
# Imported by name but installed under another distribution than the import map says
# (tensorflow comes as tensorflow or tensorflow-cpu: the cpu/gpu extras).
ALSO_ACCEPTED = {"tensorflow": {"tensorflow-cpu", "tensorflow"}}
# Imported inside try/except with a fallback, used when a user installs it.
OPTIONAL = {"ai_edge_litert"}  # search/winner/tflite.py: else TensorFlow's own interpreter


def imported_top_level_names():
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in PACKAGES}


def declared_distributions():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"].splitlines()
    for extra in config["options.extras_require"].values():
        lines += extra.splitlines()
    return {_canonical(re.split(r"[<>=!~\[;\s]", line.strip())[0])
            for line in lines if line.strip() and not line.strip().startswith("#")}


def _canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared():
    installed_by = metadata.packages_distributions()
    declared = declared_distributions()
    missing = {}
    for name in sorted(imported_top_level_names() - OPTIONAL):
        candidates = {_canonical(d) for d in installed_by.get(name, [])}
        candidates |= ALSO_ACCEPTED.get(name, set())
        if not candidates & declared:
            missing[name] = sorted(candidates) or ["(not installed)"]
    assert missing == {}, f"imported but not declared in setup.cfg: {missing}"
