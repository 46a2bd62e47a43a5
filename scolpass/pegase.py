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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C scanner json itself uses
from typing import Any

from .csvfile import MAX_ROWS
from .errors import InputError, Problem, shown
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
MAX_ITEMS = MAX_ROWS
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
    # (field's place, value shown, reason): what cannot be read from the item, and what is odd but harmless.
    problems: list[tuple[str, str | None, str]] = field(default_factory=list)
    warnings: list[tuple[str, str | None, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Feed:
    """A feed file's items, and how the file was laid out."""

    source: str
    shape: str  # as the summary prints it: "one page", "3 pages", "an array of items", "JSON Lines"
    items: tuple[FeedItem, ...]
    # The time `pegase fetch` cut the feed at, when it wrote the file: everything changed before is in it.
    until: int | None = None


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
    mapper = _Mapper(pegase or PegaseSettings(), pegase is None)
    items: list[FeedItem] = []

    def take(line: int, place: str, start: int, end: int, value: Any) -> None:
        # Mapped at once, so that the parsed item (a few kilobytes of dicts) is freed at once.
        items.append(mapper.item(line, place, text[start:end], value))
        if len(items) > MAX_ITEMS:
            reason = f"holds more than {MAX_ITEMS:,} enrolments: check that this is the enrolment feed, or split it"
            raise InputError([Problem(source, None, None, None, reason)])

    scanner = _Scanner(text, source, take)
    try:
        shape = scanner.document()
    except RecursionError:
        # The json module's decoder is recursive, and bounded by the interpreter's recursion limit.
        raise InputError([Problem(source, None, None, None, "nests too deeply to be an enrolment feed")]) from None
    if not items:
        raise InputError([Problem(source, None, None, None, "holds no enrolment (its resultats are empty)")])
    return Feed(source, shape, tuple(items), scanner.until)


_Take = Callable[[int, str, int, int, Any], None]  # (line, place, start, end, value) of each item
_NOT_A_FEED = 'is not an enrolment feed: one page {"resultats": [...]}, an array of pages or items, or JSON Lines'


class _Scanner:
    """Walks a feed file with the json module's own decoder (C code), handing over each item with
    where it starts; a page's other keys are skipped, and each value is parsed once."""

    def __init__(self, text: str, source: str, take: _Take) -> None:
        self.text = text
        self.source = source
        self.take = take
        self.decoder = json.JSONDecoder()
        # What `pegase fetch` wrote of its own (``"scolpass": {"until": ...}``): the feed as of then.
        self.until: int | None = None
        self._line_at = (0, 1)  # (offset, its line): items come in order, so lines are counted once

    def line(self, offset: int) -> int:
        last, line = self._line_at
        if offset < last:
            last, line = 0, 1
        line += self.text.count("\n", last, offset)
        self._line_at = (offset, line)
        return line

    def refuse(self, offset: int, reason: str) -> InputError:
        return InputError([Problem(self.source, self.line(offset), None, None, reason)])

    def fail(self, offset: int, reason: str) -> InputError:
        line = self.line(offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return self.refuse(offset, f"is not valid JSON at line {line}, column {column}: {reason}")

    def skip(self, offset: int) -> int:
        match = _SPACE.match(self.text, offset)
        assert match is not None  # it matches the empty string
        return match.end()

    def value(self, offset: int) -> tuple[Any, int]:
        try:
            value, end = self.decoder.raw_decode(self.text, offset)
        except json.JSONDecodeError as exc:
            raise self.fail(exc.pos, exc.msg) from None
        except ValueError:
            # Python refuses to read an integer of more than 4,300 digits (CVE-2020-10735): no feed has one.
            raise self.refuse(offset, "holds a number thousands of digits long: this is no enrolment feed") from None
        return value, end

    def end_of_document(self, offset: int) -> None:
        rest = self.skip(offset)
        if rest < len(self.text):
            raise self.fail(rest, "extra data after the feed")

    def document(self) -> str:
        """Hands over every item; returns the file's shape, as the summary says it."""
        text, start = self.text, self.skip(0)
        if text.startswith("{", start):
            end = self.page(start, "")
            if end is not None:
                self.end_of_document(end)
                return "one page"
            return self.lines()  # an item: alone, or the first line of JSON Lines
        if not text.startswith("[", start):
            self.value(start)  # the JSON's own error, if it is not JSON
            raise self.refuse(start, _NOT_A_FEED)
        pages = self.array(start)
        return "an array of items" if pages == 0 else "one page" if pages == 1 else f"{pages} pages"

    def lines(self) -> str:
        offset = 0
        for number, line in enumerate(self.text.split("\n"), start=1):
            stripped = line.strip(" \t\r")
            if stripped:
                at = offset + line.index(stripped[0])
                value, end = self.value(at)
                if self.skip(end) < offset + len(line):
                    raise self.fail(self.skip(end), "one item per line is expected (JSON Lines)")
                self.take(number, "", at, end, value)
            offset += len(line) + 1
        return "JSON Lines"

    def array(self, offset: int) -> int:
        """The array at ``offset``, of pages or of items; returns how many pages (0: items)."""
        text = self.text
        offset = self.skip(offset + 1)
        pages = items = 0
        index = 0
        while not text.startswith("]", offset):
            at = offset
            end = self.page(at, f"[{index}].") if text.startswith("{", at) and not items else None
            if end is None:
                value, end = self.value(at)
                self.take(self.line(at), f"[{index}]", at, end, value)
                items += 1
            else:
                pages += 1
            if pages and items:
                raise self.refuse(
                    at, 'mixes pages ({"resultats": [...]}) and items in one array: give one or the other'
                )
            offset = self.skip(end)
            index += 1
            if text.startswith(",", offset):
                offset = self.skip(offset + 1)
            elif not text.startswith("]", offset):
                raise self.fail(offset, "expecting ',' or ']'")
        self.end_of_document(offset + 1)
        return pages

    def page(self, offset: int, place: str) -> int | None:
        """Where the object at ``offset`` ends, its ``resultats`` items handed over; None, and nothing
        handed over, when it has no ``resultats`` (it is an item)."""
        text = self.text
        paged = False
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
                raise self.fail(offset, "expecting ':' delimiter")
            offset = self.skip(offset + 1)
            if key == "resultats" and text.startswith("[", offset):
                if paged:
                    raise self.refuse(offset, "has two resultats keys in one page")
                paged = True
                offset = self.items(offset, f"{place}resultats")
            elif key == "resultats":
                raise self.refuse(offset, f"{place}resultats is not an array of enrolments")
            else:
                value, offset = self.value(offset)
                if key == "scolpass" and not place and isinstance(value, dict):
                    until = value.get("until")
                    if isinstance(until, int) and not isinstance(until, bool):
                        self.until = until
            offset = self.skip(offset)
            if text.startswith(",", offset):
                offset = self.skip(offset + 1)
            elif not text.startswith("}", offset):
                raise self.fail(offset, "expecting ',' delimiter")
        return offset + 1 if paged else None

    def items(self, offset: int, place: str) -> int:
        """Hands over each item of the array at ``offset``; returns where the array ends."""
        text = self.text
        offset = self.skip(offset + 1)
        index = 0
        while not text.startswith("]", offset):
            value, end = self.value(offset)
            self.take(self.line(offset), f"{place}[{index}]", offset, end, value)
            index += 1
            offset = self.skip(end)
            if text.startswith(",", offset):
                offset = self.skip(offset + 1)
            elif not text.startswith("]", offset):
                raise self.fail(offset, "expecting ',' delimiter")
        return offset + 1


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
        # The enrolment's own time of change, what `depuis` selects on: where `pegase fetch --since last`
        # starts. Bookkeeping, not the learner's data: a malformed one is a warning, never a reason
        # to set the learner aside.
        stamp = value.get("derniereModification")
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            item.modified = stamp
        elif stamp is not None:
            item.warnings.append((at + "derniereModification", _shown(stamp), "is not a time in Unix seconds: ignored"))
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
            value_shown = None if path is None else _shown(path)
            item.problems.append((at + "chemin", value_shown, "has no path: the step enrolled in cannot be known"))
            return
        for index, element in enumerate(path):
            if not isinstance(element, dict) or not isinstance(element.get("code"), str) or not element["code"]:
                item.problems.append((f"{at}chemin[{index}]", None, "is not a path element with a code"))
                return
        chosen = max((i for i, e in enumerate(path) if e.get("type") == self.step_type), default=len(path) - 1)
        step = path[chosen]
        where = f"{at}chemin[{chosen}]"
        key = "libelleLong" if step.get("libelleLong") is not None else "libelleCourt"
        label = step.get(key, "")
        item.names["step_code"], item.names["step_label"] = f"{where}.code", f"{where}.{key}"
        item.values["step_code"] = step["code"]
        if isinstance(label, str):
            item.values["step_label"] = label
        else:
            item.problems.append((f"{where}.{key}", _shown(label), "is not text (a JSON string)"))
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
    return shown(json.dumps(value, ensure_ascii=False), 60)
