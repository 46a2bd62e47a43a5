"""Credential files reload to the same data; the LDIF is RFC 2849."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import re
import unicodedata
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ldif import LDIFParser  # type: ignore[import-untyped]

from scolpass import Account, InputError, Settings, Student, load_settings
from scolpass.enrolment import SUPANN_COMPONENTS
from scolpass.exports import (
    BIRTH_NAME_ATTRIBUTE,
    CSV_FIELDS,
    Credential,
    Directory,
    Returning,
    dn_of,
    ldap_entry,
    returning_changes,
    write_csv,
    write_ldif,
    write_password_changes,
    write_returning,
)
from scolpass.fonts import misprinted, register_fonts
from scolpass.spreadsheet import restored
from scolpass.student import Step

from .conftest import HEADER, SAMPLES, csv_text, row
from .slapd import Slapd

PEOPLE = "ou=people,dc=umontpellier,dc=fr"


def credentials() -> list[Credential]:
    hélène = Student(
        "00012347", "DE LA FONTAINE", "Marie-Hélène", date(2005, 1, 30), "LETTRES", (Step("LM3", "", "L3"),),
        ine="0323456789C", line=2,
    )  # fmt: skip
    greek = Student("00012351", "ΠΑΠΑΔΟΠΟΥΛΟΥ", "Ελένη", date(2006, 5, 5), "LETTRES", (Step("LA1", "", "L1"),), line=3)
    return [
        Credential(Account(hélène, "marie-helene.de-la-fontaine"), "marie-helene.de-la-fontaine@etu.umontpellier.fr", "{CRYPT}$6$abcdefgh$" + "x" * 86),
        Credential(Account(greek, "eleni.papadopoulou"), "eleni.papadopoulou@etu.umontpellier.fr", "{SSHA}c2FsdHNhbHQ="),
    ]  # fmt: skip


def test_ldif_reloads_to_the_same_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.ldif"
    assert write_ldif(credentials(), Directory(PEOPLE), path) == 2
    raw = path.read_bytes()
    assert raw.startswith(b"version: 1\n")
    assert raw.isascii()  # non-ASCII values are base64, as RFC 2849 requires
    assert all(len(line) <= 76 for line in raw.splitlines())
    with path.open("rb") as handle:
        handle.readline()  # the parser does not take the version line
        entries = list(LDIFParser(handle).parse())
    assert [dn for dn, _ in entries] == [dn_of(c.identifier, PEOPLE) for c in credentials()]
    _, first = entries[0]
    assert first["givenName"] == ["Marie-Hélène"]
    assert first["sn"] == ["DE LA FONTAINE"]
    assert first["cn"] == ["Marie-Hélène DE LA FONTAINE"]
    assert first["employeeNumber"] == ["00012347"]
    assert first["userPassword"] == ["{CRYPT}$6$abcdefgh$" + "x" * 86]
    assert "inetOrgPerson" in first["objectClass"]
    assert "shadowLastChange" not in first
    assert entries[1][1]["sn"] == ["ΠΑΠΑΔΟΠΟΥΛΟΥ"]


def test_csv_reloads_to_the_same_data(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    write_csv(credentials(), PEOPLE, path)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["student_number"] == "00012347"
    assert rows[0]["first_name"] == "Marie-Hélène"
    assert rows[0]["ine"] == "0323456789C"
    assert rows[0]["dn"] == "uid=marie-helene.de-la-fontaine,ou=people,dc=umontpellier,dc=fr"
    assert rows[1]["last_name"] == "ΠΑΠΑΔΟΠΟΥΛΟΥ"
    assert rows[1]["password_hash"] == "{SSHA}c2FsdHNhbHQ="


def test_no_field_can_add_a_line_an_attribute_or_an_entry(tmp_path: Path) -> None:
    evil = Student(
        "1", "X\ndn: uid=root,dc=um,dc=fr\nuserPassword: {CLEARTEXT}x", "Jean\r\nobjectClass: admin", date(2007, 1, 1),
        "ECO", (Step("EE1", "", "L1"),), line=2,
    )  # fmt: skip
    path = tmp_path / "c.ldif"
    write_ldif([Credential(Account(evil, "jean.x"), "jean.x@etu.fr", "{SSHA}abc")], Directory(PEOPLE), path)
    with path.open("rb") as handle:
        handle.readline()
        ((dn, entry),) = list(LDIFParser(handle).parse())
    assert dn == dn_of("jean.x", PEOPLE)
    assert entry["sn"] == ["X\ndn: uid=root,dc=um,dc=fr\nuserPassword: {CLEARTEXT}x"]
    assert entry["userPassword"] == ["{SSHA}abc"]
    assert entry["objectClass"] == ["top", "person", "organizationalPerson", "inetOrgPerson"]


def test_credential_files_are_private(tmp_path: Path) -> None:
    write_csv(credentials(), PEOPLE, tmp_path / "c.csv")
    write_ldif(credentials(), Directory(PEOPLE), tmp_path / "c.ldif")
    for name in ("c.csv", "c.ldif"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "c.ldif"]  # no temporary file left


def test_csv_for_excel_and_formula_injection(tmp_path: Path) -> None:
    formula = Student("2", '=HYPERLINK("http://x")', "+Jean", date(2007, 1, 1), "ECO", (Step("EE1", "", "L1"),))
    path = tmp_path / "c.csv"
    write_csv(
        [*credentials(), Credential(Account(formula, "jean.x"), "jean.x@etu.fr", "{SSHA}abc")], PEOPLE, path, excel=True
    )
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert rows[0]["first_name"] == "Marie-Hélène"  # other cells reopen unchanged
    assert rows[2]["birth_name"] == '\'=HYPERLINK("http://x")'  # shown as text, not run
    assert rows[2]["first_name"] == "'+Jean"
    assert "password" not in rows[0]


def test_plaintext_passwords_only_when_asked(tmp_path: Path) -> None:
    import dataclasses

    path = tmp_path / "c.csv"
    with_plain = [dataclasses.replace(c, password="Xk7pQ2mZr9TnWc4") for c in credentials()]
    write_csv(with_plain, PEOPLE, path)
    with path.open(encoding="utf-8", newline="") as handle:
        assert [r["password"] for r in csv.DictReader(handle)] == ["Xk7pQ2mZr9TnWc4"] * 2
    assert "Xk7pQ2mZr9TnWc4" not in repr(with_plain[0])


def test_returning_changes_touch_names_and_enrolment_only() -> None:
    from scolpass.exports import Returning, returning_changes

    (first, _) = credentials()
    student = first.student
    married = Student(**{**student.__dict__, "usual_name": "DURAND"})
    plain, supann = Directory(PEOPLE), Directory(PEOPLE, "supann", "0341087X", year=2027)
    assert returning_changes(Returning(Account(student, first.identifier), student), plain) == []
    renamed = returning_changes(Returning(Account(married, first.identifier), student), plain)
    assert [(op, name) for op, name, _ in renamed] == [(2, "sn"), (2, "givenName"), (2, "cn"), (2, "displayName")]
    assert renamed[0][2] == ["DURAND"]
    yearly = dict(
        (name, values) for _, name, values in returning_changes(Returning(Account(student, "x"), student), supann)
    )
    assert yearly["supannEtuInscription"] == [
        "[etab={UAI}0341087X][anneeinsc=2027][etape={UAI:0341087X}LM3]"  # affect needs a code, not a label
    ]
    assert "eduPersonAffiliation" not in yearly  # a returning student's other affiliations stay
    assert yearly["eduPersonPrimaryAffiliation"] == ["student"]
    assert "userPassword" not in yearly
    assert "uid" not in yearly


def test_a_linked_student_gets_the_new_number_beside_the_old() -> None:
    (first, _) = credentials()
    apogee = first.student
    pegase = dataclasses.replace(apogee, student_number="000123456")
    linked = Returning(Account(pegase, first.identifier), apogee, ("00012347", "000123456", "000123456"))
    plain, supann = Directory(PEOPLE), Directory(PEOPLE, "supann", "0341087X", year=2027)
    # The single-valued employeeNumber follows the current number; the names did not change.
    assert returning_changes(linked, plain) == [(2, "employeeNumber", ["000123456"])]
    changes = returning_changes(linked, supann)
    assert changes[0] == (2, "employeeNumber", ["000123456"])
    # supannEtuId is replaced by every number (idempotent), the old one first: both find the student.
    assert changes[-1] == (2, "supannEtuId", ["00012347", "000123456"])
    # A later year under the new number: its record already says so; supannEtuId keeps both.
    later = returning_changes(Returning(Account(pegase, first.identifier), pegase, ("00012347", "000123456")), supann)
    assert "employeeNumber" not in {name for _, name, _ in later}
    assert later[-1] == (2, "supannEtuId", ["00012347", "000123456"])
    # An account with one number never touches either.
    alone = returning_changes(Returning(Account(apogee, first.identifier), apogee, ("00012347", "00012347")), supann)
    assert {"employeeNumber", "supannEtuId"}.isdisjoint(name for _, name, _ in alone)


def test_inscription_components_from_the_export() -> None:
    from scolpass.exports import inscriptions

    step = Step("LM3", "", "L3", "LETTRES", "LET", (("regimeinsc", "10"), ("typedip", "{SISE}XB"), ("cursusann", "L3"),
                                                     ("diplome", "2500200")))  # fmt: skip
    student = Student("1", "X", "Y", date(2006, 1, 1), "LETTRES", (step,))
    (value,) = inscriptions(student, Directory(PEOPLE, "supann", "0341087X", year=2026))
    assert value == (
        "[etab={UAI}0341087X][anneeinsc=2026][regimeinsc={SISE}10][typedip={SISE}XB][cursusann={SUPANN}L3]"
        "[affect=LET][diplome={SISE}2500200][etape={UAI:0341087X}LM3]"
    )


# -- Hostile input (issue 11): property-based, checked by parsers scolpass does not use to write ------------------

# Every Unicode character: all general categories, controls, NUL, unassigned and private use included; only
# lone surrogates (Cs) are left out, as no file decodes to one and UTF-8 cannot encode one.
ANY_CHAR = st.characters(codec=None, exclude_categories=["Cs"])
# What an LDIF or CSV writer must encode or quote: line ends, NUL, RFC 2849's unsafe first characters
# (space, ":", "<"), comments, CSV separators and quotes, formula starts, Unicode's own line separators.
TRICKY = list("\n\r\x00\t :<#-=+@'\"\\,;[]{}\u0085\u2028\u2029\ufeff\u00a0é")
INJECTIONS = [
    f"\ndn: uid=evil,{PEOPLE}\nobjectClass: top\nuserPassword: x\n",
    "\r\n\r\ndn: uid=evil,dc=fr\n",
    "\n-\nreplace: userPassword\nuserPassword: {CLEARTEXT}x\n-\n",
    "\nchangetype: delete\n",
    ": ",
    ":: ",
    ":< file:///etc/shadow",
    "\n ",
    '"\r\n=cmd|" /C calc"!A1',
]
short_text = st.one_of(
    st.text(ANY_CHAR, max_size=20),
    st.text(st.sampled_from(TRICKY) | ANY_CHAR, max_size=20),
    st.lists(st.sampled_from(INJECTIONS) | st.text(st.sampled_from(TRICKY), max_size=4), max_size=3).map("".join),
)
# Long enough to be folded several times: for the names, where generating them costs less.
hostile_text = short_text | st.text(ANY_CHAR, min_size=100, max_size=250)

identifiers = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,30}[a-z0-9])?", fullmatch=True)  # what assign_identifiers gives


@st.composite
def hostile_students(draw: st.DrawFn) -> Student:
    step = st.builds(
        Step,
        code=short_text,
        version=short_text,
        label=short_text,
        faculty=short_text,
        faculty_code=short_text,
        supann=st.lists(st.tuples(st.sampled_from(SUPANN_COMPONENTS), short_text), unique_by=lambda c: c[0]).map(tuple),
    )
    return Student(
        student_number=draw(short_text), birth_name=draw(hostile_text), first_name=draw(hostile_text),
        birth_date=date(2007, 1, 1), faculty=draw(short_text), steps=tuple(draw(st.lists(step, min_size=1, max_size=2))),
        usual_name=draw(hostile_text), ine=draw(short_text), faculty_code=draw(short_text),
    )  # fmt: skip


@st.composite
def hostile_credentials(draw: st.DrawFn) -> list[Credential]:
    logins = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
    return [
        Credential(Account(draw(hostile_students()), login, draw(st.none() | identifiers)), f"{login}@etu.umontpellier.fr", draw(short_text), draw(st.none() | short_text))
        for login in logins
    ]  # fmt: skip


directories = st.builds(
    Directory, st.just(PEOPLE), st.sampled_from(["inetorgperson", "supann"]), st.just("0341087X"),
    st.sampled_from(["", "umontpellier.fr"]), st.booleans(), st.just(2026),
)  # fmt: skip


def _rfc2849_lines(raw: bytes) -> None:
    """The whole file is ASCII, in lines of at most 76 characters (RFC 2849 folding), with LF line ends only."""
    assert raw.startswith(b"version: 1\n\n")
    assert raw.isascii()
    assert b"\r" not in raw
    assert b"\x00" not in raw
    too_long = [line for line in raw.split(b"\n") if len(line) > 76]
    assert not too_long, too_long


def _content_records(path: Path) -> list[tuple[str, dict[str, list[str]]]]:
    _rfc2849_lines(path.read_bytes())
    with path.open("rb") as handle:
        handle.readline()  # the parser does not take the version line
        return [(dn, dict(entry)) for dn, entry in LDIFParser(handle).parse()]


class _LineParser(LDIFParser):  # type: ignore[misc]
    """The ldif package's parser (unfolding, records, base64, UTF-8), keeping each record's lines in order.

    Its own record reader takes content records only: the "-" that closes each
    modification of a change record has no colon. Here the record's structure
    is checked line by line instead (_change_records).
    """

    def _parse_entry_record(self, lines: list[bytes]) -> list[tuple[str, object]]:
        return [("-", None) if line == b"-" else self._parse_attr(line) for line in lines]


_MOD_OPS = {"add": 0, "delete": 1, "replace": 2}


def _change_records(path: Path) -> list[tuple[str, list[tuple[int, str, list[str]]]]]:
    """Change records as ``(dn, [(op, attribute, values)])``; anything but well-formed modify records fails."""
    _rfc2849_lines(path.read_bytes())
    records = []
    with path.open("rb") as handle:
        handle.readline()
        for lines in _LineParser(handle).parse():
            (dn_type, dn), (changetype, kind), *rest = lines
            assert (dn_type, changetype, kind) == ("dn", "changetype", "modify"), lines[:2]
            mods: list[tuple[int, str, list[str]]] = []
            while rest:
                (op, attribute), *rest = rest
                assert op in _MOD_OPS, op
                values = []
                while rest[0] != ("-", None):
                    (name, value), *rest = rest
                    assert name == attribute, (name, attribute)
                    values.append(value)
                rest = rest[1:]
                mods.append((_MOD_OPS[op], attribute, values))
            records.append((dn, mods))
    return records


# A tmp_path shared by the examples is only a folder whose files each example overwrites.
fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(batch=hostile_credentials(), directory=directories)
def test_ldif_entries_reload_exactly_whatever_the_values(
    tmp_path: Path, batch: list[Credential], directory: Directory
) -> None:
    intended = [(directory.dn(c.identifier), ldap_entry(c, directory)) for c in batch]
    path = tmp_path / "c.ldif"
    assert write_ldif(batch, directory, path) == len(batch)
    records = _content_records(path)
    # Whole entries, in order: no value lost, changed, split into another attribute or another entry.
    assert records == intended
    for (_, entry), c in zip(records, batch, strict=True):
        # ...and what ldap_entry intends is the student's data as given (not re-derived from it).
        s = c.student
        assert entry["sn"] == [s.last_name]
        assert entry["givenName"] == [s.first_name]
        assert entry["cn"] == entry["displayName"] == [f"{s.first_name} {s.last_name}"]
        assert entry["userPassword"] == [c.password_hash]
        assert entry["uid"] == [c.identifier]
        assert ("pwdReset" in entry) == directory.must_change
        if directory.profile == "supann":
            assert entry[BIRTH_NAME_ATTRIBUTE] == [s.birth_name]
            assert entry.get("supannCodeINE") == ([s.ine] if s.ine else None)
            # A value per step (steps the directory would take as the same, by version or case, give one).
            for value in entry["supannEtuInscription"]:
                _assert_one_component_of_some_step(value, s.steps)


_COMPONENT = re.compile(r"\[([a-z]+)=([^\[\]]*)\]")


def _assert_one_component_of_some_step(inscription: str, steps: tuple[Step, ...]) -> None:
    failures = []
    for step in steps:
        try:
            _assert_one_component_each(inscription, step)
            return
        except AssertionError as exc:
            failures.append(exc)
    raise AssertionError((inscription, failures))


def _assert_one_component_each(inscription: str, step: Step) -> None:
    """A value of a step can never add, drop or reorder a [key=value] component of supannEtuInscription."""
    components = _COMPONENT.findall(inscription)
    assert "".join(f"[{k}={v}]" for k, v in components) == inscription
    given = dict(step.supann)
    order = ["etab", "anneeinsc", "regimeinsc", "sectdisc", "typedip", "cursusann", "affect", "diplome", "etape"]
    keys = [k for k, _ in components]
    assert keys == [k for k in order if k in keys]
    assert set(keys) >= {"etab", "anneeinsc", "etape"} | set(given)
    assert dict(components)["etape"] == "{UAI:0341087X}" + step.code.replace("[", "(").replace("]", ")")


@st.composite
def hostile_returning(draw: st.DrawFn) -> list[Returning]:
    logins = draw(st.lists(identifiers, min_size=1, max_size=4, unique=True))
    returning = []
    for login in logins:
        now = draw(hostile_students())
        kind = draw(st.sampled_from(["first record", "same names", "new names", "linked"]))
        before = {"first record": None, "same names": now, "new names": draw(hostile_students()), "linked": now}[kind]
        numbers: tuple[str, ...] = ()
        if kind == "linked":  # a new number linked to the account: the record held the old one
            before = dataclasses.replace(now, student_number=draw(short_text))
            numbers = (before.student_number, now.student_number)
        returning.append(Returning(Account(now, login), before, numbers))
    return returning


@fuzz
@given(returning=hostile_returning(), directory=directories)
def test_returning_change_records_reload_exactly(
    tmp_path: Path, returning: list[Returning], directory: Directory
) -> None:
    path = tmp_path / "r.ldif"
    intended = [(directory.dn(r.account.identifier), returning_changes(r, directory)) for r in returning]
    intended = [(dn, mods) for dn, mods in intended if mods]
    assert write_returning(returning, directory, path) == len(intended)
    assert _change_records(path) == intended


@fuzz
@given(batch=hostile_credentials())
def test_password_change_records_reload_exactly(tmp_path: Path, batch: list[Credential]) -> None:
    path = tmp_path / "p.ldif"
    assert write_password_changes(batch, PEOPLE, path) == len(batch)
    assert _change_records(path) == [(dn_of(c.identifier, PEOPLE), [(2, "userPassword", [c.password_hash])])
                                     for c in batch]  # fmt: skip


def test_ldif_keeps_a_trailing_space(tmp_path: Path) -> None:
    # Enrolment validation keeps values as typed (no trimming): a trailing space reaches the export. The ldif
    # package's writer alone would leave it plain (RFC 2849 only says SHOULD base64) and its parser strip it.
    (first, _) = credentials()
    spaced = Credential(
        Account(Student(**{**first.student.__dict__, "first_name": "Jean "}), "jean.x"), "jean.x@etu.fr", "h"
    )
    path = tmp_path / "c.ldif"
    write_ldif([spaced], Directory(PEOPLE), path)
    assert b"givenName:: SmVhbiA=" in path.read_bytes()
    ((_, entry),) = _content_records(path)
    assert entry["givenName"] == ["Jean "]


# -- The same files read by OpenLDAP itself --------------------------------------------------------------------

ENROLMENT_HEADER = (*HEADER, "step_version", "ine", "faculty_code", *SUPANN_COMPONENTS)
# What check_row refuses in any value (test_validation_refuses_what_the_directory_would shows it does).
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
# Every character the sheet's fonts can print, so that a student passes the font check: Latin, Greek,
# Cyrillic, symbols, combining marks, private use...; and the ASCII an LDIF writer must watch.
_PRINTABLE = sorted(
    c
    for c in {*map(chr, register_fonts()), *TRICKY}
    if unicodedata.category(c) not in _REFUSED_CATEGORIES and not misprinted(c)  # right-to-left, beyond U+FFFF
)
printed_text = st.text(
    st.sampled_from(_PRINTABLE) | st.sampled_from([c for c in _PRINTABLE if c in TRICKY]), max_size=25
)
# A name needs a letter that gives a login (name_check); around it, anything.
printed_name = st.builds(
    lambda a, b, c: a + b + c, printed_text, st.sampled_from(["Jean", "Ελένη", "Łukasz", "Анна", "N'Diaye"]),
    printed_text,
)  # fmt: skip
# supannCodeINE is a PrintableString: see test_an_ine_the_directory_refuses_is_refused_before_writing.
printable_string = st.text(st.sampled_from("ABCXYZabcxyz0123456789 '()+,-./:?="), min_size=1, max_size=12)


@st.composite
def enrolment_rows(draw: st.DrawFn, number: str) -> list[dict[str, str]]:
    """One student's rows, as a registrar's export could hold them."""
    person = {
        "birth_name": draw(printed_name), "usual_name": draw(st.just("") | printed_name),
        "first_name": draw(printed_name), "birth_place": draw(printed_text), "ine": draw(st.just("") | printable_string),
        "sex": draw(st.sampled_from(["", "M", "F"])),
    }  # fmt: skip
    rows = []
    # Step codes made distinct even to caseIgnoreMatch: test_two_versions_of_a_step_load_into_the_directory.
    for i in range(draw(st.integers(1, 2))):
        step = {"step_code": f"S{i}-" + draw(printed_text)[:16], "step_version": draw(printed_text)[:10],
                "step_label": draw(printed_text), "faculty": draw(printed_name), "faculty_code": draw(printed_text)[:20]}  # fmt: skip
        supann = {c: draw(printed_text)[:20] for c in SUPANN_COMPONENTS}
        rows.append(row(number, **person, **step, **supann))
    return rows


def _checked(folder: Path, rows: list[dict[str, str]]) -> list[Student]:
    """Students as ``scolpass check`` reads them from a CSV of ``rows`` (InputError if it refuses them)."""
    from scolpass.checks import check

    path = folder / "enrolment.csv"
    path.write_text(csv_text(rows, header=ENROLMENT_HEADER), encoding="utf-8")
    return list(check(path, _sample_settings(), year=2026).enrolment.students)


def _validated(folder: Path, rows: list[dict[str, str]]) -> list[Student]:
    """:func:`_checked` in a hypothesis test: an example that scolpass refuses is dropped."""
    try:
        return _checked(folder, rows)
    except InputError:
        assume(False)
        raise


@cache
def _sample_settings() -> Settings:
    return load_settings(SAMPLES / "scolpass.toml")


def _directory_entries(slapd: Slapd, search_filter: str) -> dict[str, dict[str, list[str]]]:
    """Entries as ``ldapsearch`` prints them (OpenLDAP's LDIF), read back with the ldif package."""
    text = slapd.search(PEOPLE, search_filter, "*", "pwdReset")
    return {dn: dict(entry) for dn, entry in LDIFParser(io.BytesIO(text.encode())).parse()}


def _assert_stored(found: dict[str, dict[str, list[str]]], intended: dict[str, dict[str, list[str]]]) -> None:
    """The directory's entries are the intended ones, told attribute by attribute when they are not."""
    assert sorted(found) == sorted(intended)
    for dn, entry in intended.items():
        assert sorted(found[dn]) == sorted(entry), dn
        for name, values in entry.items():
            assert (name, found[dn][name]) == (name, values), dn
    assert found == intended


_batches = itertools.count()


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), directory=directories, students=st.integers(1, 3))
def test_openldap_loads_and_stores_exactly_what_was_intended(
    slapd: Slapd, tmp_path: Path, data: st.DataObject, directory: Directory, students: int
) -> None:
    # One server for every example (starting one costs a second); each example's logins are new to it.
    batch = next(_batches)
    numbers = [f"{batch}{i}" for i in range(students)]
    this_year = _validated(tmp_path, [r for n in numbers for r in data.draw(enrolment_rows(n))])
    next_year = _validated(tmp_path, [r for n in numbers for r in data.draw(enrolment_rows(n))])
    logins = {s.student_number: f"e{batch}-{i}" for i, s in enumerate(this_year)}
    issued = [
        Credential(Account(s, logins[s.student_number]), f"{logins[s.student_number]}@etu.umontpellier.fr", "{SSHA}" + data.draw(st.text("ABCdef0123+/", min_size=8, max_size=40)))
        for s in this_year
    ]  # fmt: skip
    mine = f"(uid=e{batch}-*)"

    path = tmp_path / "credentials.ldif"
    write_ldif(issued, directory, path)
    loaded = slapd.add(path)
    assert loaded.returncode == 0, loaded.stderr
    intended = {directory.dn(c.identifier): ldap_entry(c, directory) for c in issued}
    _assert_stored(_directory_entries(slapd, mine), intended)

    # Next year's names and steps, by ldapmodify: the stored entry is this year's, with those values replaced.
    # Some come back under a new number linked to their account (the migration year).
    returning = []
    for s, before in zip(next_year, this_year, strict=True):
        linked = data.draw(st.booleans())
        now = dataclasses.replace(s, student_number=f"P{s.student_number}") if linked else s
        numbers = (before.student_number, now.student_number) if linked else ()
        returning.append(Returning(Account(now, logins[s.student_number]), before, numbers))
    write_returning(returning, directory, tmp_path / "returning.ldif")
    changed = slapd.modify(tmp_path / "returning.ldif")
    assert changed.returncode == 0, changed.stderr
    for r in returning:
        intended[directory.dn(r.account.identifier)] |= {
            name: values for _, name, values in returning_changes(r, directory)
        }
    _assert_stored(_directory_entries(slapd, mine), intended)

    reissued = [dataclasses.replace(c, password_hash=c.password_hash + "x") for c in issued]
    write_password_changes(reissued, PEOPLE, tmp_path / "passwords.ldif")
    changed = slapd.modify(tmp_path / "passwords.ldif")
    assert changed.returncode == 0, changed.stderr
    for c in reissued:
        # The test tree's ppolicy (pwdMustChange) marks a password set by an administrator as to be changed.
        intended[directory.dn(c.identifier)] |= {"userPassword": [c.password_hash], "pwdReset": ["TRUE"]}
    _assert_stored(_directory_entries(slapd, mine), intended)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("first_name", ""), ("birth_name", "   "), ("first_name", "Je\x00an"), ("first_name", "Jean\ndn: uid=x"),
        ("birth_name", "MARTIN\r"), ("first_name", "\tJean"), ("first_name", "Jean\x0b"), ("birth_name", "MAR\x0cTIN"),
        ("first_name", "Jean\u2028"), ("first_name", "Jean\u2029"), ("first_name", "Jean\u200b"),
        ("first_name", "Jean\x85"), ("birth_place", "\x7f"), ("faculty", "ECO\ufeff"), ("usual_name", "  "),
    ],
)  # fmt: skip
def test_validation_refuses_what_the_directory_would(tmp_path: Path, column: str, value: str) -> None:
    # Why the OpenLDAP test draws no empty name and no control character: none reaches an export.
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row("1"), row("2", **{column: value})]), encoding="utf-8")
    from scolpass.checks import check

    with pytest.raises(InputError, match=r"e\.csv:[23]\b") as refused:
        check(path, _sample_settings(), year=2026)
    assert "column" in str(refused.value) or "NUL byte" in str(refused.value)


def test_validation_keeps_a_trailing_space(tmp_path: Path) -> None:
    # No value is trimmed: "Jean " reaches the export as typed (see test_ldif_keeps_a_trailing_space).
    (student,) = _checked(tmp_path, [row("1", first_name="Jean ", usual_name="MARTIN ")])
    assert (student.first_name, student.last_name) == ("Jean ", "MARTIN ")


@pytest.mark.slow
@pytest.mark.parametrize("second", [("EE1", "102"), ("ee1", "101")], ids=["other-version", "other-case"])
def test_two_versions_of_a_step_load_into_the_directory(slapd: Slapd, tmp_path: Path, second: tuple[str, str]) -> None:
    code, version = second
    students = _checked(tmp_path, [row("1", step_version="101"), row("1", step_code=code, step_version=version)])
    assert len(students[0].steps) == 2  # scolpass's own check accepts both steps
    credential = Credential(Account(students[0], "jean.martin"), "jean.martin@etu.umontpellier.fr", "{SSHA}abc")
    write_ldif([credential], Directory(PEOPLE, "supann", "0341087X", year=2026), tmp_path / "c.ldif")
    loaded = slapd.add(tmp_path / "c.ldif")
    assert loaded.returncode == 0, loaded.stderr
    # One value for the two: the first step's code as written.
    from .slapd import ROOT_PASSWORD

    stored = slapd.search_as(slapd.root_dn, ROOT_PASSWORD, f"uid=jean.martin,{PEOPLE}").stdout
    assert stored.count("supannEtuEtape: {UAI:0341087X}EE1\n") == 1, stored


def test_an_ine_the_directory_refuses_is_refused_before_writing(tmp_path: Path) -> None:
    # supannCodeINE is a PrintableString: slapd would refuse the entry (Invalid syntax) and ldapadd stop there.
    rows = [row("1", ine="0123456789É"), row("2", first_name="Anne", ine="0123456789A")]
    with pytest.raises(
        InputError, match=r"enrolment\.csv:2: column 'ine': '0123456789É': holds 'É': supannCodeINE takes"
    ):
        _checked(tmp_path, rows)


# -- CSV -------------------------------------------------------------------------------------------------------

# The documented formula starts (README, write_csv): restated here, so that a shorter list in the code fails.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
formula_led = st.sampled_from(FORMULA_START).flatmap(lambda c: short_text.map(lambda t: c + t))
# Also what a neutralised cell looks like ("'=..."), and a name's own apostrophe ("'t Hart").
csv_text_values = (
    short_text
    | formula_led
    | st.sampled_from(["'", "''"]).flatmap(lambda q: (formula_led | short_text).map(lambda t: q + t))
)


def documented_inverse(cell: str) -> str:
    """What README tells a reader to do: one leading apostrophe before apostrophes and a formula character goes."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START) else cell


@st.composite
def csv_credentials(draw: st.DrawFn) -> list[Credential]:
    """Credentials whose every cell may start like a formula; plaintext passwords on none, some or all."""
    batch = []
    plaintext = draw(st.sampled_from(["none", "some", "all"]))
    for i in range(draw(st.integers(1, 4))):
        student = Student(
            student_number=draw(csv_text_values), birth_name=draw(csv_text_values), first_name=draw(csv_text_values),
            birth_date=date(2007, 1, 1), faculty="ECO", steps=(Step("EE1", "", "L1"),),
            usual_name=draw(st.just("") | csv_text_values), ine=draw(csv_text_values),
        )  # fmt: skip
        password = {"none": None, "some": draw(st.none() | csv_text_values), "all": draw(csv_text_values)}[plaintext]
        login = f"{draw(identifiers)}{i}"
        batch.append(
            Credential(Account(student, login, draw(st.none() | csv_text_values)), draw(csv_text_values), draw(csv_text_values), password)
        )  # fmt: skip
    return batch


@fuzz
@given(batch=csv_credentials(), excel=st.booleans())
def test_csv_reopens_to_the_same_cells(tmp_path: Path, batch: list[Credential], excel: bool) -> None:
    path = tmp_path / "c.csv"
    assert write_csv(batch, PEOPLE, path, excel=excel) == len(batch)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == excel
    with path.open(encoding="utf-8-sig" if excel else "utf-8", newline="") as handle:
        reopened = list(csv.reader(handle, delimiter=";" if excel else ","))
    plaintext = any(c.password is not None for c in batch)
    assert reopened[0] == [*CSV_FIELDS, *(["password"] if plaintext else [])]
    assert len(reopened) == len(batch) + 1  # no cell split a row or joined two
    for cells, c in zip(reopened[1:], batch, strict=True):
        s = c.student
        intended = [
            s.student_number, c.identifier, c.email, dn_of(c.identifier, PEOPLE), s.first_name, s.last_name,
            s.birth_name, s.ine, c.short_login or "", c.password_hash, *([c.password or ""] if plaintext else []),
        ]  # fmt: skip
        assert len(cells) == len(intended)
        for cell, value in zip(cells, intended, strict=True):
            if value.lstrip("'").startswith(FORMULA_START):
                assert cell == "'" + value  # neutralised: Excel shows it as text, and the inverse is exact
            else:
                assert cell == value  # and nothing else is touched
            assert documented_inverse(cell) == value
    assert not [cell for cells in reopened for cell in cells if cell.startswith(FORMULA_START)]


# A registrar's rows: valid ones, and ones to set aside (bad number, date, sex; missing name; short rows).
_rejected_cell = short_text.filter(lambda v: "\x00" not in v)  # a NUL byte makes the whole file refused, not a row


@st.composite
def export_rows(draw: st.DrawFn) -> list[list[str]]:
    rows = []
    for i in range(draw(st.integers(1, 5))):
        values = row(f"{i + 1}", birth_name=draw(printed_name), first_name=draw(printed_name))
        broken = draw(st.sampled_from(["", "student_number", "birth_date", "sex", "first_name", "faculty"]))
        if broken:
            values[broken] = draw(_rejected_cell.filter(lambda v: v not in ("M", "F")))
        values["step_label"] = draw(_rejected_cell)
        cells = list(values.values())
        if draw(st.booleans()):
            cells = cells[: draw(st.integers(1, len(cells) - 1))]  # a short row: set aside for its shape
        rows.append(cells)
    return rows


@fuzz
@given(rows=export_rows(), separator=st.sampled_from([";", ",", "\t"]))
def test_rejected_rows_reopen_as_they_were(tmp_path: Path, rows: list[list[str]], separator: str) -> None:
    from scolpass.enrolment import read_enrolment
    from scolpass.exports import write_rejected

    source = tmp_path / "export.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=separator).writerows([list(HEADER), *rows])
    try:
        enrolment = read_enrolment(source, skip_invalid=True)
    except InputError:  # nothing valid and nothing to set aside (every row blank)
        assume(False)
        raise
    path = tmp_path / "rejected.csv"
    assert write_rejected(enrolment, path) == len(enrolment.rejected)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reopened = list(csv.reader(handle, delimiter=separator))
    assert not [cell for cells in reopened for cell in cells if cell.startswith(FORMULA_START)]
    reopened = [[documented_inverse(cell) for cell in cells] for cells in reopened]  # the apostrophes added
    assert reopened == [[*HEADER, "reason"], *([*r.cells, r.reason] for r in enrolment.rejected)]
    written = [[unicodedata.normalize("NFC", c) for c in cells] for cells in rows]  # values are read as NFC
    assert all(cells[:-1] in written for cells in reopened[1:])  # each row as it was in the export
    assert all(cells[-1] for cells in reopened[1:])  # with why


# -- Every CSV scolpass writes is formula-safe -----------------------------------------------------------------

# Values Excel would run, or that look like a neutralised one (an apostrophe already before a formula character).
FORMULA_VALUES = ['=HYPERLINK("http://x","y")', "@SUM(A1)", "+MARTIN", "-12", "\tTAB", "\rCR", "'=already", "''+two"]
# Values that must reopen untouched: an apostrophe before anything else is a name's own ('t Hart, O'Brien).
PLAIN_VALUES = ["MARTIN", "Marie-Hélène", "'t Hart", "O'Brien", "'", "12-3", ""]


def assert_formula_safe(cells: list[str], intended: list[str]) -> None:
    assert len(cells) == len(intended)
    for cell, value in zip(cells, intended, strict=True):
        assert not cell.startswith(FORMULA_START), cell  # Excel shows every cell as text
        assert documented_inverse(cell) == value  # and the documented inverse gives the value back exactly
        if value in PLAIN_VALUES:
            assert cell == value  # nothing else is touched


def test_registry_export_is_formula_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import datetime

    from scolpass.cli import main
    from scolpass.registry import open_registry

    from .conftest import new_account

    values = [*FORMULA_VALUES, *PLAIN_VALUES]
    reg = open_registry(tmp_path / "r.sqlite3")
    reg.record(
        [new_account(f"{i:08d}", f"login{i}", None, birth_name=v, first_name=v[::-1]) for i, v in enumerate(values)],
        2026, datetime(2026, 9, 1),
    )  # fmt: skip
    reg.record([new_account("-12", "@SUM(A1)", "=1+1", birth_name="+X", first_name="y")], 2026, datetime(2026, 9, 1))
    reg.close()
    monkeypatch.chdir(tmp_path)
    assert main(["registry", "export", "--registry", str(tmp_path / "r.sqlite3")]) == 0
    reopened = list(csv.reader(io.StringIO(capsys.readouterr().out, newline="")))
    assert reopened[0] == ["student_number", "identifier", "short_login", "state", "first_year", "issued_at",
                           "birth_name", "first_name", "linked_numbers"]  # fmt: skip
    by_number = {documented_inverse(cells[0]): cells for cells in reopened[1:]}
    assert len(by_number) == len(values) + 1
    for i, v in enumerate(values):
        intended = [f"{i:08d}", f"login{i}", "", "issued", "2026", "2026-09-01T00:00:00", v, v[::-1], ""]
        assert_formula_safe(by_number[f"{i:08d}"], intended)
    hostile = ["-12", "@SUM(A1)", "=1+1", "issued", "2026", "2026-09-01T00:00:00", "+X", "y", ""]
    assert_formula_safe(by_number["-12"], hostile)


@pytest.mark.parametrize("separator", [";", ",", "\t"])
def test_rejected_rows_are_formula_safe(tmp_path: Path, separator: str) -> None:
    from scolpass.enrolment import read_enrolment
    from scolpass.exports import write_rejected

    header = [*HEADER, "@SUM(A1)"]  # a column of the registrar's own, ignored by scolpass, kept in rejected.csv
    rows = [[*row("1").values(), "plain"]]  # one valid row: the others are set aside, not the whole file
    for i, value in enumerate([*FORMULA_VALUES, *PLAIN_VALUES]):
        # Every row is set aside for its date; the value goes in every column that can hold it.
        cells = row(f"{i + 2}", birth_name=value, first_name=value, birth_date="31/02/2008", step_label=value)
        rows.append([*cells.values(), value])
    source = tmp_path / "export.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=separator).writerows([header, *rows])
    enrolment = read_enrolment(source, skip_invalid=True)
    assert len(enrolment.rejected) == len(FORMULA_VALUES) + len(PLAIN_VALUES)
    path = tmp_path / "rejected.csv"
    write_rejected(enrolment, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reopened = list(csv.reader(handle, delimiter=separator))
    assert_formula_safe(reopened[0], [*header, "reason"])
    for cells, r in zip(reopened[1:], enrolment.rejected, strict=True):
        assert_formula_safe(cells, [*r.cells, r.reason])
    # As they were in the export, but for an apostrophe before a formula character, which every CSV scolpass
    # reads takes off (the inverse of its own escaping, so that a rejected.csv fed back reads as first given).
    assert [r.cells for r in enrolment.rejected] == [tuple(map(restored, cells)) for cells in rows[1:]]


def test_a_rejected_csv_fed_back_reads_as_the_export_did(tmp_path: Path) -> None:
    from scolpass.enrolment import read_enrolment
    from scolpass.exports import write_rejected

    values = [v for v in [*FORMULA_VALUES, *PLAIN_VALUES] if v and not v.startswith("'")]
    rows = [row("1")] + [
        row(f"{i + 2}", birth_name=v, first_name=v, birth_date="31/02/2008", step_label=v) for i, v in enumerate(values)
    ]
    source = tmp_path / "export.csv"
    source.write_text(csv_text(rows), encoding="utf-8")
    first = read_enrolment(source, skip_invalid=True)
    rejected = tmp_path / "rejected.csv"
    write_rejected(first, rejected)
    assert "'=HYPERLINK" in rejected.read_text(encoding="utf-8-sig")  # formula-safe on disk
    again = read_enrolment(rejected, skip_invalid=True)  # the registrar fixes nothing yet and feeds it back
    assert [r.cells[: len(HEADER)] for r in again.rejected] == [r.cells for r in first.rejected]


@given(value=csv_text_values)
def test_formula_safety_is_undone_exactly(value: str) -> None:
    from scolpass.spreadsheet import formula_safe, restored

    cell = formula_safe(value)
    assert not cell.startswith(FORMULA_START)
    assert cell in (value, "'" + value)  # at most one apostrophe added
    assert documented_inverse(cell) == value
    assert restored(cell) == value
