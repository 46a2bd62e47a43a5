"""The exported LDIF loads into a real OpenLDAP, and every sheet's password opens its account."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from scolpass import RunOptions, Settings, generate

from .conftest import PASSWORD_PATTERN, SAMPLES, attributes, sheet_texts
from .slapd import Slapd

pytestmark = pytest.mark.slow


def password_on_page(text: str) -> str:
    (password,) = re.findall(PASSWORD_PATTERN, text, flags=re.MULTILINE)
    return password


@pytest.mark.parametrize("scheme", ["sha512_crypt", "argon2", "ssha", "bcrypt"])
def test_every_student_binds_with_the_password_on_their_sheet(
    slapd: Slapd, settings: Settings, tmp_path: Path, scheme: str
) -> None:
    settings = dataclasses.replace(settings, credentials=dataclasses.replace(settings.credentials, hash=scheme))
    result = generate(
        SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "out", registry=tmp_path / "r.sqlite3")
    )
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr

    texts = sheet_texts(result.out_dir)
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert len(manifest["students"]) == 11
    for student in manifest["students"]:
        dn = f"uid={student['identifier']},{settings.ldap.people_dn}"
        password = password_on_page(texts[student["student_number"]])
        assert slapd.bind(dn, password), (student["identifier"], scheme)
        assert not slapd.bind(dn, password[:-1] + ("a" if password[-1] != "a" else "b"))

    greek = next(s for s in manifest["students"] if s["student_number"] == "00012351")
    entry = slapd.search(f"uid={greek['identifier']},{settings.ldap.people_dn}", "sn", "mail", "employeeNumber")
    assert f"mail: {greek['email']}" in entry
    assert "employeeNumber: 00012351" in entry
    assert "sn:: " in entry  # ΠΑΠΑΔΟΠΟΥΛΟΥ, base64 as LDIF requires
    assert "shadowLastChange" not in slapd.search(settings.ldap.people_dn, "shadowLastChange")


def test_accounts_of_two_runs_coexist(
    slapd: Slapd, settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    from .conftest import row

    registry = tmp_path / "r.sqlite3"
    first = generate(
        write_csv([row("1")], name="a.csv"), settings, RunOptions(year=2026, out_dir=tmp_path / "a", registry=registry)
    )
    second = generate(
        write_csv([row("2", birth_date="02/02/2006")], name="b.csv"),
        settings,
        RunOptions(year=2026, out_dir=tmp_path / "b", registry=registry),
    )
    for result in (first, second):
        loaded = slapd.add(result.out_dir / "credentials.ldif")
        assert loaded.returncode == 0, loaded.stderr
    (a,) = first.outcomes
    (b,) = second.outcomes
    assert (a.identifier, b.identifier) == ("jean.martin", "jean.martin2")
    (password,) = [password_on_page(t) for t in sheet_texts(second.out_dir).values()]
    assert slapd.bind(f"uid=jean.martin2,{settings.ldap.people_dn}", password)


def test_logins_of_existing_accounts_are_never_issued(
    slapd: Slapd, settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    from scolpass.admin import import_existing

    from .conftest import row

    # A member of staff already owns jean.martin in the directory.
    slapd.add_ldif(
        f"dn: uid=jean.martin,{settings.ldap.people_dn}\nobjectClass: inetOrgPerson\nuid: jean.martin\n"
        "cn: Jean Martin\nsn: Martin\nmail: jean.martin@umontpellier.fr\n"
    )
    export = tmp_path / "people.ldif"
    export.write_text(slapd.search(settings.ldap.people_dn, "uid", "mail"))
    registry = tmp_path / "r.sqlite3"
    assert import_existing(export, settings, registry).new == 1
    result = generate(write_csv([row("1")]), settings, RunOptions(year=2026, out_dir=tmp_path / "o", registry=registry))
    assert [o.identifier for o in result.outcomes] == ["jean.martin2"]
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr  # without the reservation: "Already exists (68)"


def test_a_reissue_replaces_only_the_password(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    from scolpass.pipeline import reissue

    registry = tmp_path / "r.sqlite3"
    first = generate(SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "a", registry=registry))
    assert slapd.add(first.out_dir / "credentials.ldif").returncode == 0
    old = password_on_page(sheet_texts(first.out_dir)["00012345"])
    lost = reissue(["00012345"], settings, RunOptions(year=2026, out_dir=tmp_path / "b", registry=registry))
    changed = slapd.modify(lost.out_dir / "credentials.ldif")
    assert changed.returncode == 0, changed.stderr
    new = password_on_page(sheet_texts(lost.out_dir)["00012345"])
    dn = f"uid=jean.martin,{settings.ldap.people_dn}"
    assert slapd.bind(dn, new)
    assert not slapd.bind(dn, old)
    assert "mail: jean.martin@etu.umontpellier.fr" in slapd.search(dn, "mail")


def supann(settings: Settings, must_change: bool = False) -> Settings:
    return dataclasses.replace(
        settings,
        university=dataclasses.replace(settings.university, uai="0341087X"),
        ldap=dataclasses.replace(settings.ldap, profile="supann", must_change=must_change),
    )


def test_supann_entries_load_and_are_found_by_student_number(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    settings = supann(settings)
    result = generate(
        SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "o", registry=tmp_path / "r.sqlite3")
    )
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr
    texts = sheet_texts(result.out_dir)
    for o in result.outcomes:
        dn = f"uid={o.identifier},{settings.ldap.people_dn}"
        assert slapd.bind(dn, password_on_page(texts[o.student_number]))
        found = attributes(slapd.search(f"{settings.ldap.people_dn}", f"(supannEtuId={o.student_number})"))
        assert found["dn"] == [dn]
        assert found["supannAliasLogin"] == [o.identifier]
        assert found["eduPersonPrincipalName"] == [f"{o.identifier}@etu.umontpellier.fr"]
        assert found["eduPersonAffiliation"] == found["eduPersonPrimaryAffiliation"] == ["student"]
        assert found["supannEtablissement"] == ["{UAI}0341087X"]
        assert all(v.startswith("[etab={UAI}0341087X][anneeinsc=2026]") for v in found["supannEtuInscription"])
    le_goff = attributes(slapd.search(settings.ldap.people_dn, "(supannEtuId=00012349)"))
    assert le_goff["sn"] == ["KERGUELEN"]
    assert le_goff["supannNomDeNaissance"] == ["LE GOFF"]
    assert le_goff["supannCodeINE"] == ["0523456789E"]
    assert sorted(le_goff["supannEtuEtape"]) == ["{UAI:0341087X}DUB", "{UAI:0341087X}MBI"]
    assert sorted(le_goff["supannEtuInscription"]) == [
        "[etab={UAI}0341087X][anneeinsc=2026][affect=SCI][etape={UAI:0341087X}DUB]",
        "[etab={UAI}0341087X][anneeinsc=2026][affect=SCI][etape={UAI:0341087X}MBI]",
    ]
    assert "shadowLastChange" not in slapd.search(settings.ldap.people_dn, "shadowLastChange")


def test_next_years_changes_apply_and_keep_the_password(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    settings = supann(settings)
    registry = tmp_path / "r.sqlite3"
    first = generate(SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "y1", registry=registry))
    assert slapd.add(first.out_dir / "credentials.ldif").returncode == 0
    texts = sheet_texts(first.out_dir)
    passwords = {o.identifier: password_on_page(texts[o.student_number]) for o in first.outcomes}
    # Next year: a new step for one student, a married name for another.
    text = (SAMPLES / "enrolment.csv").read_text(encoding="utf-8-sig").replace("\n2026;", "\n2027;")
    text = text.replace("EE1;101;L1 Economie", "EE2;101;L2 Economie").replace(";N'DIAYE;;", ";N'DIAYE;FALL;")
    export = tmp_path / "2027.csv"
    export.write_text(text, encoding="utf-8")
    second = generate(export, settings, RunOptions(out_dir=tmp_path / "y2", registry=registry))
    assert second.count("returning") == 11
    changed = slapd.modify(second.out_dir / "returning.ldif")
    assert changed.returncode == 0, changed.stderr
    ndiaye = attributes(slapd.search(settings.ldap.people_dn, "(supannEtuId=00012348)"))
    assert ndiaye["sn"] == ["FALL"]
    assert ndiaye["uid"] == ["aissatou.ndiaye"]  # never the login
    assert ndiaye["supannNomDeNaissance"] == ["N'DIAYE"]
    martin = attributes(slapd.search(settings.ldap.people_dn, "(supannEtuId=00012345)"))
    assert martin["supannEtuInscription"] == [
        "[etab={UAI}0341087X][anneeinsc=2027][affect=ECO][etape={UAI:0341087X}EE2]"
    ]
    assert martin["supannEtuEtape"] == ["{UAI:0341087X}EE2"]
    for identifier, password in passwords.items():
        assert slapd.bind(f"uid={identifier},{settings.ldap.people_dn}", password), identifier
    assert "userPassword" not in (second.out_dir / "returning.ldif").read_text()


def test_must_change_forces_a_new_password_at_first_login(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    settings = supann(settings, must_change=True)
    result = generate(
        SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "o", registry=tmp_path / "r.sqlite3")
    )
    assert "pwdReset: TRUE" in (result.out_dir / "credentials.ldif").read_text()
    assert slapd.add(result.out_dir / "credentials.ldif").returncode == 0
    o = result.outcomes[0]
    dn = f"uid={o.identifier},{settings.ldap.people_dn}"
    password = password_on_page(sheet_texts(result.out_dir)[o.student_number])
    assert slapd.bind(dn, password)  # the student can bind...
    assert "restricted to bind/unbind/abandon/StartTLS/modify password" in slapd.search_as(dn, password, dn).stderr
    assert slapd.change_password(dn, password, "Un-nouveau-mot-de-passe-9")  # ...then only change the password
    assert slapd.search_as(dn, "Un-nouveau-mot-de-passe-9", dn).returncode == 0
