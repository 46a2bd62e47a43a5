"""Reading the registrar's enrolment export into students, checking every row.

Every value stays the text it was (normalised to Unicode NFC, nothing else):
no value is inferred, coerced, trimmed or turned into a missing value, and no
row is dropped, padded or shifted. Every problem of the file is collected, so
that one report fixes them all; with ``skip_invalid`` the students with a
problem are set aside instead, with the rows they came from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .columns import BY_NAME, MAX_FIELD_CHARS, REQUIRED, map_columns
from .csvfile import CsvTable, byte_order_mark_problems, checked_options, decode, read_export, table_from_text
from .errors import ConfigError, InputError, Problem, shown
from .pegase import Feed, feed_text, looks_like_feed, read_feed
from .settings import PegaseSettings
from .student import Step, Student

if TYPE_CHECKING:
    import pandas as pd

# Values that describe the person, and so must agree on every row of one student.
# (The faculty belongs to each step: a double degree may span two faculties.)
PERSON_FIELDS = (
    "birth_name", "usual_name", "first_name", "birth_date", "birth_place", "sex", "ine", "status",
    "social_security_date", "paying_centre", "language",
)  # fmt: skip
SUPANN_COMPONENTS = ("regimeinsc", "sectdisc", "typedip", "cursusann", "diplome")
# Youngest and oldest plausible age of a student, in years.
MIN_AGE, MAX_AGE = 12, 100

# A check of one row's values (column to text) beyond the file's own rules, such as
# "this name gives a login" or "the fonts can print this"; it yields (column, reason).
RowCheck = Callable[[Mapping[str, str]], Iterable[tuple[str, str]]]
# The same for a whole student, once their rows are gathered ("it fits on the sheet").
StudentCheck = Callable[[Student], Iterable[tuple[str, str]]]

_STUDENT_NUMBER = re.compile(r"^[A-Za-z0-9]+$")
# The values of enrolment_state: Apogée's ETA_IAE (A, E) and Pégase's statutInscription, which its
# CSV extractions carry too; a feed says only Pégase's.
PEGASE_STATES = frozenset({"valide", "annulee"})
ENROLMENT_STATES = PEGASE_STATES | {"A", "E"}
CANCELLED_STATES = frozenset({"A", "annulee"})
_INE = re.compile(r"^[A-Za-z0-9]{11}$")
_YEAR = re.compile(r"^[0-9]{4}$")
# pandas' read_csv(encoding="utf-8") keeps a file's byte order mark in its first header.
DATAFRAME_BOM = "starts with a byte order mark (U+FEFF, invisible): read the file with encoding='utf-8-sig'"


def _cut(value: str) -> str:
    """``value``, cut to 60 characters when it is longer."""
    return shown(value, 60)


@dataclass(frozen=True)
class Rejection:
    """A row set aside by ``skip_invalid``, as it was in the file, with why."""

    line: int
    cells: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Cancelled:
    """A student whose every enrolment of the file is cancelled: never issued, listed in the manifest."""

    student_number: str
    line: int
    # The INE the cancelled enrolment gives, as written (unchecked: the row is set aside unread), so
    # that in the migration year a learner under a new code finds the account of their old number.
    ine: str = ""


@dataclass(frozen=True)
class Enrolment:
    """What an enrolment file says: its students, and the academic year it names, if any."""

    source: str
    students: tuple[Student, ...]
    # COD_ANU values with the first line that carries each.
    academic_years: dict[int, int]
    # Headers of the file that scolpass does not use (a misspelt optional column shows here).
    ignored_columns: tuple[str, ...] = ()
    # First line whose COD_ANU is empty while other rows give one.
    missing_year_line: int | None = None
    warnings: tuple[Problem, ...] = ()
    encoding: str = "UTF-8"
    separator: str = ";"  # "" for a Pégase feed
    # "csv", or "pegase" for Pégase's JSON feed (whose rejected items are written back as JSON).
    format: str = "csv"
    # How a feed file is laid out ("one page", "JSON Lines"...), as the summary says it.
    shape: str = ""
    header: tuple[str, ...] = ()
    rows: int = 0
    # With skip_invalid: the problems that set students aside, and their rows.
    problems: tuple[Problem, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    # Students set aside, counting a row that names no usable student as one.
    skipped: int = 0
    # Students whose every enrolment is cancelled (Pégase's statutInscription, Apogée's ETA_IAE).
    cancelled: tuple[Cancelled, ...] = ()
    # Rows (items) set aside as cancelled, including those of students with another, current one.
    cancelled_rows: int = 0
    # A Pégase feed: the largest derniereModification of its items (Unix seconds), where the next
    # `pegase fetch --since last` starts from once a run has consumed this file.
    feed_modified: int | None = None


def read_enrolment(
    path: str | Path,
    checks: Sequence[RowCheck] = (),
    *,
    encoding: str | None = None,
    separator: str | None = None,
    columns: Mapping[str, str] | None = None,
    student_checks: Sequence[StudentCheck] = (),
    skip_invalid: bool = False,
    pegase: PegaseSettings | None = None,
) -> Enrolment:
    """Read and check an enrolment file: an export's CSV, or Pégase's JSON feed.

    Which one is recognised by content. For CSV, encoding (UTF-8 with or without
    BOM, Windows-1252, UTF-16 with BOM) and separator (``;``, ``,``, tab) are
    detected unless given; ``columns`` maps scolpass's column names to the file's
    headers (the ``[columns]`` table). ``pegase`` gives a feed's faculties and step
    type (``[pegase]``). ``checks`` and ``student_checks`` run too, so that their
    problems come in the same report. Raises :class:`InputError` listing every
    problem, unless ``skip_invalid``, which sets the students with problems aside instead.
    """
    # The garbage collector is left as it is: switching it off here (a large file makes millions of
    # small objects) would switch it off for every other thread of a server calling the library.
    encoding, separator = checked_options(encoding, separator)
    raw = read_export(path)
    name = Path(path).name
    # Each branch lets the bytes go once decoded: they would stay alive while the text is parsed.
    if looks_like_feed(raw):
        if separator is not None or encoding not in (None, "utf-8"):
            raise ConfigError(f"{name} is a Pégase feed (JSON, always UTF-8): --encoding and --separator are for CSV")
        text = feed_text(raw, name)
        del raw
        return build_feed_enrolment(read_feed(text, name, pegase), checks, student_checks, skip_invalid)
    text, label = decode(raw, name, encoding)
    del raw
    table = table_from_text(text, label, name, separator)
    return build_enrolment(table, columns or {}, checks, student_checks, skip_invalid)


def students_from_dataframe(
    frame: pd.DataFrame,
    source: str = "dataframe",
    checks: Sequence[RowCheck] = (),
    *,
    columns: Mapping[str, str] | None = None,
    skip_invalid: bool = False,
) -> Enrolment:
    """Check a DataFrame read by an enrolment script (``dtype=str``) as an enrolment file.

    Row ``i`` of the frame is reported as line ``i + 2``, as if it had been written to CSV.
    """
    problems: list[Problem] = []
    header = [str(c) for c in frame.columns]
    records: list[tuple[int, list[str]]] = []
    for index, row in enumerate(frame.itertuples(index=False, name=None)):
        cells: list[str] = []
        for column, cell in zip(header, row, strict=True):
            if not isinstance(cell, str):
                reason = "is not text: read the data with dtype=str and no NA conversion"
                problems.append(Problem(source, index + 2, column, repr(cell), reason))
                cell = ""
            cells.append(unicodedata.normalize("NFC", cell))
        records.append((index + 2, cells))
    problems += byte_order_mark_problems(source, [(1, header), *records], DATAFRAME_BOM)
    if problems:
        raise InputError(sorted(problems, key=_order))
    table = CsvTable(source, "DataFrame", "", header, records)
    return build_enrolment(table, columns or {}, checks, (), skip_invalid)


def check_students(
    enrolment: Enrolment, checks: Sequence[RowCheck], student_checks: Sequence[StudentCheck] = ()
) -> list[Problem]:
    """Run row and student checks on students already built (from a DataFrame, or by a script)."""
    found = []
    for s in enrolment.students:
        fields = s.printed_fields()
        for check in checks:
            found += [Problem(enrolment.source, s.line, c, fields[c], reason) for c, reason in check(fields)]
        for student_check in student_checks:
            found += [Problem(enrolment.source, s.line, c, None, reason) for c, reason in student_check(s)]
    return found


@lru_cache(maxsize=4096)
def parse_date(value: str) -> date | None:
    """Day first (DD/MM/YYYY), or ISO (YYYY-MM-DD); None if neither."""
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


@dataclass(slots=True)  # slots: one per row, 200,000 of them and more
class _Row:
    line: int
    cells: tuple[str, ...] | list[str]  # as in the file: a CSV row's cells, or a feed item's JSON (one)
    values: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    # A feed item: the place of each value's field (problems name it), the learner's code (they
    # say it), the path's codes (two paths may reach one step) and whether it is the main enrolment.
    names: dict[str, str] | None = None
    learner: str = ""
    place: str = ""
    path: str = ""
    main: bool = True
    # The student number a row set aside for its shape still names (its student is set aside whole).
    named: str = ""


class _Builder:
    """Gathers rows into students, collecting every problem on the way."""

    def __init__(
        self, source: str, headers: dict[str, str], checks: Sequence[RowCheck], iso_dates: bool, states: frozenset[str]
    ) -> None:
        self.source = source
        self.states = states  # the values enrolment_state may take
        self.cancelled_states = states & CANCELLED_STATES
        self.checks = checks
        self.today = date.today()
        self.warnings: list[Problem] = []
        # Problems name columns by the file's own headers, as the registrar sees them (a feed's
        # rows carry their own names: resultats[12].dateDeNaissance).
        self.headers = headers
        # A feed's dates are ISO only; an export's may be either.
        self.iso_dates = iso_dates

    def header(self, row: _Row, column: str) -> str:
        if row.names is not None and column in row.names:
            return row.names[column]
        return self.headers.get(column, column)

    def problem(self, row: _Row, column: str | None, reason: str, value: str | None = "") -> None:
        found = row.values.get(column, "") if column and value == "" else value
        header = self.header(row, column) if column else None
        if row.learner:
            reason = f"{reason} (learner {shown(row.learner, 40)})"
        row.problems.append(Problem(self.source, row.line, header, None if found is None else shown(found), reason))

    def has_problem(self, row: _Row, column: str) -> bool:
        """Whether ``row`` has a problem with the column, or within the feed's field it comes from
        (``chemin[1]`` for a value read from ``chemin``)."""
        header = self.header(row, column)
        return any(p.column is not None and (p.column == header or p.column.startswith((header + "[", header + ".")))
                   for p in row.problems)  # fmt: skip

    def check_row(self, row: _Row) -> None:
        v = row.values
        for column, value in v.items():
            # isprintable() is a fast test that passes nearly every value; the rest are looked at closely.
            if not value.isprintable() and any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
                self.problem(row, column, "holds a line break, a tab or an invisible control character")
            # An INE of the wrong length is a warning (below), so only the limit of every column holds.
            limit = MAX_FIELD_CHARS if column in ("ine", "ine_key") else BY_NAME[column].max_length
            if len(value) > limit:
                self.problem(row, column, f"is {len(value)} characters long (at most {limit})", _cut(value))
        for column in REQUIRED:
            # A feed's field that is missing or not text has said so already.
            if not v[column].strip() and not (row.problems and self.has_problem(row, column)):
                self.problem(row, column, "is empty; a value is required", None)
        number = v["student_number"]
        if number.strip() and not (
            _STUDENT_NUMBER.match(number) and len(number) <= BY_NAME["student_number"].max_length
        ):
            self.problem(row, "student_number", "is not a student number (letters and digits, at most 20)")
        for column in ("birth_date", "social_security_date"):
            if v.get(column, "").strip():
                self.check_date(row, column)
        if v.get("sex", "") not in ("", "M", "F"):
            self.problem(row, "sex", "is not M or F")
        year = v.get("academic_year", "")
        if year and not (_YEAR.match(year) and 2000 <= int(year) <= 2100):
            self.problem(row, "academic_year", "is not a year like 2026 (the first year of the academic year)")
        state = v.get("enrolment_state")
        if state is not None and state not in self.states and not self.has_problem(row, "enrolment_state"):
            known = (
                "annulee or valide" if self.states == PEGASE_STATES else "A or E (Apogée), annulee or valide (Pégase)"
            )
            self.problem(row, "enrolment_state", f"is not a state of enrolment: {known}")
        ine = v.get("ine", "") + v.get("ine_key", "")
        if ine and not _INE.match(ine):
            # Kept as given, never repaired: exports cut INEs in many ways.
            reason = "is not 11 letters and digits once joined with its key"
            self.warnings.append(Problem(self.source, row.line, self.header(row, "ine"), shown(ine), reason))
        for check in self.checks:
            for column, reason in check(v):
                self.problem(row, column, reason)

    def check_date(self, row: _Row, column: str) -> None:
        text = row.values[column].strip()
        if self.iso_dates:
            day = parse_date(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
        else:
            day = parse_date(text)
        if day is None:
            self.problem(row, column, f"is not a valid date ({'YYYY-MM-DD' if self.iso_dates else 'DD/MM/YYYY'})")
        elif column == "birth_date":
            age = (self.today - day).days / 365.25
            if not MIN_AGE <= age <= MAX_AGE:
                self.problem(row, column, f"is not a plausible birth date (age {age:.0f})")

    def where(self, row: _Row) -> str:
        """Where a row is, as another row's problem points to it."""
        return f"line {row.line}" + (f" ({row.place})" if row.place else "")

    def student(self, number: str, rows: list[_Row]) -> Student | None:
        """One student from their rows; None (and problems on the rows) when they disagree."""
        rows = sorted(rows, key=lambda r: not r.main)  # a feed's main enrolment first, as printed
        first = rows[0]
        step_rows: dict[tuple[str, str, str], _Row] = {}
        printed: set[tuple[str, str]] = set()
        steps: list[Step] = []
        for row in rows:
            if row is not first:
                self.compare(first, row, number)
            key = (row.values["step_code"], row.values.get("step_version", ""))
            enrolment = (*key, row.path)
            if enrolment in step_rows:
                self.problem(row, "step_code", f"repeats the enrolment of {self.where(step_rows[enrolment])}")
                continue
            step_rows[enrolment] = row
            if key in printed:
                continue  # another path of a feed to the same step (two tracks of one year): printed once
            printed.add(key)
            v = row.values
            components = tuple((k, v[k]) for k in SUPANN_COMPONENTS if v.get(k, "").strip())
            steps.append(
                Step(key[0], key[1], v.get("step_label", ""), v["faculty"], v.get("faculty_code", ""), components)
            )
        if any(row.problems for row in rows):
            return None
        v = first.values
        security = v.get("social_security_date", "").strip()
        born = parse_date(v["birth_date"].strip())
        assert born is not None  # check_row refused the row otherwise
        return Student(
            student_number=number,
            birth_name=v["birth_name"],
            first_name=v["first_name"],
            birth_date=born,
            faculty=v["faculty"],
            steps=tuple(steps),
            usual_name=v.get("usual_name", ""),
            birth_place=v.get("birth_place", ""),
            sex=v.get("sex", ""),
            ine=self.value(first, "ine"),
            faculty_code=v.get("faculty_code", ""),
            status=v.get("status", ""),
            social_security_date=parse_date(security) if security else None,
            paying_centre=v.get("paying_centre", ""),
            language=v.get("language", "").strip().lower(),
            line=min(row.line for row in rows),
        )

    def compare(self, first: _Row, row: _Row, number: str) -> None:
        """Problems on ``row`` where it tells another story than the student's first row."""
        for column in PERSON_FIELDS:
            if self.value(row, column) != self.value(first, column):
                other = shown(self.value(first, column))
                reason = f"differs from {other!r} on {self.where(first)} for the same student {number}"
                self.problem(row, column, reason, self.value(row, column))

    @staticmethod
    def value(row: _Row, column: str) -> str:
        """A person field as compared across rows: the INE joined with its key."""
        if column == "ine":
            return row.values.get("ine", "") + row.values.get("ine_key", "")
        return row.values.get(column, "")


def _check_unused(row: _Row, unused: Sequence[int], header: Sequence[str], source: str) -> None:
    """The columns scolpass does not read still hold at most :data:`MAX_FIELD_CHARS` each."""
    # max() first: one pass in C over the row, which nearly always passes.
    if unused and max(map(len, row.cells)) > MAX_FIELD_CHARS:
        for index in unused:
            value = row.cells[index]
            if len(value) > MAX_FIELD_CHARS:
                reason = f"is {len(value)} characters long (at most {MAX_FIELD_CHARS})"
                row.problems.append(Problem(source, row.line, header[index], _cut(value), reason))


def build_enrolment(
    table: CsvTable,
    configured: Mapping[str, str],
    checks: Sequence[RowCheck] = (),
    student_checks: Sequence[StudentCheck] = (),
    skip_invalid: bool = False,
) -> Enrolment:
    """Check a parsed table and gather its rows into students."""
    columns, header_problems = map_columns(table.source, table.header, configured)
    if header_problems:
        raise InputError(header_problems)
    headers = {c: table.header[i] for c, i in columns.items()}
    builder = _Builder(table.source, headers, checks, iso_dates=False, states=ENROLMENT_STATES)
    width = len(table.header)
    used = set(columns.values())
    unused = [index for index in range(width) if index not in used]
    number_index = columns["student_number"]

    def rows() -> Iterator[_Row]:
        for line, cells in table.records:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or Excel's trailing ";;;;": no data to lose
            if len(cells) != width:
                row = _Row(line, cells, {}, named=cells[number_index] if number_index < len(cells) else "")
                builder.problem(row, None, f"has {len(cells)} fields where the header has {width}", None)
                yield row
                continue
            row = _Row(line, cells, {column: cells[index] for column, index in columns.items()})
            _check_unused(row, unused, table.header, table.source)
            yield row

    return _gather(
        builder, rows(), student_checks, skip_invalid,
        source=table.source, encoding=table.encoding, separator=table.separator, header=tuple(table.header),
        ignored_columns=tuple(t for i, t in enumerate(table.header) if i not in used and t.strip()),
    )  # fmt: skip


def build_feed_enrolment(
    feed: Feed,
    checks: Sequence[RowCheck] = (),
    student_checks: Sequence[StudentCheck] = (),
    skip_invalid: bool = False,
) -> Enrolment:
    """Check the items of a Pégase feed and gather them into students, as an export's rows."""
    builder = _Builder(feed.source, {}, checks, iso_dates=True, states=PEGASE_STATES)

    def rows() -> Iterator[_Row]:
        for item in feed.items:
            # NFC, as an export's values are (csvfile): a JSON escape may spell a letter decomposed.
            values = {c: v if v.isascii() else unicodedata.normalize("NFC", v) for c, v in item.values.items()}
            row = _Row(item.line, (item.raw,), values, names=item.names, learner=item.learner, place=item.place,
                       path=item.path, main=item.main, named=item.learner)  # fmt: skip
            suffix = f" (learner {shown(item.learner, 40)})" if item.learner else ""
            for place, value, reason in item.problems:
                row.problems.append(Problem(feed.source, item.line, place, value, reason + suffix))
            for place, value, reason in item.warnings:
                builder.warnings.append(Problem(feed.source, item.line, place, value, reason + suffix))
            yield row

    modified = [item.modified for item in feed.items if item.modified is not None]
    # `pegase fetch --since` completes each learner as they are now, later than the feed's cut: a
    # mark past the cut would skip what other learners changed in between. Up to the cut, all is in.
    latest = max(modified, default=None)
    if latest is not None and feed.until is not None:
        latest = min(latest, feed.until)
    return _gather(
        builder, rows(), student_checks, skip_invalid,
        source=feed.source, encoding="UTF-8", separator="", format="pegase", shape=feed.shape,
        feed_modified=latest,
    )  # fmt: skip


def _gather(
    builder: _Builder,
    rows: Iterable[_Row],
    student_checks: Sequence[StudentCheck],
    skip_invalid: bool,
    **described: Any,
) -> Enrolment:
    """Every row checked, gathered by student number into students; the problems, the students set
    aside and the cancelled ones. ``described`` are the file's own fields of :class:`Enrolment`."""
    source = builder.source
    by_number: dict[str, list[_Row]] = {}
    loose: list[_Row] = []  # rows that cannot be attributed to a student
    cancelled: dict[str, tuple[int, str]] = {}  # student number -> first line of a cancelled enrolment, its INE
    cancelled_rows = 0
    for row in rows:
        if not row.values:  # refused for its shape (a CSV row's width, a feed item that is no object)
            loose.append(row)
            continue
        number = row.values["student_number"]
        # A cancelled enrolment is set aside unread, whatever else it holds: it is never issued.
        if row.values.get("enrolment_state") in builder.cancelled_states and _STUDENT_NUMBER.match(number):
            cancelled.setdefault(number, (row.line, builder.value(row, "ine")))
            cancelled_rows += 1
            continue
        builder.check_row(row)
        if row.problems and builder.has_problem(row, "student_number"):
            loose.append(row)
        else:
            by_number.setdefault(number, []).append(row)

    # A row set aside for its shape still names its student when it can: that student is
    # set aside whole, never issued with only some of their steps.
    named = {n for r in loose if (n := _number_of(r)) is not None}
    tainted = named & set(by_number)
    _shared_ines(builder, by_number)

    students: list[Student] = []
    for number, number_rows in by_number.items():
        student = builder.student(number, number_rows)
        if number in tainted:
            student = None
        if student is not None:
            found = [found for check in student_checks for found in check(student)]
            for column, reason in found:
                builder.problem(number_rows[0], column, reason, None)
            if not found:
                students.append(student)

    problems = sorted(
        (p for r in (*loose, *(r for rs in by_number.values() for r in rs)) for p in r.problems), key=_order
    )
    if problems and not skip_invalid:
        raise InputError(problems)
    if not students and not problems and not cancelled:
        raise InputError([Problem(source, None, None, None, "holds no enrolment row")])
    kept = {s.student_number for s in students}
    years, missing_year = _year_lines(r for s in students for r in by_number[s.student_number])
    if described.get("format") == "pegase":
        # A feed is one period's, and Pégase's specification makes anneeUniversitaire optional: an
        # item without it is of the year the others name, not a fault of the whole file.
        missing_year = None
    return Enrolment(
        students=tuple(students),
        academic_years=years,
        missing_year_line=missing_year,
        warnings=tuple(sorted(builder.warnings, key=_order)),
        rows=sum(len(rs) for rs in by_number.values()) + len(loose) + cancelled_rows,
        problems=tuple(problems),
        rejected=_rejections(loose, by_number, kept),
        skipped=len(loose) + len(by_number) - len(kept),
        cancelled=tuple(
            Cancelled(n, line, ine)
            for n, (line, ine) in sorted(cancelled.items())
            if n not in by_number and n not in named  # a current enrolment of theirs is set aside: not cancelled
        ),
        cancelled_rows=cancelled_rows,
        **described,
    )


def _number_of(row: _Row) -> str | None:
    """The student number a row set aside names, if it names one."""
    return row.named or row.values.get("student_number") or None


def _shared_ines(builder: _Builder, by_number: dict[str, list[_Row]]) -> None:
    """One INE on two student numbers: every holder is refused, whatever else is wrong with them."""
    # A function of its own so that the index (a dict per INE) is freed before the students are
    # built, the moment when memory peaks.
    holders: dict[str, dict[str, int]] = {}
    for number, rows in by_number.items():
        for row in rows:
            ine = builder.value(row, "ine")
            if ine:
                holders.setdefault(ine, {}).setdefault(number, row.line)
    for ine, owners in holders.items():
        if len(owners) > 1:
            for number, line in owners.items():
                others = ", ".join(f"{n} (line {ln})" for n, ln in owners.items() if n != number)
                row = next(r for r in by_number[number] if r.line == line)
                builder.problem(row, "ine", f"is also the INE of student {others}", ine)


def _order(problem: Problem) -> int:
    return problem.line or 0


def _year_lines(rows: Iterable[_Row]) -> tuple[dict[int, int], int | None]:
    """COD_ANU values with their first line, and the first line without one when others have one."""
    years: dict[int, int] = {}
    missing: int | None = None
    for row in sorted(rows, key=lambda r: r.line):
        year = row.values.get("academic_year")
        if year is None:
            return {}, None  # no COD_ANU column
        if year:
            years.setdefault(int(year), row.line)
        elif missing is None:
            missing = row.line
    return years, missing if years else None


def _rejections(loose: list[_Row], by_number: dict[str, list[_Row]], kept: set[str]) -> tuple[Rejection, ...]:
    rejected: list[Rejection] = []
    for row in loose:
        rejected.append(Rejection(row.line, tuple(row.cells), _reason(row, None)))
    for number, rows in by_number.items():
        if number in kept:
            continue
        lines = [r.line for r in rows if r.problems] or [rows[0].line]
        for row in rows:
            if row.problems:
                reason = _reason(row, number)
            else:
                reason = f"{number}: another row of this student has a problem (line {lines[0]})"
            rejected.append(Rejection(row.line, tuple(row.cells), reason))
    return tuple(sorted(rejected, key=lambda r: r.line))


def _reason(row: _Row, number: str | None) -> str:
    parts = [
        f"column {p.column!r}: {p.value!r} {p.reason}" if p.value is not None and p.column else
        (f"column {p.column!r}: {p.reason}" if p.column else p.reason)
        for p in row.problems
    ]  # fmt: skip
    return f"{number or f'line {row.line}'}: " + "; ".join(parts)
