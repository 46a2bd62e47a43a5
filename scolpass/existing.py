"""Logins already taken in the account system, read from its LDIF or CSV export.

Staff, former students and service accounts own logins that scolpass must
never issue; ``scolpass registry import`` reserves every one of them.
"""

from __future__ import annotations

import io
from pathlib import Path

from ldif import LDIFParser  # type: ignore[import-untyped]

from .csvfile import decode, detect_separator, parse_records
from .errors import InputError, Problem

# Attributes (LDIF) and headers (CSV) that hold a login, or an address whose local part is one.
LOGIN_FIELDS = frozenset(
    {"uid", "samaccountname", "supannaliaslogin", "login", "identifier", "identifiant", "username"}
)
ADDRESS_FIELDS = frozenset(
    {"mail", "email", "e-mail", "courriel", "edupersonprincipalname", "userprincipalname", "supannmailperso"}
)


def read_existing_logins(path: str | Path) -> set[str]:
    """Every login found in an LDIF or CSV export of existing accounts, lower-cased."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    text, _ = decode(raw, path.name)
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    is_ldif = first.lower().startswith(("dn:", "version:"))
    found = _from_ldif(text, path.name) if is_ldif else _from_csv(text, path.name)
    return {login for login in found if login}


def _login(field: str, value: str) -> str:
    value = value.strip().lower()
    return value.split("@", 1)[0] if field in ADDRESS_FIELDS else value


def _from_ldif(text: str, name: str) -> set[str]:
    lines = text.splitlines(keepends=True)
    if lines and lines[0].lower().startswith("version:"):
        lines = lines[1:]  # the parser takes records only
    parser = LDIFParser(io.BytesIO("".join(lines).encode("utf-8")), strict=True)
    found: set[str] = set()
    try:
        for _, entry in parser.parse():
            for attribute, values in entry.items():
                field = attribute.lower()
                if field in LOGIN_FIELDS or field in ADDRESS_FIELDS:
                    found.update(_login(field, str(v)) for v in values)
    except ValueError as exc:
        raise InputError([Problem(name, None, None, None, f"is not valid LDIF: {exc}")]) from None
    if not found:
        raise InputError([Problem(name, None, None, None, "holds no uid, sAMAccountName or mail attribute")])
    return found


def _from_csv(text: str, name: str) -> set[str]:
    (_, header), *records = parse_records(text, name, detect_separator(text))
    fields = [h.strip().lower() for h in header]
    useful = [(i, f) for i, f in enumerate(fields) if f in LOGIN_FIELDS or f in ADDRESS_FIELDS]
    if not useful:
        known = ", ".join(sorted(LOGIN_FIELDS | ADDRESS_FIELDS))
        raise InputError([Problem(name, 1, None, None, f"has no column of logins or addresses ({known})")])
    return {_login(field, cells[i]) for _, cells in records for i, field in useful if i < len(cells)}
