"""The frame every writing run shares, and what a run reports.

Under the registry's run lock: settle what crashed runs left, plan, record the
run and its accounts as pending, write every file into a staging folder beside
the target, add the manifest, make it durable, publish it whole, confirm. See
output.py for why this survives a crash at any point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import shutil
import socket
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar, get_args

from .academic_year import AcademicYear
from .batches import Progress
from .enrolment import Enrolment
from .errors import ConflictError, ScolpassError, StateError
from .files import folder_mode, group_id, make_folder, write_bytes
from .lock import os_user, registry_session
from .output import (
    MANIFEST,
    checkpoint,
    claim_folder,
    make_durable,
    make_parents,
    make_placed_durable,
    output_folder,
    put_in_place,
    recover,
    remove_empty,
    staging_folder,
)
from .passwords import Choice
from .protect import PdfProtection
from .registry import Command, Location, Registry, is_postgres
from .settings import Settings
from .version import __version__

# What a run did for one student.
# "cancelled": every enrolment of the student this year is cancelled; never issued, nothing done.
Status = Literal["new", "returning", "reissued", "duplicate", "cancelled"]
STATUSES: tuple[Status, ...] = get_args(Status)


@dataclass(frozen=True)
class Outcome:
    """What a run did for one student (a manifest entry)."""

    student_number: str
    identifier: str | None  # None for a probable duplicate, or a cancelled student never issued
    email: str | None
    status: Status
    pdf: str | None
    page: int | None
    short_login: str | None = None  # with [identifiers] short_pattern
    # Why a probable duplicate was not issued; to whom a new number was linked; what a cancellation leaves.
    note: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """How a run goes, beside its input and the configuration (``generate``, ``reissue``)."""

    year: int | None = None  # the academic year's first year; default: the file's, else today's
    out_dir: str | Path | None = None  # default: a new dated folder under scolpass-output/
    registry: Location | None = None  # a file or a postgresql:// URL; default: [registry] url, else ./scolpass.sqlite3
    now: datetime | None = None  # the run's time (tests fix it)
    choice: Choice = secrets.choice  # the random source of passwords; tests pass a seeded one
    actor: str | None = None  # who asks for the run (recorded with it); default: the OS user
    # Reading the enrolment file (generate).
    encoding: str | None = None
    separator: str | None = None
    skip_invalid: bool = False  # issue the valid students; the others go to rejected.csv
    # Who is issued (generate).
    reprint_returning: bool = False  # returning students get a sheet without password
    allow_duplicates: Collection[str] = ()  # probable duplicates issued anyway
    # A new number with an issued student's INE is that student (the migration year); None: [registry] link_by_ine.
    link_by_ine: bool | None = None
    dry_run: bool = False  # compute and report everything, write nothing
    # What is written.
    plaintext_credentials: bool = False  # the passwords in credentials.csv too (the caller warns)
    one_pdf_per_student: bool = False
    protection: PdfProtection | None = None  # every sheet PDF encrypted (--encrypt-pdf)
    progress: Progress | None = field(default=None, compare=False)  # sheets done, out of all

    def links_by_ine(self, settings: Settings) -> bool:
        """Whether this run links new numbers by INE: ``link_by_ine``, else ``[registry] link_by_ine``."""
        return settings.registry.link_by_ine if self.link_by_ine is None else self.link_by_ine

    def academic_year(self, now: datetime) -> AcademicYear:
        """``year``, else the academic year of ``now`` (a run with no file to give it)."""
        return AcademicYear(self.year) if self.year is not None else AcademicYear.of_date(now.date())


class Timings:
    """Seconds spent in each stage of a run (benchmarks/ prints them)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time of the ``with`` block to ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class RunResult:
    """What a run wrote, and where."""

    out_dir: Path
    year: AcademicYear
    outcomes: tuple[Outcome, ...]
    files: tuple[str, ...]
    registry_path: str  # the registry's location, as messages name it (a file, a URL without password)
    registry_created: bool
    registry_size: int
    enrolment: Enrolment | None  # what was read (warnings, skipped...); None for a reissue
    run_id: int | None = None  # None for a dry run, which writes nothing
    recovered: tuple[str, ...] = ()  # what was settled of crashed earlier runs
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)  # seconds by stage

    def count(self, status: Status) -> int:
        """How many students got ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)


@dataclass(frozen=True)
class Written:
    """What a run's :meth:`Job.write` put in its staging folder."""

    outcomes: tuple[Outcome, ...]
    files: list[str]
    parts: list[dict[str, object]] = field(default_factory=list)  # the batches' PDF parts, for the manifest


PlanT = TypeVar("PlanT")


class Job(Protocol[PlanT]):
    """One kind of writing run: what the frame of :func:`run_locked` calls, in this order."""

    command: Command

    def plan(self, reg: Registry) -> PlanT:
        """Everything the run will do, worked out under the lock; raises before anything is written."""

    def record(self, reg: Registry, run_id: int, plan: PlanT) -> None:
        """The run's accounts, as pending (inside the transaction that records the run)."""

    def write(self, run_id: int, plan: PlanT, staging: Path) -> Written:
        """Every file of the run but the manifest, into ``staging``."""


def input_digest(path: Path) -> str:
    """SHA-256 of an input file, recorded with the run."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Context:
    """What the frame needs besides the job: where, when, for which year, from which input."""

    settings: Settings
    location: Location  # the registry
    options: RunOptions
    year: AcademicYear
    now: datetime
    enrolment: Enrolment | None = None
    enrolment_path: Path | None = None


# How many times a run on a shared (PostgreSQL) registry plans again when another run recorded one of
# its logins or students first; each time it sees what the other recorded (the next homonym number,
# a student in progress).
ATTEMPTS = 5


def run_locked(job: Job[PlanT], ctx: Context) -> RunResult:
    """Lock (SQLite) or hold the run (PostgreSQL), recover, plan, pending, write aside, publish, confirm."""
    group = group_id(ctx.settings.registry.group)
    with registry_session(ctx.location, group, ctx.settings.registry.allow_insecure) as reg:
        return _run(job, ctx, reg, group)


def _run(job: Job[PlanT], ctx: Context, reg: Registry, group: int | None) -> RunResult:
    made: list[Path] = []
    staging: Path | None = None
    run_id: int | None = None
    written = published = False
    recovered: list[str] = []
    try:
        recovered = recover(reg, ctx.now, group=group)
        mode = folder_mode(ctx.settings.sheet.mode)
        target = output_folder(ctx.options.out_dir, ctx.year, ctx.now, group)
        try:
            if ctx.options.out_dir is None:
                # Made now, empty: two runs starting in the same second get two folders.
                target, made = claim_folder(target, group, mode)
            # Recorded absolute, so that a later run can recover it from any folder.
            absolute = target.resolve()
            if ctx.options.out_dir is not None:
                made = make_parents(absolute, group, mode)
            run_id, staging, computed = _record(job, ctx, reg, absolute, group)
            checkpoint("pending")
            done = job.write(run_id, computed, staging)
            counts = outcome_counts(done.outcomes)
            counts["skipped"] = ctx.enrolment.skipped if ctx.enrolment else 0
            write_manifest(staging, job.command, run_id, ctx, reg.location, done, counts)
            make_durable(staging)
        except OSError as exc:
            # A full disk or a folder that cannot be written: the registrar's to fix, not a bug.
            raise StateError(f"{exc.filename or target}: cannot write the output: {exc.strerror or exc}") from exc
        # From here on the output is complete: a crash publishes it, never undoes it.
        reg.mark_written(run_id)
        written = True
        checkpoint("written")
        put_in_place(staging, absolute)
        published = True
        make_placed_durable(absolute)
        checkpoint("published")
        reg.confirm(run_id, counts, ctx.now)
        size = reg.count()
    except BaseException as exc:
        # Once renamed into place (even if an interrupt came before the flag was set), the sheets
        # exist: the run stays written and the next run confirms it.
        renamed = published or (written and staging is not None and not staging.exists())
        if not renamed:
            _undo(reg, run_id, staging, ctx.now)
            remove_empty(made)
        if recovered and isinstance(exc, StateError):
            # What recovery did (a crashed run's folder published) must not be lost with this run's error.
            raise StateError(f"{exc} (before that, this run settled earlier ones: {'; '.join(recovered)})") from exc
        raise
    return RunResult(target, ctx.year, done.outcomes, (*done.files, MANIFEST), reg.location, reg.created, size,
                     ctx.enrolment, run_id, tuple(recovered))  # fmt: skip


def _record(job: Job[PlanT], ctx: Context, reg: Registry, absolute: Path, group: int | None) -> tuple[int, Path, PlanT]:
    """Plan, then record the run and its accounts as pending, with its staging folder made; returns the
    run's id, that folder and the plan.

    On a shared registry another run may record one of the plan's logins or students between the
    plan and this transaction: the database refuses the second (unique constraints), the
    transaction saves nothing, and the run plans again, seeing what the other recorded.
    """
    for attempt in range(1, ATTEMPTS + 1):
        computed = job.plan(reg)
        run_id = None
        try:
            with reg.transaction():
                run_id = reg.begin_run(
                    job.command, ctx.year.start, ctx.now, os_user(), absolute,
                    ctx.enrolment_path.name if ctx.enrolment_path else None,
                    input_digest(ctx.enrolment_path) if ctx.enrolment_path else None,
                    ctx.options.actor, socket.gethostname(),
                )  # fmt: skip
                # Held before the run is visible to others: no other run ever takes it for a dead one.
                reg.hold_run(run_id)
                staging = staging_folder(absolute, run_id)
                reg.set_staging(run_id, staging)
                job.record(reg, run_id, computed)
                checkpoint("recording")  # killed here, the registry keeps a hot journal
                shutil.rmtree(staging, ignore_errors=True)  # left by a rolled-back run of this id
                # Sheets carry passwords: the owner only, unless [sheet] file_mode lets a group read them.
                make_folder(staging, group, folder_mode(ctx.settings.sheet.mode))
        except ConflictError:
            if run_id is not None:
                reg.release_run(run_id)  # a session's lock outlives the transaction rolled back
            if not reg.concurrent or attempt == ATTEMPTS:
                raise
            checkpoint("conflict")
            continue
        return run_id, staging, computed
    raise AssertionError("unreachable")  # the loop returns or raises


def _undo(reg: Registry, run_id: int | None, staging: Path | None, now: datetime) -> None:
    """A failed run: the abandonment committed first, then its staging folder removed.

    In the other order a crash between the two would leave a pending run with no
    folder at all. If the registry cannot be written either (a full disk), the
    folder stays, and the next run settles both: the error being raised says
    what went wrong.
    """
    if run_id is None:
        return
    try:
        reg.abandon(run_id, now)
    except ScolpassError:
        return
    checkpoint("abandoned")
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)


def write_manifest(
    folder: Path,
    command: Command,
    run_id: int,
    ctx: Context,
    registry: str,
    done: Written,
    counts: Mapping[str, int],
) -> None:
    """``manifest.json``: the run, its counts, every file with its sha256, every student's outcome."""
    manifest = {
        "scolpass_version": __version__,
        "run": run_id,
        "command": command,
        "academic_year": ctx.year.label,
        "academic_year_start": ctx.year.start,
        "generated_at": ctx.now.isoformat(timespec="seconds"),
        "enrolment": ctx.enrolment.source if ctx.enrolment else None,
        "registry": registry if is_postgres(registry) else str(Path(registry).resolve()),
        "counts": dict(counts),
        "files": [{"path": name, "sha256": _sha256(folder / name)} for name in done.files],
        "parts": list(done.parts),
        "pdf_encrypted": ctx.options.protection is not None,
        "students": [dataclasses.asdict(o) for o in done.outcomes],
    }
    # Written last: its presence is what tells recovery that the folder is complete.
    write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outcome_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many students got each status (a manifest's and a run record's counts, beside "skipped")."""
    return {status: sum(1 for o in outcomes if o.status == status) for status in STATUSES}
