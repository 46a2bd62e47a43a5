"""The plan: who is new, returning or held back, with one table of reasons for the registry and the file."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from scolpass import Enrolment, Registry, Settings, Student, open_registry
from scolpass.duplicates import RESEMBLANCES, SAME_INE, SAME_NUMBER, note
from scolpass.enrolment import read_enrolment
from scolpass.planning import plan_generate, plan_reissue

from .conftest import SAMPLES, new_account

WHEN = datetime(2026, 9, 1)


def test_the_registry_and_the_file_give_the_same_reason_for_the_same_resemblance(
    settings: Settings, tmp_path: Path
) -> None:
    enrolment = read_enrolment(SAMPLES / "enrolment.csv")
    jean = next(s for s in enrolment.students if s.student_number == "00012345")
    twin = dataclasses.replace(jean, student_number="012345")  # the same student, Excel's way
    with_twin = dataclasses.replace(enrolment, students=(*enrolment.students, twin))
    with open_registry(tmp_path / "in-file.sqlite3") as reg:
        in_file = plan_generate(with_twin, settings.identifiers, reg)
    with open_registry(tmp_path / "issued.sqlite3") as reg:
        with reg.transaction():
            reg.record(plan_generate(enrolment, settings.identifiers, reg).new, 2026, WHEN)
        assert [r for _, r in reg.probable_duplicates(twin)] == list(RESEMBLANCES)  # every key matches
        against_registry = plan_generate(dataclasses.replace(enrolment, students=(twin,)), settings.identifiers, reg)
    # The first of two look-alikes (in student-number order) is issued; the second is held back,
    # for the first resemblance of the table, in the same words whether the other is issued or in the file.
    assert [(h.student.student_number, h.note) for h in in_file.held] == [("012345", note("00012345", SAME_NUMBER))]
    assert [(h.student.student_number, h.note) for h in against_registry.held] == [
        ("012345", note("00012345", SAME_NUMBER))
    ]
    assert len(in_file.new) == 11
    assert against_registry.new == ()


def _with_jeans_ine_issued(path: Path) -> tuple[Enrolment, Student, Registry]:
    """The sample, and a registry where another number (99) already has 00012345's INE."""
    enrolment = read_enrolment(SAMPLES / "enrolment.csv")
    jean = next(s for s in enrolment.students if s.student_number == "00012345")
    reg = open_registry(path)
    with reg.transaction():
        reg.record([new_account("99", "x.y", ine=jean.ine, birth_name="OTHER")], 2025, WHEN)
    return enrolment, jean, reg


def test_an_issued_student_with_the_same_ine_holds_a_new_number_back(settings: Settings, tmp_path: Path) -> None:
    enrolment, jean, reg = _with_jeans_ine_issued(tmp_path / "r.sqlite3")
    with reg:
        assert reg.probable_duplicates(jean) == [("99", SAME_INE)]
        plan = plan_generate(enrolment, settings.identifiers, reg)
    assert [(h.student.student_number, h.note) for h in plan.held] == [("00012345", note("99", SAME_INE))]


def test_a_student_without_an_ine_is_never_a_duplicate_by_ine(settings: Settings, tmp_path: Path) -> None:
    with open_registry(tmp_path / "r.sqlite3") as reg:
        with reg.transaction():
            reg.record([new_account("1", "a.b", birth_name="ONE")], 2025, WHEN)  # no INE
        assert reg.probable_duplicates(new_account("2", "c.d", birth_name="TWO").student) == []
        assert reg.probable_duplicates(new_account("001", "e.f", birth_name="THREE").student) == [("1", SAME_NUMBER)]


def test_allowed_duplicates_are_planned_as_new(settings: Settings, tmp_path: Path) -> None:
    enrolment, _, reg = _with_jeans_ine_issued(tmp_path / "r.sqlite3")
    with reg:
        plan = plan_generate(enrolment, settings.identifiers, reg, allow_duplicates={"00012345"})
    assert plan.held == ()
    assert len(plan.new) == 11


def test_a_reissue_plans_the_issued_students_once_each(settings: Settings, tmp_path: Path) -> None:
    with open_registry(tmp_path / "r.sqlite3") as reg:
        with reg.transaction():
            reg.record(
                [new_account("1", "a.b", birth_name="ONE"), new_account("2", "c.d", birth_name="TWO")], 2025, WHEN
            )
        plan = plan_reissue(["2", "1", "2"], reg)
    assert [s.student_number for s, _ in plan.returning] == ["1", "2"]  # in the printed order, once
