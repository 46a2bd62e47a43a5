"""The interface every registry engine gives the rest of scolpass.

Runs, the help desk and the administration commands see only this: the engine
behind it (sqlite.py today) is chosen by :func:`scolpass.registry.open_registry`.
Every method that changes the registry does so inside :meth:`Registry.transaction`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ..duplicates import Resemblance
from ..student import Account, Student
from .records import Command, IssuedAccount, ReissueRecord, RunRecord, RunState


class Registry(Protocol):
    """An open registry."""

    location: str  # where it is, as messages name it: the file, or the URL without any password
    created: bool  # made by this opening (a first run)
    # Whether several runs may work on it at once (PostgreSQL), each holding its own run (hold_run);
    # else one run at a time, under the file's run lock (SQLite).
    concurrent: bool

    def close(self) -> None:
        """Close the connection."""
        ...

    def __enter__(self) -> Registry: ...

    def __exit__(self, *_: object) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Changes made all or nothing (a ``with`` block); a change outside one is refused by the engine."""
        ...

    def issued(self, student_numbers: Iterable[str]) -> dict[str, IssuedAccount]:
        """The accounts already issued (or pending, or adopted) to these students, by the number asked:
        an account's own number or one linked to it."""
        ...

    def account(self, student_number: str) -> IssuedAccount | None:
        """One student's account, by its own number or one linked to it, if any."""
        ...

    def accounts(self) -> Iterator[IssuedAccount]:
        """Every account, by (its own) student number."""
        ...

    def find_login(self, login: str) -> IssuedAccount | None:
        """The account whose login or short login is ``login``, if any."""
        ...

    def same_number_key(self, student_number: str) -> list[IssuedAccount]:
        """Accounts with a student number (their own or a linked one) that is ``student_number`` but for
        leading zeros."""
        ...

    def probable_duplicates(self, student: Student) -> list[tuple[str, Resemblance]]:
        """Students of the registry that are probably ``student`` under another number, with how."""
        ...

    def probable_duplicates_of(self, students: Iterable[Student]) -> dict[str, list[tuple[str, Resemblance]]]:
        """:meth:`probable_duplicates` of each of ``students``, by student number (in a few statements)."""
        ...

    def with_ine(self, ines: Iterable[str]) -> dict[str, list[str]]:
        """The own numbers of the accounts that have each of these INEs, by INE (an INE no account has is left
        out)."""
        ...

    def taken_identifiers(self, short: bool = False) -> set[str]:
        """Every identifier (or short identifier) ever issued, and every reserved login."""
        ...

    def record(self, accounts: Iterable[Account], year: int, when: datetime, run_id: int | None = None) -> None:
        """Remember new accounts, ``pending`` until :meth:`confirm` when a run is given."""
        ...

    def update_students(self, students: Iterable[Student], year: int) -> None:
        """Keep returning students' printed data and duplicate keys current (names, steps, INE change;
        adopted and migrated accounts get them here first), and note that they are enrolled in ``year``."""
        ...

    def link(self, links: Iterable[tuple[str, str]], year: int, when: datetime, run_id: int | None = None) -> None:
        """Record further student numbers of accounts, as ``(new number, account's own number)`` pairs,
        inside :meth:`transaction` (with the run that links them, which takes them back if abandoned)."""
        ...

    def count(self) -> int:
        """How many accounts the registry holds."""
        ...

    def reserve(self, logins: Iterable[str], source: str, when: datetime) -> int:
        """Reserve logins of existing accounts (staff, former students...); returns how many were new."""
        ...

    def reserved_count(self) -> int:
        """How many logins are reserved."""
        ...

    def adopt(self, links: Mapping[str, str], year: int, when: datetime) -> tuple[int, list[str]]:
        """Link student numbers to the logins they already have; returns (adopted, conflicts)."""
        ...

    def purgeable(self, before: int) -> list[tuple[str, str, int]]:
        """Issued or adopted students last enrolled before ``before``: ``(student_number, identifier, last_year)``."""
        ...

    def latest_year(self) -> int | None:
        """The latest academic year a complete ``generate`` run was for (else the latest first year), or None."""
        ...

    def purge(self, before: int, when: datetime) -> list[tuple[str, str, int]]:
        """Remove everything known of students last enrolled before ``before``, except their logins,
        which stay reserved forever (a login is never given to someone else); returns them as
        :meth:`purgeable` does."""
        ...

    def cannot_compact(self) -> str | None:
        """Why a purge through this connection leaves the removed data in the database's storage (a PostgreSQL
        role that may not VACUUM the tables), and who must clear it; None when the purge clears it itself."""
        ...

    def begin_run(
        self,
        command: Command,
        year: int,
        when: datetime,
        os_user: str,
        output: Path,
        input_name: str | None = None,
        input_sha256: str | None = None,
        actor: str | None = None,
        host: str = "",
    ) -> int:
        """Record a run that starts writing (inside :meth:`transaction`); returns its id."""
        ...

    def record_handed_reissue(
        self, student_number: str, year: int, when: datetime, os_user: str, actor: str, host: str = ""
    ) -> int:
        """One student's new password, handed out at once (no folder): a complete run, in one short transaction."""
        ...

    def set_staging(self, run_id: int, staging: Path) -> None:
        """Where run ``run_id`` writes before publishing (inside the transaction of :meth:`begin_run`)."""
        ...

    def confirm(self, run_id: int, counts: Mapping[str, int], when: datetime) -> None:
        """The run's output folder is complete: its accounts are issued."""
        ...

    def mark_written(self, run_id: int) -> None:
        """Run ``run_id``'s staging folder is complete and on disk: recovery publishes it, never undoes it."""
        ...

    def forget_staging(self, run_id: int) -> None:
        """An undone run's staging folder is gone: recovery need not look for it again."""
        ...

    def abandon(self, run_id: int, when: datetime) -> None:
        """The run never completed: its pending accounts and links are forgotten, identifiers freed (its
        reissues stay, as what it tried: only a complete run's count)."""
        ...

    def hold_run(self, run_id: int) -> None:
        """This process runs ``run_id`` until it closes the registry or calls :meth:`release_run` (inside the
        transaction that records the run: no other process ever sees it pending and not held)."""
        ...

    def release_run(self, run_id: int) -> None:
        """This process no longer holds ``run_id`` (held by :meth:`hold_run` or :meth:`claim_run`)."""
        ...

    def claim_run(self, run_id: int) -> bool:
        """Whether no living process holds ``run_id``; if so, this one holds it until :meth:`release_run`, so
        that two processes never settle one run at once."""
        ...

    def live_runs(self, run_ids: Iterable[int]) -> set[int]:
        """Which of ``run_ids`` a living process holds (``registry runs``)."""
        ...

    def runs(self, *states: RunState) -> list[RunRecord]:
        """Every run (or those in one of ``states``), oldest first."""
        ...

    def run(self, run_id: int) -> RunRecord | None:
        """One run, if the registry has it."""
        ...

    def record_reissues(self, student_numbers: Iterable[str], run_id: int, when: datetime) -> None:
        """Remember that these students got a new password in this run (inside :meth:`transaction`)."""
        ...

    def reissues(self, student_number: str) -> list[ReissueRecord]:
        """When a student's password was reissued, by which run, for whom (complete runs only); any of the
        account's numbers."""
        ...

    def set_feed_mark(self, run_id: int, modified: int) -> None:
        """The largest ``derniereModification`` of the Pégase feed that run ``run_id`` consumes (inside the
        transaction that records the run): :meth:`feed_mark` counts it once the run is complete."""
        ...

    def feed_mark(self) -> int | None:
        """The largest ``derniereModification`` a complete ``generate`` consumed, where ``pegase fetch --since
        last`` starts from; None when no such run read a feed."""
        ...

    def table_rows(self, table: str, columns: Sequence[str], order: str) -> list[tuple[Any, ...]]:
        """Every row of ``table``, in ``order`` (a registry copy)."""
        ...

    def load_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` as they are, ids included (a registry copy, inside :meth:`transaction`)."""
        ...

    def after_load(self) -> None:
        """Once rows were loaded with their ids: the engine's id counters past them."""
        ...

    def feed_marks(self) -> list[tuple[str, str]]:
        """The feed marks of meta, by key."""
        ...
