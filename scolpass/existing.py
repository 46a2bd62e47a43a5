"""Logins already taken in the account system, read from its LDIF or CSV export.

Staff, former students and service accounts own logins that scolpass must
never issue; ``scolpass registry import`` reserves every one of them, and adopts
the login of each student whose entry carries their student number.

Every login read is held to the rules of the logins scolpass issues
(:func:`identifiers.login_problem`): an adopted one goes into returning.ldif and
a reissue's password change as ``uid=<login>,<people_dn>``, onto the sheet,
into the manifest and the terminal, as it is. A file with one that breaks them
is refused whole, each such value named by its line.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .columns import BY_NAME
from .csvfile import LINE_END, decode, detect_separator, parse_records
from .errors import InputError, Problem, shown
from .identifiers import login_problem

# Attributes (LDIF) and headers (CSV) that hold an entry's own login, in the order one is taken as it.
_OWN_LOGIN = ("uid", "samaccountname", "login", "identifier", "identifiant", "username")
# Attributes (LDIF) and headers (CSV) that hold a student number, linking it to the account's login.
NUMBER_FIELDS = frozenset({"supannetuid", "student_number", "cod_etu"})
# Attributes (LDIF) and headers (CSV) that hold a login, or an address whose local part is one.
LOGIN_FIELDS = frozenset(
    {"uid", "samaccountname", "supannaliaslogin", "login", "identifier", "identifiant", "username"}
)
ADDRESS_FIELDS = frozenset(
    {"mail", "email", "e-mail", "courriel", "edupersonprincipalname", "userprincipalname", "supannmailperso"}
)
_READ = LOGIN_FIELDS | ADDRESS_FIELDS | NUMBER_FIELDS

# An LDIF attribute description (RFC 2849): a name or an OID, then options ("uid;lang-fr").
_ATTRIBUTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(?:;[A-Za-z0-9-]+)*")
# A student number as enrolment.py accepts it: a link to any other could never be used, and is
# printed (a conflict, `registry show`).
_STUDENT_NUMBER = re.compile(r"[A-Za-z0-9]+")
_MAX_NUMBER = BY_NAME["student_number"].max_length
# A value is shown whole in a problem up to this length, cut beyond: a pasted megabyte must not flood the terminal.
_SHOWN_CHARS = 80


@dataclass(frozen=True)
class ExistingAccounts:
    """What an export of the account system says."""

    logins: set[str]  # every login, lower-cased: never to be issued
    links: dict[str, str]  # student number -> login, where the export carries both


@dataclass(frozen=True)
class _Value:
    """One value of an attribute (LDIF) or a column (CSV) that scolpass reads, where it is."""

    line: int
    field: str  # lower-cased, options left out: what the field lists name
    label: str  # as the file spells it, for messages
    text: str


def read_existing_accounts(path: str | Path) -> ExistingAccounts:
    """Logins, and student numbers linked to them, from an LDIF or CSV export of existing accounts.

    Raises :class:`InputError` listing every value that breaks the rules (a login
    scolpass could not issue, a student number enrolment.py would refuse, one
    student number linked to two logins), so that nothing is imported from it.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    name = path.name
    text, _ = decode(raw, name)
    del raw
    if text.startswith("\ufeff"):  # decode() removed the first one: an invisible character would open the data
        reason = "starts with a second byte order mark (U+FEFF, invisible): save the file again in UTF-8"
        raise InputError([Problem(name, 1, None, None, reason)])
    # PowerShell's Export-Csv opens with "#TYPE ..."; comments are no data in LDIF either.
    first = next((line for line in LINE_END.split(text) if line.strip() and not line.startswith("#")), None)
    if first is None:
        raise InputError([Problem(name, None, None, None, "is empty: no account to reserve")])
    is_ldif = first.lower().startswith(("dn:", "version:"))
    problems: list[Problem] = []
    entries = _from_ldif(text, name, problems) if is_ldif else _from_csv(text, name, problems)
    accounts = _accounts(entries, name, is_ldif, problems)
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.line or 0))
    if not accounts.logins:
        raise InputError([Problem(name, None, None, None, "holds no login (uid, sAMAccountName, mail...)")])
    return accounts


def read_existing_logins(path: str | Path) -> set[str]:
    """Every login found in an LDIF or CSV export of existing accounts, lower-cased."""
    return read_existing_accounts(path).logins


def _accounts(entries: list[list[_Value]], name: str, is_ldif: bool, problems: list[Problem]) -> ExistingAccounts:
    """The logins and links of ``entries``; what breaks the rules goes to ``problems``."""

    def refuse(value: _Value, reason: str) -> None:
        text = shown(value.text, _SHOWN_CHARS, _SHOWN_CHARS)
        if is_ldif:  # as the file writes it: "uid: ...", the attribute is no column
            problems.append(Problem(name, value.line, None, None, f"{value.label} {text!r} {reason}"))
        else:
            problems.append(Problem(name, value.line, value.label, text, reason))

    logins: set[str] = set()
    links: dict[str, tuple[str, int]] = {}  # student number -> (login, line of the number)
    for entry in entries:
        own: tuple[int, str] | None = None  # (rank in _OWN_LOGIN, login)
        numbers: dict[str, _Value] = {}
        for value in entry:
            # Spaces around a value are padding (LDAP compares without them); any other character is kept, and judged.
            text = value.text.strip(" ")
            if not text:
                continue  # an empty attribute or cell holds no login to reserve
            if value.field in NUMBER_FIELDS:
                if _STUDENT_NUMBER.fullmatch(text) and len(text) <= _MAX_NUMBER:
                    numbers.setdefault(text, value)
                else:
                    refuse(value, f"is not a student number (letters and digits, at most {_MAX_NUMBER})")
                continue
            # Lower-cased as LDAP compares logins; only when ASCII, as str.lower() makes the Kelvin sign 'k'.
            login = text.lower() if text.isascii() else text
            if value.field in ADDRESS_FIELDS:
                # A local part outside the rules can never be issued: it needs no reservation, and is not
                # one (a personal address such as supannMailPerso may well hold a '+').
                local = login.split("@", 1)[0]
                if login_problem(local) is None:
                    logins.add(local)
                continue
            problem = login_problem(login)
            if problem:
                refuse(value, problem)
                continue
            logins.add(login)
            if value.field in _OWN_LOGIN and (own is None or _OWN_LOGIN.index(value.field) < own[0]):
                own = (_OWN_LOGIN.index(value.field), login)
        if len(numbers) > 1:
            (first, a), (_, b) = list(numbers.items())[:2]
            reason = f"is a second student number of this entry ({first!r} on line {a.line}): a login has one"
            refuse(b, reason)
            continue
        if numbers and own:
            ((number, value),) = numbers.items()
            login = own[1]
            if number in links and links[number][0] != login:
                linked, line = links[number]
                refuse(value, f"is linked to {linked!r} on line {line} already, and here to {login!r}")
                continue
            links.setdefault(number, (login, value.line))
    return ExistingAccounts(logins, {number: login for number, (login, _) in links.items()})


def _invalid(name: str, line: int, why: str) -> InputError:
    return InputError([Problem(name, line, None, None, f"is not valid LDIF: {why}")])


def _from_ldif(text: str, name: str, problems: list[Problem]) -> list[list[_Value]]:
    """The values scolpass reads of each entry, each with the line it starts on (RFC 2849).

    Read here rather than by a library, which cannot say on which line a value is.
    """
    entries: list[list[_Value]] = []
    record: list[tuple[int, str]] = []
    seen_version = False
    for number, line in itertools.chain(_unfolded(text, name), [(0, "")]):  # a last blank line ends the last record
        if line.startswith("#"):
            continue
        if line:
            if not seen_version and not entries and not record and line.lower().startswith("version:"):
                seen_version = True  # "version: 1" opens the file, on its own
                continue
            record.append((number, line))
        elif record:
            entries.append(_ldif_entry(record, name, problems))
            record = []
    return entries


def _unfolded(text: str, name: str) -> Iterator[tuple[int, str]]:
    """The logical lines of an LDIF text, a folded value put back on one, with the line each starts on."""
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(LINE_END.split(text), 1):
        if line.startswith(" "):  # a folded line goes on the one before, less its leading space
            if not current or not current[0]:
                raise _invalid(name, number, "a line starting with a space (a folded line) follows no line")
            current.append(line[1:])
            continue
        if current is not None:
            yield start, "".join(current)
        current, start = [line], number
    if current is not None:
        yield start, "".join(current)


def _ldif_entry(record: list[tuple[int, str]], name: str, problems: list[Problem]) -> list[_Value]:
    (line, first), *rest = record
    kind = _attribute(first, line, name)[0].lower()
    if kind == "search":
        _search_result(rest, name, line)
        return []
    if kind != "dn":
        raise _invalid(name, line, f"a record starts with 'dn:', not {first[:40]!r}")
    entry = []
    for line, text in rest:
        label, value = _attribute(text, line, name)
        field = label.split(";", 1)[0].lower()
        if field == "dn":
            raise _invalid(name, line, "a second 'dn:' line in one record")
        if field == "changetype":
            if value.strip(" ").lower() != "add":
                reason = f"a change record (changetype: {value.strip(' ')[:20]}) is no entry; export the entries"
                raise _invalid(name, line, reason)
            continue
        if field not in _READ:
            continue  # a photo, a hash: not read, not judged
        if value.startswith("<"):
            problems.append(Problem(name, line, None, None, f"{label}: a value given by URL (:<) is not fetched"))
            continue
        if value.startswith(":"):
            try:
                value = base64.b64decode(value[1:].strip(" "), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                what = "UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "valid base64"
                problems.append(Problem(name, line, None, None, f"{label}:: the value is not {what}"))
                continue
        else:
            value = value.lstrip(" ")  # the spaces after the colon are no part of the value (RFC 2849 FILL)
        entry.append(_Value(line, field, label, value))
    return entry


def _search_result(rest: list[tuple[int, str]], name: str, line: int) -> None:
    """ldapsearch's "search: 2 / result: 0 Success" (without -LLL): anything but success is an incomplete export."""
    for number, text in rest:
        label, value = _attribute(text, number, name)
        if label.lower() == "result":
            if value.strip(" ").startswith("0 "):
                return
            reason = (
                f"ldapsearch says 'result:{value[:60]}': the export is incomplete (a size or time limit?), "
                "and a login left out would be issued again; export all the entries"
            )
            raise InputError([Problem(name, number, None, None, reason)])
    raise _invalid(name, line, "a record starts with 'dn:', not 'search:' without its 'result:'")


def _attribute(line: str, number: int, name: str) -> tuple[str, str]:
    """``line`` as its attribute description and what follows the colon (``:`` for base64, ``<`` for a URL)."""
    label, colon, value = line.partition(":")
    if not colon or not _ATTRIBUTE.fullmatch(label):
        raise _invalid(name, number, f"{line[:40]!r} is not 'attribute: value'")
    return label, value


def _from_csv(text: str, name: str, problems: list[Problem]) -> list[list[_Value]]:
    # Comments (PowerShell's "#TYPE ...") open the file: not CSV, but counted, so that lines are the editor's.
    comments, header_line = 0, ""
    for header_line in LINE_END.split(text):
        if not header_line.startswith("#"):
            break
        comments += 1
    (_, header), *records = parse_records(text, name, detect_separator(header_line), skip_lines=comments)
    labels = [h.strip() for h in header]
    fields = [label.lower() for label in labels]
    if not any(f in LOGIN_FIELDS or f in ADDRESS_FIELDS for f in fields):
        known = ", ".join(sorted(LOGIN_FIELDS | ADDRESS_FIELDS))
        raise InputError([Problem(name, comments + 1, None, None, f"has no column of logins or addresses ({known})")])
    entries = []
    for line, cells in records:
        if len(cells) != len(header):  # a shifted row would put a name where a login is read
            problems.append(
                Problem(name, line, None, None, f"has {len(cells)} fields where the header has {len(header)}")
            )
            continue
        entries.append(
            [_Value(line, f, label, cell) for f, label, cell in zip(fields, labels, cells, strict=True) if f in _READ]
        )
    return entries
