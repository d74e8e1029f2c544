"""The layout rules of DESIGN.md, checked on the source: no module over 300 lines,
no import cycle between modules, and `spaces/` never imports `search/`."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "spaces")
MAX_LINES = 300


def modules():
    """{dotted name: path} of every module in the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported_modules(name, path, known):
    """Project modules `name` imports at module level (not inside functions: a
    lazy import inside a function cannot make an import-time cycle)."""
    targets = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_300_lines(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by idea (limit {MAX_LINES})"


def test_no_import_cycle():
    known = modules()
    graph = {name: imported_modules(name, path, known) for name, path in known.items()}
    # A package's __init__ importing its own submodule is how packages re-export;
    # a submodule importing its package back is the cycle to catch.
    visiting, done = [], set()

    def visit(node):
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join(
            visiting[visiting.index(node):] + [node])
        visiting.append(node)
        for target in sorted(graph[node]):
            if not (target.startswith(node + ".")):  # package -> own submodule
                visit(target)
        visiting.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)


def test_spaces_never_import_search():
    known = modules()
    for name, path in known.items():
        if name.startswith("spaces"):
            assert not any(t.startswith("search") for t in imported_modules(name, path, known)), name
