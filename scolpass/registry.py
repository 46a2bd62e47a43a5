"""The registry: the SQLite record of every identifier ever issued.

It is what keeps an identifier from being given to someone else by a later
run. It never holds a password, not even hashed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import StateError

DEFAULT_REGISTRY = "scolpass.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    student_number TEXT PRIMARY KEY,
    identifier TEXT NOT NULL UNIQUE,
    short_identifier TEXT UNIQUE,
    first_year INTEGER NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reserved (
    identifier TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    reserved_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class IssuedAccount:
    """What the registry remembers of one student."""

    student_number: str
    identifier: str
    first_year: int
    short_identifier: str | None = None


class Registry:
    """An open registry file. Use :func:`open_registry`."""

    def __init__(self, path: Path, connection: sqlite3.Connection, created: bool) -> None:
        self.path = path
        self.created = created
        self._db = connection

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One run's changes, all or nothing.

        ``BEGIN IMMEDIATE`` takes the write lock at once, so two offices
        running at the same time cannot hand out the same identifier.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateError(f"{self.path}: the registry is busy (another run?): {exc}") from None
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        # A file damaged between opening and use is the registrar's state to fix, not a bug.
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot read the registry: {exc}") from None

    def issued(self, student_numbers: Iterable[str]) -> dict[str, IssuedAccount]:
        """The accounts already issued to these students."""
        with self._reading():
            return self._issued(list(student_numbers))

    def _issued(self, numbers: list[str]) -> dict[str, IssuedAccount]:
        found: dict[str, IssuedAccount] = {}
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            marks = ",".join("?" * len(chunk))
            # Only "?" marks are formatted in; the values are bound.
            columns = "student_number, identifier, first_year, short_identifier"
            query = f"SELECT {columns} FROM accounts WHERE student_number IN ({marks})"  # noqa: S608
            for number, identifier, year, short in self._db.execute(query, chunk):
                found[number] = IssuedAccount(number, identifier, year, short)
        return found

    def taken_identifiers(self, short: bool = False) -> set[str]:
        """Every identifier (or short identifier) ever issued, and every reserved login."""
        column = "short_identifier" if short else "identifier"
        with self._reading():
            taken = {row[0] for row in self._db.execute(f"SELECT {column} FROM accounts WHERE {column} IS NOT NULL")}  # noqa: S608
            return taken | {row[0] for row in self._db.execute("SELECT identifier FROM reserved")}

    def reserve(self, logins: Iterable[str], source: str, when: datetime) -> int:
        """Reserve logins of existing accounts (staff, former students...); returns how many were new."""
        stamp = when.isoformat(timespec="seconds")
        try:
            with self.transaction():
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT OR IGNORE INTO reserved (identifier, source, reserved_at) VALUES (?, ?, ?)",
                    [(login, source, stamp) for login in logins],
                )
                return self._db.total_changes - before
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot write the registry: {exc}") from None

    def reserved_count(self) -> int:
        """How many logins are reserved."""
        with self._reading():
            return int(self._db.execute("SELECT count(*) FROM reserved").fetchone()[0])

    def record(self, accounts: Iterable[tuple[str, str, str | None]], year: int, when: datetime) -> None:
        """Remember new ``(student_number, identifier, short_identifier)`` (inside :meth:`transaction`)."""
        stamp = when.isoformat(timespec="seconds")
        try:
            self._db.executemany(
                "INSERT INTO accounts (student_number, identifier, short_identifier, first_year, issued_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(number, identifier, short, year, stamp) for number, identifier, short in accounts],
            )
        except sqlite3.IntegrityError as exc:
            raise StateError(f"{self.path}: an identifier or student was recorded twice: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot write the registry: {exc}") from None

    def count(self) -> int:
        """How many accounts the registry holds."""
        with self._reading():
            return int(self._db.execute("SELECT count(*) FROM accounts").fetchone()[0])


_COLUMNS = {"student_number", "identifier", "short_identifier", "first_year", "issued_at"}


def open_registry(path: str | Path) -> Registry:
    """Open the registry file, creating it (and saying so in ``Registry.created``) when absent.

    Any other SQLite file is refused untouched: scolpass must never add its
    tables to another application's database.
    """
    path = Path(path)
    created = not path.exists()
    if created and not path.parent.is_dir():
        raise StateError(f"{path}: cannot create the registry: folder {path.parent} does not exist")
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=10)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and not tables:
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            db.close()
            raise StateError(
                f"{path}: the registry was written by a newer scolpass (schema {version}); upgrade scolpass"
            )
        else:
            columns = {row[1] for row in db.execute("PRAGMA table_info(accounts)")}
            if version != SCHEMA_VERSION or columns != _COLUMNS:
                db.close()
                listed = ", ".join(sorted(tables))
                raise StateError(
                    f"{path}: not a scolpass registry (an SQLite file with tables {listed}); left untouched"
                )
    except sqlite3.DatabaseError as exc:
        if created:
            raise StateError(f"{path}: cannot create the registry: {exc}") from None
        raise StateError(f"{path}: not a scolpass registry: {exc}") from None
    return Registry(path, db, created)
