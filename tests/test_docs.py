"""The README and docs/ hold together: links resolve, the README stays short and opens with CI's commands."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import ROOT

README = ROOT / "README.md"
README_LIMIT = 10_240  # bytes: what a newcomer reads first; the rest lives in docs/


def pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _prose_lines(text: str) -> list[str]:
    """The page's lines with fenced code blocks blanked out, so that a `# comment` or `[x](y)` in code counts for
    nothing."""
    lines, fence = [], ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
            lines.append("")
        elif match:
            fence = match.group(1)
            lines.append("")
        else:
            lines.append(line)
    return lines


def code_blocks(text: str) -> list[str]:
    """The content of each fenced code block, in order."""
    blocks, current, fence = [], [], ""
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                blocks.append("\n".join(current))
                current, fence = [], ""
            else:
                current.append(line)
        elif match:
            fence = match.group(1)
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lower-cased, punctuation but '-' and '_' removed, each
    space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text only
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor on a page, repeated headings numbered -1, -2... as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in _prose_lines(text):
        match = re.match(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


_INLINE = re.compile(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
_REFERENCE_USE = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\[([^\]]*)\]")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:...


def _without_code_spans(line: str) -> str:
    # `[x](y)` inside a code span is code, not a link; the span's text becomes neutral letters so that a link
    # whose text is code, [`tests/slapd.py`](../tests/slapd.py), still reads as one.
    return re.sub(r"(`+)(.+?)\1", lambda m: "x" * len(m.group(0)), line)


def links(text: str) -> list[tuple[int, str]]:
    """(line, target) of every link on a page: inline, images, and reference-style through their definitions."""
    found: list[tuple[int, str]] = []
    definitions: dict[str, str] = {}
    uses: list[tuple[int, str]] = []
    for number, line in enumerate(_prose_lines(text), 1):
        line = _without_code_spans(line)
        definition = _REFERENCE_DEFINITION.match(line)
        if definition:
            definitions[definition.group(1).strip().lower()] = definition.group(2)
            found.append((number, definition.group(2)))
            continue
        found += [(number, m.group(2)) for m in _INLINE.finditer(line)]
        uses += [(number, (m.group(2) or m.group(1)).strip().lower()) for m in _REFERENCE_USE.finditer(line)]
    found += [(number, f"[{label}] (no such reference)") for number, label in uses if label not in definitions]
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """What is wrong with each relative link of a page: a missing file, a file outside the project, an anchor that
    matches no heading of its page. External links are not fetched."""
    text = page.read_text(encoding="utf-8")
    problems = []
    for number, target in links(text):
        where = f"{page.name}:{number}: {target}"
        if target.endswith("(no such reference)"):
            problems.append(where)
            continue
        if _EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            problems.append(f"{where}: no such file")
            continue
        if not destination.is_relative_to(root.resolve()):
            problems.append(f"{where}: outside the project")
            continue
        if anchor:
            if destination.suffix != ".md" or destination.is_dir():
                problems.append(f"{where}: an anchor into a file that is not a Markdown page")
            elif anchor not in anchors(destination.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading '#{anchor}' in {destination.name}")
    return problems


def test_every_relative_link_resolves() -> None:
    assert len(pages()) > 5  # README and docs/
    assert [problem for page in pages() for problem in broken_links(page)] == []


def test_the_link_check_catches_a_broken_file_and_a_broken_anchor(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Credential files\n\n## Credential files\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# The page's own title\n\n"
        "[fine](other.md#credential-files), [fine too](other.md#credential-files-1), [here](#the-pages-own-title),\n"
        "[outside](https://example.org/none#x), `[in code](nowhere.md)`, [ref][good]\n\n"
        "```\n[in a fence](nowhere.md)\n# not a heading\n```\n\n"
        "[gone](missing.md), [bad anchor](other.md#credentials), [bad here](#not-a-heading), [ref][missing]\n\n"
        "[good]: other.md#other-page\n"
    )
    assert [problem.split(": ", 1)[1] for problem in broken_links(page, root=tmp_path)] == [
        "missing.md: no such file",
        "other.md#credentials: no heading '#credentials' in other.md",
        "#not-a-heading: no heading '#not-a-heading' in page.md",
        "[missing] (no such reference)",
    ]


def test_slugs_follow_githubs_rules() -> None:
    assert slug("The sheet's wording and look") == "the-sheets-wording-and-look"
    assert slug("A year's work: for registrars") == "a-years-work-for-registrars"
    assert slug("The SUPANN profile and the yearly life of an account") == (
        "the-supann-profile-and-the-yearly-life-of-an-account"
    )
    assert slug("`[sheet] file_mode` and [links](x.md)") == "sheet-file_mode-and-links"
    assert anchors("# A\n## A\n```\n# A\n```\n### A\n") == {"a", "a-1", "a-2"}


def test_readme_stays_short() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size:,} bytes: move the detail to docs/"


def test_readme_opens_with_the_two_commands_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").split("\n")
    test_command = ci[ci.index("# The README's test command, as written there:") + 1]
    assert test_command == "pip install -e '.[test]' && bash tests/system-packages.sh && python -m pytest"
    blocks = code_blocks(text)
    assert blocks[:2] == [
        "pip install . && scolpass generate samples/enrolment.csv --config samples/scolpass.toml",
        test_command,
    ]
    # The first thing in the file: nothing but the title and one line before them.
    before = text[: text.index("```")]
    assert before == "# scolpass\n\nOn a fresh machine with Python 3.11+ and pip, from the project's folder:\n\n"


def test_every_test_the_docs_name_exists() -> None:
    # Pages back claims with test names (docs/guarantees.md most of all, test_quality checks it alone too): a renamed
    # or deleted test, or test file, must not leave a claim pointing at nothing.
    defined = {
        m for p in (ROOT / "tests").glob("test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)
    }
    files = {p.name for p in (ROOT / "tests").glob("test_*.py")}
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages())
    named = set(re.findall(r"\b(test_\w+)(?!\.py)\b", text)) - {"test_files"}
    named_files = set(re.findall(r"\b(test_\w+\.py)\b", text))
    assert sorted(named - defined) == []
    assert sorted(named_files - files) == []
