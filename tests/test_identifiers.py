"""Logins: right for every name, unique, deterministic."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scolpass import Student, assign_identifiers, name_part
from scolpass.enrolment import Enrolment, check_students
from scolpass.identifiers import RESERVED, LoginRule, login_problem, name_check
from scolpass.student import Step

LOGIN = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?")


def student(number: str, first: str, last: str, usual: str = "") -> Student:
    return Student(number, last, first, date(2007, 1, 1), "ECO", (Step("EE1", "", "L1"),), usual_name=usual, line=2)


# The golden table: what a French registrar expects for the names a university sees.
GOLDEN = [
    ("Jean", "MARTIN", "jean.martin"),
    ("Jean-Pierre", "DE LA FONTAINE", "jean-pierre.de-la-fontaine"),
    ("Anne", "Le Goff", "anne.le-goff"),
    ("Aïssatou", "N'Diaye", "aissatou.ndiaye"),
    ("Seán", "O\u2019Brien", "sean.obrien"),
    ("Chloé", "LEFÈVRE", "chloe.lefevre"),
    ("Œdipe", "Lætitia", "oedipe.laetitia"),
    ("Łukasz", "Wałęsa", "lukasz.walesa"),
    ("Øyvind", "Sørensen", "oyvind.sorensen"),
    # Đ is "D" in Vietnamese and "Dj" in Serbian; the table cannot know which: D.
    ("Đorđe", "Đoković", "dorde.dokovic"),
    ("Jürgen", "Strauß", "jurgen.strauss"),
    ("İlkay", "Gündoğan", "ilkay.gundogan"),
    ("Ελένη", "Παπαδοπούλου", "eleni.papadopoulou"),
    ("ΓΙΩΡΓΟΣ", "ΠΑΠΑΔΟΠΟΥΛΟΣ", "giorgos.papadopoulos"),
    ("Анастасия", "Иванова", "anastasiya.ivanova"),
    ("Thị Minh Khai", "Nguyễn", "thi-minh-khai.nguyen"),
    ("José María", "García Márquez", "jose-maria.garcia-marquez"),
    ("Marie  -- Ève", "  DUPONT & FILS  ", "marie-eve.dupont-fils"),
]


@pytest.mark.parametrize(("first", "last", "expected"), GOLDEN, ids=[g[2] for g in GOLDEN])
def test_golden_table(first: str, last: str, expected: str) -> None:
    assert assign_identifiers([student("1", first, last)], lambda _: False) == {"1": expected}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("İlkay", "ilkay"), ("Strauß", "strauss"), ("  --Zoé--  ", "zoe"), ("O'Neil-Smith", "oneil-smith")],
)
def test_name_part(name: str, expected: str) -> None:
    assert name_part(name) == expected


def test_sixty_character_surname_is_cut_cleanly() -> None:
    last = "Wolfeschlegelsteinhausenbergerdorf-Montmorency-Laval-Bourbon"
    assert len(last) == 60
    (login,) = assign_identifiers([student("1", "Hubert", last)], lambda _: False).values()
    assert login == "hubert.wolfeschlegelsteinhausenbergerdorf-montmorency-laval-b"
    assert len(login) <= 61  # 64 minus room for a suffix
    assert not login.endswith(("-", "."))


def test_usual_name_wins_over_birth_name() -> None:
    given = assign_identifiers([student("1", "Anne-Sophie", "LE GOFF", usual="KERGUELEN")], lambda _: False)
    assert given == {"1": "anne-sophie.kerguelen"}


def test_homonyms_in_student_number_order() -> None:
    students = [student("3", "Jean", "Martin"), student("1", "Jean", "MARTIN"), student("2", "Jéan", "Martin")]
    given = assign_identifiers(students, lambda _: False)
    assert given == {"1": "jean.martin", "2": "jean.martin2", "3": "jean.martin3"}
    # The same data gives the same logins, whatever the row order.
    assert assign_identifiers(list(reversed(students)), lambda _: False) == given


def test_homonym_chain_continues_after_the_registry() -> None:
    taken = {"jean.martin", "jean.martin2", "jean.martin4"}
    students = [student("8", "Jean", "Martin"), student("9", "Jean", "Martin")]
    assert assign_identifiers(students, taken.__contains__) == {"8": "jean.martin3", "9": "jean.martin5"}


def test_many_homonyms_get_the_logins_one_at_a_time_would() -> None:
    # A chain starts where the previous homonym's ended, not at 1 again: the same logins, holes included.
    taken = {"jean.martin", "jean.martin3", "jean.martin12", "jean.mar-4"}
    students = [student(f"{n:03d}", "Jean", "Martin") for n in range(40)] + [student("999", "Jeanne", "Martin")]
    for rule in (LoginRule(), LoginRule(max_length=12, suffix="-{n}")):
        given = assign_identifiers(students, taken.__contains__, rule)
        one_by_one: dict[str, str] = {}
        for one in students:
            seen = taken | set(one_by_one.values())
            one_by_one |= assign_identifiers([one], seen.__contains__, rule)
        assert given == one_by_one
        assert len(set(given.values())) == len(students)
    assert assign_identifiers(students, taken.__contains__)["039"] == "jean.martin43"


def test_reserved_words_built_in_and_configured() -> None:
    assert {"admin", "root", "postmaster"} <= RESERVED
    rule = LoginRule(pattern="{last}")
    assert assign_identifiers([student("1", "Jo", "Root")], lambda _: False, rule) == {"1": "root2"}
    given = assign_identifiers([student("1", "Jo", "Scol")], lambda _: False, rule, reserved=["scol"])
    assert given == {"1": "scol2"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (LoginRule(pattern="{first_initial}{last}"), ["jmartin", "jmartin2"]),
        (LoginRule(pattern="{last}.{first}", suffix=".{n}"), ["martin.jean-pierre", "martin.jean-pierre.2"]),
        (LoginRule(pattern="{first_initial}{last}", max_length=8), ["jmart", "jmart2"]),
    ],
    ids=["initial", "last-first-dotted-suffix", "short-cut-with-room-for-suffix"],
)
def test_configurable_patterns_and_suffixes(rule: LoginRule, expected: list[str]) -> None:
    students = [student("1", "Jean-Pierre", "Martin"), student("2", "Jean-Pierre", "Martin")]
    assert list(assign_identifiers(students, lambda _: False, rule).values()) == expected


def test_first_initial_is_the_first_letter() -> None:
    assert LoginRule(pattern="{first_initial}{last}").base(student("1", "Jean-Pierre", "Martin")) == "jmartin"


def test_long_names_keep_room_for_the_suffix() -> None:
    students = [student(str(i), "Jean", "de-" + "x" * 80) for i in range(1, 4)]
    given = assign_identifiers(students, lambda _: False, LoginRule(max_length=20))
    # The base is cut to 20 - 3, so every homonym shares it and a suffix always fits.
    assert given == {"1": "jean.de-xxxxxxxxx", "2": "jean.de-xxxxxxxxx2", "3": "jean.de-xxxxxxxxx3"}


def test_cut_never_ends_on_a_separator() -> None:
    # Cut to 11 - 3 = 8 characters, "jean.ab-" would end on a hyphen.
    assert LoginRule(max_length=11).base(student("1", "Jean", "Ab-cdefgh")) == "jean.ab"


def test_name_without_letters_is_a_problem() -> None:
    enrolment = Enrolment(
        "e.csv", (student("1", "Jean", "123"), student("2", "\u2014", "Li"), student("3", "a", "*!?")), {}
    )
    problems = check_students(enrolment, [name_check])
    assert [(p.line, p.column) for p in problems] == [(2, "birth_name"), (2, "first_name"), (2, "birth_name")]
    assert "has no letter" in problems[0].reason


def test_name_check_uses_the_usual_name_when_given() -> None:
    assert name_check({"first_name": "Jean", "birth_name": "123", "usual_name": "Durand"}) == []
    assert name_check({"first_name": "Jean", "birth_name": "Durand", "usual_name": "123"}) == [
        ("usual_name", "has no letter to make a login from")
    ]


names = st.text(min_size=1, max_size=70) | st.sampled_from(["Jean", "Martin", "Le Goff", "Ελένη", "O'Brien"])
rules = st.sampled_from(
    [
        LoginRule(),
        LoginRule("{first_initial}{last}", 20),
        LoginRule("{last}.{first}", 30, ".{n}"),
        LoginRule(max_length=12, suffix="-etu{n}"),
    ]
)


@given(
    people=st.lists(st.tuples(names, names), min_size=1, max_size=12),
    rule=rules,
    taken_picks=st.lists(st.tuples(st.integers(0, 11), st.integers(1, 4)), max_size=10),
    reserved=st.lists(st.sampled_from(["jean.martin", "martin", "jmartin", "root"]), max_size=3),
)
def test_logins_match_the_pattern_and_never_collide(
    people: list[tuple[str, str]], rule: LoginRule, taken_picks: list[tuple[int, int]], reserved: list[str]
) -> None:
    students = [student(f"{i:08d}", first, last) for i, (first, last) in enumerate(people)]
    usable = [s for s in students if rule.base(s)]
    for s in students:
        assert bool(rule.base(s)) == (name_check(s.printed_fields()) == [])
    # Logins already taken are the very ones these students would get: bases and their numbered forms.
    taken = {rule.numbered(rule.base(usable[i % len(usable)]), n) for i, n in taken_picks} if usable else set()
    given = assign_identifiers(usable, taken.__contains__, rule, reserved)
    logins = list(given.values())
    assert len(set(logins)) == len(logins)  # two students never share one
    for login in logins:
        assert LOGIN.fullmatch(login), login
        assert len(login) <= rule.max_length
        assert login_problem(login) is None  # what `registry import` asks of a login is what issuing gives
        assert login not in taken
        assert login not in RESERVED
        assert login not in reserved


@pytest.mark.parametrize(
    ("login", "problem"),
    [
        ("jdupont2", None),
        ("ab1234", None),
        ("jean-pierre.le_goff", None),
        ("x" * 64, None),
        ("x" * 65, "is 65 characters long; a login holds only a-z, 0-9 and . _ - (as the logins scolpass issues), "
         "at most 64 characters"),
        ("", "is empty"),
        ("Jean", "holds 'J'; a login holds only a-z, 0-9 and . _ - (as the logins scolpass issues), at most 64 characters"),
        ("a\x1b[0m", "holds U+001B (a control character); a login holds only a-z, 0-9 and . _ - "
         "(as the logins scolpass issues), at most 64 characters"),
        ("\u0430b", "holds '\u0430', U+0430 (CYRILLIC SMALL LETTER A); a login holds only a-z, 0-9 and . _ - "
         "(as the logins scolpass issues), at most 64 characters"),
        ("_svc", "starts with '_'; a login starts with a letter or a digit, as the logins scolpass issues"),
    ],
)  # fmt: skip
def test_login_problem(login: str, problem: str | None) -> None:
    assert login_problem(login) == problem
