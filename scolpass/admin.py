"""Looking after the registry: where it lives, reserving existing logins, purging former students.

These change the registry only (no output folder): on SQLite each under the run
lock, so that none of them runs while a batch run writes; on PostgreSQL beside
the runs, in their own transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .academic_year import AcademicYear
from .errors import NoRegistry, StateError
from .existing import read_existing_accounts
from .files import group_id
from .lock import registry_session, run_lock
from .output import LEGACY_PENDING, recover, settle
from .output import abandon as undo_run
from .registry import (
    DEFAULT_REGISTRY,
    Copied,
    Location,
    Registry,
    copy_registry,
    is_postgres,
    open_registry,
    sqlite_path,
)
from .settings import Settings


def registry_location(settings: Settings | None, override: Location | None) -> Location:
    """``--registry``, else ``[registry] url`` (or ``path``), else ``./scolpass.sqlite3``: a ``postgresql://``
    URL as it is, a file as a Path (from the configuration, relative to its file)."""
    text = override if override is not None else (settings.registry.url or settings.registry.path if settings else None)
    if not text:
        return Path(DEFAULT_REGISTRY)
    if is_postgres(text):
        return str(text)
    path = sqlite_path(text).expanduser()
    if override is None and not path.is_absolute() and settings is not None and settings.source is not None:
        path = settings.source.parent / path
    return path


def existing_registry(settings: Settings | None, override: Location | None) -> Location:
    """:func:`registry_location`, which must hold a registry (commands that only read or tidy one): a file
    checked here, a PostgreSQL database when it is opened (:func:`refuse_empty`)."""
    location = registry_location(settings, override)
    if isinstance(location, Path) and (not location.exists() or location.stat().st_size == 0):
        raise NoRegistry(f"{location}: no registry here")
    return location


def refuse_empty(reg: Registry) -> Registry:
    """``reg``, unless its opening made it (a PostgreSQL database with no registry yet): closed, and refused."""
    if reg.created:
        reg.close()
        raise NoRegistry(f"{reg.location}: no registry here")
    return reg


def insecure(settings: Settings | None) -> bool:
    """``[registry] allow_insecure``: PostgreSQL without TLS verified."""
    return settings is not None and settings.registry.allow_insecure


def read_registry(settings: Settings | None, override: Location | None = None) -> Registry:
    """The registry, to read only: a copy in memory, so that the help desk never writes (nor migrates)
    a registry a run may be using, and never waits for one (on PostgreSQL, one transaction never
    committed)."""
    location = existing_registry(settings, override)
    return refuse_empty(open_registry(location, in_memory=True, allow_insecure=insecure(settings)))


@dataclass(frozen=True)
class Reservation:
    """What ``scolpass registry import`` did."""

    read: int  # logins found in the file
    new: int  # of which were not reserved yet
    reserved: int  # reserved in all, now
    registry_path: str  # its location, as messages name it
    registry_created: bool
    adopted: int = 0  # student numbers linked to their existing login
    conflicts: tuple[str, ...] = ()  # links refused: the registry says otherwise


def import_existing(
    path: str | Path, settings: Settings | None, registry: Location | None = None, now: datetime | None = None
) -> Reservation:
    """Reserve every login of an LDIF or CSV export of existing accounts, so that none is ever issued.

    Where the export links a student number to its login (``supannEtuId``, a
    ``student_number`` column), the student is adopted: returning, with that login.
    """
    existing = read_existing_accounts(path)
    location = registry_location(settings, registry)
    now = now or datetime.now().astimezone()
    group = group_id(settings.registry.group) if settings else None
    with registry_session(location, group, insecure(settings)) as reg:
        # Students who already have an account are linked to it: they are "returning" from the first run.
        adopted, conflicts = reg.adopt(existing.links, AcademicYear.of_date(now.date()).start, now)
        new = reg.reserve(sorted(existing.logins), Path(path).name, now)
        total = reg.reserved_count()
    return Reservation(len(existing.logins), new, total, reg.location, reg.created, adopted, tuple(conflicts))


@dataclass(frozen=True)
class Purge:
    """What ``scolpass registry purge`` did (or would do, in a dry run)."""

    before: int
    students: tuple[tuple[str, str, int], ...]  # (student number, login kept reserved, last year enrolled)
    registry_path: str  # its location, as messages name it
    dry_run: bool
    # Done, but the removed data stays in the database's storage until someone else clears it (a PostgreSQL
    # role that may not VACUUM): what to do, for the registrar to pass on.
    notice: str | None = None


def purge(
    before: int,
    settings: Settings | None = None,
    registry: Location | None = None,
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
    if dry_run:
        with read_registry(settings, registry) as reg:
            recover(reg, now, touch_files=False)  # on the copy: what the real purge will settle first
            _refuse_unseen_year(reg, before)
            return Purge(before, tuple(reg.purgeable(before)), reg.location, True)
    location = existing_registry(settings, registry)
    group = group_id(settings.registry.group) if settings else None
    with registry_session(location, group, insecure(settings)) as reg:
        refuse_empty(reg)
        recover(reg, now, group=group)  # a crashed run's pending accounts are settled first, never purged half-way
        _refuse_unseen_year(reg, before)
        students = tuple(reg.purge(before, now))
        notice = reg.cannot_compact() if students else None
    return Purge(before, students, reg.location, False, notice)


UNSETTLED = ("pending", "written", LEGACY_PENDING)  # the states of a run not settled yet


def settle_run(
    run_id: int,
    settings: Settings | None = None,
    registry: Location | None = None,
    abandon: bool = False,
    now: datetime | None = None,
) -> str:
    """``scolpass registry settle RUN``: a run that stopped before it was confirmed, settled on the evidence
    of its folders on this machine (as a run settles its machine's), or undone with ``abandon``; returns
    what was done.

    A run a living process holds is refused (on PostgreSQL, its connection holds its lock, whatever
    its machine's name); so is abandoning a ``written`` run, whose sheets exist: it is confirmed.
    """
    now = now or datetime.now().astimezone()
    location = existing_registry(settings, registry)
    group = group_id(settings.registry.group) if settings else None
    with registry_session(location, group, insecure(settings)) as reg:
        refuse_empty(reg)
        run = reg.run(run_id)
        if run is None:
            raise StateError(f"{reg.location}: no run {run_id}")
        if run.state not in UNSETTLED:
            raise StateError(f"{reg.location}: run {run_id} is {run.state} already: nothing to settle")
        if not reg.claim_run(run_id):
            raise StateError(
                f"{reg.location}: run {run_id} is alive (its process on {run.host or 'its machine'} still holds it): "
                "let it finish, or stop it, then settle it"
            )
        try:
            if abandon and run.state == "written":
                raise StateError(
                    f"{reg.location}: run {run_id} had written its output completely (its sheets exist): it cannot "
                    f"be abandoned; 'scolpass registry settle {run_id}' confirms it"
                )
            if abandon:
                undo_run(reg, run, now)
                return f"run {run_id} of {run.started_at} abandoned: its students' logins are free again"
            return settle(reg, run, now, group=group)
        finally:
            reg.release_run(run_id)


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


def copy(source: Location, target: Location, settings: Settings | None = None) -> Copied:
    """``scolpass registry copy``: the registry at ``source`` (a file or a ``postgresql://`` URL) copied
    whole into the empty one at ``target``, and verified.

    The source is only read. A SQLite source is copied under its run lock, so that no run
    changes it meanwhile; stop the runs on a PostgreSQL source first. ``settings`` gives
    ``[registry] group`` (a registry file shared by a group) and ``allow_insecure``.
    """
    group = group_id(settings.registry.group) if settings else None
    loose = insecure(settings)
    if not is_postgres(source):
        path = sqlite_path(existing_registry(None, sqlite_path(source)))
        with (
            run_lock(path, group=group),
            open_registry(path, in_memory=True) as reg,
            open_registry(target, group=group, allow_insecure=loose) as into,
        ):
            return copy_registry(reg, into)
    # An empty database (a slip in its name) is refused before the target is opened: nothing to copy.
    with (
        refuse_empty(open_registry(source, in_memory=True, allow_insecure=loose)) as reg,
        open_registry(target, group=group, allow_insecure=loose) as into,
    ):
        return copy_registry(reg, into)


def init(location: Location, settings: Settings | None = None) -> tuple[str, bool]:
    """``scolpass registry init``: the registry at ``location`` (a file or a ``postgresql://`` URL) made
    with its schema when it is new, or checked and migrated forward; returns where, and whether it was new."""
    group = group_id(settings.registry.group) if settings else None
    with open_registry(location, group=group, allow_insecure=insecure(settings)) as reg:
        return reg.location, reg.created
