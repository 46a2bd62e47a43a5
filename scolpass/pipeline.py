"""The runs that write: ``generate`` (an enrolment file in; sheets, credential files and
manifest out) and ``reissue``; and ``registry import``.

Everything that can be wrong with the input or the configuration is checked
before anything is written. Then, under the registry's run lock, the run and
its accounts are recorded as pending, every file is written into a staging
folder beside the target and published whole, and the run is confirmed (see
output.py for why this survives a crash at any point).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import shutil
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .academic_year import AcademicYear
from .batches import Layout, Progress, plan_parts, render_parts, sort_key
from .checks import check
from .enrolment import Enrolment
from .errors import InputError, Problem, ScolpassError, StateError
from .existing import read_existing_accounts
from .exports import (
    Credential,
    Directory,
    Returning,
    returning_changes,
    write_csv,
    write_ldif,
    write_password_changes,
    write_rejected,
    write_returning,
)
from .files import folder_mode, group_id, make_folder, write_bytes
from .identifiers import LoginRule, assign_identifiers, name_part
from .lock import os_user, run_lock
from .output import (
    MANIFEST,
    checkpoint,
    make_durable,
    make_parents,
    make_placed_durable,
    output_folder,
    put_in_place,
    recover,
    remove_empty,
    staging_folder,
)
from .passwords import Choice, generate_passwords, hash_passwords
from .protect import PdfProtection
from .registry import DEFAULT_REGISTRY, IssuedAccount, NewAccount, Registry, number_key, open_registry
from .settings import Settings, email_of
from .sheet import Sheet, SheetRenderer, activation_link
from .student import Step, Student

REPRINTS_PDF = "reprints.pdf"
CREDENTIALS_CSV = "credentials.csv"
CREDENTIALS_LDIF = "credentials.ldif"
RETURNING_LDIF = "returning.ldif"
REJECTED_CSV = "rejected.csv"


@dataclass(frozen=True)
class Outcome:
    """What a run did for one student (a manifest entry)."""

    student_number: str
    identifier: str | None  # None for a probable duplicate, which is not issued
    email: str | None
    status: str  # "new", "returning", "reissued" or "duplicate"
    pdf: str | None
    page: int | None
    short_login: str | None = None  # with [identifiers] short_pattern
    note: str | None = None  # why a probable duplicate was not issued


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
    registry_path: Path
    registry_created: bool
    registry_size: int
    enrolment: Enrolment | None  # what was read (warnings, skipped...); None for a reissue
    run_id: int | None = None  # None for a dry run, which writes nothing
    recovered: tuple[str, ...] = ()  # what was settled of crashed earlier runs
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)  # seconds by stage

    def count(self, status: str) -> int:
        """How many students got ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)


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
    with run_lock(location, group=group):
        reg = open_registry(location, group=group)
        try:
            # Students who already have an account are linked to it: they are "returning" from the first run.
            adopted, conflicts = reg.adopt(existing.links, AcademicYear.of_date(now.date()).start, now)
            new = reg.reserve(sorted(existing.logins), Path(path).name, now)
            total = reg.reserved_count()
        finally:
            reg.close()
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
        reg = open_registry(location, in_memory=True)
        try:
            recover(reg, now, touch_files=False)  # on the copy: what the real purge will settle first
            _refuse_unseen_year(reg, before)
            return Purge(before, tuple(reg.purgeable(before)), location, True)
        finally:
            reg.close()
    group = group_id(settings.registry.group) if settings else None
    with run_lock(location, group=group):
        reg = open_registry(location, group=group)
        try:
            recover(reg, now, group=group)  # a crashed run's pending accounts are settled first, never purged half-way
            _refuse_unseen_year(reg, before)
            students = tuple(reg.purge(before, now))
        finally:
            reg.close()
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


def directory_of(settings: Settings, year: AcademicYear) -> Directory:
    """The directory the LDIF files are for, from the configuration."""
    ldap = settings.ldap
    return Directory(
        ldap.people_dn, ldap.profile, settings.university.uai, ldap.eppn_scope, ldap.must_change, year.start
    )


def identity_key(student: Student) -> str:
    """Birth name, first name and birth date, as a probable-duplicate check compares them."""
    return f"{name_part(student.birth_name)}|{name_part(student.first_name)}|{student.birth_date.isoformat()}"


def student_record(student: Student) -> dict[str, object]:
    """What the registry keeps of a student to print a sheet again (no secret)."""
    data = dataclasses.asdict(student)
    data["birth_date"] = student.birth_date.isoformat()
    data["social_security_date"] = student.social_security_date.isoformat() if student.social_security_date else None
    return data


def student_from_record(data: Mapping[str, Any]) -> Student:
    """The inverse of :func:`student_record`."""
    values = dict(data)
    values["birth_date"] = date.fromisoformat(values["birth_date"])
    security = values.get("social_security_date")
    values["social_security_date"] = date.fromisoformat(security) if security else None
    values["steps"] = tuple(
        Step(**{**step, "supann": tuple(tuple(pair) for pair in step.get("supann", ()))}) for step in values["steps"]
    )
    return Student(**values)


def input_digest(path: Path) -> str:
    """SHA-256 of an input file, recorded with the run."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Plan:
    """Everything a run will write, computed before anything is."""

    new: list[Student]
    returning: list[tuple[Student, IssuedAccount]]
    duplicates: list[tuple[Student, str]]
    identifiers: dict[str, str]
    shorts: dict[str, str]


def _plan(enrolment: Enrolment, settings: Settings, reg: Registry, allow_duplicates: Collection[str]) -> _Plan:
    issued = reg.issued(s.student_number for s in enrolment.students)
    fresh = [s for s in enrolment.students if s.student_number not in issued]
    returning = sorted(
        ((s, issued[s.student_number]) for s in enrolment.students if s.student_number in issued),
        key=lambda pair: sort_key(pair[0]),
    )
    new: list[Student] = []
    duplicates: list[tuple[Student, str]] = []
    # New students of this very file are compared with each other too (in student-number order).
    by_number: dict[str, str] = {}
    by_identity: dict[str, str] = {}
    for student in sorted(fresh, key=lambda s: s.student_number):
        found = reg.probable_duplicates(student.student_number, student.ine, identity_key(student))
        same_number = by_number.get(number_key(student.student_number))
        same_person = by_identity.get(identity_key(student))
        if same_number:
            found.append((same_number, "the same student number but for leading zeros"))
        if same_person:
            found.append((same_person, "the same birth name, first name and birth date"))
        if found and student.student_number not in allow_duplicates:
            other, why = found[0]
            duplicates.append((student, f"probable duplicate of student {other}: {why}"))
            continue
        new.append(student)
        by_number.setdefault(number_key(student.student_number), student.student_number)
        by_identity.setdefault(identity_key(student), student.student_number)
    new.sort(key=sort_key)
    rules = settings.identifiers
    # Main and short logins are one namespace: a short login is never another student's login.
    taken = reg.taken_identifiers() | reg.taken_identifiers(short=True)
    rule = LoginRule(rules.pattern, rules.max_length, rules.suffix)
    identifiers = assign_identifiers(new, taken.__contains__, rule, rules.reserved)
    shorts: dict[str, str] = {}
    if rules.short_pattern:
        short_rule = LoginRule(rules.short_pattern, rules.short_max_length, rules.suffix)
        # A student's own main login may also be their short one (same person), no one else's.
        mains = set(identifiers.values())
        given: set[str] = set()
        for student in sorted(new, key=lambda s: s.student_number):
            own = identifiers[student.student_number]

            def used(login: str, own: str = own) -> bool:
                return login in taken or login in given or (login in mains and login != own)

            short = assign_identifiers([student], used, short_rule, rules.reserved)[student.student_number]
            shorts[student.student_number] = short
            given.add(short)
    return _Plan(new, returning, duplicates, identifiers, shorts)


def generate(
    enrolment: str | Path | Enrolment,
    settings: Settings,
    *,
    year: int | None = None,
    out_dir: str | Path | None = None,
    registry: str | Path | None = None,
    now: datetime | None = None,
    choice: Choice = secrets.choice,
    encoding: str | None = None,
    separator: str | None = None,
    skip_invalid: bool = False,
    reprint_returning: bool = False,
    allow_duplicates: Collection[str] = (),
    dry_run: bool = False,
    plaintext_credentials: bool = False,
    one_pdf_per_student: bool = False,
    progress: Progress | None = None,
    protection: PdfProtection | None = None,
) -> RunResult:
    """Issue accounts and sheets for the students of ``enrolment`` not yet issued.

    ``choice`` is the random source of passwords (``secrets.choice``; tests pass a seeded one).
    With ``skip_invalid``, students with a problem are set aside in ``rejected.csv``.
    ``reprint_returning`` prints returning students a sheet without password;
    ``allow_duplicates`` issues these probable duplicates anyway; ``dry_run``
    computes and reports everything and writes nothing. ``plaintext_credentials``
    adds the passwords to credentials.csv (for account systems that must set them
    themselves; the caller warns). ``protection`` encrypts every sheet PDF (``--encrypt-pdf``).
    """
    now = now or datetime.now().astimezone()
    timings = Timings()
    with timings.stage("read and validate"):
        checked = check(
            enrolment, settings, year=year, encoding=encoding, separator=separator, skip_invalid=skip_invalid,
            today=now.date(),
        )  # fmt: skip
    enrolment_path = None if isinstance(enrolment, Enrolment) else Path(enrolment)
    loaded, academic_year = checked.enrolment, checked.year
    renderer = SheetRenderer(settings, academic_year.label, protection)
    location = registry_location(settings, registry)
    target = output_folder(out_dir, academic_year, now, group_id(settings.registry.group))  # refused before rendering
    if dry_run:
        reg = open_registry(location, in_memory=True)
        try:
            recover(reg, now, touch_files=False)  # on the copy: what the next real run will settle
            planned = _plan(loaded, settings, reg, allow_duplicates)
            outcomes = _outcomes(planned, settings, None, reprint_returning)
            return RunResult(target, academic_year, outcomes, (), location, False, reg.count(), loaded)
        finally:
            reg.close()

    directory = directory_of(settings, academic_year)
    title = f"SCOL'PASS {academic_year.label}"

    def write(
        reg: Registry, run_id: int, plan: _Plan, staging: Path
    ) -> tuple[tuple[Outcome, ...], list[str], list[dict[str, object]]]:
        passwords = generate_passwords(len(plan.new), settings.password, choice)
        files: list[str] = []
        parts: list[dict[str, object]] = []
        placement: Placement = {}
        with timings.stage("passwords and hashes"):
            accounts = [(s, plan.identifiers[s.student_number], plan.shorts.get(s.student_number)) for s in plan.new]
            sheets, credentials = _new_passwords(accounts, settings, passwords, plaintext_credentials)
        if sheets:
            checkpoint("rendering")
            with timings.stage("render sheets"):
                placement, pdfs, parts = _print(
                    renderer, sheets, staging, settings, title, now, one_pdf_per_student, progress
                )
            checkpoint("rendered")
            with timings.stage("exports"):
                csv_excel = settings.credentials.csv_excel
                write_csv(credentials, settings.ldap.people_dn, staging / CREDENTIALS_CSV, csv_excel)
                write_ldif(credentials, directory, staging / CREDENTIALS_LDIF)
            files += [*pdfs, CREDENTIALS_CSV, CREDENTIALS_LDIF]
        # This year's enrolment (supann) and changed names of returning students, for ldapmodify.
        changes = [
            Returning(s, a.identifier, student_from_record(a.student) if a.student else None) for s, a in plan.returning
        ]
        changes = [c for c in changes if returning_changes(c, directory)]
        if changes:
            write_returning(changes, directory, staging / RETURNING_LDIF)
            files.append(RETURNING_LDIF)
        outcomes = _outcomes(plan, settings, placement, reprint_returning)
        if reprint_returning and plan.returning:
            reprints = [_reprint(student, account, settings) for student, account in plan.returning]
            renderer.render(reprints, staging / REPRINTS_PDF, title, settings.batches.duplex)
            files.append(REPRINTS_PDF)
        if loaded.rejected:
            write_rejected(loaded, staging / REJECTED_CSV)
            files.append(REJECTED_CSV)
        return outcomes, files, parts

    def begin(reg: Registry, run_id: int, plan: _Plan) -> None:
        reg.record(
            (
                NewAccount(s.student_number, plan.identifiers[s.student_number], plan.shorts.get(s.student_number),
                           s.ine, identity_key(s), student_record(s))
                for s in plan.new
            ),
            academic_year.start, now, run_id,
        )  # fmt: skip
        reg.update_students(
            (
                NewAccount(s.student_number, a.identifier, a.short_identifier, s.ine, identity_key(s),
                           student_record(s))
                for s, a in plan.returning
            ),
            academic_year.start,
        )  # fmt: skip

    def timed_plan(reg: Registry) -> _Plan:
        with timings.stage("identifiers and registry"):
            return _plan(loaded, settings, reg, allow_duplicates)

    result = _run(
        "generate", settings, location, out_dir, academic_year, now, loaded, enrolment_path,
        plan=timed_plan, begin=begin, write=write, encrypted=protection is not None,
    )  # fmt: skip
    return dataclasses.replace(result, timings=timings.seconds)


Placement = dict[str, tuple[str, int]]  # student number -> (pdf, page)


def _print(
    renderer: SheetRenderer,
    sheets: Sequence[Sheet],
    folder: Path,
    settings: Settings,
    title: str,
    now: datetime,
    one_pdf_per_student: bool,
    progress: Progress | None = None,
) -> tuple[Placement, list[str], list[dict[str, object]]]:
    """Sheets in faculty batches (cover, sheets, signature list), or one file per student."""
    placement: Placement = {}
    if one_pdf_per_student:
        for done, sheet in enumerate(sorted(sheets, key=lambda s: s.student.student_number), start=1):
            name = f"sheet-{sheet.student.student_number}.pdf"
            renderer.render([sheet], folder / name, title)
            placement[sheet.student.student_number] = (name, 1)
            if progress:
                progress(done, len(sheets))
        return placement, sorted({pdf for pdf, _ in placement.values()}), []
    layout = Layout(settings.batches.duplex, now.strftime("%d/%m/%Y %H:%M"))
    parts = plan_parts(sheets, settings.batches.max_sheets)
    described: list[dict[str, object]] = []
    for part, (pages, total) in zip(parts, render_parts(renderer, parts, folder, title, layout, progress), strict=True):
        placement |= {number: (part.file, page) for number, page in pages.items()}
        described.append(
            {"path": part.file, "faculty": part.faculty, "part": part.index, "of": part.count,
             "sheets": len(part.sheets), "pages": total}
        )  # fmt: skip
    return placement, [p.file for p in parts], described


def _sheet(student: Student, identifier: str, password: str | None, settings: Settings) -> Sheet:
    """A student's page: their address, login and activation link; ``password`` None for a reprint."""
    email = email_of(identifier, settings.university.email_domain)
    link = activation_link(settings.university.activation_url, identifier, email)
    return Sheet(student, email, settings.login_of(identifier), password, link)


def _new_passwords(
    accounts: Sequence[tuple[Student, str, str | None]], settings: Settings, passwords: Sequence[str], plaintext: bool
) -> tuple[list[Sheet], list[Credential]]:
    """Sheets and credentials of ``(student, identifier, short login)`` with new ``passwords``, hashed here."""
    sheets: list[Sheet] = []
    credentials: list[Credential] = []
    hashes = hash_passwords(passwords, settings.credentials)
    for (student, identifier, short), password, password_hash in zip(accounts, passwords, hashes, strict=True):
        sheet = _sheet(student, identifier, password, settings)
        sheets.append(sheet)
        credentials.append(
            Credential(student, identifier, sheet.email, password_hash, short, password if plaintext else None)
        )
    return sheets, credentials


def _reprint(student: Student, account: IssuedAccount, settings: Settings) -> Sheet:
    return _sheet(student, account.identifier, None, settings)


def _outcomes(
    plan: _Plan, settings: Settings, placement: Placement | None, reprint_returning: bool
) -> tuple[Outcome, ...]:
    """Every student's line in the manifest; ``placement`` is None in a dry run (nothing printed)."""
    domain = settings.university.email_domain
    outcomes: list[Outcome] = []
    for student in plan.new:
        identifier = plan.identifiers[student.student_number]
        pdf, page = (placement or {}).get(student.student_number, (None, None))
        outcomes.append(
            Outcome(student.student_number, identifier, email_of(identifier, domain), "new", pdf, page,
                    plan.shorts.get(student.student_number))
        )  # fmt: skip
    for page, (student, account) in enumerate(plan.returning, start=1):
        printed = reprint_returning and placement is not None
        at = 2 * page - 1 if settings.batches.duplex else page
        outcomes.append(
            Outcome(student.student_number, account.identifier, email_of(account.identifier, domain), "returning",
                    REPRINTS_PDF if printed else None, at if printed else None, account.short_identifier)
        )  # fmt: skip
    for student, why in plan.duplicates:
        outcomes.append(Outcome(student.student_number, None, None, "duplicate", None, None, None, why))
    return tuple(outcomes)


def reissue(
    student_numbers: Sequence[str],
    settings: Settings,
    *,
    year: int | None = None,
    out_dir: str | Path | None = None,
    registry: str | Path | None = None,
    now: datetime | None = None,
    choice: Choice = secrets.choice,
    plaintext_credentials: bool = False,
    one_pdf_per_student: bool = False,
    protection: PdfProtection | None = None,
) -> RunResult:
    """A new provisional password and sheet for lost or stolen sheets; the identifier never changes.

    The LDIF holds change records that replace ``userPassword`` only.
    """
    now = now or datetime.now().astimezone()
    academic_year = AcademicYear(year) if year is not None else AcademicYear.of_date(now.date())
    renderer = SheetRenderer(settings, academic_year.label, protection)
    location = registry_location(settings, registry)
    if not location.exists():
        raise StateError(f"{location}: no registry here: nothing was ever issued from it")
    output_folder(out_dir, academic_year, now, group_id(settings.registry.group))  # a bad --out: refused now
    numbers = list(dict.fromkeys(student_numbers))
    chosen: list[tuple[Student, IssuedAccount]] = []

    def plan(reg: Registry) -> _Plan:
        found = reg.issued(numbers)
        problems = []
        for number in numbers:
            account = found.get(number)
            if account is None or account.state == "pending":
                problems.append(
                    Problem(str(location), None, None, number, "is not a student number this registry issued")
                )
            elif account.student is None:
                reason = "has no sheet data in the registry (adopted account): run generate with a file that lists them"
                problems.append(Problem(str(location), None, None, number, reason))
            else:
                chosen.append((student_from_record(account.student), account))
        if problems:
            raise InputError(problems)
        chosen.sort(key=lambda pair: sort_key(pair[0]))
        return _Plan([], chosen, [], {}, {})

    def begin(reg: Registry, run_id: int, _: _Plan) -> None:
        reg.record_reissues((s.student_number for s, _ in chosen), run_id, now)

    def write(
        reg: Registry, run_id: int, _: _Plan, staging: Path
    ) -> tuple[tuple[Outcome, ...], list[str], list[dict[str, object]]]:
        passwords = generate_passwords(len(chosen), settings.password, choice)
        accounts = [(student, account.identifier, account.short_identifier) for student, account in chosen]
        sheets, credentials = _new_passwords(accounts, settings, passwords, plaintext_credentials)
        title = f"SCOL'PASS {academic_year.label}"
        placement, pdfs, parts = _print(renderer, sheets, staging, settings, title, now, one_pdf_per_student)
        outcomes = tuple(
            Outcome(c.student.student_number, c.identifier, c.email, "reissued", *placement[c.student.student_number],
                    c.short_login)
            for c in credentials
        )  # fmt: skip
        write_csv(credentials, settings.ldap.people_dn, staging / CREDENTIALS_CSV, settings.credentials.csv_excel)
        write_password_changes(credentials, settings.ldap.people_dn, staging / CREDENTIALS_LDIF)
        return outcomes, [*pdfs, CREDENTIALS_CSV, CREDENTIALS_LDIF], parts

    return _run(
        "reissue", settings, location, out_dir, academic_year, now, None, None, plan=plan, begin=begin, write=write,
        encrypted=protection is not None,
    )  # fmt: skip


def _run(
    command: str,
    settings: Settings,
    location: Path,
    out_dir: str | Path | None,
    year: AcademicYear,
    now: datetime,
    enrolment: Enrolment | None,
    enrolment_path: Path | None,
    *,
    plan: Callable[[Registry], _Plan],
    begin: Callable[[Registry, int, _Plan], None],
    write: Callable[[Registry, int, _Plan, Path], tuple[tuple[Outcome, ...], list[str], list[dict[str, object]]]],
    encrypted: bool = False,
) -> RunResult:
    """The frame every writing run shares: lock, recover, plan, pending, write aside, publish, confirm."""
    created = not location.exists()  # before the lock, which creates the file
    group = group_id(settings.registry.group)
    with run_lock(location, group=group):
        reg = open_registry(location, group=group)
        made: list[Path] = []
        staging: Path | None = None
        run_id: int | None = None
        written = published = False
        recovered: list[str] = []
        try:
            recovered = recover(reg, now, group=group)
            # Chosen under the lock: two offices starting in the same second get two folders.
            target = output_folder(out_dir, year, now, group)
            # Recorded absolute, so that a later run can recover it from any folder.
            absolute = target.resolve()
            computed = plan(reg)
            try:
                made = make_parents(absolute, group, folder_mode(settings.sheet.mode))
                with reg.transaction():
                    run_id = reg.begin_run(
                        command, year.start, now, os_user(), absolute,
                        enrolment_path.name if enrolment_path else None,
                        input_digest(enrolment_path) if enrolment_path else None,
                    )  # fmt: skip
                    staging = staging_folder(absolute, run_id)
                    reg.set_staging(run_id, staging)
                    begin(reg, run_id, computed)
                    checkpoint("recording")  # killed here, the registry keeps a hot journal
                    shutil.rmtree(staging, ignore_errors=True)  # left by a rolled-back run of this id
                    # Sheets carry passwords: the owner only, unless [sheet] file_mode lets a group read them.
                    make_folder(staging, group, folder_mode(settings.sheet.mode))
                checkpoint("pending")
                outcomes, files, parts = write(reg, run_id, computed, staging)
                counts = {status: sum(1 for o in outcomes if o.status == status) for status in STATUSES}
                counts["skipped"] = enrolment.skipped if enrolment else 0
                _write_manifest(
                    staging, command, run_id, enrolment, year, now, reg.path, files, outcomes, counts, parts, encrypted
                )
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
            reg.confirm(run_id, counts, now)
            size = reg.count()
        except BaseException as exc:
            # Once renamed into place (even if an interrupt came before the flag was set), the sheets
            # exist: the run stays written and the next run confirms it.
            renamed = published or (written and staging is not None and not staging.exists())
            if not renamed:
                _undo(reg, run_id, staging, now)
                remove_empty(made)
            reg.close()
            if recovered and isinstance(exc, StateError):
                # What recovery did (a crashed run's folder published) must not be lost with this run's error.
                raise StateError(f"{exc} (before that, this run settled earlier ones: {'; '.join(recovered)})") from exc
            raise
        reg.close()
    return RunResult(target, year, outcomes, (*files, MANIFEST), reg.path, created, size, enrolment, run_id,
                     tuple(recovered))  # fmt: skip


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


STATUSES = ("new", "returning", "reissued", "duplicate")


def _write_manifest(
    folder: Path,
    command: str,
    run_id: int,
    enrolment: Enrolment | None,
    year: AcademicYear,
    now: datetime,
    registry_path: Path,
    files: Sequence[str],
    outcomes: Sequence[Outcome],
    counts: Mapping[str, int],
    parts: Sequence[Mapping[str, object]],
    encrypted: bool,
) -> None:
    manifest = {
        "scolpass_version": __version__,
        "run": run_id,
        "command": command,
        "academic_year": year.label,
        "academic_year_start": year.start,
        "generated_at": now.isoformat(timespec="seconds"),
        "enrolment": enrolment.source if enrolment else None,
        "registry": str(registry_path.resolve()),
        "counts": dict(counts),
        "files": [{"path": name, "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()} for name in files],
        "parts": list(parts),
        "pdf_encrypted": encrypted,
        "students": [dataclasses.asdict(o) for o in outcomes],
    }
    # Written last: its presence is what tells recovery that the folder is complete.
    write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
