"""The registry in SQLite, the embedded engine: one file beside the runs that use it.

It keeps identifiers stable across runs and years, and lets a crashed run be
recovered: a run's accounts are written ``pending`` before any file, and
become ``issued`` only once the run's output folder is complete. It never
holds a password, not even hashed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import ConflictError, StateError
from ..files import create_private, refuse_unsafe
from .base import Registry
from .sql import SqlRegistry

DEFAULT_REGISTRY = "scolpass.sqlite3"
SCHEMA_VERSION = 7
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
    actor TEXT,
    host TEXT
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
    # The machine each run ran on: with several machines on one (PostgreSQL) registry, only the run's
    # own machine can see its folders; a run recorded before this is taken as this machine's.
    6: "ALTER TABLE runs ADD COLUMN host TEXT",
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
_COLUMNS[7] = _COLUMNS[6]


class SqliteRegistry(SqlRegistry):
    """An open registry file (a :class:`~scolpass.registry.base.Registry`). Use :func:`open_sqlite`."""

    def __init__(self, path: Path, connection: sqlite3.Connection, created: bool, wait: float = WAIT_SECONDS) -> None:
        self.path = path
        self._wait = wait
        self.location = str(path)
        self.created = created
        self.concurrent = False
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
            self._execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # A batch run records or confirms its students in one transaction (a counter waits 5 s for it).
            raise StateError(
                f"{self.path}: the registry is busy: a batch run is in progress (waited {self._wait:.0f} s: {exc}); "
                "retry in a moment"
            ) from None
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self._execute("COMMIT")
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
                self._execute("ROLLBACK")

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        # A file damaged or locked between opening and use is the registrar's state to fix, not a bug.
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"{self.path}: an identifier or student was recorded twice: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot {doing} the registry: {exc}") from None

    # -- living runs: one at a time, under the file's run lock (lock.py) ---------
    def hold_run(self, run_id: int) -> None:
        """Nothing to take: the run lock on the file is held for the whole run."""

    def release_run(self, run_id: int) -> None:
        """Nothing to release (see :meth:`hold_run`)."""

    def claim_run(self, run_id: int) -> bool:
        """Always: called under the run lock, so that no other run is alive."""
        return True

    def live_runs(self, run_ids: Iterable[int]) -> set[int]:
        """The latest of ``run_ids`` while a process holds the file's run lock (only one run lives at a time,
        and it settles the earlier ones before it starts), else none."""
        ids = sorted(run_ids)
        return {ids[-1]} if ids and run_lock_held(self.path) else set()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql, params)

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        return self._db.executemany(sql, rows).rowcount

    def _insert_run(self, sql: str, params: Sequence[Any]) -> int:
        cursor = self._db.execute(sql, params)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _compact(self) -> None:
        try:
            self._db.execute("VACUUM")
        except sqlite3.DatabaseError as exc:
            # secure_delete has already overwritten the freed pages; VACUUM only shrinks the file.
            raise StateError(
                f"{self.path}: the students were purged, but the file could not be rebuilt ({exc}); "
                f"run 'sqlite3 {self.path} VACUUM' when no run uses it"
            ) from None


def open_sqlite(
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
    return SqliteRegistry(path, db, created, wait)


def run_lock_held(path: Path) -> bool:
    """Whether a process holds the run lock of the registry file at ``path`` (see lock.py)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


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
            if (step == 4 and (not run_columns or "actor" in run_columns)) or (
                step == 6 and (not run_columns or "host" in run_columns)
            ):
                # Version 1 had no runs table: the schema below creates it with its actor and host columns.
                # (A registry that already has the column is one a test made from today's schema.)
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
