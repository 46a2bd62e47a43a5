"""Looking after the registry: where it lives, reserving existing logins, purging former students.

These change the registry only (no output folder), each under the run lock, so
that none of them runs while a batch run writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .academic_year import AcademicYear
from .errors import StateError
from .existing import read_existing_accounts
from .files import group_id
from .lock import run_lock
from .output import recover
from .registry import DEFAULT_REGISTRY, Copied, Registry, copy_registry, is_postgres, open_registry, sqlite_path
from .settings import Settings


def registry_location(settings: Settings | None, override: str | Path | None) -> Path:
    """``--registry``, else ``[registry] path`` (relative to the config file), else ``./scolpass.sqlite3``."""
    if override is not None:
        return Path(override)
    if settings is not None and settings.registry.path:
        path = Path(settings.registry.path).expanduser()
        if not path.is_absolute() and settings.source is not None:
            path = settings.source.parent / path
        return path
    return Path(DEFAULT_REGISTRY)


def existing_registry(settings: Settings | None, override: str | Path | None) -> Path:
    """:func:`registry_location`, which must hold a registry (commands that only read or tidy one)."""
    location = registry_location(settings, override)
    if not location.exists() or location.stat().st_size == 0:
        raise StateError(f"{location}: no registry here")
    return location


def read_registry(settings: Settings | None, override: str | Path | None = None) -> Registry:
    """The registry, to read only: a copy in memory, so that the help desk never writes (nor migrates)
    a registry a run may be using, and never waits for one."""
    return open_registry(existing_registry(settings, override), in_memory=True)


@dataclass(frozen=True)
class Reservation:
    """What ``scolpass registry import`` did."""

    read: int  # logins found in the file
    new: int  # of which were not reserved yet
    reserved: int  # reserved in all, now
    registry_path: Path
    registry_created: bool
    adopted: int = 0  # student numbers linked to their existing login
    conflicts: tuple[str, ...] = ()  # links refused: the registry says otherwise


def import_existing(
    path: str | Path, settings: Settings | None, registry: str | Path | None = None, now: datetime | None = None
) -> Reservation:
    """Reserve every login of an LDIF or CSV export of existing accounts, so that none is ever issued.

    Where the export links a student number to its login (``supannEtuId``, a
    ``student_number`` column), the student is adopted: returning, with that login.
    """
    existing = read_existing_accounts(path)
    location = registry_location(settings, registry)
    now = now or datetime.now().astimezone()
    created = not location.exists()  # before the lock, which creates the file
    group = group_id(settings.registry.group) if settings else None
    with run_lock(location, group=group), open_registry(location, group=group) as reg:
        # Students who already have an account are linked to it: they are "returning" from the first run.
        adopted, conflicts = reg.adopt(existing.links, AcademicYear.of_date(now.date()).start, now)
        new = reg.reserve(sorted(existing.logins), Path(path).name, now)
        total = reg.reserved_count()
    return Reservation(len(existing.logins), new, total, reg.path, created, adopted, tuple(conflicts))


@dataclass(frozen=True)
class Purge:
    """What ``scolpass registry purge`` did (or would do, in a dry run)."""

    before: int
    students: tuple[tuple[str, str, int], ...]  # (student number, login kept reserved, last year enrolled)
    registry_path: Path
    dry_run: bool


def purge(
    before: int,
    settings: Settings | None = None,
    registry: str | Path | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Purge:
    """Remove the personal data of students not enrolled since the academic year ``before`` (its first year).

    Their logins stay reserved, so that none is ever given to someone else. A
    year that has not begun, or that no run has listed students for yet, is
    refused: it would purge students enrolled now.
    """
    now = now or datetime.now().astimezone()
    current = AcademicYear.of_date(now.date()).start
    if before > current:
        raise StateError(
            f"--before {before}: the academic year {AcademicYear(before).label} has not begun; "
            f"purging before it would remove students enrolled in {AcademicYear(current).label}"
        )
    location = existing_registry(settings, registry)
    if dry_run:
        with open_registry(location, in_memory=True) as reg:
            recover(reg, now, touch_files=False)  # on the copy: what the real purge will settle first
            _refuse_unseen_year(reg, before)
            return Purge(before, tuple(reg.purgeable(before)), location, True)
    group = group_id(settings.registry.group) if settings else None
    with run_lock(location, group=group), open_registry(location, group=group) as reg:
        recover(reg, now, group=group)  # a crashed run's pending accounts are settled first, never purged half-way
        _refuse_unseen_year(reg, before)
        students = tuple(reg.purge(before, now))
    return Purge(before, students, location, False)


def _refuse_unseen_year(reg: Registry, before: int) -> None:
    """A purge only up to the latest year a run has listed students for.

    Before the first run of a new year nobody is recorded as enrolled in it:
    purging "not enrolled since" that year would remove every returning student.
    """
    latest = reg.latest_year()
    if latest is not None and before > latest:
        raise StateError(
            f"--before {before}: the registry's latest run is for {AcademicYear(latest).label}, so no student is "
            f"recorded as enrolled in {AcademicYear(before).label} yet and every one would be purged; "
            f"run generate on that year's complete export first, or purge --before {latest} at most"
        )


def copy(source: str | Path, target: str | Path) -> Copied:
    """``scolpass registry copy``: the registry at ``source`` (a file or a ``postgresql://`` URL) copied
    whole into the empty one at ``target``, and verified.

    The source is only read. A SQLite source is copied under its run lock, so that no run
    changes it meanwhile; stop the runs on a PostgreSQL source first.
    """
    if not is_postgres(source):
        path = existing_registry(None, sqlite_path(source))
        with run_lock(path), open_registry(path, in_memory=True) as reg, open_registry(target) as into:
            return copy_registry(reg, into)
    with open_registry(source, in_memory=True) as reg:
        if reg.created:  # an empty database (a slip in its name): nothing to copy, and no backup of nothing
            raise StateError(f"{reg.location}: no registry here")
        with open_registry(target) as into:
            return copy_registry(reg, into)


def init(location: str | Path) -> tuple[str, bool]:
    """``scolpass registry init``: the registry at ``location`` (a file or a ``postgresql://`` URL) made
    with its schema when it is new, or checked and migrated forward; returns where, and whether it was new."""
    with open_registry(location) as reg:
        return reg.location, reg.created
