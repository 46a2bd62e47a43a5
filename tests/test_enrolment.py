"""Reading enrolment files: every value as text, every problem located."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from scolpass import InputError, read_enrolment, students_from_dataframe
from scolpass.columns import MAX_FIELD_CHARS

from .conftest import HEADER, SAMPLES, csv_text, row


def test_sample_file_reads_with_apogee_headers() -> None:
    enrolment = read_enrolment(SAMPLES / "enrolment.csv")
    students = {s.student_number: s for s in enrolment.students}
    assert len(students) == 11
    assert enrolment.academic_years == {2026: 2}
    le_goff = students["00012349"]
    assert le_goff.birth_name == "LE GOFF"
    assert le_goff.usual_name == "KERGUELEN"
    assert le_goff.last_name == "KERGUELEN"
    assert [s.code for s in le_goff.steps] == ["MBI", "DUB"]
    assert le_goff.ine == "0523456789E"
    assert le_goff.birth_date == date(2004, 7, 14)
    assert le_goff.line == 6


def test_values_stay_text(write_csv: Callable[..., Path]) -> None:
    # pandas' defaults would make NA a missing value and 00012345 the number 12345.
    path = write_csv([row("00012345", birth_name="NA", first_name="Null", birth_place="None", usual_name="nan")])
    (student,) = read_enrolment(path).students
    assert student.student_number == "00012345"
    assert (student.birth_name, student.first_name, student.birth_place) == ("NA", "Null", "None")
    assert student.usual_name == "nan"


def test_header_matching_ignores_case_accents_and_spaces(tmp_path: Path) -> None:
    header = tuple(f"  {h.upper()} " for h in HEADER)
    path = tmp_path / "e.csv"
    values = row()
    path.write_text(";".join(header) + "\n" + ";".join(values[h] for h in HEADER) + "\n", encoding="utf-8")
    assert read_enrolment(path).students[0].first_name == "Jean"


def test_rows_of_one_student_become_steps(write_csv: Callable[..., Path]) -> None:
    path = write_csv([row(step_code="EE1", step_label="L1 Eco"), row(step_code="DUX", step_label="DU X")])
    (student,) = read_enrolment(path).students
    assert [(s.code, s.label) for s in student.steps] == [("EE1", "L1 Eco"), ("DUX", "DU X")]


def test_blank_lines_are_not_data(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row()]) + "\r\n;;;;;;;;;\r\n\r\n", encoding="utf-8")
    assert len(read_enrolment(path).students) == 1


def test_line_numbers_count_quoted_line_breaks(tmp_path: Path) -> None:
    # Line 2 holds a quoted value over two lines: the bad date is on line 4 of the file.
    path = tmp_path / "e.csv"
    text = csv_text([row("1", birth_place="A\nB"), row("2", birth_date="31/02/2008")])
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    problems = {(p.line, p.column) for p in caught.value.problems}
    assert (2, "birth_place") in problems  # a line break inside a name is refused
    assert (4, "birth_date") in problems


@pytest.mark.parametrize(
    ("values", "column", "reason"),
    [
        ({"birth_date": "31/02/2008"}, "birth_date", "is not a valid date"),
        ({"birth_date": "2008"}, "birth_date", "is not a valid date"),
        ({"first_name": ""}, "first_name", "is empty"),
        ({"student_number": "12 34"}, "student_number", "is not a student number"),
        ({"sex": "X"}, "sex", "is not M or F"),
        ({"birth_name": "MAR\u200bTIN"}, "birth_name", "invisible control character"),
    ],
    ids=["impossible-date", "year-only", "empty-first-name", "space-in-number", "bad-sex", "zero-width-space"],
)
def test_bad_values_are_located(
    write_csv: Callable[..., Path], values: dict[str, str], column: str, reason: str
) -> None:
    path = write_csv([row("1"), row("2", **values)])
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("enrolment.csv", 3, column)
    assert reason in problem.reason
    assert f"enrolment.csv:3: column {column!r}" in str(caught.value)


def test_every_problem_is_reported_at_once(write_csv: Callable[..., Path]) -> None:
    path = write_csv([row("1", birth_date="x"), row("2"), row("3", first_name=""), row("4", sex="?")])
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    assert [p.line for p in caught.value.problems] == [2, 4, 5]
    assert str(caught.value).startswith("3 problems in the input; nothing was written:")


def test_conflicting_rows_of_one_student(write_csv: Callable[..., Path]) -> None:
    path = write_csv([row("7"), row("7", first_name="Jeanne", step_code="DL1")])
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column, problem.value) == (3, "first_name", "Jeanne")
    assert "on line 2" in problem.reason


def test_repeated_enrolment_row(write_csv: Callable[..., Path]) -> None:
    path = write_csv([row("7"), row("7")])
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    assert caught.value.problems[0].reason == "repeats the enrolment of line 2"


def test_missing_column_named_with_closest_header(tmp_path: Path) -> None:
    header = tuple("birth_nam" if h == "birth_name" else h for h in HEADER)
    path = tmp_path / "e.csv"
    path.write_text(csv_text([], header=header), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    (problem,) = caught.value.problems
    assert "'birth_name', 'LIB_NOM_PAT_IND', 'nomFamille' or 'NOM_FAMILLE' is missing" in problem.reason
    assert "closest header found: 'birth_nam'" in problem.reason


def test_duplicated_header(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row()], header=(*HEADER, "first_name")), encoding="utf-8")
    with pytest.raises(InputError, match="duplicated header"):
        read_enrolment(path)


def test_short_row_is_refused_not_padded(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row()]) + "00000002;MARTIN\r\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    (problem,) = caught.value.problems
    assert problem.line == 3
    assert "has 2 fields where the header has 10" in problem.reason


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        read_enrolment(tmp_path / "nope.csv")


def test_dataframe_goes_through_the_same_checks() -> None:
    frame = pd.DataFrame([row("00000001"), row("00000002", birth_date="bad")], dtype=str)
    with pytest.raises(InputError) as caught:
        students_from_dataframe(frame, source="sql")
    assert [(p.file, p.line, p.column) for p in caught.value.problems] == [("sql", 3, "birth_date")]
    good = students_from_dataframe(frame.iloc[:1])
    assert good.students[0].student_number == "00000001"


def test_dataframe_with_missing_values_is_refused() -> None:
    frame = pd.DataFrame([row()])
    frame.loc[0, "birth_place"] = None
    with pytest.raises(InputError, match="is not text"):
        students_from_dataframe(frame)


def test_two_byte_order_marks_do_not_hide_cod_anu(tmp_path: Path) -> None:
    # Read as "\ufeffCOD_ANU", the header was an unused column and the --year check was skipped.
    path = tmp_path / "enrolment.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" * 2 + csv_text([{**row(), "COD_ANU": "2025"}], header=("COD_ANU", *HEADER)).encode()
    )
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    assert [(p.line, p.column) for p in caught.value.problems] == [(1, "\ufeffCOD_ANU")]


def test_dataframe_with_a_byte_order_mark_in_a_header_or_value() -> None:
    # pandas' read_csv(encoding="utf-8") keeps a file's byte order mark in its first header.
    frame = pd.DataFrame([{**row(), "COD_ANU": "2026"}], dtype=str)[["COD_ANU", *HEADER]]
    frame = frame.rename(columns={"COD_ANU": "\ufeffCOD_ANU"})
    frame.loc[0, "step_label"] = "L1\ufeff"
    with pytest.raises(InputError) as caught:
        students_from_dataframe(frame, source="sql")
    assert [(p.line, p.column, p.reason) for p in caught.value.problems] == [
        (
            1,
            "\ufeffCOD_ANU",
            "starts with a byte order mark (U+FEFF, invisible): read the file with encoding='utf-8-sig'",
        ),
        (
            2,
            "step_label",
            "holds a byte order mark (U+FEFF, invisible), which belongs only at the very start of a file: remove it",
        ),
    ]


def test_ine_conflict_shows_the_whole_ine(tmp_path: Path) -> None:
    header = (*HEADER, "COD_NNE_IND", "COD_CLE_NNE_IND")
    rows = [{**row("7"), "COD_NNE_IND": "0123456789", "COD_CLE_NNE_IND": "A"},
            {**row("7", step_code="X"), "COD_NNE_IND": "0123456789", "COD_CLE_NNE_IND": "B"}]  # fmt: skip
    path = tmp_path / "e.csv"
    path.write_text(csv_text(rows, header=header), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    (problem,) = caught.value.problems
    assert (problem.column, problem.value) == ("COD_NNE_IND", "0123456789B")  # the file's own header
    assert "differs from '0123456789A' on line 2" in problem.reason


def test_values_keep_their_spaces_and_are_nfc(write_csv: Callable[..., Path]) -> None:
    path = write_csv([row(birth_name=" DE  LA FONTAINE ", first_name="He\u0301le\u0300ne")])
    (student,) = read_enrolment(path).students
    assert student.birth_name == " DE  LA FONTAINE "  # kept as typed: nothing trimmed
    assert student.first_name == "Hélène"


def test_whitespace_only_required_value_is_empty(write_csv: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match="'first_name': is empty; a value is required"):
        read_enrolment(write_csv([row(first_name="   ")]))


@pytest.mark.parametrize(
    ("years_ago", "age"), [(3, "age 3"), (120, "age 120")], ids=["three-years-old", "hundred-twenty-years-old"]
)
def test_implausible_ages(write_csv: Callable[..., Path], years_ago: int, age: str) -> None:
    born = date.today().replace(year=date.today().year - years_ago, day=1)
    with pytest.raises(InputError, match=f"is not a plausible birth date \\({age}\\)") as caught:
        read_enrolment(write_csv([row(birth_date=born.strftime("%d/%m/%Y"))]))
    assert caught.value.problems[0].column == "birth_date"


def test_iso_dates_are_accepted(write_csv: Callable[..., Path]) -> None:
    (student,) = read_enrolment(write_csv([row(birth_date="2007-04-17")])).students
    assert student.birth_date.strftime("%d/%m/%Y") == "17/04/2007"


def test_tab_inside_a_value_is_refused(write_csv: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match="a tab or an invisible control character") as caught:
        read_enrolment(write_csv([row(birth_place="NICE\tFRANCE")]))
    assert caught.value.problems[0].line == 2


def test_value_over_its_documented_length(write_csv: Callable[..., Path]) -> None:
    with pytest.raises(InputError, match=r"'step_code': 'S{21}': is 21 characters long \(at most 20\)"):
        read_enrolment(write_csv([row(step_code="S" * 21)]))


INE_HEADER = (*HEADER, "ine")
NOTES_HEADER = (*HEADER, "notes")  # a column scolpass does not read


def test_value_over_the_field_limit_in_an_unused_column(write_csv: Callable[..., Path]) -> None:
    # Unused, yet a 5,000-character cell is a paste gone wrong: located like any other problem, shown cut.
    path = write_csv([row("1", notes="x" * MAX_FIELD_CHARS), row("2", notes="y" * 5000)], header=NOTES_HEADER)
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    assert (
        str(caught.value)
        == "enrolment.csv:3: column 'notes': '" + "y" * 57 + "...': is 5000 characters long (at most 1000)"
    )


def test_ine_has_the_field_limit(write_csv: Callable[..., Path]) -> None:
    # A wrong INE length is only a warning, but a 1,001-character one is no INE: refused, and shown cut.
    enrolment = read_enrolment(write_csv([row(ine="1" * MAX_FIELD_CHARS)], header=INE_HEADER))
    (warning,) = enrolment.warnings
    assert warning.value == "1" * 57 + "..."
    with pytest.raises(InputError, match=r"'ine': '1{57}\.\.\.': is 1001 characters long \(at most 1000\)"):
        read_enrolment(write_csv([row(ine="1" * (MAX_FIELD_CHARS + 1))], header=INE_HEADER))


def test_huge_value_is_never_shown_whole(write_csv: Callable[..., Path]) -> None:
    # Every problem on a 100,000-character name (its length, a tab, a conflict with another row) shows
    # it cut, in the report and in the reasons of rejected.csv; the rejected row itself stays as it was.
    huge = "MARTIN\t" + "A" * 100_000
    rows = [row("1", birth_name=huge, step_code="A"), row("1", birth_name="X" + huge, step_code="B")]
    path = write_csv(rows)
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    assert len(str(caught.value)) < 1500
    assert "is 100007 characters long (at most 100)" in str(caught.value)
    assert "holds a line break, a tab or an invisible control character" in str(caught.value)
    assert "differs from 'MARTIN\\t" + "A" * 50 + "...' on line 2" in str(caught.value)
    enrolment = read_enrolment(path, skip_invalid=True)
    assert all(len(r.reason) < 1000 for r in enrolment.rejected)
    assert enrolment.rejected[0].cells[HEADER.index("birth_name")] == huge


def test_short_ine_is_a_warning_kept_as_given(write_csv: Callable[..., Path]) -> None:
    enrolment = read_enrolment(write_csv([row(ine="012345678")], header=INE_HEADER))
    assert enrolment.students[0].ine == "012345678"
    (warning,) = enrolment.warnings
    assert (
        str(warning)
        == "enrolment.csv:2: column 'ine': '012345678': is not 11 letters and digits once joined with its key"
    )


def test_one_ine_for_two_students(write_csv: Callable[..., Path]) -> None:
    rows = [row("1", ine="0123456789A", birth_date="bad"), row("2", ine="0123456789A", first_name="Paul")]
    with pytest.raises(InputError) as caught:
        read_enrolment(write_csv(rows, header=INE_HEADER))
    # Every holder is named, even the one whose row has another problem: one pass fixes all.
    assert [(p.line, p.column, p.reason) for p in caught.value.problems] == [
        (2, "birth_date", "is not a valid date (DD/MM/YYYY)"),
        (2, "ine", "is also the INE of student 2 (line 3)"),
        (3, "ine", "is also the INE of student 1 (line 2)"),
    ]


def test_optional_fields(write_csv: Callable[..., Path]) -> None:
    header = (*HEADER, "status", "social_security_date", "paying_centre")
    rows = [row("1"), row("2", status="Auditeur libre", social_security_date="01/10/2026", paying_centre="601 LMDE")]
    first, second = read_enrolment(write_csv(rows, header=header)).students
    assert (first.status, first.social_security_date, first.paying_centre) == ("", None, "")
    assert second.status == "Auditeur libre"
    assert second.social_security_date is not None
    assert second.paying_centre == "601 LMDE"


def test_skip_invalid_sets_students_aside_with_their_rows(write_csv: Callable[..., Path]) -> None:
    rows = [
        row("1"),
        row("2", step_code="A"),
        row("2", step_code="B", birth_date="31/02/2007"),
        row("", first_name="Nobody"),
        row("3", first_name="Marie"),
    ]
    enrolment = read_enrolment(write_csv(rows), skip_invalid=True)
    assert [s.student_number for s in enrolment.students] == ["1", "3"]
    assert enrolment.skipped == 2
    assert [(r.line, r.cells[0]) for r in enrolment.rejected] == [(3, "2"), (4, "2"), (5, "")]
    assert enrolment.rejected[0].reason == "2: another row of this student has a problem (line 4)"
    assert "'birth_date': '31/02/2007' is not a valid date" in enrolment.rejected[1].reason
    assert enrolment.rejected[2].reason.startswith("line 5: column 'student_number': is empty")
    assert [p.line for p in enrolment.problems] == [4, 4, 5]


DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("name", "encoding", "separator"),
    [("excel-windows-1252.csv", "Windows-1252", ";"), ("excel-texte-unicode.txt", "UTF-16", "\t")],
)
def test_excel_exports(name: str, encoding: str, separator: str) -> None:
    enrolment = read_enrolment(DATA / name)
    assert (enrolment.encoding, enrolment.separator, enrolment.rows) == (encoding, separator, 3)
    chloe, na = enrolment.students
    assert (chloe.birth_name, chloe.first_name, chloe.birth_place, chloe.faculty) == (
        "LEFÈVRE",
        "Chloé",
        "BÉZIERS",
        "ÉCONOMIE",
    )
    assert chloe.student_number == "00012345"
    assert chloe.ine == "0123456789A"
    assert (na.birth_name, na.first_name, na.birth_place) == ("NA", "Nan", "NULL")
    assert [s.code for s in na.steps] == ["DL1", "DUC"]


def test_sql_export_problems_are_located() -> None:
    with pytest.raises(InputError) as caught:
        read_enrolment(DATA / "sql-export-with-errors.csv")
    assert [str(p) for p in caught.value.problems] == [
        "sql-export-with-errors.csv:3: column 'LIB_PR1_IND': 'Marie\\nClaire': holds a line break, a tab or an invisible control character",
        "sql-export-with-errors.csv:5: column 'DATE_NAI_IND': '31/02/2006': is not a valid date (DD/MM/YYYY)",
    ]


def test_double_degree_across_two_faculties(write_csv: Callable[..., Path]) -> None:
    rows = [row("1", faculty="DROIT", step_code="DL1"), row("1", faculty="ECONOMIE", step_code="EE1")]
    (student,) = read_enrolment(write_csv(rows)).students
    assert student.faculty == "DROIT"  # the first step's, which later issues sort batches by
    assert student.faculties == ["DROIT", "ECONOMIE"]
    assert [(s.code, s.faculty) for s in student.steps] == [("DL1", "DROIT"), ("EE1", "ECONOMIE")]


def test_skip_invalid_never_issues_part_of_a_student(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    text = csv_text([row("1", step_code="EE1"), row("2")]) + "1;MARTIN;;Jean;17/04/2007;X;M;ECO;EE2;L2;extra\r\n"
    path.write_text(text, encoding="utf-8")
    enrolment = read_enrolment(path, skip_invalid=True)
    assert [s.student_number for s in enrolment.students] == ["2"]
    assert sorted(r.line for r in enrolment.rejected) == [2, 4]


def test_symbols_are_not_a_name(write_csv: Callable[..., Path]) -> None:
    from scolpass.identifiers import name_check

    with pytest.raises(InputError, match="has no letter to make a login from"):
        read_enrolment(write_csv([row(first_name="°")]), checks=[name_check])
