"""The academic year a run issues accounts for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .enrolment import Enrolment
from .errors import InputError, Problem, ScolpassError

# Enrolments for a new academic year open on 1 July.
YEAR_STARTS_IN_MONTH = 7


@dataclass(frozen=True, order=True)
class AcademicYear:
    """An academic year, named by its first calendar year (2026 is 2026/2027)."""

    start: int

    def __post_init__(self) -> None:
        if not 2000 <= self.start <= 2100:
            raise ScolpassError(f"{self.start} is not a plausible academic year")

    @property
    def label(self) -> str:
        """As printed: ``2026/2027``."""
        return f"{self.start}/{self.start + 1}"

    @property
    def slug(self) -> str:
        """As used in folder names: ``2026-2027``."""
        return f"{self.start}-{self.start + 1}"

    @classmethod
    def of_date(cls, day: date) -> AcademicYear:
        """The academic year running on ``day``."""
        return cls(day.year if day.month >= YEAR_STARTS_IN_MONTH else day.year - 1)


def resolve_academic_year(requested: int | None, enrolment: Enrolment, today: date) -> AcademicYear:
    """``--year`` if given, else the file's single ``COD_ANU``, else today's academic year.

    A ``--year`` that contradicts the file, or a file that names several years, is an error.
    """
    years = enrolment.academic_years
    # Named as the registrar's file names it.
    column = "anneeUniversitaire" if enrolment.format == "pegase" else "academic_year"
    if len(years) > 1:
        listed = ", ".join(f"{y} (line {line})" for y, line in sorted(years.items()))
        raise InputError(
            [
                Problem(
                    enrolment.source,
                    None,
                    column,
                    None,
                    f"names several academic years: {listed}; split the file",
                )
            ]
        )
    if years and enrolment.missing_year_line is not None:
        (year, line), *_ = sorted(years.items(), key=lambda item: item[1])
        raise InputError(
            [
                Problem(
                    enrolment.source,
                    enrolment.missing_year_line,
                    column,
                    None,
                    f"is empty while line {line} gives {year}; give it on every row or on none",
                )
            ]
        )
    if requested is not None:
        if years and requested not in years:
            ((year, line),) = years.items()
            raise InputError([Problem(enrolment.source, line, column, str(year), f"contradicts --year {requested}")])
        return AcademicYear(requested)
    if years:
        return AcademicYear(next(iter(years)))
    return AcademicYear.of_date(today)
