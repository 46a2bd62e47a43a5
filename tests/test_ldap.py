"""The exported LDIF loads into a real OpenLDAP, and every sheet's password opens its account."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from scolpass import Settings, generate

from .conftest import PASSWORD_PATTERN, SAMPLES, page_texts
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
    result = generate(SAMPLES / "enrolment.csv", settings, out_dir=tmp_path / "out", registry=tmp_path / "r.sqlite3")
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr

    texts = page_texts(result.out_dir / "sheets.pdf")
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert len(manifest["students"]) == 11
    for student in manifest["students"]:
        dn = f"uid={student['identifier']},{settings.ldap.people_dn}"
        password = password_on_page(texts[student["page"] - 1])
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
        write_csv([row("1")], name="a.csv"), settings, year=2026, out_dir=tmp_path / "a", registry=registry
    )
    second = generate(
        write_csv([row("2", birth_date="02/02/2006")], name="b.csv"),
        settings,
        year=2026,
        out_dir=tmp_path / "b",
        registry=registry,
    )
    for result in (first, second):
        loaded = slapd.add(result.out_dir / "credentials.ldif")
        assert loaded.returncode == 0, loaded.stderr
    (a,) = first.outcomes
    (b,) = second.outcomes
    assert (a.identifier, b.identifier) == ("jean.martin", "jean.martin2")
    password = password_on_page(page_texts(second.out_dir / "sheets.pdf")[0])
    assert slapd.bind(f"uid=jean.martin2,{settings.ldap.people_dn}", password)


def test_logins_of_existing_accounts_are_never_issued(
    slapd: Slapd, settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    from scolpass.pipeline import import_existing

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
    result = generate(write_csv([row("1")]), settings, year=2026, out_dir=tmp_path / "o", registry=registry)
    assert [o.identifier for o in result.outcomes] == ["jean.martin2"]
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr  # without the reservation: "Already exists (68)"


def test_a_reissue_replaces_only_the_password(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    from scolpass.pipeline import reissue

    registry = tmp_path / "r.sqlite3"
    first = generate(SAMPLES / "enrolment.csv", settings, out_dir=tmp_path / "a", registry=registry)
    assert slapd.add(first.out_dir / "credentials.ldif").returncode == 0
    page = next(o.page for o in first.outcomes if o.student_number == "00012345")
    old = password_on_page(page_texts(first.out_dir / "sheets.pdf")[page - 1])
    lost = reissue(["00012345"], settings, year=2026, out_dir=tmp_path / "b", registry=registry)
    changed = slapd.modify(lost.out_dir / "credentials.ldif")
    assert changed.returncode == 0, changed.stderr
    new = password_on_page(page_texts(lost.out_dir / "sheets.pdf")[0])
    dn = f"uid=jean.martin,{settings.ldap.people_dn}"
    assert slapd.bind(dn, new)
    assert not slapd.bind(dn, old)
    assert "mail: jean.martin@etu.umontpellier.fr" in slapd.search(dn, "mail")
