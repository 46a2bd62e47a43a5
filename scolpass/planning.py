"""What a run will do, worked out before anything is written: who is new, returning or held back
as a probable duplicate, and every new student's login; in the migration year, which new numbers
are issued students under a new number, linked by their INE.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .batches import sort_key
from .duplicates import RESEMBLANCES, SAME_INE, SAME_NUMBER, Key, Resemblance, keys, note
from .enrolment import Cancelled, Enrolment
from .errors import InputError, Problem
from .identifiers import LoginRule, assign_identifiers
from .registry import IssuedAccount, Registry
from .settings import IdentifierSettings
from .student import Account, Student


@dataclass(frozen=True)
class Held:
    """A new student number not issued: probably a student the registry or the file already has."""

    student: Student
    note: str  # why, as the manifest and the terminal say it


@dataclass(frozen=True)
class Plan:
    """Everything a run will write, computed before anything is."""

    new: tuple[Account, ...]  # by faculty and name, as printed
    # This year's data and what the registry has; linked students among them, under their new number.
    returning: tuple[tuple[Student, IssuedAccount], ...]
    held: tuple[Held, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (new student number, the account's own number), by new number
    # Students whose every enrolment is cancelled, with their account when one was issued before
    # (listed for the IT team; nothing is done to it): under their number, or in the migration year
    # the one account with their INE.
    cancelled: tuple[tuple[Cancelled, IssuedAccount | None], ...] = ()

    def linked_to(self) -> dict[str, str]:
        """The account's own number of each student linked by this plan, by their new number."""
        return dict(self.links)


def plan_generate(
    enrolment: Enrolment,
    rules: IdentifierSettings,
    reg: Registry,
    allow_duplicates: Collection[str] = (),
    link_by_ine: bool = False,
    year: int | None = None,
) -> Plan:
    """Who of ``enrolment`` is new, returning or a probable duplicate, and the new students' logins.

    With ``link_by_ine`` (the migration year), a new number whose INE is that of one
    issued student, and nothing else's, is that student: returning, linked to their
    account (see :func:`_link`). ``year`` is the run's academic year: an account
    linked to another number in it already is not linked again. A cancelled number
    that finds no account finds, with ``link_by_ine``, the one account with its INE
    (see :func:`_cancelled_by_ine`).
    """
    issued = reg.issued(s.student_number for s in enrolment.students)
    listed = {a.student_number for a in issued.values()}  # accounts this file lists, under any of their numbers
    fresh = [s for s in enrolment.students if s.student_number not in issued]
    new, held, linked = _hold_duplicates(fresh, reg, allow_duplicates, listed if link_by_ine else None, year)
    returning = sorted(
        [*((s, issued[s.student_number]) for s in enrolment.students if s.student_number in issued), *linked],
        key=lambda pair: sort_key(pair[0]),
    )
    new.sort(key=sort_key)
    links = tuple(sorted((s.student_number, a.student_number) for s, a in linked))
    before = reg.issued(c.student_number for c in enrolment.cancelled)
    if link_by_ine:
        before |= _cancelled_by_ine([c for c in enrolment.cancelled if c.student_number not in before], reg)
    cancelled = tuple((c, before.get(c.student_number)) for c in enrolment.cancelled)
    return Plan(tuple(_logins(new, rules, reg)), tuple(returning), tuple(held), links=links, cancelled=cancelled)


def _hold_duplicates(
    fresh: Sequence[Student],
    reg: Registry,
    allow_duplicates: Collection[str],
    listed: Collection[str] | None = None,
    year: int | None = None,
) -> tuple[list[Student], list[Held], list[tuple[Student, IssuedAccount]]]:
    """New students, those held back as probable duplicates of an issued student or of another new one,
    and (with ``listed``, the accounts the file lists: linking by INE) those linked to their account.

    A file's new students are compared with each other too, in student-number order:
    the first of two look-alikes is issued (or linked), the second held back.
    """
    new: list[Student] = []
    held: list[Held] = []
    linked: list[tuple[Student, IssuedAccount]] = []
    seen: dict[tuple[str, str], str] = {}  # (key, value) -> the first new student number with it
    ordered = sorted(fresh, key=lambda s: s.student_number)
    in_registry = reg.probable_duplicates_of(ordered)  # a few statements for the whole file
    candidates = _candidates(in_registry, reg) if listed is not None else {}
    claimed: set[str] = set()  # accounts linked by this plan
    for student in ordered:
        number, values = student.student_number, keys(student)
        in_file = [(seen[r.key, values[r.key]], r) for r in RESEMBLANCES if (r.key, values.get(r.key)) in seen]
        alike = [*in_registry[number], *in_file]
        # --allow-duplicate is the registrar's word for this one student: a new account, even in the migration year.
        if not alike or number in allow_duplicates:
            new.append(student)
            _remember(seen, values, number)
            continue
        account = candidates.get(number)
        why = None
        if account is not None:
            why = _link(student, in_registry[number], in_file, account, listed or (), claimed, year)
        if account is None or why is not None:
            held.append(Held(student, note(*alike[0]) + (f"; not linked by INE: {why}" if why else "")))
            continue
        linked.append((student, account))
        claimed.add(account.student_number)
        _remember(seen, values, number)
    return new, held, linked


def _remember(seen: dict[tuple[str, str], str], values: Mapping[Key, str], student_number: str) -> None:
    for key, value in values.items():
        seen.setdefault((key, value), student_number)


def _candidates(in_registry: Mapping[str, list[tuple[str, Resemblance]]], reg: Registry) -> dict[str, IssuedAccount]:
    """By new student number, the account the INE points to when exactly one has it (read in one go)."""
    by_ine = {number: {other for other, r in found if r is SAME_INE} for number, found in in_registry.items()}
    single = {number: next(iter(others)) for number, others in by_ine.items() if len(others) == 1}
    accounts = reg.issued(set(single.values()))
    return {number: accounts[own] for number, own in single.items() if own in accounts}


def _link(
    student: Student,
    found: Sequence[tuple[str, Resemblance]],
    in_file: Sequence[tuple[str, Resemblance]],
    account: IssuedAccount,
    listed: Collection[str],
    claimed: Collection[str],
    year: int | None,
) -> str | None:
    """Why ``student``, a new number with the INE of ``account`` (and of no other account), is not linked to
    it; None to link.

    Only the same INE links, and only when nothing else makes it doubtful: another birth
    date (names may change between Apogée and Pégase, a birth date does not: the INE is
    mistyped or reused, on someone else), two current students with one INE (the account
    listed in this file under another number), a resemblance to any other student, a
    number that differs from one of the account's but for leading zeros (Excel's doing,
    not a new learner code), an account already linked to another number this year (in
    this plan or an earlier run).
    """
    own = account.student_number
    born = account.student.birth_date if account.student is not None else None
    if born != student.birth_date:
        return f"the birth date differs ({born.strftime('%d/%m/%Y') if born else 'none'} in the registry)"
    if own in listed:
        return f"student {own} is in this file too"
    if any(r is SAME_NUMBER for other, r in found if other == own):
        return f"the number is {own}'s but for leading zeros: check the export"
    others = sorted({other for other, _ in [*found, *in_file] if other != own})
    if others:
        return f"it also resembles student {others[0]}"
    if account.state == "pending":
        return f"student {own}'s account is not issued yet"
    this_year = [link.student_number for link in account.links if year is not None and link.year == year]
    if own in claimed or this_year:
        return f"student {own} was linked to {this_year[0] if this_year else 'another number'} this year already"
    return None


def _cancelled_by_ine(cancelled: Sequence[Cancelled], reg: Registry) -> dict[str, IssuedAccount]:
    """By cancelled student number, the one account with that learner's INE, if only one has it.

    The migration year: a learner who cancels under their new code has their account
    under their old number. The INE alone decides (the cancelled enrolment is set aside
    unread: no birth date to compare), which is enough to list the account for the IT
    team, never to link or change anything: the note says so.
    """
    holders = reg.with_ine(c.ine for c in cancelled)
    single = {c.student_number: found[0] for c in cancelled if len(found := holders.get(c.ine, [])) == 1}
    accounts = reg.issued(set(single.values()))
    return {number: accounts[own] for number, own in single.items() if own in accounts}


def _logins(new: Sequence[Student], rules: IdentifierSettings, reg: Registry) -> list[Account]:
    """Every new student's login, and short login with ``[identifiers] short_pattern``."""
    # Main and short logins are one namespace: a short login is never another student's login.
    taken = reg.taken_identifiers() | reg.taken_identifiers(short=True)
    rule = LoginRule(rules.pattern, rules.max_length, rules.suffix)
    identifiers = assign_identifiers(new, taken.__contains__, rule, rules.reserved)
    shorts: dict[str, str] = {}
    if rules.short_pattern:
        short_rule = LoginRule(rules.short_pattern, rules.short_max_length, rules.suffix)
        # A student's own main login may also be their short one (same person), no one else's.
        mains = set(identifiers.values())
        given: set[str] = set()
        for student in sorted(new, key=lambda s: s.student_number):
            own = identifiers[student.student_number]

            def used(login: str, own: str = own) -> bool:
                return login in taken or login in given or (login in mains and login != own)

            short = assign_identifiers([student], used, short_rule, rules.reserved)[student.student_number]
            shorts[student.student_number] = short
            given.add(short)
    return [Account(s, identifiers[s.student_number], shorts.get(s.student_number)) for s in new]


def plan_reissue(student_numbers: Sequence[str], reg: Registry) -> Plan:
    """The issued students to give a new password; every number that cannot be is a problem.

    Any of a student's numbers finds them (one linked by INE too); a student named
    by two of their numbers gets one new password.
    """
    found = reg.issued(student_numbers)
    problems = []
    chosen: dict[str, tuple[Student, IssuedAccount]] = {}  # by the account's own number
    for number in dict.fromkeys(student_numbers):
        account = found.get(number)
        if account is None or account.state == "pending":
            problems.append(Problem(reg.location, None, None, number, "is not a student number this registry issued"))
        elif account.student is None:
            reason = "has no sheet data in the registry (adopted account): run generate with a file that lists them"
            problems.append(Problem(reg.location, None, None, number, reason))
        else:
            chosen.setdefault(account.student_number, (account.student, account))
    if problems:
        raise InputError(problems)
    return Plan((), tuple(sorted(chosen.values(), key=lambda pair: sort_key(pair[0]))))
