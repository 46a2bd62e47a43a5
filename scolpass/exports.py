"""Credential files for the account system: LDIF (RFC 2849) and CSV, hashes only.

LDIF is written with the ``ldif`` package (RFC 2849 writer and parser): it
base64-encodes every value that needs it and folds long lines, which a
hand-written writer tends to get subtly wrong for names with accents.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ldif import LDIFWriter  # type: ignore[import-untyped]

from .enrolment import Enrolment
from .student import Student

CSV_FIELDS = (
    "student_number", "identifier", "email", "dn", "first_name", "last_name", "birth_name", "ine", "short_login",
    "password_hash",
)  # fmt: skip


@dataclass(frozen=True)
class Credential:
    """One new account, as the account system receives it."""

    student: Student
    identifier: str
    email: str
    password_hash: str
    short_login: str | None = None


def dn_of(identifier: str, people_dn: str) -> str:
    """The entry's DN; identifiers are ``[a-z0-9.-]`` so need no DN escaping."""
    return f"uid={identifier},{people_dn}"


def ldap_entry(credential: Credential) -> dict[str, list[str]]:
    """The ``inetOrgPerson`` entry of one account."""
    s = credential.student
    return {
        "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
        "uid": [credential.identifier],
        "cn": [f"{s.first_name} {s.last_name}"],
        "sn": [s.last_name],
        "givenName": [s.first_name],
        "displayName": [f"{s.first_name} {s.last_name}"],
        "mail": [credential.email],
        "employeeNumber": [s.student_number],
        "userPassword": [credential.password_hash],
    }


def write_ldif(credentials: Iterable[Credential], people_dn: str, path: Path) -> int:
    """Write one add record per account; returns how many."""
    with path.open("wb") as handle:
        handle.write(b"version: 1\n\n")
        writer = LDIFWriter(handle)
        for credential in credentials:
            writer.unparse(dn_of(credential.identifier, people_dn), ldap_entry(credential))
        return int(writer.records_written)


def write_password_changes(credentials: Iterable[Credential], people_dn: str, path: Path) -> int:
    """Write one change record per account that replaces ``userPassword`` only (``ldapmodify``)."""
    with path.open("wb") as handle:
        handle.write(b"version: 1\n\n")
        writer = LDIFWriter(handle)
        for credential in credentials:
            # (2, ...) is "replace" in the ldif package's modlist.
            writer.unparse(dn_of(credential.identifier, people_dn), [(2, "userPassword", [credential.password_hash])])
        return int(writer.records_written)


def write_csv(credentials: Sequence[Credential], people_dn: str, path: Path) -> int:
    """Write one row per account (UTF-8, comma-separated, header first); returns how many."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        for c in credentials:
            s = c.student
            writer.writerow(
                (
                    s.student_number, c.identifier, c.email, dn_of(c.identifier, people_dn), s.first_name,
                    s.last_name, s.birth_name, s.ine, c.short_login or "", c.password_hash,
                )
            )  # fmt: skip
    return len(credentials)


def write_rejected(enrolment: Enrolment, path: Path) -> int:
    """The rows ``skip_invalid`` set aside, as they were, plus a ``reason`` column; returns how many.

    UTF-8 with a BOM and the input's separator, so that Excel opens it as the
    registrar's own export, to correct and run again.
    """
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=enrolment.separator or ";")
        writer.writerow((*enrolment.header, "reason"))
        for rejection in enrolment.rejected:
            writer.writerow((*rejection.cells, rejection.reason))
    return len(enrolment.rejected)
