"""Which academic year a run is for."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from scolpass import AcademicYear, InputError, ScolpassError, read_enrolment, resolve_academic_year

from .conftest import HEADER, row


def test_labels() -> None:
    year = AcademicYear(2026)
    assert (year.label, year.slug) == ("2026/2027", "2026-2027")


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2026, 6, 30), 2025), (date(2026, 7, 1), 2026), (date(2027, 1, 15), 2026)],
    ids=["june-is-previous-year", "first-of-july-opens", "january-continues"],
)
def test_year_from_date(day: date, expected: int) -> None:
    assert AcademicYear.of_date(day).start == expected


def test_implausible_year() -> None:
    with pytest.raises(ScolpassError):
        AcademicYear(1026)


def _with_years(write_csv: Callable[..., Path], *years: str) -> Path:
    rows = [row(f"{i:08d}", academic_year=year) for i, year in enumerate(years, start=1)]
    return write_csv(rows, header=(*HEADER, "academic_year"))


def test_year_from_cod_anu(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(_with_years(write_csv, "2026", "2026"))
    assert resolve_academic_year(None, enrolment, date(2030, 1, 1)).start == 2026
    assert resolve_academic_year(2026, enrolment, date(2030, 1, 1)).start == 2026


def test_year_flag_contradicting_cod_anu(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(_with_years(write_csv, "2026"))
    with pytest.raises(InputError, match="contradicts --year 2025") as caught:
        resolve_academic_year(2025, enrolment, date(2026, 9, 1))
    assert caught.value.problems[0].line == 2


def test_several_years_in_one_file(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(_with_years(write_csv, "2026", "2025"))
    with pytest.raises(InputError, match=r"several academic years: 2025 \(line 3\), 2026 \(line 2\)"):
        resolve_academic_year(None, enrolment, date(2026, 9, 1))


def test_year_from_today_without_cod_anu(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(write_csv([row()]))
    assert resolve_academic_year(None, enrolment, date(2026, 9, 1)).label == "2026/2027"
    assert resolve_academic_year(2027, enrolment, date(2026, 9, 1)).label == "2027/2028"


def test_empty_year_beside_a_given_one(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(_with_years(write_csv, "2026", ""))
    with pytest.raises(InputError, match="is empty while line 2 gives 2026") as caught:
        resolve_academic_year(None, enrolment, date(2026, 9, 1))
    assert caught.value.problems[0].line == 3


def test_implausible_cod_anu_is_located(write_csv: Callable[..., Path]) -> None:
    with pytest.raises(InputError) as caught:
        read_enrolment(_with_years(write_csv, "1999"))
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, "academic_year")]
