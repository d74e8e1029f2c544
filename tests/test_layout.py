"""The layout rules of ../shared/DESIGN.md ("Layout"), checked on the source:
layers import downward only (imports inside functions count), no module cycle,
project modules imported inside functions only in the CLI, no module over 300
lines, and `spaces/` never imports `search/`."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("search", "spaces")
MAX_LINES = 300
MAX_FUNCTION_LINES = 50
# Highest first; a module may import its own layer's modules or lower ones.
LAYERS = (
    ("search", "search.__main__", "search.cli", "search.arguments"),
    ("search.run", "search.preflight"),
    ("search.winner", "search.distributed"),
    ("search.plan", "search.tracking"),
    ("search.kt",),
    ("search.data",),
    ("search.core",),
    ("spaces",),  # imports nothing of search/: core may check a --space name with it
)
# Only the CLI imports project modules inside functions: it keeps TensorFlow
# out of `--help` and the bad-input paths.
LAZY_IMPORTERS = ("search", "search.cli", "search.arguments")
# The only other lazy imports, each on a path that needs what the module otherwise
# keeps out of a command's start (MLflow's import takes seconds, TensorFlow's more):
LAZY_EXCEPTIONS = {
    # the launcher marks its runs KILLED in MLflow only when it is interrupted
    ("search.distributed.launch", "search.tracking.resume"),
    # "already finished" asks MLflow only when another URI of the store is given,
    ("search.preflight", "search.tracking"),
    # and loads TensorFlow only to export the stored winner again
    ("search.preflight", "search.winner.reexport"),
}


def modules():
    """{dotted name: path} of every module in the packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name, path, known):
    """[(target, lineno, top_level)] of the project modules `name` imports,
    anywhere in its syntax tree."""
    found = []
    top = set(id(node) for node in ast.parse(path.read_text()).body)
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t for t in names if t in known] or [base]
        for target in targets:
            if target in known and target != name:
                found.append((target, node.lineno, id(node) in top))
    return found


def layer_of(name):
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    return best[0] if best else None


def graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_over_300_lines(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by idea (limit {MAX_LINES})"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_function_over_50_lines(name):
    tree = ast.parse(modules()[name].read_text())
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == [], f"{name}: split by step (limit {MAX_FUNCTION_LINES} lines)"


def test_every_module_has_a_layer():
    assert [name for name in modules() if layer_of(name) is None] == []


def test_layers_import_downward_only():
    upward = [f"{name}:{line} imports {target}"
              for name, imports in graph().items() for target, line, _ in imports
              if layer_of(target) < layer_of(name)]
    assert upward == []


def test_only_the_cli_imports_project_modules_inside_functions():
    lazy = [f"{name}:{line} imports {target} inside a function"
            for name, imports in graph().items() if name not in LAZY_IMPORTERS
            for target, line, top_level in imports
            if not top_level and (name, target) not in LAZY_EXCEPTIONS]
    assert lazy == []


def test_no_import_cycle():
    edges = {name: sorted({t for t, _, _ in imports if not t.startswith(name + ".")})
             for name, imports in graph().items()}
    visiting, done = [], set()

    def visit(node):
        if node in done:
            return
        assert node not in visiting, "import cycle: " + " -> ".join(
            visiting[visiting.index(node):] + [node])
        visiting.append(node)
        for target in edges[node]:
            visit(target)
        visiting.pop()
        done.add(node)

    for name in sorted(edges):
        visit(name)


def test_spaces_never_import_search():
    assert [(name, t) for name, imports in graph().items() if name.startswith("spaces")
            for t, _, _ in imports if t.startswith("search")] == []


def test_mlflow_is_imported_only_under_tracking():
    """MLflow behind one door (search/tracking/); the CLI starts its processes only."""
    found = []
    for name, path in modules().items():
        if name.startswith("search.tracking"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{name}:{node.lineno}" for n in names if n.split(".")[0] == "mlflow"]
    assert found == []


def test_no_private_tracker_name_outside_its_module():
    private = re.compile(r"\btracker\._\w+")
    found = [f"{name}: {match.group()}" for name, path in modules().items()
             if name != "search.tracking" for match in private.finditer(path.read_text())]
    assert found == []


def test_search_never_names_the_default_spaces_hyperparameters():
    """A space names its own summary keys (spaces.summary_keys): search/ shows any
    space's trials by them, never by the default space's hyperparameter names."""
    names = re.compile(r"""["'](bridge|residual_blocks|dense_units|flatten_pool)["']""")
    found = [f"{name}: {match.group()}" for name, path in modules().items()
             if name.startswith("search") for match in names.finditer(path.read_text())]
    assert found == []
