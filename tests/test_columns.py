"""Which column holds what: scolpass's names, Apogée's, or the university's own via [columns]."""

from __future__ import annotations

from pathlib import Path

import pytest

from scolpass import InputError, read_enrolment
from scolpass.columns import COLUMNS, map_columns

from .conftest import HEADER, csv_text, row

APOGEE = [c.apogee for c in COLUMNS if c.apogee]


def test_apogee_headers_need_no_configuration() -> None:
    found, problems = map_columns("e.csv", APOGEE, {})
    assert problems == []
    assert set(found) == {c.name for c in COLUMNS if c.apogee}


def test_matching_ignores_case_accents_and_spaces() -> None:
    found, problems = map_columns("e.csv", ["  cod_etu ", "Lib_Nom_Pat_Ind", "LIB_PR1_IND", "DÂTE_NAI_IND",
                                            "lib_cmp", "cod_etp"], {})  # fmt: skip
    assert problems == []
    assert found["birth_date"] == 3


def test_university_layout_through_columns_table(tmp_path: Path) -> None:
    own = {
        "student_number": "Numéro étudiant", "birth_name": "Nom de naissance", "first_name": "Prénom",
        "birth_date": "Né le", "faculty": "Composante", "step_code": "Étape",
    }  # fmt: skip
    values = row("00000042")
    path = tmp_path / "e.csv"
    path.write_text(";".join(own.values()) + "\n" + ";".join(values[k] for k in own) + "\n", encoding="utf-8")
    (student,) = read_enrolment(path, columns={k: v.upper() for k, v in own.items()}).students
    assert (student.student_number, student.first_name, student.faculty) == ("00000042", "Jean", "ECONOMIE")


def test_configured_header_that_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row()]), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path, columns={"birth_place": "Ville de naissance"})
    (problem,) = caught.value.problems
    assert "'Ville de naissance' (from [columns]) is missing" in problem.reason


def test_two_columns_for_one_value() -> None:
    _, problems = map_columns("e.csv", [*HEADER, "COD_ETU"], {})
    assert [p.reason for p in problems] == ["columns 'student_number' and 'COD_ETU' both give student_number; keep one"]


def test_duplicated_header_is_an_error() -> None:
    _, problems = map_columns("e.csv", [*HEADER, "First_Name "], {})
    assert [(p.line, p.column) for p in problems] == [(1, "First_Name ")]
    assert "duplicated header (also column 4)" in problems[0].reason


def test_missing_required_column_names_the_closest_header() -> None:
    header = [h if h != "first_name" else "LIB_PR_IND" for h in HEADER]
    _, problems = map_columns("e.csv", header, {})
    (problem,) = problems
    assert (
        "'first_name', 'LIB_PR1_IND', 'prenom' or 'PRENOM' is missing (closest header found: 'LIB_PR_IND')"
        in problem.reason
    )


def test_configured_header_that_is_another_values_default() -> None:
    _, problems = map_columns("e.csv", APOGEE, {"usual_name": "LIB_NOM_PAT_IND"})
    assert [p.reason for p in problems] == ["would give both birth_name and usual_name; check [columns]"]


def test_pegase_headers_are_read_as_written_and_yield_to_apogees() -> None:
    # A Pégase extraction, in either spelling.
    for header in (["CODE_APPRENANT", "NOM_FAMILLE", "PRENOM", "DATE_DE_NAISSANCE", "CIVILITE"],
                   ["codeApprenant", "nomFamille", "prenom", "dateDeNaissance", "civilite"]):  # fmt: skip
        found, _ = map_columns("e.csv", [*header, "faculty", "step_code"], {})
        assert [found[c] for c in ("student_number", "birth_name", "first_name", "birth_date", "sex")] == [
            0,
            1,
            2,
            3,
            4,
        ]
    # An Apogée export with labels of the university's own: they are not the values, and no clash.
    apogee = ["COD_ETU", "LIB_NOM_PAT_IND", "LIB_PR1_IND", "DATE_NAI_IND", "COD_SEX_ETU", "LIB_CMP", "COD_ETP",
              "Prénom", "Civilité"]  # fmt: skip
    found, problems = map_columns("e.csv", apogee, {})
    assert problems == []
    assert (found["first_name"], found["sex"]) == (2, 4)
    # Nor does a French label stand for Pégase's name when it is alone.
    found, _ = map_columns("e.csv", [*apogee[:4], "Civilité", *apogee[5:7]], {})
    assert "sex" not in found
    # Both of Pégase's spellings of one value: keep one.
    _, problems = map_columns("e.csv", ["codeApprenant", "CODE_APPRENANT", *apogee[1:7]], {})
    assert [p.reason for p in problems] == [
        "columns 'codeApprenant' and 'CODE_APPRENANT' both give student_number; keep one"
    ]
