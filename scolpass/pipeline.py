"""The runs that write: ``generate`` (an enrolment file in; sheets, credential files and
manifest out) and ``reissue`` (a new password and sheet for students already issued).

Each is a job for the frame of run.py: what it plans, records and writes. Everything
that can be wrong with the input or the configuration is checked before anything is
written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .academic_year import AcademicYear
from .admin import registry_location
from .batches import Layout, Progress, plan_parts, render_parts
from .checks import check
from .enrolment import Enrolment
from .errors import StateError
from .exports import (
    Credential,
    Directory,
    Returning,
    returning_changes,
    write_csv,
    write_ldif,
    write_password_changes,
    write_rejected,
    write_rejected_items,
    write_returning,
)
from .files import group_id
from .output import checkpoint, output_folder, recover
from .passwords import Choice, generate_passwords, hash_passwords
from .planning import Plan, plan_generate, plan_reissue
from .registry import Command, Location, Registry, open_registry
from .run import Context, Outcome, RunOptions, RunResult, Timings, Written, run_locked
from .settings import Settings, email_of
from .sheet import Sheet, SheetRenderer, activation_link
from .student import Account

REPRINTS_PDF = "reprints.pdf"
CREDENTIALS_CSV = "credentials.csv"
CREDENTIALS_LDIF = "credentials.ldif"
RETURNING_LDIF = "returning.ldif"
REJECTED_CSV = "rejected.csv"
REJECTED_JSON = "rejected.json"  # a Pégase feed's items set aside, as they were


def generate(enrolment: str | Path | Enrolment, settings: Settings, options: RunOptions | None = None) -> RunResult:
    """Issue accounts and sheets for the students of ``enrolment`` not yet issued.

    Students already in the registry are returning (a sheet without password with
    ``reprint_returning``); a new number that looks like an issued student is held
    back as a probable duplicate, unless ``link_by_ine`` links it to that student's
    account by their INE (the migration year). See :class:`RunOptions`; ``dry_run``
    computes and reports everything and writes nothing.
    """
    options = options or RunOptions()
    now = options.now or datetime.now().astimezone()
    timings = Timings()
    with timings.stage("read and validate"):
        checked = check(
            enrolment, settings, year=options.year, encoding=options.encoding, separator=options.separator,
            skip_invalid=options.skip_invalid, today=now.date(),
        )  # fmt: skip
    path = None if isinstance(enrolment, Enrolment) else Path(enrolment)
    ctx = Context(settings, registry_location(settings, options.registry), options, checked.year, now,
                  checked.enrolment, path)  # fmt: skip
    job = _Generate(ctx, timings)
    target = _refuse_bad_output(ctx)
    if options.dry_run:
        return job.dry_run(target)
    result = run_locked(job, ctx)
    return dataclasses.replace(result, timings=timings.seconds)


def reissue(student_numbers: Sequence[str], settings: Settings, options: RunOptions | None = None) -> RunResult:
    """A new provisional password and sheet for lost or stolen sheets; the identifier never changes.

    The LDIF holds change records that replace ``userPassword`` only.
    """
    options = options or RunOptions()
    now = options.now or datetime.now().astimezone()
    ctx = Context(settings, registry_location(settings, options.registry), options, options.academic_year(now), now)
    job = _Reissue(ctx, student_numbers)
    refuse_no_registry(ctx.location)
    _refuse_bad_output(ctx)
    return run_locked(job, ctx)


def _refuse_bad_output(ctx: Context) -> Path:
    """A bad ``--out`` refused now, before anything is rendered (the frame chooses it again under the lock)."""
    return output_folder(ctx.options.out_dir, ctx.year, ctx.now, group_id(ctx.settings.registry.group))


def refuse_no_registry(location: Location) -> None:
    """A reissue needs the registry that issued the accounts (a file checked here; a PostgreSQL database
    without one finds none of the students asked for)."""
    if isinstance(location, Path) and not location.exists():
        raise StateError(f"{location}: no registry here: nothing was ever issued from it")


@dataclass
class _Generate:
    """``generate``: new students get an account, a password and a sheet; returning ones keep theirs."""

    ctx: Context
    timings: Timings
    command: Command = "generate"

    def __post_init__(self) -> None:
        # Made first: a logo or a layout that cannot work is refused before anything is recorded.
        self.renderer = SheetRenderer(self.ctx.settings, self.ctx.year.label, self.ctx.options.protection)

    @property
    def enrolment(self) -> Enrolment:
        assert self.ctx.enrolment is not None
        return self.ctx.enrolment

    def plan(self, reg: Registry) -> Plan:
        ctx = self.ctx
        with self.timings.stage("identifiers and registry"):
            return plan_generate(
                self.enrolment, ctx.settings.identifiers, reg, ctx.options.allow_duplicates,
                ctx.options.links_by_ine(ctx.settings), ctx.year.start,
            )  # fmt: skip

    def dry_run(self, target: Path) -> RunResult:
        """What a run would do, on a copy of the registry; nothing written."""
        ctx = self.ctx
        with open_registry(ctx.location, in_memory=True, allow_insecure=ctx.settings.registry.allow_insecure) as reg:
            recover(reg, ctx.now, touch_files=False)  # on the copy: what the next real run will settle
            planned = self.plan(reg)
            outcomes = _outcomes(planned, ctx.settings, None, ctx.options.reprint_returning)
            return RunResult(target, ctx.year, outcomes, (), reg.location, False, reg.count(), self.enrolment)

    def record(self, reg: Registry, run_id: int, plan: Plan) -> None:
        with self.timings.stage("record in registry"):
            reg.record(plan.new, self.ctx.year.start, self.ctx.now, run_id)
            # Before the update: a linked student's new number must find their account to update it.
            reg.link(plan.links, self.ctx.year.start, self.ctx.now, run_id)
            reg.update_students((student for student, _ in plan.returning), self.ctx.year.start)
            if self.enrolment.feed_modified is not None:
                # Where `pegase fetch --since last` starts once this run is complete.
                reg.set_feed_mark(run_id, self.enrolment.feed_modified)

    def write(self, run_id: int, plan: Plan, staging: Path) -> Written:
        ctx, settings, options = self.ctx, self.ctx.settings, self.ctx.options
        renderer = self.renderer
        files: list[str] = []
        parts: list[dict[str, object]] = []
        placement: Placement = {}
        with self.timings.stage("passwords and hashes"):
            sheets, credentials = new_passwords(plan.new, settings, options.choice, options.plaintext_credentials)
        if sheets:
            checkpoint("rendering")
            with self.timings.stage("render sheets"):
                placement, pdfs, parts = _print(renderer, sheets, staging, ctx, options.progress)
            checkpoint("rendered")
            with self.timings.stage("exports"):
                write_csv(
                    credentials, settings.ldap.people_dn, staging / CREDENTIALS_CSV, settings.credentials.csv_excel
                )
                write_ldif(credentials, directory_of(settings, ctx.year), staging / CREDENTIALS_LDIF)
            files += [*pdfs, CREDENTIALS_CSV, CREDENTIALS_LDIF]
        files += _write_returning(plan, settings, ctx.year, staging)
        if options.reprint_returning and plan.returning:
            reprints = [
                sheet_of(Account(s, a.identifier, a.short_identifier), None, settings) for s, a in plan.returning
            ]
            renderer.render(reprints, staging / REPRINTS_PDF, sheet_title(ctx.year), settings.batches.duplex)
            files.append(REPRINTS_PDF)
        if self.enrolment.rejected and self.enrolment.format == "pegase":
            write_rejected_items(self.enrolment, staging / REJECTED_JSON)
            files.append(REJECTED_JSON)
        elif self.enrolment.rejected:
            write_rejected(self.enrolment, staging / REJECTED_CSV)
            files.append(REJECTED_CSV)
        return Written(_outcomes(plan, settings, placement, options.reprint_returning), files, parts)


def _write_returning(plan: Plan, settings: Settings, year: AcademicYear, staging: Path) -> list[str]:
    """``returning.ldif``: this year's enrolment (supann), changed names and student numbers of returning
    students, when any."""
    directory = directory_of(settings, year)
    changes = [
        # Every number of the account, this run's link included.
        Returning(Account(s, a.identifier, a.short_identifier), a.student, (*a.student_numbers, s.student_number))
        for s, a in plan.returning
    ]
    changes = [c for c in changes if returning_changes(c, directory)]
    if not changes:
        return []
    write_returning(changes, directory, staging / RETURNING_LDIF)
    return [RETURNING_LDIF]


@dataclass
class _Reissue:
    """``reissue``: issued students get a new password and sheet; their logins never change."""

    ctx: Context
    student_numbers: Sequence[str]
    command: Command = "reissue"

    def __post_init__(self) -> None:
        self.renderer = SheetRenderer(self.ctx.settings, self.ctx.year.label, self.ctx.options.protection)

    def plan(self, reg: Registry) -> Plan:
        return plan_reissue(self.student_numbers, reg)

    def record(self, reg: Registry, run_id: int, plan: Plan) -> None:
        # Under the account's own number, whichever of its numbers was asked for.
        reg.record_reissues((account.student_number for _, account in plan.returning), run_id, self.ctx.now)

    def write(self, run_id: int, plan: Plan, staging: Path) -> Written:
        ctx, settings, options = self.ctx, self.ctx.settings, self.ctx.options
        renderer = self.renderer
        accounts = [Account(s, a.identifier, a.short_identifier) for s, a in plan.returning]
        sheets, credentials = new_passwords(accounts, settings, options.choice, options.plaintext_credentials)
        placement, pdfs, parts = _print(renderer, sheets, staging, ctx)
        outcomes = tuple(
            Outcome(c.student.student_number, c.identifier, c.email, "reissued", *placement[c.student.student_number],
                    c.short_login)
            for c in credentials
        )  # fmt: skip
        write_csv(credentials, settings.ldap.people_dn, staging / CREDENTIALS_CSV, settings.credentials.csv_excel)
        write_password_changes(credentials, settings.ldap.people_dn, staging / CREDENTIALS_LDIF)
        return Written(outcomes, [*pdfs, CREDENTIALS_CSV, CREDENTIALS_LDIF], parts)


def directory_of(settings: Settings, year: AcademicYear) -> Directory:
    """The directory the LDIF files are for, from the configuration."""
    ldap = settings.ldap
    return Directory(
        ldap.people_dn, ldap.profile, settings.university.uai, ldap.eppn_scope, ldap.must_change, year.start
    )


def sheet_title(year: AcademicYear) -> str:
    """The title of every sheet PDF of the year."""
    return f"SCOL'PASS {year.label}"


Placement = dict[str, tuple[str, int]]  # student number -> (pdf, page)


def _print(
    renderer: SheetRenderer, sheets: Sequence[Sheet], folder: Path, ctx: Context, progress: Progress | None = None
) -> tuple[Placement, list[str], list[dict[str, object]]]:
    """Sheets in faculty batches (cover, sheets, signature list), or one file per student."""
    settings, title = ctx.settings, sheet_title(ctx.year)
    placement: Placement = {}
    if ctx.options.one_pdf_per_student:
        for done, sheet in enumerate(sorted(sheets, key=lambda s: s.student.student_number), start=1):
            name = f"sheet-{sheet.student.student_number}.pdf"
            renderer.render([sheet], folder / name, title)
            placement[sheet.student.student_number] = (name, 1)
            if progress:
                progress(done, len(sheets))
        return placement, sorted({pdf for pdf, _ in placement.values()}), []
    layout = Layout(settings.batches.duplex, ctx.now.strftime("%d/%m/%Y %H:%M"))
    parts = plan_parts(sheets, settings.batches.max_sheets)
    described: list[dict[str, object]] = []
    for part, (pages, total) in zip(parts, render_parts(renderer, parts, folder, title, layout, progress), strict=True):
        placement |= {number: (part.file, page) for number, page in pages.items()}
        described.append(
            {"path": part.file, "faculty": part.faculty, "part": part.index, "of": part.count,
             "sheets": len(part.sheets), "pages": total}
        )  # fmt: skip
    return placement, [p.file for p in parts], described


def sheet_of(account: Account, password: str | None, settings: Settings) -> Sheet:
    """A student's page: their address, login and activation link; ``password`` None for a reprint."""
    email = email_of(account.identifier, settings.university.email_domain)
    link = activation_link(settings.university.activation_url, account.identifier, email)
    return Sheet(account.student, email, settings.login_of(account.identifier), password, link)


def new_passwords(
    accounts: Sequence[Account], settings: Settings, choice: Choice, plaintext: bool = False
) -> tuple[list[Sheet], list[Credential]]:
    """Sheets and credentials of ``accounts`` with new passwords, drawn and hashed here."""
    passwords = generate_passwords(len(accounts), settings.password, choice)
    hashes = hash_passwords(passwords, settings.credentials)
    sheets: list[Sheet] = []
    credentials: list[Credential] = []
    for account, password, password_hash in zip(accounts, passwords, hashes, strict=True):
        sheet = sheet_of(account, password, settings)
        sheets.append(sheet)
        credentials.append(Credential(account, sheet.email, password_hash, password if plaintext else None))
    return sheets, credentials


def _outcomes(
    plan: Plan, settings: Settings, placement: Placement | None, reprint_returning: bool
) -> tuple[Outcome, ...]:
    """Every student's line in the manifest; ``placement`` is None in a dry run (nothing printed)."""
    domain = settings.university.email_domain
    outcomes: list[Outcome] = []
    for account in plan.new:
        number = account.student.student_number
        pdf, page = (placement or {}).get(number, (None, None))
        outcomes.append(
            Outcome(number, account.identifier, email_of(account.identifier, domain), "new", pdf, page,
                    account.short_identifier)
        )  # fmt: skip
    linked = plan.linked_to()
    for page, (student, issued) in enumerate(plan.returning, start=1):
        printed = reprint_returning and placement is not None
        at = 2 * page - 1 if settings.batches.duplex else page
        link = f"linked by INE to {linked[student.student_number]}" if student.student_number in linked else None
        if issued.state == "pending":
            # Another run on a shared registry is issuing them now: one student, one account.
            link = f"being issued by run {issued.run_id}, in progress"
        outcomes.append(
            Outcome(student.student_number, issued.identifier, email_of(issued.identifier, domain), "returning",
                    REPRINTS_PDF if printed else None, at if printed else None, issued.short_identifier, link)
        )  # fmt: skip
    for held in plan.held:
        outcomes.append(Outcome(held.student.student_number, None, None, "duplicate", None, None, None, held.note))
    for cancelled, before in plan.cancelled:
        if before is None:
            outcomes.append(Outcome(cancelled.student_number, None, None, "cancelled", None, None, None,
                                    "enrolment cancelled: not issued"))  # fmt: skip
            continue
        # Listed for the IT team, who decide; scolpass never disables or deletes an account.
        note = f"enrolment cancelled; account issued in {before.first_year}, left as it is"
        if cancelled.student_number not in before.student_numbers:  # the migration year: the account of its INE
            note = (
                f"enrolment cancelled; account issued in {before.first_year} under {before.student_number},"
                " found by the INE alone, left as it is"
            )
        outcomes.append(Outcome(cancelled.student_number, before.identifier, email_of(before.identifier, domain),
                                "cancelled", None, None, before.short_identifier, note))  # fmt: skip
    return tuple(outcomes)
