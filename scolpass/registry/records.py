"""What the registry remembers, as every engine gives it back: accounts, runs, reissues."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..student import Account, Student

# "pending" while its run writes, "issued", or "adopted" from an import (an account made elsewhere).
AccountState = Literal["pending", "issued", "adopted"]
# "pending" while it writes, "written" once its staging folder is complete and durable (publishing it
# is all that is left), then "complete" or "abandoned"; "pending-v3" is a run a crash left pending
# under schema 3 or before (output.LEGACY_PENDING).
RunState = Literal["pending", "written", "complete", "abandoned", "pending-v3"]
Command = Literal["generate", "reissue"]


@dataclass(frozen=True)
class LinkedNumber:
    """A further student number of an account: the same student under a new number (Pégase's learner code)."""

    student_number: str
    year: int  # the academic year of the run that linked it
    linked_at: str
    run_id: int | None


@dataclass(frozen=True)
class IssuedAccount:
    """What the registry remembers of one student.

    ``student_number`` is the number the account was issued (or adopted) under,
    its key for good; ``links`` are the numbers linked to it since. Any of them
    finds the account; ``student`` holds the latest run's data, whose number is
    the one the export gave that year.
    """

    student_number: str
    identifier: str
    first_year: int
    short_identifier: str | None = None
    state: AccountState = "issued"
    student: Student | None = None  # the printed data, for reissues and reprints; None if adopted
    issued_at: str = ""
    last_year: int | None = None  # the last academic year a run listed the student in
    run_id: int | None = None  # the run that issued it; None if adopted or issued before runs were recorded
    links: tuple[LinkedNumber, ...] = ()  # oldest first

    @property
    def student_numbers(self) -> tuple[str, ...]:
        """Every number that finds the account: its own, then the linked ones, oldest first."""
        return (self.student_number, *(link.student_number for link in self.links))

    @property
    def account(self) -> Account | None:
        """The account to print or export again; None for an adopted one, which has no sheet data."""
        return Account(self.student, self.identifier, self.short_identifier) if self.student else None


@dataclass(frozen=True)
class RunRecord:
    """One run, as the registry remembers it."""

    id: int
    command: Command
    state: RunState
    started_at: str
    finished_at: str | None
    os_user: str  # the system account that ran it
    academic_year: int
    input_name: str | None
    input_sha256: str | None
    output: str  # "" for a reissue handed out at once, which writes no folder
    staging: str
    counts: Mapping[str, int]
    actor: str = ""  # who asked for it: the OS user, or a counter agent signed in to the web page
    host: str = ""  # the machine it ran on ("" if recorded before schema 7: taken as any machine's)


@dataclass(frozen=True)
class ReissueRecord:
    """One new password given to a student."""

    reissued_at: str
    run_id: int
    actor: str


# The columns of a run and of an account, in the order the two functions below read a row.
RUN_COLUMNS = (
    "id, command, state, started_at, finished_at, os_user, academic_year, input_name, input_sha256, output,"
    " staging, counts, actor, host"
)


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    id_, command, state, started, finished, user, year, name, sha, output, staging, counts, actor, host = row
    loaded = json.loads(counts) if counts else {}
    return RunRecord(
        id_,
        command,
        state,
        started,
        finished,
        user,
        year,
        name,
        sha,
        output,
        staging,
        loaded,
        actor or user,
        host or "",
    )


ACCOUNT_COLUMNS = (
    "student_number, identifier, first_year, short_identifier, state, student, issued_at, last_year, run_id"
)


# The same, of the table aliased ``a`` (queries that join numbers, which has a student_number too).
ACCOUNT_COLUMNS_A = ", ".join(f"a.{column.strip()}" for column in ACCOUNT_COLUMNS.split(","))


def account_from_row(row: tuple[Any, ...]) -> IssuedAccount:
    number, identifier, year, short, state, student, issued_at, last_year, run_id = row
    printed = Student.from_record(student) if student else None
    return IssuedAccount(number, identifier, year, short, state, printed, issued_at, last_year, run_id)
