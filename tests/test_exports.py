"""Credential files reload to the same data; the LDIF is RFC 2849."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from ldif import LDIFParser  # type: ignore[import-untyped]

from scolpass import Student
from scolpass.exports import CSV_FIELDS, Credential, Directory, dn_of, write_csv, write_ldif
from scolpass.student import Step

PEOPLE = "ou=people,dc=umontpellier,dc=fr"


def credentials() -> list[Credential]:
    hélène = Student(
        "00012347", "DE LA FONTAINE", "Marie-Hélène", date(2005, 1, 30), "LETTRES", (Step("LM3", "", "L3"),),
        ine="0323456789C", line=2,
    )  # fmt: skip
    greek = Student("00012351", "ΠΑΠΑΔΟΠΟΥΛΟΥ", "Ελένη", date(2006, 5, 5), "LETTRES", (Step("LA1", "", "L1"),), line=3)
    return [
        Credential(hélène, "marie-helene.de-la-fontaine", "marie-helene.de-la-fontaine@etu.umontpellier.fr",
                   "{CRYPT}$6$abcdefgh$" + "x" * 86),
        Credential(greek, "eleni.papadopoulou", "eleni.papadopoulou@etu.umontpellier.fr", "{SSHA}c2FsdHNhbHQ="),
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
    write_ldif([Credential(evil, "jean.x", "jean.x@etu.fr", "{SSHA}abc")], Directory(PEOPLE), path)
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
    write_csv([*credentials(), Credential(formula, "jean.x", "jean.x@etu.fr", "{SSHA}abc")], PEOPLE, path, excel=True)
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
    assert returning_changes(Returning(student, first.identifier, student), plain) == []
    renamed = returning_changes(Returning(married, first.identifier, student), plain)
    assert [(op, name) for op, name, _ in renamed] == [(2, "sn"), (2, "givenName"), (2, "cn"), (2, "displayName")]
    assert renamed[0][2] == ["DURAND"]
    yearly = dict((name, values) for _, name, values in returning_changes(Returning(student, "x", student), supann))
    assert yearly["supannEtuInscription"] == [
        "[etab={UAI}0341087X][anneeinsc=2027][etape={UAI:0341087X}LM3]"  # affect needs a code, not a label
    ]
    assert "eduPersonAffiliation" not in yearly  # a returning student's other affiliations stay
    assert yearly["eduPersonPrimaryAffiliation"] == ["student"]
    assert "userPassword" not in yearly
    assert "uid" not in yearly


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
