"""Everything a run checks before it writes, and the report ``scolpass check`` prints."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .academic_year import AcademicYear, resolve_academic_year
from .enrolment import Enrolment, RowCheck, check_students, read_enrolment
from .errors import InputError, Problem
from .fonts import font_check
from .identifiers import name_check
from .settings import Settings
from .sheet import SheetRenderer
from .wording import languages


def _language_check(known: Sequence[str]) -> RowCheck:
    """Row check: a sheet language the templates provide."""

    def check(values: Mapping[str, str]) -> list[tuple[str, str]]:
        language = values.get("language", "").strip().lower()
        if language and language not in known:
            return [("language", f"is not a language of the sheet templates ({', '.join(known)})")]
        return []

    return check


# X.520 PrintableString, the syntax of supannCodeINE: the directory refuses any other character.
_PRINTABLE_STRING = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def ine_check(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Row check: an INE that supannCodeINE can hold (an INE is letters and digits; the directory
    would refuse the entry, and ldapadd stop there)."""
    found = []
    for column in ("ine", "ine_key"):
        bad = sorted(set(values.get(column, "")) - _PRINTABLE_STRING)
        if bad:
            shown = ", ".join(f"{c!r}" for c in bad)
            found.append((column, f"holds {shown}: supannCodeINE takes letters, digits and ' ()+,-./:=? only"))
    return found


# Checks beyond the file's own rules, run on every row so that one report lists everything.
ROW_CHECKS = (name_check, font_check, ine_check)


def refuse(problems: list[Problem]) -> None:
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise InputError(problems)


# The fit check measures labels only, which do not depend on the year; the
# real year is known once the file is read.
_ANY_YEAR = "0000/0001"


def load_checked(
    enrolment: str | Path | Enrolment,
    settings: Settings | None,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    skip_invalid: bool = False,
) -> Enrolment:
    """Read an enrolment file (or take a built one) with every check a run makes before writing.

    Without settings, the checks that need a configuration (the sheet's layout,
    ``[columns]``) are left out.
    """
    student_checks = [SheetRenderer(settings, _ANY_YEAR).fit_check] if settings else []
    row_checks = [*ROW_CHECKS, _language_check(languages(settings))] if settings else list(ROW_CHECKS)
    if isinstance(enrolment, Enrolment):
        problems = check_students(enrolment, row_checks, student_checks)
        if problems and skip_invalid:
            bad = {p.line for p in problems}
            kept = tuple(s for s in enrolment.students if s.line not in bad)
            skipped = enrolment.skipped + len(enrolment.students) - len(kept)
            return dataclasses.replace(
                enrolment, students=kept, problems=(*enrolment.problems, *problems), skipped=skipped
            )
        refuse(problems)
        return enrolment
    return read_enrolment(
        enrolment,
        row_checks,
        encoding=encoding,
        separator=separator,
        columns=settings.columns if settings else None,
        student_checks=student_checks,
        skip_invalid=skip_invalid,
        pegase=settings.pegase if settings else None,
    )


@dataclass(frozen=True)
class Checked:
    """An enrolment file that passed every check, and the academic year it is for."""

    enrolment: Enrolment
    year: AcademicYear


def check(
    enrolment: str | Path | Enrolment,
    settings: Settings | None,
    *,
    year: int | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    skip_invalid: bool = False,
    today: date | None = None,
) -> Checked:
    """Everything ``generate`` checks before writing, and nothing written (``scolpass check``)."""
    loaded = load_checked(enrolment, settings, encoding=encoding, separator=separator, skip_invalid=skip_invalid)
    return Checked(loaded, resolve_academic_year(year, loaded, today or date.today()))


def report(checked: Checked | None, problems: Sequence[Problem], settings: Settings | None) -> dict[str, object]:
    """What ``scolpass check`` prints, as plain data (its ``--json``)."""
    data: dict[str, object] = {"ok": checked is not None, "configuration_checked": settings is not None}
    if settings is not None:
        data["password_entropy_bits"] = round(settings.password.entropy_bits, 1)
    if checked is not None:
        e = checked.enrolment
        data.update(
            file=e.source,
            format=e.format,
            shape=e.shape,
            encoding=e.encoding,
            separator="tab" if e.separator == "\t" else e.separator,
            rows=e.rows,
            students=len(e.students),
            cancelled=len(e.cancelled),
            cancelled_rows=e.cancelled_rows,
            steps=sum(len(s.steps) for s in e.students),
            faculties=len({s.faculty for s in e.students}),
            academic_year=checked.year.label,
            ignored_columns=list(e.ignored_columns),
        )
    data["warnings"] = [dataclasses.asdict(w) for w in (checked.enrolment.warnings if checked else ())]
    data["problems"] = [dataclasses.asdict(p) for p in problems]
    return data
