"""The registry's queries, in the SQL that SQLite and PostgreSQL both speak.

Each engine (sqlite.py, postgres.py) gives the connection, its transactions and
the few statements that differ; everything a run, the help desk or the
administration asks of the registry is written once, here. Queries are written
with SQLite's ``?`` and ``?N`` marks, which the PostgreSQL engine translates.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..duplicates import RESEMBLANCES, Key, Resemblance, keys, number_key
from ..errors import StateError
from ..student import Account, Student
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


class SqlRegistry:
    """The queries of an open registry; an engine's subclass connects it (see base.Registry)."""

    location: str
    created: bool

    # -- what each engine gives -------------------------------------------------
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (iterable over rows, with fetchone and fetchall)."""
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """Run one statement for each row; returns how many rows it changed."""
        raise NotImplementedError

    def _insert_run(self, sql: str, params: Sequence[Any]) -> int:
        """Insert a row into runs; returns its id."""
        raise NotImplementedError

    def _one_of(self, values: Iterable[str], uses: int = 1) -> Iterator[tuple[str, list[Any]]]:
        """``values``, each once, as the test that a column is one of them, in slices that one statement naming
        the test ``uses`` times takes: each slice's test (the text after the column) and the values it binds.

        Here `` IN (?, ?, ...)``, each value a mark (MAX_VARIABLES at most a statement).
        """
        for chunk in _chunks(sorted(set(values)), uses):
            yield f" IN ({','.join('?' * len(chunk))})", chunk

    def _compact(self) -> None:
        """After a purge: make the removed data unrecoverable from the database's own storage."""
        raise NotImplementedError

    def cannot_compact(self) -> str | None:
        """Why a purge through this connection leaves the removed data in the database's storage, and who
        must clear it; None when the purge clears it itself."""
        return None

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        """The engine's errors, as one :class:`StateError` naming the registry and what it was ``doing``."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        """Changes made all or nothing."""
        raise NotImplementedError

    # -- whole tables (registry copy) -------------------------------------------
    def table_rows(self, table: str, columns: Sequence[str], order: str) -> list[tuple[Any, ...]]:
        """Every row of ``table`` (a table of the schema, never user input), in ``order``."""
        query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"  # noqa: S608
        with self._guard("read"):
            return [tuple(row) for row in self._execute(query).fetchall()]

    def load_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` as they are, ids included (inside :meth:`transaction`: a copy)."""
        query = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
        with self._guard("write"):
            self._executemany(query, rows)

    def after_load(self) -> None:
        """Once rows were loaded with their ids: the engine's id counters past them."""

    def feed_marks(self) -> list[tuple[str, str]]:
        """The feed marks of meta, by key."""
        with self._guard("read"):
            rows = self._execute("SELECT key, value FROM meta WHERE key LIKE ? ORDER BY key", (_FEED_MARK + "%",))
            return [(str(key), str(value)) for key, value in rows.fetchall()]

    # -- accounts ------------------------------------------------------------
    def issued(self, student_numbers: Iterable[str]) -> dict[str, IssuedAccount]:
        """The accounts already issued (or pending, or adopted) to these students, by the number asked:
        an account's own number or one linked to it."""
        numbers = list(student_numbers)
        found: dict[str, IssuedAccount] = {}
        with self._guard("read"):
            for test, values in self._one_of(numbers, uses=2):
                # Only marks and column names are formatted in; the values are bound.
                query = (
                    f"SELECT a.student_number, {ACCOUNT_COLUMNS_A} FROM accounts a WHERE a.student_number{test}"  # noqa: S608
                    f" UNION ALL SELECT n.student_number, {ACCOUNT_COLUMNS_A} FROM numbers n"
                    f" JOIN accounts a ON a.student_number = n.account WHERE n.student_number{test}"
                )
                for asked, *row in self._execute(query, values * 2):
                    found[asked] = account_from_row(tuple(row))
            return self._with_links(found)

    def account(self, student_number: str) -> IssuedAccount | None:
        """One student's account, by its own number or one linked to it, if any."""
        return self.issued([student_number]).get(student_number)

    def accounts(self) -> Iterator[IssuedAccount]:
        """Every account, by (its own) student number."""
        with self._guard("read"):
            rows = self._execute(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY student_number").fetchall()  # noqa: S608
            links = self._links(None)
        return (dataclasses.replace(a, links=links.get(a.student_number, ())) for a in map(account_from_row, rows))

    def find_login(self, login: str) -> IssuedAccount | None:
        """The account whose login or short login is ``login``, if any."""
        with self._guard("read"):
            row = self._execute(
                f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE identifier = ? OR short_identifier = ?",  # noqa: S608
                (login, login),
            ).fetchone()
            return self._with_links({login: account_from_row(row)})[login] if row else None

    def same_number_key(self, student_number: str) -> list[IssuedAccount]:
        """Accounts with a student number (their own or a linked one) that is ``student_number`` but for
        leading zeros."""
        with self._guard("read"):
            rows = self._execute(
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
        return self.probable_duplicates_of([student])[student.student_number]

    def probable_duplicates_of(self, students: Iterable[Student]) -> dict[str, list[tuple[str, Resemblance]]]:
        """:meth:`probable_duplicates` of each of ``students``, by student number.

        A few statements for a whole file (one per key and slice of values), not a few per
        student: on a server each is a round trip.
        """
        values = {s.student_number: keys(s) for s in students}
        with self._guard("read"):
            owners = self._by_number("numbers", "account", values)
            holders = {
                r.key: self._holders(r.key, {found[r.key] for found in values.values() if r.key in found})
                for r in RESEMBLANCES
            }
        return {
            number: [
                (other, r)
                for r in RESEMBLANCES
                if r.key in found
                for other in holders[r.key].get(found[r.key], ())
                if other != owners.get(number, number)
            ]
            for number, found in values.items()
        }

    def _holders(self, key: Key, values: Iterable[str]) -> dict[str, list[str]]:
        """By value, the own numbers of the accounts whose ``key`` it is (for number_key, those with a linked
        number that has it too), each once, as the engine finds them."""
        found: dict[str, dict[str, None]] = {}
        uses = 2 if key == "number_key" else 1
        for test, bound in self._one_of(values, uses):
            # The column is one of duplicates.Key's literals, never user input; the values are bound.
            query = f"SELECT {key}, student_number FROM accounts WHERE {key}{test}"  # noqa: S608
            if key == "number_key":
                query += f" UNION ALL SELECT number_key, account FROM numbers WHERE number_key{test}"  # noqa: S608
            for value, number in self._execute(query, bound * uses):
                found.setdefault(value, {})[number] = None
        return {value: list(numbers) for value, numbers in found.items()}

    def with_ine(self, ines: Iterable[str]) -> dict[str, list[str]]:
        """The own numbers of the accounts that have each of these INEs, by INE (an INE no account has is left
        out)."""
        found: dict[str, list[str]] = {}
        with self._guard("read"):
            for test, values in self._one_of(ine for ine in ines if ine):
                query = f"SELECT ine, student_number FROM accounts WHERE ine{test} ORDER BY student_number"  # noqa: S608
                for ine, number in self._execute(query, values):
                    found.setdefault(ine, []).append(number)
        return found

    def _by_number(self, table: str, column: str, student_numbers: Iterable[str]) -> dict[str, str]:
        """``column`` of the rows of ``table`` (accounts or numbers, never user input) whose student number is one
        of ``student_numbers``, by that number: an account's state, or the account a linked number links to."""
        found: dict[str, str] = {}
        for test, values in self._one_of(student_numbers):
            query = f"SELECT student_number, {column} FROM {table} WHERE student_number{test}"  # noqa: S608
            found.update(self._execute(query, values).fetchall())
        return found

    def _links(self, accounts: Iterable[str] | None) -> dict[str, tuple[LinkedNumber, ...]]:
        """The numbers linked to these accounts (to every account with None), by account, oldest first."""
        query = "SELECT account, student_number, year, linked_at, run_id FROM numbers"
        if accounts is None:
            rows = self._execute(query + " ORDER BY linked_at, rowid").fetchall()
        else:
            rows = []
            for test, values in self._one_of(accounts):
                rows += self._execute(f"{query} WHERE account{test} ORDER BY linked_at, rowid", values).fetchall()
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
            taken = {r[0] for r in self._execute(f"SELECT {column} FROM accounts WHERE {column} IS NOT NULL")}  # noqa: S608
            return taken | {row[0] for row in self._execute("SELECT identifier FROM reserved")}

    def record(self, accounts: Iterable[Account], year: int, when: datetime, run_id: int | None = None) -> None:
        """Remember new accounts, ``pending`` until :meth:`confirm` when a run is given."""
        state = "pending" if run_id is not None else "issued"
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"):
            self._executemany(
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
        its own number's (each linked number has its own). An account that already holds
        all of it is left as it is: a rerun of the same export writes nothing (on
        PostgreSQL an update writes a new version of the row and of its index entries).
        """
        with self._guard("write"):
            self._executemany(
                "UPDATE accounts SET ine = ?2, identity_key = ?3, student = ?4,"
                " last_year = CASE WHEN coalesce(last_year, 0) > ?5 THEN last_year ELSE ?5 END"
                " WHERE student_number = coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1)"
                # Not an account another run is issuing (a shared registry): that run prints its own data, and
                # its rows stay its own until it confirms them.
                " AND state <> 'pending'"
                " AND NOT (coalesce(ine = ?2, ine IS NULL AND ?2 IS NULL)"
                " AND coalesce(identity_key = ?3 AND student = ?4 AND last_year >= ?5, FALSE))",
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
        pairs = list(links)
        with self._guard("write"):
            # Read for all the links at once (a few statements, not two per link), then checked in order.
            numbers = [number for number, _ in pairs]
            owners = {number: number for number in self._by_number("accounts", "state", numbers)}
            owners |= self._by_number("numbers", "account", numbers)
            states = self._by_number("accounts", "state", [account for _, account in pairs])
            for number, account in pairs:
                owner = owners.get(number) or (rows[number][1] if number in rows else None)
                if owner is not None:
                    raise StateError(
                        f"{self.location}: student number {number} cannot be linked to student {account}: "
                        f"it is already student {owner}'s"
                    )
                if states.get(account) not in ("issued", "adopted"):
                    state = f"account {states[account]}" if account in states else "no account"
                    raise StateError(
                        f"{self.location}: student number {number} cannot be linked to student {account}: {state}"
                    )
                rows[number] = (number, account, number_key(number), year, stamp, run_id)
            self._executemany(
                "INSERT INTO numbers (student_number, account, number_key, year, linked_at, run_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows.values(),
            )

    def count(self) -> int:
        """How many accounts the registry holds."""
        with self._guard("read"):
            return int(self._execute("SELECT count(*) FROM accounts").fetchone()[0])

    # -- reserved logins -------------------------------------------------------
    def reserve(self, logins: Iterable[str], source: str, when: datetime) -> int:
        """Reserve logins of existing accounts (staff, former students...); returns how many were new."""
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            return self._insert_reserved((login, source, stamp) for login in logins)

    def _insert_reserved(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """``(login, source, stamp)`` rows, inside a transaction; a login already reserved keeps its first source.
        Returns how many were new."""
        return self._executemany(
            "INSERT INTO reserved (identifier, source, reserved_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows
        )

    def reserved_count(self) -> int:
        """How many logins are reserved."""
        with self._guard("read"):
            return int(self._execute("SELECT count(*) FROM reserved").fetchone()[0])

    def adopt(self, links: Mapping[str, str], year: int, when: datetime) -> tuple[int, list[str]]:
        """Link student numbers to the logins they already have; returns (adopted, conflicts)."""
        adopted, conflicts = 0, []
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            for number, login in sorted(links.items()):
                linked = self._execute(
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
                row = self._execute(
                    "SELECT student_number, identifier FROM accounts WHERE student_number = ? OR identifier = ?",
                    (number, login),
                ).fetchall()
                if any(r != (number, login) for r in row):
                    conflicts.append(f"{number} -> {login}: the registry links {row[0][0]} -> {row[0][1]}")
                    continue
                if not row:
                    self._execute(
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
            rows = self._execute(
                "SELECT student_number, identifier, short_identifier, last_year FROM accounts"
                " WHERE state IN ('issued', 'adopted') AND last_year < ? ORDER BY student_number",
                (before,),
            ).fetchall()
        return [tuple(row) for row in rows]

    def latest_year(self) -> int | None:
        """The latest academic year a complete ``generate`` run was for (else the latest first year), or None."""
        with self._guard("read"):
            (year,) = self._execute(
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
            self._executemany("DELETE FROM reissues WHERE student_number = ?", numbers)
            # Their further numbers go with them: a purged student who comes back is new to scolpass.
            self._executemany("DELETE FROM numbers WHERE account = ?", numbers)
            self._executemany("DELETE FROM accounts WHERE student_number = ?", numbers)
        self._compact()
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
        host: str = "",
    ) -> int:
        """Record a run that starts writing (inside :meth:`transaction`); returns its id.

        Its staging folder, named after the id, is given next with :meth:`set_staging`.
        ``actor`` is who asked for it (default: ``os_user``); ``host`` the machine it runs on.
        """
        with self._guard("write"):
            return self._insert_run(
                "INSERT INTO runs (command, state, started_at, os_user, academic_year, input_name, input_sha256,"
                " output, staging, actor, host) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, '', ?, ?)",
                (command, when.isoformat(timespec="seconds"), os_user, year, input_name, input_sha256, str(output),
                 actor or os_user, host),
            )  # fmt: skip

    def record_handed_reissue(
        self, student_number: str, year: int, when: datetime, os_user: str, actor: str, host: str = ""
    ) -> int:
        """One student's new password, handed out at once (no folder): a complete run, in one short transaction.

        Refused, with nothing recorded, unless the student's account is issued (not
        pending in another run, not adopted without sheet data). ``student_number`` may
        be a number linked to the account. Returns the run's id.
        """
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"), self.transaction():
            row = self._execute(
                "SELECT state FROM accounts"
                " WHERE student_number = coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1)",
                (student_number,),
            ).fetchone()
            if row is None or row[0] != "issued":
                state = row[0] if row else "not issued"
                raise StateError(f"{self.location}: student {student_number} cannot be reissued now: account {state}")
            run_id = self._insert_run(
                "INSERT INTO runs (command, state, started_at, finished_at, os_user, academic_year, output, staging,"
                " counts, actor, host) VALUES ('reissue', 'complete', ?, ?, ?, ?, '', '', ?, ?, ?)",
                (stamp, stamp, os_user, year, json.dumps({"reissued": 1}), actor, host),
            )
            self.record_reissues([student_number], run_id, when)
        return run_id

    def set_staging(self, run_id: int, staging: Path) -> None:
        """Where run ``run_id`` writes before publishing (inside the transaction of :meth:`begin_run`)."""
        with self._guard("write"):
            self._execute("UPDATE runs SET staging = ? WHERE id = ?", (str(staging), run_id))

    def confirm(self, run_id: int, counts: Mapping[str, int], when: datetime) -> None:
        """The run's output folder is complete: its accounts are issued."""
        with self._guard("write"), self.transaction():
            self._execute("UPDATE accounts SET state = 'issued' WHERE run_id = ? AND state = 'pending'", (run_id,))
            self._execute(
                "UPDATE runs SET state = 'complete', finished_at = ?, counts = ? WHERE id = ?",
                (when.isoformat(timespec="seconds"), json.dumps(dict(counts)), run_id),
            )

    def mark_written(self, run_id: int) -> None:
        """Run ``run_id``'s staging folder is complete and on disk: recovery publishes it, never undoes it."""
        with self._guard("write"), self.transaction():
            self._execute("UPDATE runs SET state = 'written' WHERE id = ? AND state = 'pending'", (run_id,))

    def forget_staging(self, run_id: int) -> None:
        """An undone run's staging folder is gone: recovery need not look for it again."""
        with self._guard("write"), self.transaction():
            self._execute("UPDATE runs SET staging = '' WHERE id = ? AND state = 'abandoned'", (run_id,))

    def abandon(self, run_id: int, when: datetime) -> None:
        """The run never completed: its pending accounts and links are forgotten, identifiers freed.

        Its reissues stay, as the record of what it tried (:meth:`reissues` counts only
        those of complete runs): like the runs, the reissues are only ever added to,
        but for a purge, so that the role that issues needs no right to delete them.
        """
        with self._guard("write"), self.transaction():
            self._unlink(run_id)
            self._execute("DELETE FROM accounts WHERE run_id = ? AND state = 'pending'", (run_id,))
            self._execute("DELETE FROM meta WHERE key = ?", (_FEED_MARK + str(run_id),))  # it consumed nothing
            self._execute(
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
            for number, account in self._execute(
                "SELECT student_number, account FROM numbers WHERE run_id = ?", (run_id,)
            ).fetchall()
        }
        self._execute("DELETE FROM numbers WHERE run_id = ?", (run_id,))
        for account in sorted(set(undone.values())):
            (record,) = self._execute("SELECT student FROM accounts WHERE student_number = ?", (account,)).fetchone()
            if not record:
                continue
            student = Student.from_record(record)
            if student.student_number not in undone:
                continue
            latest = self._execute(
                "SELECT student_number FROM numbers WHERE account = ? ORDER BY linked_at DESC, rowid DESC LIMIT 1",
                (account,),
            ).fetchone()
            restored = dataclasses.replace(student, student_number=latest[0] if latest else account)
            self._execute("UPDATE accounts SET student = ? WHERE student_number = ?", (restored.to_record(), account))

    def runs(self, *states: RunState) -> list[RunRecord]:
        """Every run (or those in one of ``states``), oldest first."""
        query = f"SELECT {RUN_COLUMNS} FROM runs"  # noqa: S608
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
        with self._guard("read"):
            rows = self._execute(query + " ORDER BY id", states).fetchall()
        return [run_from_row(row) for row in rows]

    def run(self, run_id: int) -> RunRecord | None:
        """One run, if the registry has it."""
        with self._guard("read"):
            row = self._execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()  # noqa: S608
        return run_from_row(row) if row else None

    def record_reissues(self, student_numbers: Iterable[str], run_id: int, when: datetime) -> None:
        """Remember that these students got a new password in this run (inside :meth:`transaction`).

        Recorded under the account's own number, whichever of its numbers is given,
        so that every number finds the whole history.
        """
        stamp = when.isoformat(timespec="seconds")
        with self._guard("write"):
            self._executemany(
                "INSERT INTO reissues (student_number, run_id, reissued_at)"
                " VALUES (coalesce((SELECT account FROM numbers WHERE student_number = ?1), ?1), ?2, ?3)",
                [(number, run_id, stamp) for number in student_numbers],
            )

    def reissues(self, student_number: str) -> list[ReissueRecord]:
        """When a student's password was reissued, by which run, for whom (complete runs only); any of the
        account's numbers."""
        with self._guard("read"):
            rows = self._execute(
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
            self._execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (_FEED_MARK + str(run_id), str(modified)),
            )

    def feed_mark(self) -> int | None:
        """The largest ``derniereModification`` a complete ``generate`` consumed, where ``pegase fetch --since
        last`` starts from; None when no such run read a feed.

        Kept per run rather than as one running maximum: a run that is abandoned (a full disk, a crash before
        its sheets were written) issued nobody, and its feed must be fetched again.
        """
        with self._guard("read"):
            (value,) = self._execute(
                "SELECT max(CAST(meta.value AS BIGINT)) FROM meta JOIN runs ON meta.key = ? || CAST(runs.id AS TEXT)"
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
