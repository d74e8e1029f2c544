"""The docs cite only what exists: every relative link, every `#anchor`, every
repository path in backquotes of README.md and docs/*.md; the README fits one
screen; docs/benchmarks.md is what scripts/benchmarks_md.py makes of the records.
Reads text only (no TensorFlow in this module)."""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 120
# Backquoted text that names a file or folder of the repository.
REPO_PATH = re.compile(r"^(?:search|spaces|scripts|tests|docs)/[\w./*-]*$")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)


def prose(text):
    """The text without fenced code blocks (their `#` lines are no headings)."""
    return FENCE.sub("", text)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path):
    """Every anchor of a markdown file, with GitHub's -1, -2 for repeated headings."""
    seen, result = {}, set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", prose(path.read_text()), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def links(doc):
    """(target path, anchor or None) of every relative link of `doc`."""
    text = re.sub(r"`[^`\n]*`", "", prose(doc.read_text()))
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        yield (doc if not path else (doc.parent / path).resolve()), anchor or None


def code_paths(doc):
    """Repository paths written in backquotes in the prose of `doc`, without
    placeholders (`docs/benchmarks/NAME.json`) or test names (`::test_x`)."""
    for span in re.findall(r"`([^`\n]+)`", prose(doc.read_text())):
        path = span.split("::")[0].rstrip(".,;:")
        if REPO_PATH.match(path) and not re.search(r"[A-Z]{2,}|\.\.\.", path):
            yield path


def cases(kind):
    found = []
    for doc in DOCS:
        items = sorted(set(links(doc) if kind == "link" else code_paths(doc)), key=str)
        found += [pytest.param(doc, item, id=f"{doc.name}:{item}") for item in items]
    return found


@pytest.mark.parametrize("doc, link", cases("link"))
def test_every_link_points_at_a_file_or_heading_that_exists(doc, link):
    target, anchor = link
    assert target.exists(), f"{doc.name} links to {target.relative_to(REPO)}, which is absent"
    if anchor:
        assert target.suffix == ".md", f"{doc.name}: anchor #{anchor} into a non-markdown file"
        assert anchor in anchors(target), (
            f"{doc.name} links to {target.name}#{anchor}; its headings give "
            f"{sorted(anchors(target))}")


@pytest.mark.parametrize("doc, path", cases("path"))
def test_every_repository_path_in_backquotes_exists(doc, path):
    assert list(REPO.glob(path.rstrip("/"))), f"{doc.name} cites `{path}`, which is absent"


def test_the_readme_fits_one_screen():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


def test_benchmarks_md_is_generated_from_the_records():
    spec = importlib.util.spec_from_file_location("benchmarks_md",
                                                  REPO / "scripts" / "benchmarks_md.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render(module.load_records()) == (REPO / "docs" / "benchmarks.md").read_text(), (
        "docs/benchmarks.md differs from docs/benchmarks/*.json: run "
        "python scripts/benchmarks_md.py")


@pytest.mark.parametrize("heading, anchor", [
    ("Several machines: one tracking server, one chief, N workers",
     "several-machines-one-tracking-server-one-chief-n-workers"),
    ("`--time-budget DURATION`", "--time-budget-duration"),
    ("Flatten at its learning-rate cap, 28x28", "flatten-at-its-learning-rate-cap-28x28"),
    ("What a search writes", "what-a-search-writes"),
])
def test_anchors_are_computed_as_github_does(heading, anchor):
    assert slug(heading) == anchor
