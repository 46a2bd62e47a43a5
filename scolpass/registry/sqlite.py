"""The registry in SQLite, the embedded engine: one file beside the runs that use it.

It keeps identifiers stable across runs and years, and lets a crashed run be
recovered: a run's accounts are written ``pending`` before any file, and
become ``issued`` only once the run's output folder is complete. It never
holds a password, not even hashed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..duplicates import RESEMBLANCES, Resemblance, keys, number_key
from ..errors import StateError
from ..files import create_private, refuse_unsafe
from ..student import Account, Student
from .base import Registry
from .records import (
    ACCOUNT_COLUMNS,
    ACCOUNT_COLUMNS_A,
    RUN_COLUMNS,
    Command,
    IssuedAccount,
    LinkedNumber,
    ReissueRecord,
    RunRecord,
    RunState,
    account_from_row,
    run_from_row,
)

DEFAULT_REGISTRY = "scolpass.sqlite3"
SCHEMA_VERSION = 6
# How long a short transaction waits for another run's (seconds): a batch run only holds the
# registry's write lock while it records or confirms, never while it renders.
WAIT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    student_number TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    short_identifier TEXT UNIQUE,
    first_year INTEGER NOT NULL,
    issued_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'issued',
    run_id INTEGER,
    ine TEXT,
    identity_key TEXT,
    number_key TEXT,
    student TEXT,
    last_year INTEGER
);
CREATE INDEX IF NOT EXISTS accounts_ine ON accounts (ine);
CREATE INDEX IF NOT EXISTS accounts_identity ON accounts (identity_key);
CREATE INDEX IF NOT EXISTS accounts_number_key ON accounts (number_key);
CREATE TABLE IF NOT EXISTS reserved (
    identifier TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    reserved_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    os_user TEXT NOT NULL,
    academic_year INTEGER NOT NULL,
    input_name TEXT,
    input_sha256 TEXT,
    output TEXT NOT NULL,
    staging TEXT NOT NULL,
    counts TEXT,
    actor TEXT
);
CREATE TABLE IF NOT EXISTS reissues (
    id INTEGER PRIMARY KEY,
    student_number TEXT NOT NULL,
    run_id INTEGER NOT NULL,
    reissued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS numbers (
    student_number TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts (student_number),
    number_key TEXT NOT NULL,
    year INTEGER NOT NULL,
    linked_at TEXT NOT NULL,
    run_id INTEGER
);
CREATE INDEX IF NOT EXISTS numbers_account ON numbers (account);
CREATE INDEX IF NOT EXISTS numbers_number_key ON numbers (number_key);
"""
# One namespace of student numbers across accounts and numbers: a further number is never an
# account's own, and an account is never made under a number linked to another (the primary key of
# numbers already keeps a number to one account). Each is one statement (a trigger's body holds
# semicolons), run after the tables exist.
_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS numbers_not_an_account BEFORE INSERT ON numbers
    WHEN EXISTS (SELECT 1 FROM accounts WHERE student_number = NEW.student_number)
    BEGIN SELECT RAISE(ABORT, 'this student number is an account of its own'); END""",
    """CREATE TRIGGER IF NOT EXISTS accounts_not_a_linked_number BEFORE INSERT ON accounts
    WHEN EXISTS (SELECT 1 FROM numbers WHERE student_number = NEW.student_number)
    BEGIN SELECT RAISE(ABORT, 'this student number is linked to another account'); END""",
)

# Forward migrations, by the version they start from. Version 1 had no run
# records: its accounts were all issued by complete runs.
_MIGRATIONS = {
    1: """
ALTER TABLE accounts ADD COLUMN state TEXT NOT NULL DEFAULT 'issued';
ALTER TABLE accounts ADD COLUMN run_id INTEGER;
ALTER TABLE accounts ADD COLUMN ine TEXT;
ALTER TABLE accounts ADD COLUMN identity_key TEXT;
ALTER TABLE accounts ADD COLUMN number_key TEXT;
ALTER TABLE accounts ADD COLUMN student TEXT;
UPDATE accounts SET number_key = ltrim(student_number, '0');
""",
    # The last academic year a student was enrolled, which `registry purge` needs.
    2: """
ALTER TABLE accounts ADD COLUMN last_year INTEGER;
UPDATE accounts SET last_year = first_year;
""",
    # No new column: runs gain the state 'written' (complete in their staging folder, not yet
    # renamed into place), which an older scolpass would never settle; the version keeps it out.
    # Runs a crash left pending under schema 3 or before were published before anything marked it:
    # recovery keeps their version's rule for them (output.LEGACY_PENDING), set after the tables exist.
    3: "",
    # Who asked for each run (a counter agent, through the web page), beside the OS user that ran it.
    4: """
ALTER TABLE runs ADD COLUMN actor TEXT;
UPDATE runs SET actor = os_user;
""",
    # The further student numbers of an account (the migration year: Pégase's learner code beside
    # Apogée's number). Nothing to carry over: the table, its indexes and triggers are made by the
    # schema below, and an older scolpass must not open a registry whose numbers it would not look up.
    5: "",
}
# Versions 1 and 2 did not record who came back in which year: every account is
# taken as enrolled until the last year the registry knows of (its last complete
# run; version 1 recorded no runs, so the latest first year of any account), so
# that a purge never removes a student who may have been enrolled since.
_LAST_YEAR_FROM_RUNS = """
UPDATE accounts SET last_year = max(coalesce(last_year, 0),
    (SELECT coalesce(max(academic_year), 0) FROM runs WHERE state = 'complete'),
    (SELECT max(first_year) FROM accounts))
"""
_COLUMNS = {
    1: {"student_number", "identifier", "short_identifier", "first_year", "issued_at"},
    2: {
        "student_number", "identifier", "short_identifier", "first_year", "issued_at", "state", "run_id", "ine",
        "identity_key", "number_key", "student",
    },
}  # fmt: skip
_COLUMNS[3] = _COLUMNS[2] | {"last_year"}
_COLUMNS[4] = _COLUMNS[3]
_COLUMNS[5] = _COLUMNS[4]
_COLUMNS[6] = _COLUMNS[5]


class SqliteRegistry:
    """An open registry file (:class:`~scolpass.registry.base.SqliteRegistry`). Use :func:`open_registry`."""

    def __init__(self, path: Path, connection: sqlite3.Connection, created: bool) -> None:
        self.path = path
        self.created = created
        self._db = connection

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> SqliteRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Changes made all or nothing; ``BEGIN IMMEDIATE`` takes the write lock at once."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateError(f"{self.path}: the registry is busy (another run?): {exc}") from None
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            # A full disk, or a reader holding the file too long: nothing of the transaction was saved.
            self._rollback()
            raise StateError(f"{self.path}: cannot save to the registry: {exc}") from None

    def _rollback(self) -> None:
        # SQLite has already rolled back by itself after some errors (a full disk, an I/O error):
        # a second ROLLBACK would fail and hide the first error behind "no transaction is active".
        if self._db.in_transaction:
            # The error being raised says what went wrong; the journal undoes the rest.
            with contextlib.suppress(sqlite3.DatabaseError):
                self._db.execute("ROLLBACK")

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        # A file damaged or locked between opening and use is the registrar's state to fix, not a bug.
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise StateError(f"{self.path}: an identifier or student was recorded twice: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot {doing} the registry: {exc}") from None

    # -- accounts ------------------------------------------------------------
    def issued(self, student_numbers: Iterable[str]) -> dict[str, IssuedAccount]:
        """The accounts already issued (or pending, or adopted) to these students, by the number asked:
        an account's own number or one linked to it."""
        numbers = list(student_numbers)
        found: dict[str, IssuedAccount] = {}
        with self._guard("read"):
            for chunk in _chunks(numbers, uses=2):
                marks = ",".join("?" * len(chunk))
                # Only "?" marks and column names are formatted in; the values are bound.
                query = (
                    f"SELECT a.student_number, {ACCOUNT_COLUMNS_A} FROM accounts a WHERE a.student_number IN ({marks})"  # noqa: S608
                    f" UNION ALL SELECT n.student_number, {ACCOUNT_COLUMNS_A} FROM numbers n"
                    f" JOIN accounts a ON a.student_number = n.account WHERE n.student_number IN ({marks})"
                )
                for asked, *row in self._db.execute(query, chunk + chunk):
                    found[asked] = account_from_row(tuple(row))
            return self._with_links(found)

    def account(self, student_number: str) -> IssuedAccount | None:
        """One student's account, by its own number or one linked to it, if any."""
        return self.issued([student_number]).get(student_number)

    def accounts(self) -> Iterator[IssuedAccount]:
        """Every account, by (its own) student number."""
        with self._guard("read"):
            rows = self._db.execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY student_number").fetchall()  # noqa: S608
            links = self._links(None)
        return (dataclasses.replace(a, links=links.get(a.student_number, ())) for a in map(account_from_row, rows))

    def find_login(self, login: str) -> IssuedAccount | None:
        """The account whose login or short login is ``login``, if any."""
        with self._guard("read"):
            row = self._db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identifier = ? OR short_identifier = ?",  # noqa: S608
                (login, login),
            ).fetchone()
            return self._with_links({login: account_from_row(row)})[login] if row else None

    def same_number_key(self, student_number: str) -> list[IssuedAccount]:
        """Accounts with a student number (their own or a linked one) that is ``student_number`` but for
        leading zeros."""
        with self._guard("read"):
            rows = self._db.execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE number_key = ?1"  # noqa: S608
                " OR student_number IN (SELECT account FROM numbers WHERE number_key = ?1) ORDER BY student_number",
                (number_key(student_number),),
            ).fetchall()
            return list(self._with_links({a.student_number: a for a in map(account_from_row, rows)}).values())

    def probable_duplicates(self, student: Student) -> list[tuple[str, Resemblance]]:
        """Students of the registry that are probably ``student`` under another number, with how.

        Each is named by its account's own number. A number linked to an account is
        that account's, never a duplicate of it; its leading zeros are compared too.
        """
        found: list[tuple[str, Resemblance]] = []
        values = keys(student)
        with self._guard("read"):
            own = self._account_of(student.student_number) or student.student_number
            for resemblance in RESEMBLANCES:
                value = values.get(resemblance.key)
                if value is None:
                    continue
                # The column is one of duplicates.Key's literals, never user input.
                query = f"SELECT student_number FROM accounts WHERE {resemblance.key} = ?1"  # noqa: S608
                if resemblance.key == "number_key":
                    query += " UNION ALL SELECT account FROM numbers WHERE number_key = ?1"
                others = dict.fromkeys(other for (other,) in self._db.execute(query, (value,)))
                found += [(other, resemblance) for other in others if other != own]
        return found

    def with_ine(self, ines: Iterable[str]) -> dict[str, list[str]]:
        """The own numbers of the accounts that have each of these INEs, by INE (an INE no account has is left
        out)."""
        found: dict[str, list[str]] = {}
        with self._guard("read"):
            for chunk in _chunks(sorted({ine for ine in ines if ine})):
                marks = ",".join("?" * len(chunk))
                query = f"SELECT ine, student_number FROM accounts WHERE ine IN ({marks}) ORDER BY student_number"  # noqa: S608
                for ine, number in self._db.execute(query, chunk):
                    found.setdefault(ine, []).append(number)
        return found

    def _account_of(self, student_number: str) -> str | None:
        """The own number of the account ``student_number`` finds (itself, or the account it links to)."""
        (own,) = self._db.execute(
            "SELECT coalesce((SELECT account FROM numbers WHERE student_number = ?1),"
            " (SELECT student_number FROM accounts WHERE student_number = ?1))",
            (student_number,),
        ).fetchone()
        return str(own) if own is not None else None

    def _links(self, accounts: Iterable[str] | None) -> dict[str, tuple[LinkedNumber, ...]]:
        """The numbers linked to these accounts (to every account with None), by account, oldest first."""
        query = "SELECT account, student_number, year, linked_at, run_id FROM numbers"
        if accounts is None:
            rows = self._db.execute(query + " ORDER BY linked_at, rowid").fetchall()
        else:
            rows = []
            for chunk in _chunks(sorted(set(accounts))):
                marks = ",".join("?" * len(chunk))
                rows += self._db.execute(
                    f"{query} WHERE account IN ({marks}) ORDER BY linked_at, rowid", chunk
                ).fetchall()
        found: dict[str, list[LinkedNumber]] = {}
        for account, *link in rows:
            found.setdefault(account, []).append(LinkedNumber(*link))
        return {account: tuple(links) for account, links in found.items()}

    def _with_links(self, found: dict[str, IssuedAccount]) -> dict[str, IssuedAccount]:
        """``found`` with each account's linked numbers."""
        links = self._links(a.student_number for a in found.values())
        return {
            asked: dataclasses.replace(a, links=links[a.student_number]) if a.student_number in links else a
            for asked, a in found.items()
        }

    def taken_identifiers(self, short: bool = False) -> set[str]:
        """Every identifier (or short identifier) ever issued, and every reserved login."""
        column = "short_identifier" if short else "identifier"
        with self._guard("read"):
            taken = {r[0] for r in self._db.execute(f"SELECT {column} FROM accounts WHERE {column} IS NOT NULL")}  # noqa: S608
            return taken | {row[0] for row in self._db.execute("SELECT identifier FROM reserved")}

    def record(self, accounts: Iterable[Account], year: int, when: datetime, run_id: int | None = None) -> None:
        """Remember new accounts, ``pending`` until :meth:`confirm` when a run is given."""
        state = "pending" if run_id is not None else "issued"
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"):
            self._db.executemany(
                "INSERT INTO accounts (student_number, identifier, short_identifier, first_year, issued_at, state,"
                " run_id, ine, identity_key, number_key, student, last_year)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (a.student.student_number, a.identifier, a.short_identifier, year, stamp, state, run_id,
                     *_keys(a.student), a.student.to_record(), year)
                    for a in accounts
                ],
            )  # fmt: skip

    def update_students(self, students: Iterable[Student], year: int) -> None:
        """Keep returning students' printed data and duplicate keys current (names, steps, INE change;
        adopted and migrated accounts get them here first), and note that they are enrolled in ``year``.

        A student listed under a linked number updates the account it links to: the
        printed record then carries that number. The account's ``number_key`` stays
        its own number's (each linked number has its own).
        """
        with self._guard("write"):
            self._db.executemany(
                "UPDATE accounts SET ine = ?2, identity_key = ?3, student = ?4,"
                " last_year = max(coalesce(last_year, 0), ?5)"
                " WHERE student_number = coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1)",
                [(s.student_number, *_keys(s)[:2], s.to_record(), year) for s in students],
            )

    def link(self, links: Iterable[tuple[str, str]], year: int, when: datetime, run_id: int | None = None) -> None:
        """Record further student numbers of accounts, as ``(new number, account's own number)`` pairs,
        inside :meth:`transaction` (with the run that links them, which takes them back if abandoned).

        A number that already finds an account (its own, or linked to one) is never
        linked again, and only an issued or adopted account takes one: either is a
        :class:`StateError`, and the transaction saves nothing.
        """
        stamp = when.isoformat(timespec="seconds")
        rows: dict[str, tuple[str, str, str, int, str, int | None]] = {}  # by new number
        with self._guard("write"):
            for number, account in links:
                owner = self._account_of(number) or (rows[number][1] if number in rows else None)
                if owner is not None:
                    raise StateError(
                        f"{self.path}: student number {number} cannot be linked to student {account}: "
                        f"it is already student {owner}'s"
                    )
                row = self._db.execute("SELECT state FROM accounts WHERE student_number = ?", (account,)).fetchone()
                if row is None or row[0] not in ("issued", "adopted"):
                    state = f"account {row[0]}" if row else "no account"
                    raise StateError(
                        f"{self.path}: student number {number} cannot be linked to student {account}: {state}"
                    )
                rows[number] = (number, account, number_key(number), year, stamp, run_id)
            self._db.executemany(
                "INSERT INTO numbers (student_number, account, number_key, year, linked_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows.values(),
            )

    def count(self) -> int:
        """How many accounts the registry holds."""
        with self._guard("read"):
            return int(self._db.execute("SELECT count(*) FROM accounts").fetchone()[0])

    # -- reserved logins -------------------------------------------------------
    def reserve(self, logins: Iterable[str], source: str, when: datetime) -> int:
        """Reserve logins of existing accounts (staff, former students...); returns how many were new."""
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            before = self._db.total_changes
            self._insert_reserved((login, source, stamp) for login in logins)
            return self._db.total_changes - before

    def _insert_reserved(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """``(login, source, stamp)`` rows, inside a transaction; a login already reserved keeps its first source."""
        self._db.executemany("INSERT OR IGNORE INTO reserved (identifier, source, reserved_at) VALUES (?, ?, ?)", rows)

    def reserved_count(self) -> int:
        """How many logins are reserved."""
        with self._guard("read"):
            return int(self._db.execute("SELECT count(*) FROM reserved").fetchone()[0])

    def adopt(self, links: Mapping[str, str], year: int, when: datetime) -> tuple[int, list[str]]:
        """Link student numbers to the logins they already have; returns (adopted, conflicts)."""
        adopted, conflicts = 0, []
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            for number, login in sorted(links.items()):
                linked = self._db.execute(
                    "SELECT a.student_number, a.identifier FROM numbers n"
                    " JOIN accounts a ON a.student_number = n.account WHERE n.student_number = ?",
                    (number,),
                ).fetchone()
                if linked is not None:
                    # A further number of an account: the export agrees when it names that account's login.
                    if linked[1] != login:
                        conflicts.append(
                            f"{number} -> {login}: the registry links {number} to {linked[0]} -> {linked[1]}"
                        )
                    continue
                row = self._db.execute(
                    "SELECT student_number, identifier FROM accounts WHERE student_number = ? OR identifier = ?",
                    (number, login),
                ).fetchall()
                if any(r != (number, login) for r in row):
                    conflicts.append(f"{number} -> {login}: the registry links {row[0][0]} -> {row[0][1]}")
                    continue
                if not row:
                    self._db.execute(
                        "INSERT INTO accounts (student_number, identifier, first_year, issued_at, state, number_key,"
                        " last_year) VALUES (?, ?, ?, ?, 'adopted', ?, ?)",
                        (number, login, year, stamp, number_key(number), year),
                    )
                    adopted += 1
        return adopted, conflicts

    def purgeable(self, before: int) -> list[tuple[str, str, int]]:
        """Issued or adopted students last enrolled before ``before``: ``(student_number, identifier, last_year)``."""
        rows = self._purgeable(before)
        return [(number, identifier, year) for number, identifier, _, year in rows]

    def _purgeable(self, before: int) -> list[tuple[str, str, str | None, int]]:
        # Pending accounts belong to a run that has not finished: never purged.
        with self._guard("read"):
            return self._db.execute(
                "SELECT student_number, identifier, short_identifier, last_year FROM accounts"
                " WHERE state IN ('issued', 'adopted') AND last_year < ? ORDER BY student_number",
                (before,),
            ).fetchall()

    def latest_year(self) -> int | None:
        """The latest academic year a complete ``generate`` run was for (else the latest first year), or None."""
        with self._guard("read"):
            (year,) = self._db.execute(
                "SELECT coalesce((SELECT max(academic_year) FROM runs WHERE state = 'complete'"
                " AND command = 'generate'), (SELECT max(first_year) FROM accounts))"
            ).fetchone()
        return int(year) if year is not None else None

    def purge(self, before: int, when: datetime) -> list[tuple[str, str, int]]:
        """Remove everything known of students last enrolled before ``before``, except their logins,
        which stay reserved forever (a login is never given to someone else); returns them as
        :meth:`purgeable` does.

        ``secure_delete`` (set at opening) overwrites the freed pages, and the file is
        rebuilt afterwards (VACUUM), so that the removed data is not left in the file.
        """
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            rows = self._purgeable(before)
            self._insert_reserved(
                (login, f"purged (last enrolled {year})", stamp)
                for _, identifier, short, year in rows
                for login in (identifier, short)
                if login
            )
            numbers = [(row[0],) for row in rows]
            self._db.executemany("DELETE FROM reissues WHERE student_number = ?", numbers)
            # Their further numbers go with them: a purged student who comes back is new to scolpass.
            self._db.executemany("DELETE FROM numbers WHERE account = ?", numbers)
            self._db.executemany("DELETE FROM accounts WHERE student_number = ?", numbers)
        try:
            self._db.execute("VACUUM")
        except sqlite3.DatabaseError as exc:
            # secure_delete has already overwritten the freed pages; VACUUM only shrinks the file.
            raise StateError(
                f"{self.path}: the students were purged, but the file could not be rebuilt ({exc}); "
                f"run 'sqlite3 {self.path} VACUUM' when no run uses it"
            ) from None
        return [(number, identifier, year) for number, identifier, _, year in rows]

    # -- runs ------------------------------------------------------------------
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
    ) -> int:
        """Record a run that starts writing (inside :meth:`transaction`); returns its id.

        Its staging folder, named after the id, is given next with :meth:`set_staging`.
        ``actor`` is who asked for it (default: ``os_user``).
        """
        with self._guard("write"):
            cursor = self._db.execute(
                "INSERT INTO runs (command, state, started_at, os_user, academic_year, input_name, input_sha256,"
                " output, staging, actor) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, '', ?)",
                (command, when.isoformat(timespec="seconds"), os_user, year, input_name, input_sha256, str(output),
                 actor or os_user),
            )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def record_handed_reissue(self, student_number: str, year: int, when: datetime, os_user: str, actor: str) -> int:
        """One student's new password, handed out at once (no folder): a complete run, in one short transaction.

        Refused, with nothing recorded, unless the student's account is issued (not
        pending in another run, not adopted without sheet data). ``student_number`` may
        be a number linked to the account. Returns the run's id.
        """
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            row = self._db.execute(
                "SELECT state FROM accounts"
                " WHERE student_number = coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1)",
                (student_number,),
            ).fetchone()
            if row is None or row[0] != "issued":
                state = row[0] if row else "not issued"
                raise StateError(f"{self.path}: student {student_number} cannot be reissued now: account {state}")
            cursor = self._db.execute(
                "INSERT INTO runs (command, state, started_at, finished_at, os_user, academic_year, output, staging,"
                " counts, actor) VALUES ('reissue', 'complete', ?, ?, ?, ?, '', '', ?, ?)",
                (stamp, stamp, os_user, year, json.dumps({"reissued": 1}), actor),
            )
            assert cursor.lastrowid is not None
            self.record_reissues([student_number], cursor.lastrowid, when)
        return cursor.lastrowid

    def set_staging(self, run_id: int, staging: Path) -> None:
        """Where run ``run_id`` writes before publishing (inside the transaction of :meth:`begin_run`)."""
        with self._guard("write"):
            self._db.execute("UPDATE runs SET staging = ? WHERE id = ?", (str(staging), run_id))

    def confirm(self, run_id: int, counts: Mapping[str, int], when: datetime) -> None:
        """The run's output folder is complete: its accounts are issued."""
        with self._guard("write"), self.transaction():
            self._db.execute("UPDATE accounts SET state = 'issued' WHERE run_id = ? AND state = 'pending'", (run_id,))
            self._db.execute(
                "UPDATE runs SET state = 'complete', finished_at = ?, counts = ? WHERE id = ?",
                (when.isoformat(timespec="seconds"), json.dumps(dict(counts)), run_id),
            )

    def mark_written(self, run_id: int) -> None:
        """Run ``run_id``'s staging folder is complete and on disk: recovery publishes it, never undoes it."""
        with self._guard("write"), self.transaction():
            self._db.execute("UPDATE runs SET state = 'written' WHERE id = ? AND state = 'pending'", (run_id,))

    def forget_staging(self, run_id: int) -> None:
        """An undone run's staging folder is gone: recovery need not look for it again."""
        with self._guard("write"), self.transaction():
            self._db.execute("UPDATE runs SET staging = '' WHERE id = ? AND state = 'abandoned'", (run_id,))

    def abandon(self, run_id: int, when: datetime) -> None:
        """The run never completed: its pending accounts, links and reissues are forgotten, identifiers freed."""
        with self._guard("write"), self.transaction():
            self._unlink(run_id)
            self._db.execute("DELETE FROM accounts WHERE run_id = ? AND state = 'pending'", (run_id,))
            self._db.execute("DELETE FROM reissues WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM meta WHERE key = ?", (_FEED_MARK + str(run_id),))  # it consumed nothing
            self._db.execute(
                "UPDATE runs SET state = 'abandoned', finished_at = ? WHERE id = ?",
                (when.isoformat(timespec="seconds"), run_id),
            )

    def _unlink(self, run_id: int) -> None:
        """Forget the numbers run ``run_id`` linked (inside a transaction).

        The run also updated those accounts' printed records to this year's data under
        the new number: such a record goes back to a number that still finds the
        account (the latest other link, else its own), so that what a reprint prints
        and what the help desk searches agree.
        """
        undone = {
            number: account
            for number, account in self._db.execute(
                "SELECT student_number, account FROM numbers WHERE run_id = ?", (run_id,)
            ).fetchall()
        }
        self._db.execute("DELETE FROM numbers WHERE run_id = ?", (run_id,))
        for account in sorted(set(undone.values())):
            (record,) = self._db.execute("SELECT student FROM accounts WHERE student_number = ?", (account,)).fetchone()
            if not record:
                continue
            student = Student.from_record(record)
            if student.student_number not in undone:
                continue
            latest = self._db.execute(
                "SELECT student_number FROM numbers WHERE account = ? ORDER BY linked_at DESC, rowid DESC LIMIT 1",
                (account,),
            ).fetchone()
            restored = dataclasses.replace(student, student_number=latest[0] if latest else account)
            self._db.execute(
                "UPDATE accounts SET student = ? WHERE student_number = ?", (restored.to_record(), account)
            )

    def runs(self, *states: RunState) -> list[RunRecord]:
        """Every run (or those in one of ``states``), oldest first."""
        query = f"SELECT {RUN_COLUMNS} FROM runs"  # noqa: S608
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
        with self._guard("read"):
            rows = self._db.execute(query + " ORDER BY id", states).fetchall()
        return [run_from_row(row) for row in rows]

    def run(self, run_id: int) -> RunRecord | None:
        """One run, if the registry has it."""
        with self._guard("read"):
            row = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()  # noqa: S608
        return run_from_row(row) if row else None

    def record_reissues(self, student_numbers: Iterable[str], run_id: int, when: datetime) -> None:
        """Remember that these students got a new password in this run (inside :meth:`transaction`).

        Recorded under the account's own number, whichever of its numbers is given,
        so that every number finds the whole history.
        """
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"):
            self._db.executemany(
                "INSERT INTO reissues (student_number, run_id, reissued_at)"
                " VALUES (coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1), ?2, ?3)",
                [(number, run_id, stamp) for number in student_numbers],
            )

    def reissues(self, student_number: str) -> list[ReissueRecord]:
        """When a student's password was reissued, by which run, for whom (complete runs only); any of the
        account's numbers."""
        with self._guard("read"):
            rows = self._db.execute(
                "SELECT reissued_at, run_id, coalesce(actor, os_user) FROM reissues JOIN runs ON runs.id = run_id"
                " WHERE student_number = coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1)"
                " AND runs.state = 'complete' ORDER BY reissues.id",
                (student_number,),
            ).fetchall()
        return [ReissueRecord(*row) for row in rows]

    # -- the Pégase feed -------------------------------------------------------
    def set_feed_mark(self, run_id: int, modified: int) -> None:
        """The largest ``derniereModification`` of the Pégase feed that run ``run_id`` consumes (inside the
        transaction that records the run): :meth:`feed_mark` counts it once the run is complete."""
        with self._guard("write"):
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_FEED_MARK + str(run_id), str(modified))
            )

    def feed_mark(self) -> int | None:
        """The largest ``derniereModification`` a complete ``generate`` consumed, where ``pegase fetch --since
        last`` starts from; None when no such run read a feed.

        Kept per run rather than as one running maximum: a run that is abandoned (a full disk, a crash before
        its sheets were written) issued nobody, and its feed must be fetched again.
        """
        with self._guard("read"):
            (value,) = self._db.execute(
                "SELECT max(CAST(meta.value AS INTEGER)) FROM meta JOIN runs ON meta.key = ? || runs.id"
                " WHERE runs.state = 'complete' AND runs.command = 'generate'",
                (_FEED_MARK,),
            ).fetchone()
        return int(value) if value is not None else None


# The meta key of a run's feed mark, followed by the run's id.
_FEED_MARK = "feed_modified:"

# The most values one statement may bind: SQLite before 3.32 (RHEL 8 has 3.26) allows 999 "?", and
# a statement with more fails ("too many SQL variables"), however few rows it would find.
MAX_VARIABLES = 999


def _chunks(values: list[str], uses: int = 1) -> Iterator[list[str]]:
    """``values`` in slices that a statement binding each value ``uses`` times can take at once."""
    size = MAX_VARIABLES // uses
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _keys(student: Student) -> tuple[str | None, str, str]:
    """The duplicate keys the registry keeps, in its columns' order: ine (NULL when none), identity, number."""
    values = keys(student)
    return values.get("ine"), values["identity_key"], values["number_key"]


def open_registry(
    path: str | Path, in_memory: bool = False, group: int | None = None, wait: float = WAIT_SECONDS
) -> Registry:
    """Open the registry file, creating it when absent (``SqliteRegistry.created``) and migrating it forward.

    Any other SQLite file is refused untouched: scolpass must never add its
    tables to another application's database; so is a file (or a journal, or a
    folder) that another user could have forged or could change (see
    :func:`files.refuse_unsafe`; ``group`` is ``[registry] group``). ``in_memory``
    works on a copy (a dry run, the help desk's commands): the file is only
    read, and not created when absent. ``wait`` is how long a transaction waits
    for another run's to end, in seconds.
    """
    path = Path(path)
    if in_memory:
        return _memory_copy(path)
    if not path.parent.is_dir():
        raise StateError(f"{path}: cannot create the registry: folder {path.parent} does not exist")
    refuse_unsafe_location(path, group)
    try:
        # Private from its creation; SQLite gives its journal the same mode.
        created = create_private(path, group) or path.stat().st_size == 0
    except OSError as exc:
        raise StateError(f"{path}: cannot create the registry: {exc.strerror}") from None
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=wait)
    except sqlite3.DatabaseError as exc:
        raise StateError(f"{path}: cannot open the registry: {exc}") from None
    try:
        _private_pragmas(db)
        _prepare(db, path)
    except BaseException as exc:
        db.close()  # on every path: a long-running server opens registries thousands of times
        if isinstance(exc, sqlite3.DatabaseError):
            doing = "create" if created else "open"
            raise StateError(f"{path}: cannot {doing} the registry: {_reason(exc)}") from None
        raise
    return SqliteRegistry(path, db, created)


def refuse_unsafe_location(path: Path, group: int | None = None) -> None:
    """Refuse a registry, journal or registry folder another user could have forged or could change
    (:func:`files.refuse_unsafe`): checked before anything is created there."""
    if path.parent.is_dir():
        refuse_unsafe(path.parent, "folder of the registry", group)
    for file, what in ((path, "registry"), (_journal(path), "registry's journal")):
        if file.exists():
            refuse_unsafe(file, what, group)


def _journal(path: Path) -> Path:
    return path.with_name(path.name + "-journal")


def _reason(exc: sqlite3.DatabaseError) -> str:
    """SQLite's message, with what it means for a registrar where it is cryptic."""
    if "file is not a database" in str(exc):
        return "not a scolpass registry (not an SQLite file); left untouched"
    return str(exc)


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """Give a new registry its schema; check an existing one is a scolpass registry and migrate it."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0 and not tables:
        db.executescript(_SCHEMA)
        for trigger in _TRIGGERS:
            db.execute(trigger)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return
    if version > SCHEMA_VERSION:
        raise StateError(f"{path}: the registry was written by a newer scolpass (schema {version}); upgrade scolpass")
    columns = {row[1] for row in db.execute("PRAGMA table_info(accounts)")}
    if version not in _COLUMNS or columns != _COLUMNS[version]:
        listed = ", ".join(sorted(tables))
        raise StateError(f"{path}: not a scolpass registry (an SQLite file with tables {listed}); left untouched")
    _migrate(db, version)


def _private_pragmas(db: sqlite3.Connection) -> None:
    # Deleted rows (an abandoned run, a purge) are overwritten, not left in free pages; temporary
    # tables and sorts stay in memory instead of unnamed files in /tmp.
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    # A further number must name an account that exists, and an account is not deleted from under its
    # numbers (a purge deletes them first).
    db.execute("PRAGMA foreign_keys = ON")


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring an older registry to the current schema, in one transaction."""
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        run_columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
        for step in range(version, SCHEMA_VERSION):
            if step == 4 and (not run_columns or "actor" in run_columns):
                # Version 1 had no runs table: the schema below creates it with its actor column. (A
                # registry that already has the column is one a test made from today's schema.)
                continue
            for statement in filter(str.strip, _MIGRATIONS[step].split(";")):
                db.execute(statement)
        for statement in (*filter(str.strip, _SCHEMA.split(";")), *_TRIGGERS):
            db.execute(statement)  # new tables, indexes and triggers (IF NOT EXISTS)
        if version < 3:
            db.execute(_LAST_YEAR_FROM_RUNS)
        if version < 4:
            db.execute("UPDATE runs SET state = 'pending-v3' WHERE state = 'pending'")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back by itself (a full disk)
            db.execute("ROLLBACK")
        raise


def _memory_copy(path: Path) -> SqliteRegistry:
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        _private_pragmas(memory)
        if path.exists():
            if path.stat().st_mode & stat.S_IWOTH:
                refuse_unsafe(path, "registry")  # anyone could have forged what it says
            _copy_into(path, memory)
        _prepare(memory, path)
    except BaseException as exc:
        memory.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise StateError(f"{path}: cannot read the registry: {_reason(exc)}") from None
        if isinstance(exc, OSError):
            raise StateError(f"{path}: cannot read the registry: {exc.strerror}") from None
        raise
    return SqliteRegistry(path, memory, False)


def _copy_into(path: Path, memory: sqlite3.Connection) -> None:
    """Copy the registry file into ``memory``, read only when it can be.

    A run killed in the middle of a transaction leaves a *hot journal* beside
    the file, which the next connection that may write rolls back first; a
    read-only connection cannot, and refuses to read. Rolling it back restores
    the last committed state, which every writing run does first anyway: so
    when this user may write the file, the copy is made through a connection
    that can.
    """
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            source.backup(memory)
            return
        finally:
            source.close()
    except sqlite3.OperationalError as exc:
        # SQLITE_READONLY_ROLLBACK: a hot journal a read-only connection may not roll back.
        if not (_journal(path).exists() and exc.sqlite_errorcode == sqlite3.SQLITE_READONLY_ROLLBACK):
            raise
    # The journal is about to be played back into the registry: it must be as trustworthy as the file.
    refuse_unsafe(path.parent, "folder of the registry")
    refuse_unsafe(_journal(path), "registry's journal")
    if not os.access(path, os.W_OK):
        raise StateError(
            f"{path}: a run was stopped in the middle of saving to the registry, and only a user who may write "
            f"the registry can settle it ({_journal(path).name}); ask its owner to run 'scolpass registry runs'"
        )
    source = sqlite3.connect(path, timeout=30)
    try:
        source.backup(memory)
    finally:
        source.close()
