"""Credential files for the account system: LDIF (RFC 2849) and CSV, hashes only.

LDIF is written with the ``ldif`` package (RFC 2849 writer and parser): it
base64-encodes every value that needs it and folds long lines, which a
hand-written writer tends to get subtly wrong for names with accents.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from ldif import LDIFWriter  # type: ignore[import-untyped]

from .enrolment import Enrolment
from .files import text_written_whole, written_whole
from .registry import IssuedAccount
from .spreadsheet import formula_safe
from .student import Account, Student

CSV_FIELDS = (
    "student_number", "identifier", "email", "dn", "first_name", "last_name", "birth_name", "ine", "short_login",
    "password_hash",
)  # fmt: skip


@dataclass(frozen=True)
class Credential:
    """An account with its new password, as the account system receives it."""

    account: Account
    email: str
    password_hash: str
    # Only with --plaintext-credentials, for account systems that must set the password themselves.
    password: str | None = field(default=None, repr=False)

    @property
    def student(self) -> Student:
        """Whose account it is."""
        return self.account.student

    @property
    def identifier(self) -> str:
        """The login."""
        return self.account.identifier

    @property
    def short_login(self) -> str | None:
        """The short login, with ``[identifiers] short_pattern``."""
        return self.account.short_identifier


@dataclass(frozen=True)
class Directory:
    """What the LDIF must fit: where entries go, their profile, and the academic year they describe."""

    people_dn: str
    profile: str = "inetorgperson"
    uai: str = ""
    eppn_scope: str = ""
    must_change: bool = False
    year: int = 0

    def dn(self, identifier: str) -> str:
        """The DN of a login."""
        return dn_of(identifier, self.people_dn)


# SUPANN 2021's spelling (OID 1.3.6.1.4.1.7135.1.2.1.38).
BIRTH_NAME_ATTRIBUTE = "supannNomDeNaissance"


def _bracketed(value: str) -> str:
    # supannEtuInscription's components are [key=value]: a bracket inside a value would break it.
    return value.replace("[", "(").replace("]", ")")


# The label SUPANN puts before each component's value when the export gives it bare.
_COMPONENT_LABELS = {"regimeinsc": "{SISE}", "sectdisc": "{SISE}", "typedip": "{SISE}", "cursusann": "{SUPANN}",
                     "diplome": "{SISE}"}  # fmt: skip


def _labelled(component: str, value: str) -> str:
    return _bracketed(value if value.startswith("{") else _COMPONENT_LABELS[component] + value)


def inscriptions(student: Student, directory: Directory) -> list[str]:
    """One ``supannEtuInscription`` per programme step, with the components the data provides.

    ``affect`` is the faculty's code (an entity identifier), left out when only its
    label is known; regimeinsc, sectdisc, typedip, cursusann and diplome come from
    the export's columns of those names (or ``[columns]``), labelled as SUPANN writes them.
    """
    values = []
    for step in student.steps:
        parts = [f"[etab={{UAI}}{directory.uai}]", f"[anneeinsc={directory.year}]"]
        given = dict(step.supann)
        for component in ("regimeinsc", "sectdisc", "typedip", "cursusann"):
            if component in given:
                parts.append(f"[{component}={_labelled(component, given[component])}]")
        affect = step.faculty_code or student.faculty_code
        if affect:
            parts.append(f"[affect={_bracketed(affect)}]")
        if "diplome" in given:
            parts.append(f"[diplome={_labelled('diplome', given['diplome'])}]")
        parts.append(f"[etape={{UAI:{directory.uai}}}{_bracketed(step.code)}]")
        values.append("".join(parts))
    return _distinct(values)


def _distinct(values: Iterable[str]) -> list[str]:
    """``values`` without repeats as the directory compares them (caseIgnoreMatch), first kept.

    Two versions of one step, or one step code in two cases, give the same value:
    the directory refuses an entry that holds a value twice.
    """
    seen: set[str] = set()
    kept = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            kept.append(value)
    return kept


def enrolment_attributes(student: Student, directory: Directory, new: bool = True) -> dict[str, list[str]]:
    """The attributes that change with each academic year (supann profile).

    A new entry gets ``eduPersonAffiliation: student``; a returning student's change
    record leaves that multi-valued attribute alone, which other feeds may have
    completed (``employee`` for a student employee), and replaces only the primary one.
    """
    affiliation = {"eduPersonAffiliation": ["student"]} if new else {}
    return {
        **affiliation,
        "eduPersonPrimaryAffiliation": ["student"],
        "supannEtuEtape": _distinct(f"{{UAI:{directory.uai}}}{step.code}" for step in student.steps),
        "supannEtuInscription": inscriptions(student, directory),
    }


def dn_of(identifier: str, people_dn: str) -> str:
    """The entry's DN; identifiers are ``[a-z0-9.-]`` so need no DN escaping."""
    return f"uid={identifier},{people_dn}"


def ldap_entry(credential: Credential, directory: Directory | None = None) -> dict[str, list[str]]:
    """The entry of one account: ``inetOrgPerson``, and SUPANN's classes with the supann profile.

    Never ``shadowLastChange``: esup-activ reads its absence as "not yet activated".
    """
    directory = directory or Directory("")
    s = credential.student
    entry = {
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
    if directory.profile == "supann":
        entry["objectClass"] += ["eduPerson", "supannPerson"]
        scope = directory.eppn_scope or credential.email.split("@", 1)[1]
        entry |= {
            "supannEtuId": [s.student_number],
            "supannAliasLogin": [credential.identifier],
            "eduPersonPrincipalName": [f"{credential.identifier}@{scope}"],
            "supannEtablissement": [f"{{UAI}}{directory.uai}"],
            BIRTH_NAME_ATTRIBUTE: [s.birth_name],
            **enrolment_attributes(s, directory),
        }
        if s.ine:
            entry["supannCodeINE"] = [s.ine]
    if directory.must_change:
        entry["pwdReset"] = ["TRUE"]
    return entry


class _Writer(LDIFWriter):  # type: ignore[misc]  # the ldif package is untyped
    """The ldif package's writer, with base64 for a value that starts or ends with white space too.

    RFC 2849 (note 8) says a value ending with a space SHOULD be base64: parsers,
    the ldif package's own among them, strip it, and "Jean " would load as "Jean".
    """

    def _needs_base64_encoding(self, attr_type: str, attr_value: str | bytes) -> bool:
        padded = isinstance(attr_value, str) and attr_value != attr_value.strip()
        return bool(super()._needs_base64_encoding(attr_type, attr_value)) or padded


def _write_records(path: Path, records: Iterable[tuple[str, object]]) -> int:
    """An LDIF file of ``(dn, entry or modlist)`` records, private and written whole; returns how many."""
    with written_whole(path) as handle:
        return _unparse(handle, records)


def _unparse(handle: BinaryIO, records: Iterable[tuple[str, object]]) -> int:
    handle.write(b"version: 1\n\n")
    writer = _Writer(handle)
    for dn, record in records:
        writer.unparse(dn, record)
    return int(writer.records_written)


def write_ldif(credentials: Iterable[Credential], directory: Directory, path: Path) -> int:
    """Write one add record per account; returns how many."""
    return _write_records(path, ((directory.dn(c.identifier), ldap_entry(c, directory)) for c in credentials))


@dataclass(frozen=True)
class Returning:
    """A returning student: their account with this year's data, and what the registry printed last time."""

    account: Account
    previous: Student | None
    # Every student number of the account, its own first (IssuedAccount.student_numbers); more than one once
    # a new number was linked to it (the migration year).
    numbers: tuple[str, ...] = ()


def returning_changes(returning: Returning, directory: Directory) -> list[tuple[int, str, list[str]]]:
    """The change record of a returning student: this year's enrolment; a changed usual name; a new number.

    A student whose number changed since the last record (a new number linked to
    the account) gets ``employeeNumber`` replaced by this year's, as a new entry
    would carry it. With the supann profile, an account with several numbers gets
    ``supannEtuId`` replaced by all of them, the old ones kept, so that systems that
    still know a student by the former number find them; replacing with the whole
    set, rather than adding the new value, keeps the record right when it is loaded
    twice. Never the password, never the login.
    """
    s, before = returning.account.student, returning.previous
    mods: list[tuple[int, str, list[str]]] = []
    if before is None or before.last_name != s.last_name or before.first_name != s.first_name:
        name = f"{s.first_name} {s.last_name}"
        mods += [(2, "sn", [s.last_name]), (2, "givenName", [s.first_name]), (2, "cn", [name]),
                 (2, "displayName", [name])]  # fmt: skip
    if before is not None and before.student_number != s.student_number:
        mods.append((2, "employeeNumber", [s.student_number]))
    numbers = list(dict.fromkeys(returning.numbers))
    if directory.profile == "supann":
        mods += [(2, attribute, values) for attribute, values in enrolment_attributes(s, directory, new=False).items()]
        if len(numbers) > 1:
            mods.append((2, "supannEtuId", numbers))
    return mods


def write_returning(returning: Iterable[Returning], directory: Directory, path: Path) -> int:
    """Write the change records of returning students (``ldapmodify``); returns how many."""
    changes = ((directory.dn(r.account.identifier), returning_changes(r, directory)) for r in returning)
    return _write_records(path, ((dn, mods) for dn, mods in changes if mods))


def _password_changes(credentials: Iterable[Credential], people_dn: str) -> Iterator[tuple[str, object]]:
    # (2, ...) is "replace" in the ldif package's modlist.
    return ((dn_of(c.identifier, people_dn), [(2, "userPassword", [c.password_hash])]) for c in credentials)


def write_password_changes(credentials: Iterable[Credential], people_dn: str, path: Path) -> int:
    """Write one change record per account that replaces ``userPassword`` only (``ldapmodify``)."""
    return _write_records(path, _password_changes(credentials, people_dn))


def password_changes(credentials: Iterable[Credential], people_dn: str) -> bytes:
    """The LDIF of :func:`write_password_changes`, in memory (a reissue handed out at a counter)."""
    handle = io.BytesIO()
    _unparse(handle, _password_changes(credentials, people_dn))
    return handle.getvalue()


def write_csv(credentials: Sequence[Credential], people_dn: str, path: Path, excel: bool = False) -> int:
    """Write one row per account (header first); returns how many.

    UTF-8 and commas, or with ``excel`` semicolons and a BOM as French Excel
    expects. Cells that Excel would run as formulas are prefixed with an
    apostrophe. A ``password`` column is added only when the credentials carry
    plaintext passwords (``--plaintext-credentials``).
    """
    plaintext = any(c.password is not None for c in credentials)
    with text_written_whole(path, "utf-8-sig" if excel else "utf-8") as handle:
        writer = csv.writer(handle, delimiter=";" if excel else ",")
        writer.writerow((*CSV_FIELDS, "password") if plaintext else CSV_FIELDS)
        for c in credentials:
            s = c.student
            row = [
                s.student_number, c.identifier, c.email, dn_of(c.identifier, people_dn), s.first_name,
                s.last_name, s.birth_name, s.ine, c.short_login or "", c.password_hash,
            ]  # fmt: skip
            if plaintext:
                row.append(c.password or "")
            writer.writerow([formula_safe(cell) for cell in row])
    return len(credentials)


def write_rejected(enrolment: Enrolment, path: Path) -> int:
    """The rows ``skip_invalid`` set aside, as they were, plus a ``reason`` column; returns how many.

    UTF-8 with a BOM and the input's separator, so that Excel opens it as the
    registrar's own export, to correct and run again. Formula-safe like
    ``credentials.csv``: these are the very rows that may hold anything.
    """
    with text_written_whole(path, "utf-8-sig") as handle:
        writer = csv.writer(handle, delimiter=enrolment.separator or ";")
        writer.writerow([formula_safe(cell) for cell in (*enrolment.header, "reason")])
        for rejection in enrolment.rejected:
            writer.writerow([formula_safe(cell) for cell in (*rejection.cells, rejection.reason)])
    return len(enrolment.rejected)


def write_rejected_items(enrolment: Enrolment, path: Path) -> int:
    """The feed items ``skip_invalid`` set aside, each as it was written in the feed, in one page that
    scolpass reads again once they are corrected, with why under ``rejected``; returns how many."""
    with text_written_whole(path, "utf-8") as handle:
        reasons = [{"line": r.line, "reason": r.reason} for r in enrolment.rejected]
        handle.write('{"rejected": ' + json.dumps(reasons, ensure_ascii=False, indent=2) + ',\n"resultats": [\n')
        # The items' own text, not parsed and dumped again: what was wrong stays exactly as it was.
        handle.write(",\n".join(raw for r in enrolment.rejected for raw in r.cells))
        handle.write("\n]}\n")
    return len(enrolment.rejected)


ACCOUNT_FIELDS = (
    "student_number", "identifier", "short_login", "state", "first_year", "issued_at", "birth_name", "first_name",
    "linked_numbers",
)  # fmt: skip


def write_accounts(accounts: Iterable[IssuedAccount], handle: TextIO) -> int:
    """The registry's accounts as CSV on ``handle`` (header first), for the help desk; returns how many.

    No password: the registry has none. Formula-safe like every CSV scolpass
    writes: the names are the students' as the export gave them. ``linked_numbers``
    holds the further numbers linked to the account (by INE), oldest first, space-separated.
    """
    writer = csv.writer(handle)
    writer.writerow(ACCOUNT_FIELDS)
    count = 0
    for a in accounts:
        # An account adopted by `registry import` (or migrated) has no printed data before its next run.
        names = (a.student.birth_name, a.student.first_name) if a.student else ("", "")
        linked = " ".join(a.student_numbers[1:])
        row = (a.student_number, a.identifier, a.short_identifier or "", a.state, str(a.first_year), a.issued_at,
               *names, linked)  # fmt: skip
        writer.writerow([formula_safe(cell) for cell in row])
        count += 1
    return count
