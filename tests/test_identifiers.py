"""Logins: transliterated, lower-case, unique, deterministic."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scolpass import Student, assign_identifiers, name_part
from scolpass.enrolment import Enrolment, check_students
from scolpass.identifiers import RESERVED, base_identifier, name_check
from scolpass.student import Step


def student(number: str, first: str, last: str, usual: str = "") -> Student:
    return Student(number, last, first, date(2007, 1, 1), "ECO", (Step("EE1", "", "L1"),), usual_name=usual, line=2)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jean-Pierre", "jean-pierre"),
        ("DE LA FONTAINE", "de-la-fontaine"),
        ("Le Goff", "le-goff"),
        ("N'Diaye", "ndiaye"),
        ("O\u2019Brien", "obrien"),
        ("Łukasz", "lukasz"),
        ("Wałęsa", "walesa"),
        ("Øyvind", "oyvind"),
        ("Đorđe", "dorde"),
        ("Œdipe", "oedipe"),
        ("Æsa", "aesa"),
        ("Strauß", "strauss"),
        ("İlkay", "ilkay"),
        ("Ελένη", "eleni"),
        ("Анастасия", "anastasiya"),
        ("Dupont & Fils", "dupont-fils"),
        ("  --Zoé--  ", "zoe"),
    ],
)
def test_name_part(name: str, expected: str) -> None:
    assert name_part(name) == expected


def test_usual_name_wins_over_birth_name() -> None:
    assert base_identifier(student("1", "Anne-Sophie", "LE GOFF", usual="KERGUELEN"), 64) == "anne-sophie.kerguelen"


def test_homonyms_in_student_number_order() -> None:
    students = [student("3", "Jean", "Martin"), student("1", "Jean", "MARTIN"), student("2", "Jéan", "Martin")]
    given = assign_identifiers(students, lambda _: False)
    assert given == {"1": "jean.martin", "2": "jean.martin2", "3": "jean.martin3"}
    # The same data gives the same logins, whatever the row order.
    assert assign_identifiers(list(reversed(students)), lambda _: False) == given


def test_taken_and_reserved_identifiers_are_skipped() -> None:
    taken = {"jean.martin", "jean.martin2"}
    assert assign_identifiers([student("1", "Jean", "Martin")], taken.__contains__) == {"1": "jean.martin3"}
    assert "postmaster" in RESERVED


def test_long_names_keep_room_for_the_suffix() -> None:
    long_last = "de-" + "x" * 80
    students = [student(str(i), "Jean", long_last) for i in range(1, 4)]
    given = assign_identifiers(students, lambda _: False, max_length=20)
    # The base is cut to 20 - 3, so every homonym shares it and a suffix always fits.
    assert given == {"1": "jean.de-xxxxxxxxx", "2": "jean.de-xxxxxxxxx2", "3": "jean.de-xxxxxxxxx3"}
    assert all(len(i) <= 20 for i in given.values())


def test_cut_never_ends_on_a_separator() -> None:
    # Cut to 11 - 3 = 8 characters, "jean.ab-" would end on a hyphen.
    assert base_identifier(student("1", "Jean", "Ab-cdefgh"), 11) == "jean.ab"


def test_name_without_letters_is_a_problem() -> None:
    enrolment = Enrolment("e.csv", (student("1", "Jean", "123"), student("2", "\u2014", "Li")), {})
    problems = check_students(enrolment, [name_check])
    assert [(p.line, p.column) for p in problems] == [(2, "birth_name"), (2, "first_name")]
    assert "leaves no letter" in problems[0].reason


@given(first=st.text(min_size=1, max_size=30), last=st.text(min_size=1, max_size=30))
def test_identifiers_are_always_safe(first: str, last: str) -> None:
    s = student("1", first, last)
    base = base_identifier(s, 64)
    if not base:
        assert name_check(s.printed_fields())
        return
    given = assign_identifiers([s], lambda i: i == base, max_length=64)["1"]
    assert re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", given)
    assert len(given) <= 64
    assert given != base


def test_name_check_uses_the_usual_name_when_given() -> None:
    assert name_check({"first_name": "Jean", "birth_name": "123", "usual_name": "Durand"}) == []
    assert name_check({"first_name": "Jean", "birth_name": "Durand", "usual_name": "123"}) == [
        ("usual_name", "leaves no letter for the login after transliteration")
    ]
