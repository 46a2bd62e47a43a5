"""The registry: the record of every identifier ever issued, and of every run.

It keeps identifiers stable across runs and years, and lets a crashed run be
recovered: a run's accounts are written ``pending`` before any file, and
become ``issued`` only once the run's output folder is complete. It never
holds a password, not even hashed.

The rest of scolpass uses what this package exports: the records (records.py),
the interface of an open registry (base.py) and :func:`open_registry`. SQLite
(sqlite.py) is the embedded engine.
"""

import re
from pathlib import Path

from ..errors import StateError
from ..validators import is_postgres
from .base import Registry
from .copy import Copied, copy_registry
from .postgres import PostgresRegistry, open_postgres
from .records import (
    AccountState,
    Command,
    IssuedAccount,
    LinkedNumber,
    ReissueRecord,
    RunRecord,
    RunState,
)
from .sql import MAX_VARIABLES
from .sqlite import (
    DEFAULT_REGISTRY,
    SCHEMA_VERSION,
    WAIT_SECONDS,
    SqliteRegistry,
    open_sqlite,
    refuse_unsafe_location,
)

# Where a registry is: an SQLite file (a Path, or a str that is a path or sqlite:///PATH) or a
# postgresql:// URL (a str).
Location = str | Path


def open_registry(
    location: Location,
    in_memory: bool = False,
    group: int | None = None,
    wait: float = WAIT_SECONDS,
    allow_insecure: bool = False,
) -> Registry:
    """Open the registry at ``location``: a ``postgresql://`` URL, else an SQLite file (a path, or
    ``sqlite:///PATH``), creating it when absent and migrating it forward.

    ``in_memory`` changes nothing for good (a dry run, the help desk's reads): SQLite works on a
    copy of the file, PostgreSQL in one transaction rolled back at the end. ``group`` and ``wait``
    are SQLite's (see :func:`open_sqlite`), ``allow_insecure`` PostgreSQL's (no TLS required: a
    server on 127.0.0.1, ``[registry] allow_insecure``).
    """
    if is_postgres(location):
        return open_postgres(str(location), dry=in_memory, allow_insecure=allow_insecure)
    return open_sqlite(sqlite_path(location), in_memory, group, wait)


def sqlite_path(location: Location) -> Path:
    """The file of a registry location that is not a PostgreSQL URL: a path, or ``sqlite:///PATH``
    (``sqlite:////ABSOLUTE/PATH``).

    A libpq keyword string (``host=db dbname=scolpass``) is refused rather than taken for a file name.
    """
    text = str(location)
    if text.startswith("sqlite:///"):
        # As SQLAlchemy reads it: sqlite:///r.sqlite3 is relative, sqlite:////srv/r.sqlite3 absolute.
        return Path(text.removeprefix("sqlite:///"))
    keywords = re.findall(r"([a-z_]+)\s*=", text)
    if keywords and re.match(r"\s*[a-z_]+\s*=", text):
        # Its values are never shown: one of them may be a password.
        raise StateError(
            f"a libpq keyword string ({', '.join(keywords)}) is not a registry location: give a file, "
            "sqlite:///PATH, or postgresql://USER@HOST:PORT/DB (its password in ~/.pgpass)"
        )
    return Path(location)


__all__ = [
    "DEFAULT_REGISTRY",
    "MAX_VARIABLES",
    "SCHEMA_VERSION",
    "WAIT_SECONDS",
    "AccountState",
    "Command",
    "Copied",
    "IssuedAccount",
    "LinkedNumber",
    "Location",
    "PostgresRegistry",
    "Registry",
    "ReissueRecord",
    "RunRecord",
    "RunState",
    "SqliteRegistry",
    "copy_registry",
    "is_postgres",
    "open_postgres",
    "open_registry",
    "open_sqlite",
    "refuse_unsafe_location",
    "sqlite_path",
]
