"""What the help desk asks of the registry, as typed records: find a student, one student's
history, the export, the runs; and a new password and sheet for one student, handed out at once.

The command line formats these; the counter's web page will call them too. Reading
works on an open :class:`Registry` (a copy in memory from :func:`admin.read_registry`
for the command line). :func:`reissue_now` holds everything in memory (the password,
the sheet's PDF, the change record) and takes the registry only for its own short
transaction, never the batch run's lock: a counter does not wait for a batch run to end.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from anyascii import anyascii

from .admin import registry_location
from .batches import sort_key
from .errors import StateError
from .exports import password_changes, write_accounts
from .files import group_id
from .lock import os_user
from .pipeline import new_passwords, refuse_no_registry, sheet_title
from .registry import IssuedAccount, Registry, ReissueRecord, RunRecord, open_registry
from .run import RunOptions
from .settings import Settings
from .sheet import SheetRenderer
from .student import Student

# A counter's reissue waits this long for a batch run's transaction (seconds), then says to retry.
COUNTER_WAIT = 5.0
SEARCH_LIMIT = 50

_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    """``text`` as a search compares it: transliterated (accents off), case folded, in words."""
    return _WORD.findall(anyascii(text).casefold())


def _name_words(student: Student) -> list[str]:
    return _words(" ".join((student.first_name, student.birth_name, student.usual_name)))


def serves(student: Student | None, faculties: Collection[str] | None) -> bool:
    """Whether a student has a step in one of ``faculties`` (codes or labels); every student when None."""
    if faculties is None:
        return True
    if student is None:
        return False  # an adopted account has no enrolment data to place it in a faculty
    wanted = set(faculties)
    places = {student.faculty, student.faculty_code}
    for step in student.steps:
        places |= {step.faculty, step.faculty_code}
    return bool(wanted & (places - {""}))


def search(
    reg: Registry, query: str, faculties: Collection[str] | None = None, limit: int = SEARCH_LIMIT
) -> list[IssuedAccount]:
    """Students by student number (their own or one linked to them; leading zeros or not), login, short
    login or address, or name.

    A name matches whatever the accents, the case and the order of its words:
    "helene marie", "Marie-Hélène" and "MARIE HELENE" find the same student; each
    word of the query may be the start of a name ("mar hel"). Exact matches (number,
    login) come first, then names in the order of the printed lists. With
    ``faculties``, only students with a step in one of them. At most ``limit``.
    """
    text = query.strip()
    if not text:
        return []
    found: dict[str, IssuedAccount] = {}
    # The student number as given or without its leading zeros (Excel's way), then a login or an address.
    exact = [*reg.same_number_key(text), reg.find_login(text.split("@", 1)[0].casefold())]
    for account in exact:
        if account is not None:
            found.setdefault(account.student_number, account)
    wanted = _words(text)
    if wanted:
        named = [
            a
            for a in reg.accounts()
            if a.student is not None and a.student_number not in found and _matches(wanted, _name_words(a.student))
        ]
        named.sort(key=lambda a: sort_key(a.student) if a.student else ("", "", a.student_number))
        for account in named:
            found[account.student_number] = account
    return [a for a in found.values() if serves(a.student, faculties)][:limit]


def _matches(wanted: list[str], words: list[str]) -> bool:
    """Every query word starts a distinct word of the name."""
    left = list(words)
    for word in sorted(wanted, key=len, reverse=True):  # the longest first: "marie ma" finds "Marie Martin"
        match = next((w for w in left if w.startswith(word)), None)
        if match is None:
            return False
        left.remove(match)
    return True


@dataclass(frozen=True)
class History:
    """One student: the account, the run that issued it and every reissue."""

    account: IssuedAccount
    issued_by: RunRecord | None
    reissues: tuple[ReissueRecord, ...]


def history(reg: Registry, student_number: str, faculties: Collection[str] | None = None) -> History:
    """What the registry knows of one student, by any of their numbers; a student outside ``faculties``
    is not shown."""
    account = reg.account(student_number)
    if account is None or not serves(account.student, faculties):
        raise StateError(f"{reg.location}: no account for student {student_number}")
    issued_by = reg.run(account.run_id) if account.run_id is not None else None
    return History(account, issued_by, tuple(reg.reissues(account.student_number)))


def export(reg: Registry, handle: TextIO) -> int:
    """Every account as CSV on ``handle`` (no password: the registry has none); returns how many."""
    return write_accounts(reg.accounts(), handle)


def runs(reg: Registry) -> list[RunRecord]:
    """Every run, oldest first."""
    return reg.runs()


@dataclass(frozen=True)
class HandedReissue:
    """A new password for one student, held in memory: its sheet and its change record, nowhere on disk."""

    account: IssuedAccount
    email: str
    run_id: int
    pdf: bytes = field(repr=False)  # the sheet, with the new password
    change_record: bytes = field(repr=False)  # LDIF replacing userPassword (a hash), for ldapmodify
    password: str = field(repr=False)  # to check it opens the account once it is in the directory


def reissue_now(
    student_number: str,
    settings: Settings,
    options: RunOptions | None = None,
    faculties: Collection[str] | None = None,
) -> HandedReissue:
    """A new password and sheet for one student, for the counter: nothing written but the registry's record.

    The password is drawn, hashed and printed in memory first; the reissue is then
    recorded in one short transaction, which refuses a student whose account is not
    issued (pending in a run under way, adopted without sheet data). If that fails,
    nothing was recorded and the password is forgotten: no sheet exists for it.
    """
    options = options or RunOptions()
    now = options.now or datetime.now().astimezone()
    year = options.academic_year(now)
    location = registry_location(settings, options.registry)
    refuse_no_registry(location)
    renderer = SheetRenderer(settings, year.label, options.protection)
    group = group_id(settings.registry.group)
    with open_registry(
        location, group=group, wait=COUNTER_WAIT, allow_insecure=settings.registry.allow_insecure
    ) as reg:
        found = reg.account(student_number)
        if found is None or found.state == "pending" or not serves(found.student, faculties):
            raise StateError(f"{student_number}: is not a student number this registry issued")
        account = found.account
        if account is None:
            raise StateError(f"{student_number}: has no sheet data in the registry (adopted account)")
        sheets, credentials = new_passwords([account], settings, options.choice)
        pdf = renderer.pdf_bytes(sheets, sheet_title(year))
        record = password_changes(credentials, settings.ldap.people_dn)
        user = os_user()
        # Recorded under the account's own number, whichever of its numbers the counter typed.
        run_id = reg.record_handed_reissue(
            found.student_number, year.start, now, user, options.actor or user, socket.gethostname()
        )
    password = sheets[0].password
    assert password is not None
    return HandedReissue(found, sheets[0].email, run_id, pdf, record, password)
