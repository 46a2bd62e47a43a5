"""Reading the logins of existing accounts from LDIF and CSV exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from scolpass import InputError
from scolpass.existing import read_existing_logins

LDIF = """version: 1

# staff
dn: uid=jmartin,ou=people,dc=um,dc=fr
objectClass: inetOrgPerson
uid: jmartin
mail: Jean.Martin@umontpellier.fr
cn: Jean Martin
sn: Martin

dn: cn=ent,ou=services,dc=um,dc=fr
objectClass: account
uid: ENT-Admin
supannAliasLogin: entadmin
eduPersonPrincipalName: ent.service@umontpellier.fr
"""


def test_ldif_logins_and_address_local_parts(tmp_path: Path) -> None:
    path = tmp_path / "people.ldif"
    path.write_text(LDIF)
    assert read_existing_logins(path) == {"jmartin", "jean.martin", "ent-admin", "entadmin", "ent.service"}


def test_active_directory_csv(tmp_path: Path) -> None:
    path = tmp_path / "ad.csv"
    path.write_bytes(
        'sAMAccountName,UserPrincipalName,DisplayName\r\njmartin,jean.martin@um.fr,"Martin, Jean"\r\n'.encode("utf-16")
    )
    assert read_existing_logins(path) == {"jmartin", "jean.martin"}


def test_csv_without_a_login_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name;phone\nJean;0102\n")
    with pytest.raises(InputError, match="has no column of logins or addresses"):
        read_existing_logins(path)


def test_broken_ldif(tmp_path: Path) -> None:
    path = tmp_path / "bad.ldif"
    path.write_text("dn: uid=a,dc=x\nuid a\n")
    with pytest.raises(InputError, match="is not valid LDIF"):
        read_existing_logins(path)
