"""The registry: the record of every identifier ever issued, and of every run.

It keeps identifiers stable across runs and years, and lets a crashed run be
recovered: a run's accounts are written ``pending`` before any file, and
become ``issued`` only once the run's output folder is complete. It never
holds a password, not even hashed.

The rest of scolpass uses what this package exports: the records (records.py),
the interface of an open registry (base.py) and :func:`open_registry`. SQLite
(sqlite.py) is the embedded engine.
"""

from .base import Registry
from .records import (
    AccountState,
    Command,
    IssuedAccount,
    LinkedNumber,
    ReissueRecord,
    RunRecord,
    RunState,
)
from .sqlite import (
    DEFAULT_REGISTRY,
    MAX_VARIABLES,
    SCHEMA_VERSION,
    WAIT_SECONDS,
    SqliteRegistry,
    open_registry,
    refuse_unsafe_location,
)

__all__ = [
    "DEFAULT_REGISTRY",
    "MAX_VARIABLES",
    "SCHEMA_VERSION",
    "WAIT_SECONDS",
    "AccountState",
    "Command",
    "IssuedAccount",
    "LinkedNumber",
    "Registry",
    "ReissueRecord",
    "RunRecord",
    "RunState",
    "SqliteRegistry",
    "open_registry",
    "refuse_unsafe_location",
]
