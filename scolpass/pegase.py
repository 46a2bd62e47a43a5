"""Reading Pégase's enrolment feed (``/gestion/flux-inscriptions/pagine``) as an enrolment file.

The feed is JSON: one page (``{"resultats": [...], ...}``), an array of pages, an array
of items, or JSON Lines of items; each item is one enrolment of one learner. This module
turns every item into the values scolpass reads, named as its CSV columns are, with the
place of each field in the file (``resultats[12].dateDeNaissance``) so that a problem
names what the registrar can find; enrolment.py then checks and gathers them exactly as
it does an export's rows. Fields scolpass does not use are never looked at.

Every value stays as the feed wrote it: a number where text is expected, or text where
a number is, is a problem, never converted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C scanner json itself uses
from typing import Any

from .errors import InputError, Problem
from .settings import Faculty, PegaseSettings

# Feed field to scolpass column: the learner's text values.
TEXT_FIELDS = {
    "codeApprenant": "student_number",
    "INE": "ine",
    "nomFamille": "birth_name",
    "nomUsage": "usual_name",
    "prenom": "first_name",
    "dateDeNaissance": "birth_date",
    "civilite": "sex",
}
REQUIRED_FIELDS = ("codeApprenant", "nomFamille", "prenom", "dateDeNaissance")
CANCELLED = "annulee"
# As many items as an export has rows (csvfile.MAX_ROWS).
MAX_ITEMS = 500_000
# An item is a few levels deep (item, chemin, element); a feed deeper than this is no feed.
MAX_DEPTH = 20
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, no other


@dataclass
class FeedItem:
    """One item of the feed, as the values scolpass reads (every one text, as in a CSV row)."""

    line: int
    place: str  # "resultats[12]", "[3].resultats[12]", "[12]"; "" for a line of JSON Lines
    raw: str  # the item as written in the file, kept for a rejected file
    values: dict[str, str] = field(default_factory=dict)
    # The place of the field each column comes from, as problems name it.
    names: dict[str, str] = field(default_factory=dict)
    learner: str = ""  # codeApprenant, when it is text
    main: bool = True  # inscriptionPrincipale: the main enrolment is listed first
    path: str = ""  # the codes of the whole path: two paths may reach one step
    modified: int | None = None
    # (field's place, value shown, reason): what cannot be read from the item.
    problems: list[tuple[str, str | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Feed:
    """A feed file's items, and how the file was laid out."""

    source: str
    shape: str  # as the summary prints it: "one page", "3 pages", "an array of items", "JSON Lines"
    items: tuple[FeedItem, ...]


def looks_like_feed(raw: bytes) -> bool:
    """Whether ``raw`` is JSON rather than CSV: it starts (after a byte order mark and spaces) with
    ``{`` or ``[``, which no export header does."""
    start = raw[:4096].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return start[:1] in (b"{", b"[")


def feed_text(raw: bytes, source: str) -> str:
    """A feed file's text: JSON is UTF-8 (RFC 8259); a byte order mark is tolerated."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:bad].count(b"\n") + 1
        reason = f"byte offset {bad}: byte 0x{raw[bad]:02x} is not UTF-8, which JSON is written in"
        raise InputError([Problem(source, line, None, None, reason)]) from None


def read_feed(text: str, source: str, pegase: PegaseSettings | None) -> Feed:
    """The items of a feed file's text; raises :class:`InputError` when it is not JSON or not a feed.

    ``pegase`` gives the faculties and the step type; without it (a check with no
    configuration), an enrolment's faculty is its formation code.
    """
    scanner = _Scanner(text, source)
    try:
        shape, found = scanner.document()
    except RecursionError:
        raise InputError([Problem(source, None, None, None, "nests too deeply to be an enrolment feed")]) from None
    mapper = _Mapper(pegase or PegaseSettings(), pegase is None)
    items = tuple(mapper.item(line, place, raw_text, value) for line, place, raw_text, value in found)
    if not items:
        raise InputError([Problem(source, None, None, None, "holds no enrolment (its resultats are empty)")])
    return Feed(source, shape, items)


class _Scanner:
    """Walks a feed file with the json module's own decoder, keeping where each item starts."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.decoder = json.JSONDecoder()
        self._line_at = (0, 1)  # (offset, its line): items come in order, so lines are counted once

    def line(self, offset: int) -> int:
        last, line = self._line_at
        if offset < last:
            last, line = 0, 1
        line += self.text.count("\n", last, offset)
        self._line_at = (offset, line)
        return line

    def fail(self, offset: int, reason: str) -> InputError:
        line = self.line(offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return InputError(
            [Problem(self.source, line, None, None, f"is not valid JSON at line {line}, column {column}: {reason}")]
        )

    def skip(self, offset: int) -> int:
        match = _SPACE.match(self.text, offset)
        assert match is not None  # it matches the empty string
        return match.end()

    def value(self, offset: int) -> tuple[Any, int]:
        try:
            value, end = self.decoder.raw_decode(self.text, offset)
        except json.JSONDecodeError as exc:
            raise self.fail(exc.pos, exc.msg) from None
        _refuse_depth(value, self, offset)
        return value, end

    def document(self) -> tuple[str, list[tuple[int, str, str, Any]]]:
        """The file's shape and its items: (line, place, raw text, value)."""
        start = self.skip(0)
        first, end = self.value(start)
        rest = self.skip(end)
        if rest < len(self.text):
            if not isinstance(first, dict):
                raise self.fail(rest, "extra data after the first value")
            return "JSON Lines", self.lines()
        if isinstance(first, dict) and "resultats" in first:
            return "one page", self.page(start, "")
        if isinstance(first, dict):
            return "JSON Lines", [(self.line(start), "", self.text[start:end], first)]
        if not isinstance(first, list):
            raise InputError([Problem(self.source, self.line(start), None, None, _NOT_A_FEED)])
        pages = [isinstance(e, dict) and "resultats" in e for e in first]
        if any(pages) and not all(pages):
            reason = 'mixes pages ({"resultats": [...]}) and items in one array: give one or the other'
            raise InputError([Problem(self.source, self.line(start), None, None, reason)])
        if any(pages):
            found: list[tuple[int, str, str, Any]] = []
            for index, (at, _, _) in enumerate(self.array(start)[0]):
                found += self.page(at, f"[{index}].")
            return f"{len(pages)} pages" if len(pages) > 1 else "one page", found
        return "an array of items", [
            (self.line(at), f"[{index}]", self.text[at:stop], value)
            for index, (at, stop, value) in enumerate(self.array(start)[0])
        ]

    def lines(self) -> list[tuple[int, str, str, Any]]:
        found = []
        offset = 0
        for number, line in enumerate(self.text.split("\n"), start=1):
            stripped = line.strip(" \t\r")
            if stripped:
                at = offset + line.index(stripped[0])
                value, end = self.value(at)
                if self.skip(end) < offset + len(line):
                    raise self.fail(self.skip(end), "one item per line is expected (JSON Lines)")
                found.append((number, "", self.text[at:end], value))
                if len(found) > MAX_ITEMS:
                    raise _too_many(self.source)
            offset += len(line) + 1
        return found

    def array(self, offset: int) -> tuple[list[tuple[int, int, Any]], int]:
        """Each element of the array at ``offset`` as (start, end, value), and where the array ends."""
        text = self.text
        assert text[offset] == "["
        elements: list[tuple[int, int, Any]] = []
        offset = self.skip(offset + 1)
        if text.startswith("]", offset):
            return elements, offset + 1
        while True:
            value, end = self.value(offset)
            elements.append((offset, end, value))
            if len(elements) > MAX_ITEMS:
                raise _too_many(self.source)
            offset = self.skip(end)
            if text.startswith(",", offset):
                offset = self.skip(offset + 1)
            elif text.startswith("]", offset):
                return elements, offset + 1
            else:
                raise self.fail(offset, "expecting ',' or ']'")

    def page(self, offset: int, place: str) -> list[tuple[int, str, str, Any]]:
        """The items of the page object at ``offset``, its other keys skipped."""
        text = self.text
        assert text[offset] == "{"
        found: list[tuple[int, str, str, Any]] = []
        seen = False
        offset = self.skip(offset + 1)
        while not text.startswith("}", offset):
            if not text.startswith('"', offset):
                raise self.fail(offset, "expecting a key in double quotes")
            try:
                key, offset = scanstring(text, offset + 1, True)
            except json.JSONDecodeError as exc:
                raise self.fail(exc.pos, exc.msg) from None
            offset = self.skip(offset)
            if not text.startswith(":", offset):
                raise self.fail(offset, "expecting ':'")
            offset = self.skip(offset + 1)
            if key == "resultats":
                if seen:
                    raise InputError(
                        [Problem(self.source, self.line(offset), None, None, "has two resultats keys in one page")]
                    )
                seen = True
                if not text.startswith("[", offset):
                    reason = f"{place}resultats is not an array of enrolments"
                    raise InputError([Problem(self.source, self.line(offset), None, None, reason)])
                elements, offset = self.array(offset)
                for index, (at, end, value) in enumerate(elements):
                    found.append((self.line(at), f"{place}resultats[{index}]", text[at:end], value))
                offset = self.skip(offset)
            else:
                _, offset = self.value(offset)
                offset = self.skip(offset)
            if text.startswith(",", offset):
                offset = self.skip(offset + 1)
            elif not text.startswith("}", offset):
                raise self.fail(offset, "expecting ',' or '}'")
        return found


_NOT_A_FEED = 'is not an enrolment feed: one page {"resultats": [...]}, an array of pages or items, or JSON Lines'


def _too_many(source: str) -> InputError:
    reason = f"holds more than {MAX_ITEMS:,} enrolments: check that this is the enrolment feed, or split it"
    return InputError([Problem(source, None, None, None, reason)])


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        current, level = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if level + 1 > MAX_DEPTH:
                    return level + 1
                stack.append((child, level + 1))
        deepest = max(deepest, level)
    return deepest


def _refuse_depth(value: Any, scanner: _Scanner, offset: int) -> None:
    if isinstance(value, dict | list) and _depth(value) > MAX_DEPTH:
        reason = f"nests more than {MAX_DEPTH} levels deep: no enrolment does"
        raise InputError([Problem(scanner.source, scanner.line(offset), None, None, reason)])


class _Mapper:
    """One item's values, field by field."""

    def __init__(self, pegase: PegaseSettings, unconfigured: bool) -> None:
        self.step_type = pegase.step_type
        # Longest first: the first prefix that matches is the longest.
        self.faculties = sorted(pegase.faculties.items(), key=lambda pair: -len(pair[0]))
        self.default = pegase.default_faculty
        self.unconfigured = unconfigured

    def item(self, line: int, place: str, raw: str, value: Any) -> FeedItem:
        item = FeedItem(line, place, raw)
        if not isinstance(value, dict):
            item.problems.append((place or "item", None, "is not an enrolment (a JSON object)"))
            return item
        at = f"{place}." if place else ""
        learner = value.get("codeApprenant")
        item.learner = learner if isinstance(learner, str) else ""
        for name, column in TEXT_FIELDS.items():
            item.names[column] = at + name
            found = value.get(name)
            if isinstance(found, str):
                item.values[column] = found
                continue
            item.values[column] = ""
            if found is None and name in REQUIRED_FIELDS:
                item.problems.append((at + name, None, "is missing; a value is required"))
            elif found is not None:
                item.problems.append((at + name, _shown(found), "is not text (a JSON string)"))
        self._year(item, value, at)
        self._state(item, value, at)
        self._step(item, value, at)
        main = value.get("inscriptionPrincipale")
        item.main = main is not False  # a complementary enrolment says so; without the field, as listed
        for name in ("derniereModification", "derniereModificationApprenant"):
            stamp = value.get(name)
            if isinstance(stamp, int) and not isinstance(stamp, bool):
                item.modified = max(item.modified or stamp, stamp)
            elif stamp is not None:
                item.problems.append((at + name, _shown(stamp), "is not a time in Unix seconds"))
        return item

    def _year(self, item: FeedItem, value: Mapping[str, Any], at: str) -> None:
        item.names["academic_year"] = at + "anneeUniversitaire"
        year = value.get("anneeUniversitaire")
        item.values["academic_year"] = ""
        if isinstance(year, int) and not isinstance(year, bool):
            item.values["academic_year"] = str(year)
        elif year is not None:
            item.problems.append((at + "anneeUniversitaire", _shown(year), "is not a year: a number like 2026"))

    def _state(self, item: FeedItem, value: Mapping[str, Any], at: str) -> None:
        item.names["enrolment_state"] = at + "statutInscription"
        state = value.get("statutInscription")
        # Missing means valid: the field is optional by a slip of Pégase's specification, and
        # an item of the feed is an enrolment unless it says it was cancelled.
        item.values["enrolment_state"] = "valide" if state is None else state if isinstance(state, str) else ""
        if state is not None and not isinstance(state, str):
            item.problems.append((at + "statutInscription", _shown(state), "is not text (a JSON string)"))

    def _step(self, item: FeedItem, value: Mapping[str, Any], at: str) -> None:
        for column in ("step_code", "step_label", "faculty", "faculty_code"):
            item.values[column] = ""
        path = value.get("chemin")
        # Until the step and the formation are found, the path stands for them: a problem with it
        # says why they are empty, and nothing else does.
        for column in ("step_code", "step_label", "faculty", "faculty_code"):
            item.names[column] = at + "chemin"
        if not isinstance(path, list) or not path:
            shown = None if path is None else _shown(path)
            item.problems.append((at + "chemin", shown, "has no path: the step enrolled in cannot be known"))
            return
        for index, element in enumerate(path):
            if not isinstance(element, dict) or not isinstance(element.get("code"), str) or not element["code"]:
                item.problems.append((f"{at}chemin[{index}]", None, "is not a path element with a code"))
                return
        chosen = max((i for i, e in enumerate(path) if e.get("type") == self.step_type), default=len(path) - 1)
        step = path[chosen]
        label = step.get("libelleLong")
        if label is None:
            label = step.get("libelleCourt", "")
        where = f"{at}chemin[{chosen}]"
        item.names["step_code"], item.names["step_label"] = f"{where}.code", f"{where}.libelleLong"
        item.values["step_code"] = step["code"]
        if isinstance(label, str):
            item.values["step_label"] = label
        else:
            item.problems.append((f"{where}.libelleLong", _shown(label), "is not text (a JSON string)"))
        item.path = "/".join(e["code"] for e in path)
        self._faculty(item, value, path, at)

    def _faculty(self, item: FeedItem, value: Mapping[str, Any], path: list[Any], at: str) -> None:
        formation = value.get("formation")
        where = at + "formation"
        if formation is None:
            formation, where = path[0]["code"], f"{at}chemin[0].code"
        item.names["faculty"] = item.names["faculty_code"] = where
        if not isinstance(formation, str) or not formation:
            item.problems.append((where, _shown(formation), "is not a formation code"))
            return
        faculty = self.faculty(formation)
        if faculty is None:
            reason = "matches no prefix of [pegase.faculties]: add one, or set [pegase] default_faculty"
            item.problems.append((where, formation, reason))
            return
        item.values["faculty"], item.values["faculty_code"] = faculty.label, faculty.code

    def faculty(self, formation: str) -> Faculty | None:
        """The faculty of a formation code: the longest matching prefix, else the default."""
        if self.unconfigured:
            return Faculty(formation)  # no configuration to say; the code stands for it
        for prefix, faculty in self.faculties:
            if formation.startswith(prefix):
                return faculty
        return self.default


def _shown(value: Any) -> str:
    """A JSON value as a problem shows it: as written, cut when long."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
