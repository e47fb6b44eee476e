"""Every reference resolves inside the repository.

Code comments, tests and guides cite three reference pages by number:
`docs/security.md item 26` (also `items 9-14, 17-18`, `§1`), `docs/ado-wire-contract.md §4.7`
and `docs/token-format.md §1.2`. This module checks, over the files git tracks, that

  * every cited page exists, and every cited item or section is a heading of it;
  * every relative Markdown link in a .md file (and its #anchor) resolves;
  * nothing cites a document that is not in the repository (the notes the project was
    started from — the specification, the Azure DevOps API notes, the security checklist,
    the token-format notes outside `docs/`, or a path outside the repository — are not part
    of it; OUTSIDE below spells out the names it looks for).

No Patrol binary is needed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Trees checked for citations of documents outside the repository.
SCANNED = ("crates", "docs", "tests", "scripts", "bench")
# Trees whose citations of docs/ pages must resolve (all source and documentation).
RESOLVED = ("crates", "docs", "tests", "scripts", "bench")
TEXT_SUFFIXES = {".rs", ".py", ".mjs", ".js", ".md", ".sh", ".toml", ".html", ".sql", ".css"}
# This file names the outside documents' patterns on purpose.
SELF = {"tests/e2e/test_doc_references.py"}
# The folder of notes beside the repository, assembled so this file does not cite it.
BESIDE = re.escape("../" + "sha" + "red/")

REFERENCE_PAGES = ("security", "ado-wire-contract", "token-format")
CITATION = re.compile(r"docs/(" + "|".join(REFERENCE_PAGES) + r")\.md")
OUTSIDE = re.compile(
    r"(?<![/\w.`-])(?<!\]\()(?:security|ado-api|SPEC|token-format)\.md"  # a bare name, not a sibling link
    r"|/work/|" + BESIDE + r"|security checklist"
)
SECTION_HEADING = re.compile(r"#{2,3} (\d+(?:\.\d+)?)\.? ")
ITEM_HEADING = re.compile(r"#{4} (\d+)\. ")
# What may follow a page name in a citation: sections, items, and separators.
TOKEN = re.compile(
    r"\s*(?P<tok>§\s?\d+(?:\.\d+)?(?:\s*[-–]\s*\d+(?:\.\d+)?)?"
    r"|items?\b|\d+(?:\s*[-–]\s*\d+)?|,|;|\band\b|`|\))"
)
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


# Never part of the sources, when git cannot say what is tracked.
UNTRACKED_DIRS = {".git", "target", "node_modules", ".e2e", "test-output", "__pycache__", ".pytest_cache"}


def tracked(trees: tuple[str, ...]) -> list[str]:
    """The text files of `trees` (and the top-level .md files) that git tracks or would."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard",
             "--", *trees, "*.md"],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        listed = [p.name for p in REPO.glob("*.md")]
        for tree in trees:
            for path in (REPO / tree).rglob("*"):
                rel = path.relative_to(REPO)
                if not UNTRACKED_DIRS.intersection(rel.parts):
                    listed.append(rel.as_posix())
    files = {f for f in listed if f.split("/", 1)[0] in trees or "/" not in f}
    return sorted(f for f in files if Path(f).suffix in TEXT_SUFFIXES and (REPO / f).is_file())


def lines_of(rel: str) -> list[str]:
    return (REPO / rel).read_text(encoding="utf-8", errors="replace").splitlines()


def headings(page: str) -> tuple[set[str], set[str]]:
    """(section numbers such as "1" and "3.2", item numbers) of docs/<page>.md."""
    sections, items = set(), set()
    for line in lines_of(f"docs/{page}.md"):
        if m := SECTION_HEADING.match(line):
            sections.add(m.group(1))
        if m := ITEM_HEADING.match(line):
            items.add(m.group(1))
    return sections, items


def expand(text: str) -> list[str]:
    """"3-4" -> ["3", "4"], "23–25" -> ["23", "24", "25"], "4.7" -> ["4.7"]."""
    parts = [p.strip() for p in re.split(r"[-–]", text.replace("§", "").strip())]
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return [str(n) for n in range(int(parts[0]), int(parts[1]) + 1)]
    return parts


def cited(rest: str) -> tuple[list[str], list[str]]:
    """(sections, items) cited right after a page name, e.g. in " §1, items 9-14, 17-18"."""
    sections: list[str] = []
    items: list[str] = []
    mode = None
    pos = 0
    while m := TOKEN.match(rest, pos):
        tok = m.group("tok")
        if tok.startswith("§"):
            if mode not in (None, "sep", "item-sep"):
                break
            sections += expand(tok)
            mode = "section"
        elif tok.startswith("item"):
            if mode not in (None, "sep"):
                break
            mode = "item-start"
        elif tok[0].isdigit():
            if mode not in ("item-start", "item-sep"):
                break
            items += expand(tok)
            mode = "item"
        elif tok in (",", "and"):
            if mode == "item":
                mode = "item-sep"
            elif mode == "section":
                mode = "sep"
            else:
                break
        elif tok == "`" and mode is None:
            pass
        else:
            break
        pos = m.end()
    return sections, items


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(md: Path) -> set[str]:
    found, fenced = set(), False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} (.+)", line)):
            found.add(slug(m.group(1)))
    return found


def test_reference_pages_have_their_numbers():
    sections, items = headings("security")
    assert {"1", "2"} <= sections
    # Items are numbered 1, 2, … without gaps (new ones get the next number).
    assert len(items) >= 30 and items == {str(n) for n in range(1, len(items) + 1)}, \
        "docs/security.md numbers its items 1 to N without gaps"
    sections, _ = headings("ado-wire-contract")
    assert {"3.2", "3.4", "3.6", "4.4", "4.6", "4.7", "6.2", "7", "10", "12.1"} <= sections
    sections, _ = headings("token-format")
    assert {"1", "1.1", "1.2", "1.4", "1.6"} <= sections


def test_every_cited_item_and_section_exists():
    pages = {p: headings(p) for p in REFERENCE_PAGES}
    bad, seen = [], 0
    for rel in tracked(RESOLVED):
        for n, line in enumerate(lines_of(rel), 1):
            for m in CITATION.finditer(line):
                seen += 1
                sections, items = cited(line[m.end():])
                known_sections, known_items = pages[m.group(1)]
                for s in sections:
                    if s not in known_sections:
                        bad.append(f"{rel}:{n}: docs/{m.group(1)}.md has no §{s}: {line.strip()}")
                for i in items:
                    if m.group(1) != "security" or i not in known_items:
                        bad.append(f"{rel}:{n}: docs/{m.group(1)}.md has no item {i}: {line.strip()}")
    assert seen > 20, "the scan found too few citations to be looking in the right place"
    assert not bad, "\n".join(bad)


def test_markdown_links_resolve():
    bad = []
    for rel in tracked(RESOLVED):
        if not rel.endswith(".md"):
            continue
        fenced = False
        for n, line in enumerate(lines_of(rel), 1):
            if line.startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            for target in MD_LINK.findall(line):
                if re.match(r"[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                dest = (REPO / rel).parent / path if path else REPO / rel
                if not dest.exists():
                    bad.append(f"{rel}:{n}: no such file {path}")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    bad.append(f"{rel}:{n}: {path or rel} has no heading #{anchor}")
    assert not bad, "\n".join(bad)


def test_nothing_cites_a_document_outside_the_repository():
    bad = []
    for rel in tracked(SCANNED):
        if rel in SELF:
            continue
        for n, line in enumerate(lines_of(rel), 1):
            if OUTSIDE.search(line):
                bad.append(f"{rel}:{n}: {line.strip()}")
    assert not bad, "cite the pages in docs/ instead:\n" + "\n".join(bad)


@pytest.mark.parametrize("rest, sections, items", [
    (" §1, items 9-14, 17-18, 26-27), end", ["1"], [str(n) for n in [*range(9, 15), 17, 18, 26, 27]]),
    (" item 14, §1 503 row", ["1"], ["14"]),
    (" §3-4, §7, §10) against", ["3", "4", "7", "10"], []),
    ("` items 23–25): OIDC", [], ["23", "24", "25"]),
    ("` §1.4 vectors", ["1.4"], []),
    (" items 10 and 13-15. Nothing", [], ["10", "13", "14", "15"]),
    (") — the pages", [], []),
])
def test_citation_parser(rest, sections, items):
    assert cited(rest) == (sections, items)
