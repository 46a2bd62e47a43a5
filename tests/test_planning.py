"""The plan: who is new, returning or held back, with one table of reasons for the registry and the file."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

from scolpass import Account, Enrolment, Registry, Settings, Student, open_registry
from scolpass.duplicates import RESEMBLANCES, SAME_INE, SAME_NUMBER, SAME_PERSON, note
from scolpass.enrolment import Cancelled, read_enrolment
from scolpass.planning import Plan, plan_generate, plan_reissue

from .conftest import SAMPLES, a_student, new_account

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


# -- The migration year: linking a new number by its INE -------------------------------------------------------


def _year_two(tmp_path: Path, *issued: Student) -> tuple[Enrolment, Registry]:
    """The sample's enrolment (to replace students in), and a registry holding ``issued``."""
    reg = open_registry(tmp_path / "r.sqlite3")
    with reg.transaction():
        reg.record([Account(s, f"login{i}") for i, s in enumerate(issued)], 2026, WHEN)
    return read_enrolment(SAMPLES / "enrolment.csv"), reg


def _plan(enrolment: Enrolment, reg: Registry, settings: Settings, *students: Student, **kw: object) -> Plan:
    return plan_generate(dataclasses.replace(enrolment, students=students), settings.identifiers, reg, **kw)  # type: ignore[arg-type]


def test_a_new_number_with_the_ine_of_one_issued_student_is_linked_to_them(settings: Settings, tmp_path: Path) -> None:
    jean = a_student("00012345", ine="0123456789A")
    enrolment, reg = _year_two(tmp_path, jean)
    pegase = dataclasses.replace(jean, student_number="000123456")
    married = dataclasses.replace(pegase, usual_name="DURAND")  # names may change; the INE decides
    with reg:
        plan = _plan(enrolment, reg, settings, married, link_by_ine=True, year=2027)
        without = _plan(enrolment, reg, settings, married)
    ((student, account),) = plan.returning
    assert (student.student_number, account.student_number, account.identifier) == ("000123456", "00012345", "login0")
    assert plan.links == (("000123456", "00012345"),)
    assert (plan.new, plan.held) == ((), ())
    # Without the option: a probable duplicate, as ever.
    assert [(h.student.student_number, h.note) for h in without.held] == [("000123456", note("00012345", SAME_INE))]
    assert (without.new, without.returning, without.links) == ((), (), ())


def test_only_the_same_ine_links(settings: Settings, tmp_path: Path) -> None:
    jean = a_student("00012345", ine="0123456789A")
    enrolment, reg = _year_two(tmp_path, jean)
    other_ine = dataclasses.replace(jean, student_number="000123456", ine="9999999999Z")
    no_ine = dataclasses.replace(jean, student_number="000123457", ine="")
    stranger = a_student("000123458", first_name="Paul", birth_name="DURAND")  # no INE, nobody alike
    with reg:
        plan = _plan(enrolment, reg, settings, other_ine, no_ine, stranger, link_by_ine=True, year=2027)
    # The same names and birth date with another INE, or none, stay probable duplicates.
    assert [(h.student.student_number, h.note) for h in plan.held] == [
        ("000123456", note("00012345", SAME_PERSON)), ("000123457", note("00012345", SAME_PERSON))
    ]  # fmt: skip
    assert [a.student.student_number for a in plan.new] == ["000123458"]
    assert plan.links == ()


def test_a_doubtful_link_is_held_and_says_why(settings: Settings, tmp_path: Path) -> None:
    jean = a_student("00012345", ine="0123456789A")
    twin = a_student("00012346", first_name="Paul", ine="0123456789A")  # one INE on two accounts (allowed once)
    marie = a_student("00012347", first_name="Marie", ine="0323456789C")
    anne = a_student("00012348", first_name="Anne", ine="0423456789D")
    enrolment, reg = _year_two(tmp_path, jean, twin, marie, anne)
    with reg:
        with reg.transaction():
            reg.link([("000999999", "00012348")], 2027, WHEN)  # Anne was linked this year already
        # Marie's new number in the file beside her old one (whose row lacks the INE): two current students.
        marie_now = dataclasses.replace(marie, ine="")
        plan = _plan(
            enrolment, reg, settings,
            dataclasses.replace(jean, student_number="000123456", first_name="Jeanne"),
            marie_now, dataclasses.replace(marie, student_number="000123470"),
            dataclasses.replace(anne, student_number="000123480"),
            dataclasses.replace(marie, student_number="012347", first_name="Maria"),  # Excel's zeros, and an INE
            link_by_ine=True, year=2027,
        )  # fmt: skip
    assert plan.links == ()
    assert [s.student_number for s, _ in plan.returning] == ["00012347"]
    assert {h.student.student_number: h.note for h in plan.held} == {
        "000123456": note("00012345", SAME_INE),  # two accounts with the INE: no single one to link to
        "000123470": f"{note('00012347', SAME_INE)}; not linked by INE: student 00012347 is in this file too",
        "000123480": f"{note('00012348', SAME_INE)}; not linked by INE: student 00012348 was linked to 000999999 "
        "this year already",
        "012347": f"{note('00012347', SAME_NUMBER)}; not linked by INE: student 00012347 is in this file too",
    }


def test_a_link_needs_nothing_else_alike(settings: Settings, tmp_path: Path) -> None:
    jean = a_student("00012345", ine="0123456789A")
    paul = a_student("00012346", first_name="Paul", birth_name="DURAND", ine="0223456789B")
    enrolment, reg = _year_two(tmp_path, jean, paul)
    # Jean's INE, but Paul's names and birth date: which one is it?
    mixed = dataclasses.replace(paul, student_number="000123456", ine="0123456789A")
    zeros = dataclasses.replace(jean, student_number="012345")  # Jean's number but for leading zeros
    with reg:
        plan = _plan(enrolment, reg, settings, mixed, link_by_ine=True, year=2027)
        excel = _plan(enrolment, reg, settings, zeros, link_by_ine=True, year=2027)
        allowed = _plan(enrolment, reg, settings, zeros, link_by_ine=True, year=2027, allow_duplicates={"012345"})
    assert [h.note for h in plan.held] == [
        f"{note('00012345', SAME_INE)}; not linked by INE: it also resembles student 00012346"
    ]
    assert [h.note for h in excel.held] == [
        f"{note('00012345', SAME_NUMBER)}; not linked by INE: the number is 00012345's but for leading zeros: "
        "check the export"
    ]
    # --allow-duplicate is the registrar's word for one student: a new account, even in the migration year.
    assert [(a.student.student_number, a.identifier) for a in allowed.new] == [("012345", "jean.martin")]
    assert allowed.links == ()


def test_a_reissue_by_either_number_plans_the_student_once(settings: Settings, tmp_path: Path) -> None:
    jean = a_student("00012345", ine="0123456789A")
    _, reg = _year_two(tmp_path, jean)
    with reg:
        with reg.transaction():
            reg.link([("000123456", "00012345")], 2027, WHEN)
        plan = plan_reissue(["000123456", "00012345"], reg)
    assert [(s.student_number, a.student_number) for s, a in plan.returning] == [("00012345", "00012345")]


def test_the_same_ine_with_another_birth_date_is_another_person_and_is_not_linked(
    settings: Settings, tmp_path: Path
) -> None:
    jean = a_student("00012345", ine="0123456789A")  # born 01/05/2006
    enrolment, reg = _year_two(tmp_path, jean)
    # Jean's INE (a typo, a reused INE) on someone else: other names, another birth date.
    paule = a_student("PG777", first_name="Paule", birth_name="DURAND", ine="0123456789A")
    paule = dataclasses.replace(paule, birth_date=date(1999, 12, 24))
    # Names may change between Apogée and Pégase; a birth date does not.
    renamed = dataclasses.replace(jean, student_number="PG778", birth_name="DURAND", first_name="Jeanne")
    with reg:
        plan = _plan(enrolment, reg, settings, paule, link_by_ine=True, year=2027)
        other = _plan(enrolment, reg, settings, renamed, link_by_ine=True, year=2027)
    assert (plan.links, plan.returning, plan.new) == ((), (), ())
    assert [(h.student.student_number, h.note) for h in plan.held] == [
        (
            "PG777",
            f"{note('00012345', SAME_INE)}; not linked by INE: the birth date differs (01/05/2006 in the registry)",
        )
    ]
    assert other.links == (("PG778", "00012345"),)


def test_a_cancelled_number_finds_the_one_account_with_its_ine_in_the_migration_year_only(
    settings: Settings, tmp_path: Path
) -> None:
    jean = a_student("00012345", ine="0123456789A")
    paul = a_student("00012346", first_name="Paul", ine="0223456789B")
    twin = a_student("00012347", first_name="Pierre", ine="0223456789B")  # Paul's INE on a second account
    marie = a_student("00012348", first_name="Marie", ine="0323456789C")
    enrolment, reg = _year_two(tmp_path, jean, paul, twin, marie)
    cancelled = (
        Cancelled("000123456", 2, "0123456789A"),  # Jean, under his learner code
        Cancelled("000123457", 3, "0223456789B"),  # two accounts with that INE: neither
        Cancelled("000123458", 4, ""),  # no INE
        Cancelled("000123459", 5, "9999999999Z"),  # nobody's INE
        Cancelled("00012348", 6, "0323456789C"),  # Marie under her own number, as in any year
    )
    enrolment = dataclasses.replace(enrolment, cancelled=cancelled)
    with reg:
        migration = _plan(enrolment, reg, settings, link_by_ine=True, year=2027)
        other_year = _plan(enrolment, reg, settings, year=2027)
    assert {c.student_number: a and a.student_number for c, a in migration.cancelled} == {
        "000123456": "00012345", "000123457": None, "000123458": None, "000123459": None, "00012348": "00012348",
    }  # fmt: skip
    assert {c.student_number: a and a.student_number for c, a in other_year.cancelled} == {
        "000123456": None, "000123457": None, "000123458": None, "000123459": None, "00012348": "00012348",
    }  # fmt: skip
    assert migration.links == ()  # nothing to record for a cancelled enrolment
