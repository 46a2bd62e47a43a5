"""What a run will do, worked out before anything is written: who is new, returning or held back
as a probable duplicate, and every new student's login.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .batches import sort_key
from .duplicates import RESEMBLANCES, Resemblance, keys, note
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
    returning: tuple[tuple[Student, IssuedAccount], ...]  # this year's data and what the registry has
    held: tuple[Held, ...] = ()
    # Students whose every enrolment is cancelled, with their account when one was issued before
    # (listed for the IT team; nothing is done to it).
    cancelled: tuple[tuple[Cancelled, IssuedAccount | None], ...] = ()


def plan_generate(
    enrolment: Enrolment, rules: IdentifierSettings, reg: Registry, allow_duplicates: Collection[str] = ()
) -> Plan:
    """Who of ``enrolment`` is new, returning or a probable duplicate, and the new students' logins."""
    issued = reg.issued(s.student_number for s in enrolment.students)
    returning = sorted(
        ((s, issued[s.student_number]) for s in enrolment.students if s.student_number in issued),
        key=lambda pair: sort_key(pair[0]),
    )
    fresh = [s for s in enrolment.students if s.student_number not in issued]
    new, held = _hold_duplicates(fresh, reg, allow_duplicates)
    new.sort(key=sort_key)
    before = reg.issued(c.student_number for c in enrolment.cancelled)
    cancelled = tuple((c, before.get(c.student_number)) for c in enrolment.cancelled)
    return Plan(tuple(_logins(new, rules, reg)), tuple(returning), tuple(held), cancelled)


def _hold_duplicates(
    fresh: Sequence[Student], reg: Registry, allow_duplicates: Collection[str]
) -> tuple[list[Student], list[Held]]:
    """New students, and those held back as probable duplicates of an issued student or of another new one.

    A file's new students are compared with each other too, in student-number order:
    the first of two look-alikes is issued, the second held back.
    """
    new: list[Student] = []
    held: list[Held] = []
    seen: dict[tuple[str, str], str] = {}  # (key, value) -> the first new student number with it
    for student in sorted(fresh, key=lambda s: s.student_number):
        values = keys(student)
        found: list[tuple[str, Resemblance]] = reg.probable_duplicates(student)
        found += [(seen[r.key, values[r.key]], r) for r in RESEMBLANCES if (r.key, values.get(r.key)) in seen]
        if found and student.student_number not in allow_duplicates:
            held.append(Held(student, note(*found[0])))
            continue
        new.append(student)
        for key, value in values.items():
            seen.setdefault((key, value), student.student_number)
    return new, held


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
    """The issued students to give a new password; every number that cannot be is a problem."""
    found = reg.issued(student_numbers)
    problems = []
    chosen: list[tuple[Student, IssuedAccount]] = []
    for number in dict.fromkeys(student_numbers):
        account = found.get(number)
        if account is None or account.state == "pending":
            problems.append(Problem(str(reg.path), None, None, number, "is not a student number this registry issued"))
        elif account.student is None:
            reason = "has no sheet data in the registry (adopted account): run generate with a file that lists them"
            problems.append(Problem(str(reg.path), None, None, number, reason))
        else:
            chosen.append((account.student, account))
    if problems:
        raise InputError(problems)
    chosen.sort(key=lambda pair: sort_key(pair[0]))
    return Plan((), tuple(chosen))
