"""The README a newcomer reads in five minutes, the guides in docs/: every link lands, every page is reachable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md"),
                *(p for p in (ROOT / "recipes" / "README.md", ROOT / "calib" / "README.md") if p.exists())])
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
README_MAX_LINES = 200


def prose(text: str) -> str:
    """The Markdown without its fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: its text lowercased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated heading gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for line in re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", path.read_text(), flags=re.S | re.M).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = anchor(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text()))


def test_the_pages_are_found():
    assert (DOCS / "README.md").exists() and len(PAGES) >= 12, PAGES
    assert sum(len(links(p)) for p in PAGES) > 40  # the link pattern reads these files' links


def test_the_anchor_rule_is_githubs():
    assert anchor("2026-11-23: AMD EPYC, Zen 1") == "2026-11-23-amd-epyc-zen-1"
    assert anchor("Dependencies, and why each is there") == "dependencies-and-why-each-is-there"
    assert anchor("Why `edgecnn.export` is callable") == "why-edgecnnexport-is-callable"
    assert anchor("Models, data, training and evaluation") == "models-data-training-and-evaluation"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_lands(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # https:, mailto:, ...
            continue
        path_part, _, fragment = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading with anchor #{fragment} in {destination.name}")
    assert not broken, "\n".join(broken)


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_docs_page_is_linked_from_the_readme_or_the_index():
    linked = set()
    for page in (ROOT / "README.md", DOCS / "README.md"):
        for target in links(page):
            path_part = target.partition("#")[0]
            if path_part:
                linked.add((page.parent / path_part).resolve())
    orphans = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked and p.name != "README.md"]
    assert not orphans, f"docs pages linked from neither README.md nor docs/README.md: {orphans}"
    assert (DOCS / "README.md").resolve() in linked


def test_the_readme_names_only_the_api_there_is():
    import edgecnn

    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    called = set(re.findall(r"\bedgecnn\.(\w+)\(", "\n".join(blocks) + readme))
    assert called and called <= set(edgecnn.__all__), called - set(edgecnn.__all__)
