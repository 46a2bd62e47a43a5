"""Logins already taken in the account system, read from its LDIF or CSV export.

Staff, former students and service accounts own logins that scolpass must
never issue; ``scolpass registry import`` reserves every one of them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from ldif import LDIFParser  # type: ignore[import-untyped]

from .csvfile import decode, detect_separator, parse_records
from .errors import InputError, Problem

# Attributes (LDIF) and headers (CSV) that hold a student number, linking it to the account's login.
_OWN_LOGIN = ("uid", "samaccountname", "login", "identifier", "identifiant", "username")
NUMBER_FIELDS = frozenset({"supannetuid", "student_number", "cod_etu"})
# Attributes (LDIF) and headers (CSV) that hold a login, or an address whose local part is one.
LOGIN_FIELDS = frozenset(
    {"uid", "samaccountname", "supannaliaslogin", "login", "identifier", "identifiant", "username"}
)
ADDRESS_FIELDS = frozenset(
    {"mail", "email", "e-mail", "courriel", "edupersonprincipalname", "userprincipalname", "supannmailperso"}
)


@dataclass(frozen=True)
class ExistingAccounts:
    """What an export of the account system says."""

    logins: set[str]  # every login, lower-cased: never to be issued
    links: dict[str, str]  # student number -> login, where the export carries both


def read_existing_accounts(path: str | Path) -> ExistingAccounts:
    """Logins, and student numbers linked to them, from an LDIF or CSV export of existing accounts."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    text, _ = decode(raw, path.name)
    # PowerShell's Export-Csv opens with "#TYPE ..."; comments are no data in LDIF either.
    text = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    if not text.strip():
        raise InputError([Problem(path.name, None, None, None, "is empty: no account to reserve")])
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    is_ldif = first.lower().startswith(("dn:", "version:"))
    entries = _from_ldif(text, path.name) if is_ldif else _from_csv(text, path.name)
    logins: set[str] = set()
    links: dict[str, str] = {}
    for fields in entries:
        found = {
            _login(f, v) for f, values in fields.items() if f in LOGIN_FIELDS or f in ADDRESS_FIELDS for v in values
        }
        logins |= {login for login in found if login}
        numbers = [v.strip() for f, values in fields.items() if f in NUMBER_FIELDS for v in values if v.strip()]
        # The login of an entry is its uid (or the first login field present), not an address.
        own = next((v.strip().lower() for f in _OWN_LOGIN for v in fields.get(f, []) if v.strip()), None)
        if numbers and own:
            links[numbers[0]] = own
    if not logins:
        raise InputError([Problem(path.name, None, None, None, "holds no login (uid, sAMAccountName, mail...)")])
    return ExistingAccounts(logins, links)


def read_existing_logins(path: str | Path) -> set[str]:
    """Every login found in an LDIF or CSV export of existing accounts, lower-cased."""
    return read_existing_accounts(path).logins


def _login(field: str, value: str) -> str:
    value = value.strip().lower()
    return value.split("@", 1)[0] if field in ADDRESS_FIELDS else value


def _from_ldif(text: str, name: str) -> list[dict[str, list[str]]]:
    lines = text.splitlines(keepends=True)
    if lines and lines[0].lower().startswith("version:"):
        lines = lines[1:]  # the parser takes records only
    parser = LDIFParser(io.BytesIO("".join(lines).encode("utf-8")), strict=True)
    try:
        return [
            {attribute.lower(): [str(v) for v in values] for attribute, values in entry.items()}
            for _, entry in parser.parse()
        ]
    except ValueError as exc:
        raise InputError([Problem(name, None, None, None, f"is not valid LDIF: {exc}")]) from None


def _from_csv(text: str, name: str) -> list[dict[str, list[str]]]:
    (_, header), *records = parse_records(text, name, detect_separator(text))
    fields = [h.strip().lower() for h in header]
    if not any(f in LOGIN_FIELDS or f in ADDRESS_FIELDS for f in fields):
        known = ", ".join(sorted(LOGIN_FIELDS | ADDRESS_FIELDS))
        raise InputError([Problem(name, 1, None, None, f"has no column of logins or addresses ({known})")])
    return [{f: [cells[i]] for i, f in enumerate(fields) if i < len(cells)} for _, cells in records]
