"""Reading the registrar's enrolment export into students.

The file is parsed with the standard ``csv`` module rather than pandas'
``read_csv``: pandas pads short rows with empty cells without a word and cannot
say on which line of the file a record starts once a quoted value spans lines,
and a registrar must be told both. A DataFrame an enrolment script already has
goes through the same checks with :func:`students_from_dataframe`.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, Problem
from .student import Step, Student

if TYPE_CHECKING:
    import pandas as pd

# scolpass's own header first, then Apogée's name for the same value.
COLUMNS: dict[str, tuple[str, ...]] = {
    "student_number": ("student_number", "COD_ETU"),
    "ine": ("ine", "COD_NNE_IND"),
    "ine_key": ("ine_key", "COD_CLE_NNE_IND"),
    "birth_name": ("birth_name", "LIB_NOM_PAT_IND"),
    "usual_name": ("usual_name", "LIB_NOM_USU_IND"),
    "first_name": ("first_name", "LIB_PR1_IND"),
    "birth_date": ("birth_date", "DATE_NAI_IND"),
    "birth_place": ("birth_place", "LIB_VIL_NAI_ETU"),
    "sex": ("sex", "COD_SEX_ETU"),
    "faculty_code": ("faculty_code", "COD_CMP"),
    "faculty": ("faculty", "LIB_CMP"),
    "step_code": ("step_code", "COD_ETP"),
    "step_version": ("step_version", "COD_VRS_VET"),
    "step_label": ("step_label", "LIB_ETP"),
    "academic_year": ("academic_year", "COD_ANU"),
}
REQUIRED = ("student_number", "birth_name", "first_name", "birth_date", "faculty", "step_code")
# Values that describe the person, and so must agree on every row of one student.
PERSON_FIELDS = (
    "birth_name",
    "usual_name",
    "first_name",
    "birth_date",
    "birth_place",
    "sex",
    "ine",
    "faculty",
    "faculty_code",
)
SEPARATORS = (";", ",")
# Apogée's longest label is 60 characters; anything far longer is a broken export.
MAX_VALUE_LENGTH = 200

# A check of one row's values (column to text) beyond the file's own rules, such as
# "this name gives a login" or "the fonts can print this"; it yields (column, reason).
RowCheck = Callable[[Mapping[str, str]], Iterable[tuple[str, str]]]

_STUDENT_NUMBER = re.compile(r"^[A-Za-z0-9]{1,20}$")
_INE = re.compile(r"^[A-Za-z0-9]{11}$")
_YEAR = re.compile(r"^[0-9]{4}$")


def normalise_header(name: str) -> str:
    """Header matching ignores case, accents and surrounding spaces."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


_ALIASES = {normalise_header(alias): column for column, aliases in COLUMNS.items() for alias in aliases}


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


@dataclass(frozen=True)
class _Row:
    line: int
    values: dict[str, str]


def read_enrolment(path: str | Path, checks: Sequence[RowCheck] = ()) -> Enrolment:
    """Read and check an enrolment CSV (UTF-8 with or without BOM; ``;`` or ``,``).

    ``checks`` run on every row too, so that their problems come in the same report.
    Raises :class:`InputError` listing every problem of the file at once.
    """
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    text = _decode(raw, name)
    records = _parse(text, name)
    if not records:
        raise InputError(
            [Problem(name, None, None, None, "is empty: a header line and one row per enrolment are expected")]
        )
    (_, header), *body = records
    return _build(name, header, body, checks)


def students_from_dataframe(
    frame: pd.DataFrame, source: str = "dataframe", checks: Sequence[RowCheck] = ()
) -> Enrolment:
    """Check a DataFrame read by an enrolment script (``dtype=str``) as an enrolment file.

    Row ``i`` of the frame is reported as line ``i + 2``, as if it had been written to CSV.
    """
    problems: list[Problem] = []
    header = [str(c) for c in frame.columns]
    body: list[tuple[int, list[str]]] = []
    for index, row in enumerate(frame.itertuples(index=False, name=None)):
        cells: list[str] = []
        for column, cell in zip(header, row, strict=True):
            if not isinstance(cell, str):
                problems.append(
                    Problem(
                        source,
                        index + 2,
                        column,
                        repr(cell),
                        "is not text: read the data with dtype=str and no NA conversion",
                    )
                )
                cell = ""
            cells.append(cell)
        body.append((index + 2, cells))
    if problems:
        raise InputError(problems)
    return _build(source, header, body, checks)


def check_students(enrolment: Enrolment, checks: Sequence[RowCheck]) -> list[Problem]:
    """Run row checks on students already built (from a DataFrame, or by a script)."""
    return [
        Problem(enrolment.source, s.line, column, s.printed_fields()[column], reason)
        for s in enrolment.students
        for check in checks
        for column, reason in check(s.printed_fields())
    ]


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:4096]:
        offset = raw.index(b"\x00")
        raise InputError(
            [
                Problem(
                    name,
                    None,
                    None,
                    None,
                    f"is not a text file (NUL byte at byte offset {offset}); export the enrolments as CSV UTF-8",
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(re.findall(rb"\r\n|\r|\n", raw[: exc.start])) + 1
        raise InputError(
            [
                Problem(
                    name,
                    line,
                    None,
                    None,
                    f"byte offset {exc.start}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as 'CSV UTF-8'",
                )
            ]
        ) from None


def _parse(text: str, name: str) -> list[tuple[int, list[str]]]:
    # Count separators outside quoted header names.
    first_line = re.sub(r'"[^"]*"', "", re.split(r"\r\n|\r|\n", text, maxsplit=1)[0])
    separator = max(SEPARATORS, key=first_line.count)
    records: list[tuple[int, list[str]]] = []
    # newline="" hands csv the file's own line ends, as the csv docs require.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    start = 1
    try:
        for cells in reader:
            records.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError([Problem(name, reader.line_num, None, None, f"is not valid CSV: {exc}")]) from None
    return records


def _column_map(name: str, header: Sequence[str]) -> tuple[dict[str, int], list[Problem]]:
    problems: list[Problem] = []
    found: dict[str, int] = {}
    seen: dict[str, int] = {}
    for index, title in enumerate(header):
        key = normalise_header(title)
        if key in seen and key:
            problems.append(Problem(name, 1, title, None, f"is a duplicated header (also column {seen[key] + 1})"))
            continue
        seen[key] = index
        column = _ALIASES.get(key)
        if column is None:
            continue
        if column in found:
            other = header[found[column]]
            problems.append(Problem(name, 1, title, None, f"gives the same value as column {other!r}"))
            continue
        found[column] = index
    for column in REQUIRED:
        if column not in found:
            names = " or ".join(repr(a) for a in COLUMNS[column])
            close = difflib.get_close_matches(column, [normalise_header(h) for h in header], n=1, cutoff=0.6)
            close += difflib.get_close_matches(
                normalise_header(COLUMNS[column][1]), [normalise_header(h) for h in header], n=1, cutoff=0.6
            )
            hint = f" (closest header found: {header[seen[close[0]]]!r})" if close else ""
            problems.append(Problem(name, 1, None, None, f"required column {names} is missing{hint}"))
    if "ine_key" in found and "ine" not in found:
        problems.append(
            Problem(name, 1, header[found["ine_key"]], None, "gives an INE key without the INE number column")
        )
    return found, problems


def _build(
    name: str, header: Sequence[str], body: Iterable[tuple[int, Sequence[str]]], checks: Sequence[RowCheck]
) -> Enrolment:
    columns, problems = _column_map(name, header)
    if problems:
        raise InputError(problems)
    rows: list[_Row] = []
    for line, cells in body:
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, or Excel's trailing ";;;;": no data to lose
        if len(cells) != len(header):
            problems.append(
                Problem(name, line, None, None, f"has {len(cells)} fields where the header has {len(header)}")
            )
            continue
        rows.append(_Row(line, {column: cells[index].strip() for column, index in columns.items()}))
    students, years, missing_year = _students(name, rows, problems, checks)
    if problems:
        problems.sort(key=lambda p: p.line or 0)  # stable: a row's problems keep their column order
        raise InputError(problems)
    if not students:
        raise InputError([Problem(name, None, None, None, "holds no enrolment row")])
    used = set(columns.values())
    ignored = tuple(title for index, title in enumerate(header) if index not in used and title.strip())
    return Enrolment(name, tuple(students), years, ignored, missing_year)


def _parse_date(value: str) -> date | None:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _check_row(name: str, row: _Row, problems: list[Problem], checks: Sequence[RowCheck]) -> dict[str, str] | None:
    v = dict(row.values)
    start = len(problems)

    def bad(column: str, reason: str) -> None:
        problems.append(Problem(name, row.line, column, v.get(column, ""), reason))

    for column, value in v.items():
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
            bad(column, "holds a line break or an invisible control character")
        if len(value) > MAX_VALUE_LENGTH:
            problems.append(
                Problem(
                    name,
                    row.line,
                    column,
                    value[:40] + "...",
                    f"is {len(value)} characters long (at most {MAX_VALUE_LENGTH})",
                )
            )
    for column in REQUIRED:
        if column in v and not v[column]:
            problems.append(Problem(name, row.line, column, None, "is empty; a value is required"))
    if v["student_number"] and not _STUDENT_NUMBER.match(v["student_number"]):
        bad("student_number", "is not a student number (letters and digits, at most 20)")
    if "ine" in v:
        v["ine"] = v["ine"] + v.pop("ine_key", "")
        if v["ine"] and not _INE.match(v["ine"]):
            bad("ine", "is not an INE (11 letters and digits, with its key)")
    if v["birth_date"]:
        born = _parse_date(v["birth_date"])
        if born is None:
            bad("birth_date", "is not a valid date (DD/MM/YYYY)")
        elif not date(1900, 1, 1) <= born <= date.today():
            bad("birth_date", "is not a plausible birth date")
        else:
            v["birth_date"] = born.isoformat()
    if v.get("sex", "") not in ("", "M", "F"):
        bad("sex", "is not M or F")
    year = v.get("academic_year", "")
    if year and not (_YEAR.match(year) and 2000 <= int(year) <= 2100):
        bad("academic_year", "is not a year like 2026 (the first year of the academic year)")
    for check in checks:
        for column, reason in check(row.values):
            bad(column, reason)
    return v if len(problems) == start else None


def _as_typed(row: _Row, values: dict[str, str], column: str) -> str:
    """A value as the registrar typed it (the INE with its key, the date as written)."""
    return values.get(column, "") if column == "ine" else row.values.get(column, "")


def _students(
    name: str, rows: list[_Row], problems: list[Problem], checks: Sequence[RowCheck]
) -> tuple[list[Student], dict[int, int], int | None]:
    grouped: dict[str, list[tuple[_Row, dict[str, str]]]] = {}
    years: dict[int, int] = {}
    missing_year: int | None = None
    for row in rows:
        values = _check_row(name, row, problems, checks)
        if values is None:
            continue
        if values.get("academic_year"):
            years.setdefault(int(values["academic_year"]), row.line)
        elif "academic_year" in values and missing_year is None:
            missing_year = row.line
        grouped.setdefault(values["student_number"], []).append((row, values))
    students: list[Student] = []
    for number, entries in grouped.items():
        first_row, first = entries[0]
        steps: list[Step] = []
        step_lines: dict[tuple[str, str], int] = {}
        for row, values in entries:
            for column in PERSON_FIELDS:
                if values.get(column, "") != first.get(column, ""):
                    problems.append(
                        Problem(
                            name,
                            row.line,
                            column,
                            _as_typed(row, values, column),
                            f"differs from {_as_typed(first_row, first, column)!r} on line {first_row.line} "
                            f"for the same student {number}",
                        )
                    )
            key = (values["step_code"], values.get("step_version", ""))
            if key in step_lines:
                problems.append(
                    Problem(
                        name,
                        row.line,
                        "step_code",
                        values["step_code"],
                        f"repeats the enrolment of line {step_lines[key]}",
                    )
                )
                continue
            step_lines[key] = row.line
            steps.append(Step(values["step_code"], values.get("step_version", ""), values.get("step_label", "")))
        students.append(
            Student(
                student_number=number,
                birth_name=first["birth_name"],
                first_name=first["first_name"],
                birth_date=date.fromisoformat(first["birth_date"]),
                faculty=first["faculty"],
                steps=tuple(steps),
                usual_name=first.get("usual_name", ""),
                birth_place=first.get("birth_place", ""),
                sex=first.get("sex", ""),
                ine=first.get("ine", ""),
                faculty_code=first.get("faculty_code", ""),
                line=first_row.line,
            )
        )
    return students, years, missing_year if years else None
