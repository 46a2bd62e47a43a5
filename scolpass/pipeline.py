"""The whole run: enrolment file in; sheets, credential files and manifest out.

Everything that can be wrong with the input or the configuration is checked
before anything is written. Writing happens inside one registry transaction:
if any file fails, what the run wrote is removed and the registry is left as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from anyascii import anyascii

from . import __version__
from .academic_year import AcademicYear, resolve_academic_year
from .enrolment import Enrolment, check_students, read_enrolment
from .errors import InputError, Problem, StateError
from .existing import read_existing_logins
from .exports import Credential, write_csv, write_ldif, write_rejected
from .fonts import font_check
from .identifiers import LoginRule, assign_identifiers, name_check
from .passwords import Choice, generate_passwords, hash_password
from .registry import DEFAULT_REGISTRY, Registry, open_registry
from .settings import Settings, email_of
from .sheet import Sheet, SheetRenderer, activation_link
from .student import Student
from .wording import load_wording

SHEETS_PDF = "sheets.pdf"
CREDENTIALS_CSV = "credentials.csv"
CREDENTIALS_LDIF = "credentials.ldif"
MANIFEST = "manifest.json"
REJECTED_CSV = "rejected.csv"
OUTPUT_ROOT = "scolpass-output"
# Created exclusively in the output folder while a run writes there.
LOCK_NAME = ".scolpass-writing"


@dataclass(frozen=True)
class Outcome:
    """What a run did for one student (a manifest entry)."""

    student_number: str
    identifier: str
    email: str
    status: str  # "new" or "returning"
    pdf: str | None
    page: int | None
    short_login: str | None = None  # with [identifiers] short_pattern


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
    enrolment: Enrolment  # what was read: warnings, skipped students, encoding...

    def count(self, status: str) -> int:
        """How many students got ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)


def registry_location(settings: Settings, override: str | Path | None) -> Path:
    """``--registry``, else ``[registry] path`` (relative to the config file), else ``./scolpass.sqlite3``."""
    if override is not None:
        return Path(override)
    if settings.registry.path:
        path = Path(settings.registry.path).expanduser()
        if not path.is_absolute() and settings.source is not None:
            path = settings.source.parent / path
        return path
    return Path(DEFAULT_REGISTRY)


def output_folder(requested: str | Path | None, year: AcademicYear, now: datetime) -> Path:
    """The run's own folder: ``requested`` if absent or empty, else a new dated one.

    Only a check, writing nothing: the folder is taken later, inside the transaction.
    """
    if requested is not None:
        path = Path(requested)
        if path.is_dir() and [child.name for child in path.iterdir()] == [LOCK_NAME]:
            raise StateError(f"{path}: another scolpass run is writing in this folder")
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StateError(
                f"{path}: the output folder must not exist or be empty (an earlier run's files would be mixed in)"
            )
        return path
    # When taken (two runs in one second), _claim moves on to "-2", "-3"...
    return Path(OUTPUT_ROOT) / year.slug / now.strftime("%Y-%m-%d_%H%M%S")


def sort_key(student: Student) -> tuple[str, str, str]:
    """Alphabetical by usual name then first name, as sheets are handed out."""
    return (anyascii(student.last_name).casefold(), anyascii(student.first_name).casefold(), student.student_number)


# Checks beyond the file's own rules, run on every row so that one report lists everything.
ROW_CHECKS = (name_check, font_check)


def _refuse(problems: list[Problem]) -> None:
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise InputError(problems)


# The fit check measures labels only, which do not depend on the year; the
# real year is known once the file is read.
_ANY_YEAR = "0000/0001"


def load_checked(
    enrolment: str | Path | Enrolment,
    settings: Settings | None,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    skip_invalid: bool = False,
) -> Enrolment:
    """Read an enrolment file (or take a built one) with every check a run makes before writing.

    Without settings, the checks that need a configuration (the sheet's layout,
    ``[columns]``) are left out.
    """
    student_checks = [SheetRenderer(settings, load_wording(settings, _ANY_YEAR)).fit_check] if settings else []
    if isinstance(enrolment, Enrolment):
        _refuse(check_students(enrolment, ROW_CHECKS, student_checks))
        return enrolment
    return read_enrolment(
        enrolment,
        ROW_CHECKS,
        encoding=encoding,
        separator=separator,
        columns=settings.columns if settings else None,
        student_checks=student_checks,
        skip_invalid=skip_invalid,
    )


@dataclass(frozen=True)
class Checked:
    """An enrolment file that passed every check, and the academic year it is for."""

    enrolment: Enrolment
    year: AcademicYear


def check(
    enrolment: str | Path | Enrolment,
    settings: Settings | None,
    *,
    year: int | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    skip_invalid: bool = False,
    today: date | None = None,
) -> Checked:
    """Everything ``generate`` checks before writing, and nothing written (``scolpass check``)."""
    loaded = load_checked(enrolment, settings, encoding=encoding, separator=separator, skip_invalid=skip_invalid)
    return Checked(loaded, resolve_academic_year(year, loaded, today or date.today()))


@dataclass(frozen=True)
class Reservation:
    """What ``scolpass registry import`` did."""

    read: int  # logins found in the file
    new: int  # of which were not reserved yet
    reserved: int  # reserved in all, now
    registry_path: Path
    registry_created: bool


def import_existing(
    path: str | Path, settings: Settings | None, registry: str | Path | None = None, now: datetime | None = None
) -> Reservation:
    """Reserve every login of an LDIF or CSV export of existing accounts, so that none is ever issued."""
    logins = read_existing_logins(path)
    location = registry_location(settings, registry) if settings else Path(registry or DEFAULT_REGISTRY)
    reg = open_registry(location)
    try:
        new = reg.reserve(sorted(logins), Path(path).name, now or datetime.now().astimezone())
        total = reg.reserved_count()
    finally:
        reg.close()
    return Reservation(len(logins), new, total, reg.path, reg.created)


def report(checked: Checked | None, problems: Sequence[Problem], configured: bool) -> dict[str, object]:
    """What ``scolpass check`` prints, as plain data (its ``--json``)."""
    data: dict[str, object] = {"ok": checked is not None, "configuration_checked": configured}
    if checked is not None:
        e = checked.enrolment
        data.update(
            file=e.source,
            encoding=e.encoding,
            separator="tab" if e.separator == "\t" else e.separator,
            rows=e.rows,
            students=len(e.students),
            steps=sum(len(s.steps) for s in e.students),
            faculties=len({s.faculty for s in e.students}),
            academic_year=checked.year.label,
            ignored_columns=list(e.ignored_columns),
        )
    data["warnings"] = [dataclasses.asdict(w) for w in (checked.enrolment.warnings if checked else ())]
    data["problems"] = [dataclasses.asdict(p) for p in problems]
    return data


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
) -> RunResult:
    """Issue accounts and sheets for the students of ``enrolment`` not yet issued.

    ``choice`` is the random source of passwords (``secrets.choice``; tests pass a seeded one).
    With ``skip_invalid``, students with a problem are set aside in ``rejected.csv``
    and the others go through.
    """
    now = now or datetime.now().astimezone()
    checked = check(
        enrolment,
        settings,
        year=year,
        encoding=encoding,
        separator=separator,
        skip_invalid=skip_invalid,
        today=now.date(),
    )
    enrolment, academic_year = checked.enrolment, checked.year
    renderer = SheetRenderer(settings, load_wording(settings, academic_year.label))
    target = output_folder(out_dir, academic_year, now)
    reg = open_registry(registry_location(settings, registry))
    claim: _Claim | None = None
    try:
        with reg.transaction():
            try:
                claim = _claim(target, requested=out_dir is not None)
                result = _issue(enrolment, settings, academic_year, renderer, reg, claim.path, now, choice)
            except OSError as exc:
                # A full disk or a folder that cannot be written: the registrar's to fix, not a bug.
                raise StateError(f"{exc.filename or target}: cannot write the output: {exc.strerror or exc}") from exc
            new = ((o.student_number, o.identifier, o.short_login) for o in result.outcomes if o.status == "new")
            reg.record(new, academic_year.start, now)
        size = reg.count()
    except BaseException:
        reg.close()
        if claim is not None:
            claim.undo()
        if reg.created:
            reg.path.unlink(missing_ok=True)
        raise
    finally:
        reg.close()
    claim.release()
    return RunResult(claim.path, academic_year, result.outcomes, result.files, reg.path, reg.created, size, enrolment)


@dataclass(frozen=True)
class _Claim:
    """An output folder this run holds, and the folders it had to create."""

    path: Path
    made: tuple[Path, ...]  # outermost first

    def release(self) -> None:
        (self.path / LOCK_NAME).unlink(missing_ok=True)

    def undo(self) -> None:
        """Remove what this run wrote, and the folders it made if they are empty; nothing else."""
        for name in (SHEETS_PDF, CREDENTIALS_CSV, CREDENTIALS_LDIF, REJECTED_CSV, MANIFEST):
            (self.path / name).unlink(missing_ok=True)
        self.release()
        _remove_empty(self.made)


def _remove_empty(folders: Sequence[Path]) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: another run's files, left alone


def _claim(target: Path, requested: bool) -> _Claim:
    """Take the output folder atomically, so two runs started together never share one.

    A lock file created exclusively decides between two runs that both found the
    folder empty; a default folder taken in the meantime moves on to ``-2``, ``-3``...
    """
    made: list[Path] = []
    try:
        path = _make_folder(target, requested, made)
        os.close(os.open(path / LOCK_NAME, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        _remove_empty(made)
        raise StateError(f"{target}: another scolpass run is writing in this folder") from None
    except OSError:
        _remove_empty(made)
        raise
    if any(child.name != LOCK_NAME for child in path.iterdir()):
        (path / LOCK_NAME).unlink()
        _remove_empty(made)
        raise StateError(
            f"{path}: the output folder must not exist or be empty (an earlier run's files would be mixed in)"
        )
    return _Claim(path, tuple(made))


def _make_folder(target: Path, requested: bool, made: list[Path]) -> Path:
    """Create ``target`` (or the next free ``-N`` name for a default folder), noting what was made."""
    for folder in reversed(target.parents):
        if not folder.exists():
            try:
                folder.mkdir()
                made.append(folder)
            except FileExistsError:
                pass
    path, n = target, 1
    while True:
        try:
            # Only the registrar may read sheets that carry passwords (shared servers).
            path.mkdir(mode=0o700)
            made.append(path)
            return path
        except FileExistsError:
            if requested:
                return path
            n += 1
            path = target.with_name(f"{target.name}-{n}")


@dataclass(frozen=True)
class _Issued:
    outcomes: tuple[Outcome, ...]
    files: tuple[str, ...]


def _issue(
    enrolment: Enrolment,
    settings: Settings,
    year: AcademicYear,
    renderer: SheetRenderer,
    reg: Registry,
    target: Path,
    now: datetime,
    choice: Choice,
) -> _Issued:
    domain = settings.university.email_domain
    issued = reg.issued(s.student_number for s in enrolment.students)
    new = sorted((s for s in enrolment.students if s.student_number not in issued), key=sort_key)
    returning = sorted((s for s in enrolment.students if s.student_number in issued), key=sort_key)
    rules = settings.identifiers
    rule = LoginRule(rules.pattern, rules.max_length, rules.suffix)
    identifiers = assign_identifiers(new, reg.taken_identifiers().__contains__, rule, rules.reserved)
    shorts: dict[str, str] = {}
    if rules.short_pattern:
        short_rule = LoginRule(rules.short_pattern, rules.short_max_length, rules.suffix)
        shorts = assign_identifiers(new, reg.taken_identifiers(short=True).__contains__, short_rule, rules.reserved)
    passwords = generate_passwords(len(new), settings.password, choice)

    files: list[str] = []
    outcomes: list[Outcome] = []
    if new:
        sheets = []
        credentials = []
        for student, password in zip(new, passwords, strict=True):
            identifier = identifiers[student.student_number]
            email = email_of(identifier, domain)
            link = activation_link(settings.university.activation_url, identifier, email)
            sheets.append(Sheet(student, email, settings.login_of(identifier), password, link))
            password_hash = hash_password(password, settings.password.hash)
            credentials.append(
                Credential(student, identifier, email, password_hash, shorts.get(student.student_number))
            )
        renderer.render(sheets, target / SHEETS_PDF, f"SCOL'PASS {year.label}")
        write_csv(credentials, settings.ldap.people_dn, target / CREDENTIALS_CSV)
        write_ldif(credentials, settings.ldap.people_dn, target / CREDENTIALS_LDIF)
        files += [SHEETS_PDF, CREDENTIALS_CSV, CREDENTIALS_LDIF]
        outcomes += [
            Outcome(c.student.student_number, c.identifier, c.email, "new", SHEETS_PDF, page, c.short_login)
            for page, c in enumerate(credentials, start=1)
        ]
    for student in returning:
        account = issued[student.student_number]
        email = email_of(account.identifier, domain)
        outcomes.append(
            Outcome(
                student.student_number, account.identifier, email, "returning", None, None, account.short_identifier
            )
        )
    if enrolment.rejected:
        write_rejected(enrolment, target / REJECTED_CSV)
        files.append(REJECTED_CSV)
    _write_manifest(target, enrolment, year, now, reg.path, files, outcomes)
    return _Issued(tuple(outcomes), (*files, MANIFEST))


def _write_manifest(
    target: Path,
    enrolment: Enrolment,
    year: AcademicYear,
    now: datetime,
    registry_path: Path,
    files: Sequence[str],
    outcomes: Sequence[Outcome],
) -> None:
    manifest = {
        "scolpass_version": __version__,
        "academic_year": year.label,
        "academic_year_start": year.start,
        "generated_at": now.isoformat(timespec="seconds"),
        "enrolment": enrolment.source,
        "registry": str(registry_path.resolve()),
        "counts": {
            **{status: sum(1 for o in outcomes if o.status == status) for status in ("new", "returning")},
            "skipped": enrolment.skipped,
        },
        "files": [{"path": name, "sha256": hashlib.sha256((target / name).read_bytes()).hexdigest()} for name in files],
        "students": [o.__dict__ for o in outcomes],
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
