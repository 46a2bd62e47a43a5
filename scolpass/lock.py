"""Who may change a registry at once: one run at a time on an SQLite file, several on PostgreSQL.

On PostgreSQL each run holds its own id (a session advisory lock, see
registry/postgres.py), and logins and students are kept unique by the
database's constraints: nothing is held for a whole run. On SQLite an
exclusive ``flock`` on the registry file is held for the whole run (reading
the registry, writing the output, confirming). The system releases it
when a process dies, even by SIGKILL, so a crashed run never blocks the next
one, which then recovers what it left. SQLite's own locks are not enough: a run
writes its files between two transactions. (``flock`` and the POSIX locks
SQLite takes are independent on a local disk; on a network share neither is
reliable, which is why the registry must live on a local disk.)
"""

from __future__ import annotations

import fcntl
import getpass
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StateError
from .files import create_private
from .registry import Location, Registry, is_postgres, open_registry, refuse_unsafe_location, sqlite_path

WAIT_SECONDS = 30.0


def os_user() -> str:
    """Who runs scolpass, as the operating system knows them."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no name
        return str(os.getuid())


@contextmanager
def registry_session(
    location: Location, group: int | None = None, allow_insecure: bool = False, wait: float = WAIT_SECONDS
) -> Iterator[Registry]:
    """The registry open for a run, or an administration command, that changes it: an SQLite file under its
    run lock (one at a time, waiting up to ``wait`` seconds); a PostgreSQL registry as it is."""
    if is_postgres(location):
        with open_registry(location, allow_insecure=allow_insecure) as reg:
            yield reg
        return
    path = sqlite_path(location)
    with run_lock(path, wait, group), open_registry(path, group=group) as reg:
        yield reg


@contextmanager
def run_lock(registry: Path, wait: float = WAIT_SECONDS, group: int | None = None) -> Iterator[None]:
    """Hold the registry's run lock, creating the (empty) file if needed (0600, or 0660 for the
    registrars' ``group``); wait up to ``wait`` seconds."""
    # Checked before the file is made: nothing is created in a folder anyone could tamper with.
    refuse_unsafe_location(registry, group)
    try:
        create_private(registry, group)
        fd = os.open(registry, os.O_RDWR)
    except OSError as exc:
        raise StateError(f"{registry}: cannot open the registry: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateError(
                        f"{registry}: another scolpass run is using this registry (waited {wait:.0f} s); "
                        "run again when it has finished"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock
