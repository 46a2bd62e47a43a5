"""The ``scolpass`` command: a thin layer over the library.

Each command loads the settings, calls one library function and reports. Any
:class:`ScolpassError` becomes one ``Error: ...`` message on stderr and exit 1;
click's usage errors exit 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click

# The library's public API only (scolpass/__init__.py): what the CLI formats, the web page will call.
from . import (
    DEFAULT_CONFIG_NAME,
    MIN_PDF_PASSWORD_LENGTH,
    STATUSES,
    UNSETTLED,
    AcademicYear,
    InputError,
    PdfProtection,
    Problem,
    Registry,
    RunOptions,
    RunResult,
    ScolpassError,
    Settings,
    StateError,
    SystemLogError,
    __version__,
    check_report,
    config_template,
    copy_registry,
    fetch_feed,
    helpdesk,
    import_existing,
    init_registry,
    is_postgres,
    load_settings,
    log_summary,
    read_password_file,
    read_registry,
    settle_run,
)
from . import check as run_check
from . import generate as run_generate
from . import preview as run_preview
from . import purge as run_purge
from . import reissue as run_reissue

# Exit codes: 0 done, 1 nothing done (an Error: line), 2 usage, 3 done with some students set aside.
EXIT_SET_ASIDE = 3

_EPILOG_MAIN = """\b
Example:
  scolpass init                       # writes scolpass.toml to fill in
  scolpass generate enrolment.csv     # sheets and credential files
"""


@click.group(epilog=_EPILOG_MAIN, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="scolpass")
def cli() -> None:
    """SCOL'PASS sheets and student accounts from an enrolment export.

    Reads the registrar's enrolment CSV (Apogée or Pégase), gives every new
    student a login and a provisional password, and writes printable sheets
    (PDF) and credential files (LDIF, CSV; hashed passwords) for the account
    system.
    """


# Options shared by several commands, defined once.
_year = click.option(
    "--year", type=click.IntRange(2000, 2100), help="First year of the academic year: 2026 for 2026/2027."
)
_config = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Configuration file (default: ./{DEFAULT_CONFIG_NAME}).",
)
_encoding = click.option(
    "--encoding",
    type=click.Choice(["utf-8", "windows-1252", "utf-16"], case_sensitive=False),
    help="Force the file's encoding (default: detected).",
)
_separator = click.option(
    "--separator", type=click.Choice([";", ",", "tab"]), help="Force the column separator (default: detected)."
)
_enrolment = click.argument("enrolment", type=click.Path(dir_okay=False, path_type=Path))


def _optional_settings(config: Path | None) -> Settings | None:
    """``--config``, else ``./scolpass.toml`` when there is one, else None (commands that can do without)."""
    return load_settings(config) if config or Path(DEFAULT_CONFIG_NAME).is_file() else None


def _warn(problems: Sequence[Problem], prefix: str = "warning") -> None:
    for problem in problems:
        click.echo(f"{prefix}: {problem}", err=True)


_registry_option = click.option(
    "--registry",
    "registry_file",
    metavar="LOCATION",
    help="The registry: a file (or sqlite:///PATH) or postgresql://USER@HOST:PORT/DB, its password from "
    "~/.pgpass (default: [registry] url, else ./scolpass.sqlite3).",
)
_out = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; must not exist or be empty (default: a new dated folder under scolpass-output/).",
)


@dataclass(frozen=True)
class _Output:
    """The options every command that prints sheets shares (declared once, in :func:`_output_options`)."""

    duplex: bool
    one_pdf_per_student: bool
    csv_excel: bool
    plaintext_credentials: bool
    encrypt_pdf: bool
    pdf_password_file: Path | None

    def settings(self, settings: Settings) -> Settings:
        """``settings`` with what these options override."""
        if self.plaintext_credentials:
            click.echo(
                "warning: --plaintext-credentials: credentials.csv will hold every provisional password in clear; "
                "load it, then delete it",
                err=True,
            )
        if self.csv_excel:
            credentials = dataclasses.replace(settings.credentials, csv_excel=True)
            settings = dataclasses.replace(settings, credentials=credentials)
        if self.duplex:
            settings = dataclasses.replace(settings, batches=dataclasses.replace(settings.batches, duplex=True))
        return settings

    def protection(self) -> PdfProtection | None:
        """The PDF password from its file, or asked twice without echo; None without --encrypt-pdf."""
        if self.pdf_password_file is not None:
            return read_password_file(self.pdf_password_file)
        if not self.encrypt_pdf:
            return None
        password = click.prompt(
            f"Password for the sheet PDFs (at least {MIN_PDF_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
        return PdfProtection(password)


_OUTPUT_OPTIONS = (
    click.option("--duplex", is_flag=True, help="Blank backs: each sheet on its own sheet of paper."),
    click.option(
        "--one-pdf-per-student", is_flag=True, help="One PDF per student (sheet-NUMBER.pdf), without cover or list."
    ),
    click.option(
        "--csv-excel", is_flag=True, help="credentials.csv with ';' and a UTF-8 BOM, as French Excel opens it."
    ),
    click.option(
        "--plaintext-credentials",
        is_flag=True,
        help="Also write the plaintext passwords into credentials.csv (only for an account system that needs them).",
    ),
    click.option(
        "--encrypt-pdf",
        is_flag=True,
        help="Encrypt the sheet PDFs with AES-256 (for a print shop); the password is asked, or read with "
        "--pdf-password-file.",
    ),
    click.option(
        "--pdf-password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File whose first line is the PDF password (mode 600); implies --encrypt-pdf.",
    ),
)
_OUTPUT_FIELDS = tuple(f.name for f in dataclasses.fields(_Output))


def _output_options(command: Callable[..., int | None]) -> Callable[..., int | None]:
    """The shared sheet options, handed to ``command`` as one ``output`` value."""

    @functools.wraps(command)
    def with_output(**kwargs: Any) -> int | None:
        output = _Output(**{name: kwargs.pop(name) for name in _OUTPUT_FIELDS})
        return command(output=output, **kwargs)

    for option in reversed(_OUTPUT_OPTIONS):
        with_output = option(with_output)
    return with_output


class _ProgressBar:
    """Sheets (or ``label``) done out of all, their rate and the time left, on stderr; only on a terminal."""

    def __init__(self, quiet: bool, label: str = "Sheets") -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.label = label
        self.bar: Any = None
        self.done = 0
        self.start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_pos=True, show_eta=True,
                item_show_func=lambda _: f"{self.done / max(time.monotonic() - self.start, 1e-6):.0f}/s",
            )  # fmt: skip
            self.bar.__enter__()
        previous, self.done = self.done, done  # the rate shown counts this update
        self.bar.update(done - previous)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class _StagedProgressBar:
    """One :class:`_ProgressBar` per stage of a job that has several (the changes, then the learners)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.stage = ""
        self.bar: _ProgressBar | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.bar is None or stage != self.stage:
            self.close()
            self.stage, self.bar = stage, _ProgressBar(self.quiet, stage)
        self.bar(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")


def _system_log(settings: Settings, command: str, fields: dict[str, object]) -> None:
    try:
        log_summary(command, fields, settings.log.syslog, settings.log.facility)
    except SystemLogError as exc:
        click.echo(f"scolpass: warning: {exc}", err=True)


class _Terminated(SystemExit):
    """SIGTERM arrived while a command that cleans up after itself ran: its exit code is 143 (128 + 15), as
    a shell reports a process the signal ended. A SystemExit, so that no ``except Exception`` stops it."""

    def __init__(self, said: str) -> None:
        super().__init__(128 + signal.SIGTERM)
        self.said = said  # what the command says of it, once cleaned up


@contextlib.contextmanager
def _terminable(said: str) -> Iterator[None]:
    """While the block runs, SIGTERM (systemctl stop, a unit's timeout) raises :class:`_Terminated`, so that
    ``finally`` clauses run (the fetch's temporary file is removed) instead of the process ending where it
    stands; the previous handler is put back after. Other commands keep Python's default.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        yield  # signals go to the main thread only; and one ignored (by whoever started scolpass) stays so
        return

    def stop(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one does not interrupt the cleanup
        raise _Terminated(said)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _logged(command: str, settings: Settings) -> Iterator[dict[str, object]]:
    """One summary line for the system log, with the fields the command fills in, or its failure.

    A failure is logged by kind only: its message may quote a value of the file (a name).
    """
    fields: dict[str, object] = {}
    try:
        yield fields
    except ScolpassError as exc:
        problems = len(exc.problems) if isinstance(exc, InputError) else None
        _system_log(settings, command, {"failed": type(exc).__name__, "problems": problems, "exit": 1})
        raise
    except _Terminated as exc:
        _system_log(settings, command, {"failed": "SIGTERM", "exit": exc.code})
        raise
    if fields:  # a dry run fills none: it did nothing
        _system_log(settings, command, fields)


def _run_fields(result: RunResult, code: int) -> dict[str, object]:
    """A run's summary line: counts and where, never a name."""
    skipped = result.enrolment.skipped if result.enrolment is not None else None
    counts: dict[str, object] = {status: result.count(status) for status in STATUSES}
    return {"run": result.run_id, "year": result.year.label, **counts, "skipped": skipped,
            "folder": result.out_dir.resolve(), "exit": code}  # fmt: skip


def _report_run(result: RunResult, dry_run: bool = False) -> None:
    """The summary of a run: counts, files, registry; problems and notes on stderr."""
    read = result.enrolment
    if read is not None:
        _warn(read.warnings)
        if read.ignored_columns:
            click.echo(f"scolpass: columns not used: {', '.join(read.ignored_columns)}", err=True)
        _warn(read.problems, "skipped")
    for note in result.recovered:
        click.echo(f"scolpass: recovered {note}", err=True)
    for outcome in result.outcomes:
        if outcome.status == "duplicate":
            click.echo(
                f"duplicate: {outcome.student_number} not issued, {outcome.note} (--allow-duplicate to issue)", err=True
            )
    linked = [o for o in result.outcomes if o.status == "returning" and o.note]
    if linked:
        click.echo(
            f"scolpass: {len(linked)} new student number{'s' if len(linked) != 1 else ''} linked by INE to "
            "the account of a student already issued (returning; manifest notes)",
            err=True,
        )
    if result.registry_created:
        click.echo(f"scolpass: created a new registry at {_shown_location(result.registry_path)}", err=True)
    # New and returning always; reissued and duplicate when there are some.
    shown = [s for s in STATUSES if s in ("new", "returning") or result.count(s)]
    counts = [f"{result.count(status)} {status}" for status in shown]
    skipped = read.skipped if read is not None else 0
    prefix = "Dry run, nothing written: " if dry_run else ""
    click.echo(f"{prefix}SCOL'PASS {result.year.label}: {', '.join(counts)}, {skipped} skipped")
    if dry_run:
        for outcome in result.outcomes:
            if outcome.status == "new":
                click.echo(f"  {outcome.student_number}  {outcome.identifier}")
            elif outcome.status == "returning" and outcome.note:
                click.echo(f"  {outcome.student_number}  {outcome.identifier}  ({outcome.note})")
        return
    click.echo(f"Output folder: {result.out_dir}")
    for name in result.files:
        click.echo(f"  {name}")
    accounts = f"{result.registry_size} account{'s' if result.registry_size != 1 else ''}"
    if not is_postgres(result.registry_path):
        accounts += f", {Path(result.registry_path).stat().st_size / 1024:.0f} KB"
    click.echo(f"Registry: {result.registry_path} ({accounts}), run {result.run_id}")


@cli.command(
    epilog="""\b
Example:
  scolpass generate samples/enrolment.csv --config samples/scolpass.toml --year 2026
  scolpass generate export.csv --dry-run
"""
)
@_enrolment
@_year
@_config
@_out
@_registry_option
@_encoding
@_separator
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Issue the valid students; set the others aside with the reason, in rejected.csv (rejected.json for a feed).",
)
@click.option("--reprint-returning", is_flag=True, help="Print returning students a sheet without password.")
@click.option(
    "--allow-duplicate",
    "allow_duplicates",
    multiple=True,
    metavar="STUDENT_NUMBER",
    help="Issue this probable duplicate anyway (repeatable).",
)
@click.option(
    "--link-by-ine/--no-link-by-ine",
    default=None,
    help="The migration year: a new student number with the INE of one student already issued is that student "
    "(returning: same login, no new password), not a probable duplicate (default: [registry] link_by_ine).",
)
@click.option("--dry-run", is_flag=True, help="Compute and report everything; write nothing.")
@_output_options
@_quiet
def generate(
    enrolment: Path,
    year: int | None,
    config: Path | None,
    out: Path | None,
    registry_file: str | None,
    encoding: str | None,
    separator: str | None,
    skip_invalid: bool,
    reprint_returning: bool,
    allow_duplicates: tuple[str, ...],
    link_by_ine: bool | None,
    dry_run: bool,
    output: _Output,
    quiet: bool,
) -> int | None:
    """Issue accounts and print SCOL'PASS sheets for an enrolment file.

    Students already in the registry keep their login and get no new password
    (status "returning"). A new student number that looks like an issued
    student (same INE, or same names and birth date, or the same number but
    for leading zeros) is not issued: it is reported as a probable duplicate;
    with --link-by-ine, one with the INE of one issued student is linked to
    that student's account instead (the move from Apogée to Pégase).
    Nothing is written if the file has a problem: every problem is listed
    with its line and column. With --skip-invalid, the valid students are
    issued and the others set aside, and the exit code is 3 when any were.
    """
    settings = output.settings(load_settings(config))
    bar = _ProgressBar(quiet)
    options = RunOptions(
        year=year, out_dir=out, registry=registry_file, encoding=encoding, separator=separator,
        skip_invalid=skip_invalid, reprint_returning=reprint_returning, allow_duplicates=allow_duplicates,
        link_by_ine=link_by_ine, dry_run=dry_run, plaintext_credentials=output.plaintext_credentials,
        one_pdf_per_student=output.one_pdf_per_student, progress=bar,
        protection=None if dry_run else output.protection(),
    )  # fmt: skip
    with _logged("generate", settings) as logged:
        try:
            result = run_generate(enrolment, settings, options)
        finally:
            bar.close()
        _report_run(result, dry_run)
        # Done, with students set aside (--skip-invalid): a nightly job tells this from a clean run.
        code = EXIT_SET_ASIDE if result.enrolment is not None and result.enrolment.skipped else 0
        if not dry_run:
            logged.update(_run_fields(result, code))
    return code or None


@cli.command(
    epilog="""\b
Example:
  scolpass reissue 00012345 00012346 --config scolpass.toml
"""
)
@click.argument("student_numbers", nargs=-1, required=True, metavar="STUDENT_NUMBER...")
@_year
@_config
@_out
@_registry_option
@_output_options
def reissue(
    student_numbers: tuple[str, ...],
    year: int | None,
    config: Path | None,
    out: Path | None,
    registry_file: str | None,
    output: _Output,
) -> None:
    """A new provisional password and sheet for lost or stolen sheets.

    The identifier never changes. credentials.ldif holds change records that
    replace userPassword only (load it with ldapmodify). Every reissue is
    recorded in the registry.
    """
    settings = output.settings(load_settings(config))
    options = RunOptions(
        year=year, out_dir=out, registry=registry_file, plaintext_credentials=output.plaintext_credentials,
        one_pdf_per_student=output.one_pdf_per_student, protection=output.protection(),
    )  # fmt: skip
    with _logged("reissue", settings) as logged:
        result = run_reissue(student_numbers, settings, options)
        _report_run(result)
        logged.update(_run_fields(result, 0))


@cli.command(
    "check",
    epilog="""\b
Example:
  scolpass check enrolment.csv --config scolpass.toml
  scolpass check enrolment.csv --json | jq .problems
""",
)
@_enrolment
@_year
@_config
@_encoding
@_separator
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON, for scripts.")
def check_command(
    enrolment: Path,
    year: int | None,
    config: Path | None,
    encoding: str | None,
    separator: str | None,
    as_json: bool,
) -> None:
    """Check an enrolment file and the configuration, writing nothing.

    Reads and validates the file as generate would, and prints a summary (rows,
    students, steps, faculties, encoding, separator, warnings) or every problem.
    The configuration is ./scolpass.toml or --config; without one, the checks
    that need it (the sheet's layout, [columns]) are left out.
    """
    settings = _optional_settings(config)
    try:
        checked = run_check(enrolment, settings, year=year, encoding=encoding, separator=separator)
    except InputError as exc:
        if not as_json:
            raise
        click.echo(json.dumps(check_report(None, exc.problems, settings), indent=2, ensure_ascii=False))
        raise click.exceptions.Exit(1) from None
    if as_json:
        click.echo(json.dumps(check_report(checked, (), settings), indent=2, ensure_ascii=False))
        return
    data = check_report(checked, (), settings)
    if data["format"] == "pegase":
        click.echo(f"{data['file']}: Pégase feed (JSON, {data['shape']}), {data['encoding']}")
    else:
        click.echo(f"{data['file']}: {data['encoding']}, separator {data['separator']!r}")
    cancelled = f", {data['cancelled']} cancelled" if data["cancelled"] else ""
    click.echo(
        f"{data['rows']} rows, {data['students']} students{cancelled}, {data['steps']} programme steps, "
        f"{data['faculties']} faculties; academic year {data['academic_year']}"
    )
    if data["cancelled_rows"]:
        click.echo(f"Cancelled enrolments set aside: {data['cancelled_rows']}")
    if settings is not None:
        click.echo(f"Provisional passwords: {data['password_entropy_bits']:.1f} bits of entropy")
    if settings is None:
        click.echo("No configuration: the sheet's layout and [columns] were not checked.")
    if checked.enrolment.ignored_columns:
        click.echo(f"Columns not used: {', '.join(checked.enrolment.ignored_columns)}")
    for warning in checked.enrolment.warnings:
        click.echo(f"warning: {warning}")
    click.echo("No problem found.")


@cli.command(
    epilog="""\b
Example:
  scolpass init               # writes ./scolpass.toml
  scolpass init /srv/scolpass/um.toml
"""
)
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_CONFIG_NAME)
def init(path: Path) -> None:
    """Write a commented configuration file to fill in.

    scolpass refuses to run until its required values are filled in, so that
    no sheet ever carries another university's addresses.
    """
    if path.exists():
        raise StateError(f"{path}: already exists; scolpass init never overwrites a configuration")
    try:
        path.write_text(config_template(), encoding="utf-8")
    except OSError as exc:
        raise StateError(f"{path}: cannot write the configuration: {exc.strerror}") from None
    click.echo(
        f"Wrote {path}: fill in [university] and [ldap], then run 'scolpass generate ENROLMENT.csv --config {path}'"
    )


@cli.command(
    "preview",
    epilog="""\b
Example:
  scolpass preview --config scolpass.toml --lang en --out preview-en.pdf
""",
)
@_config
@click.option("--lang", "language", help="Language of the sheet (default: [sheet] language).")
@click.option("--year", type=click.IntRange(2000, 2100), help="Academic year printed (default: the current one).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("scolpass-preview.pdf"), show_default=True
)
def preview_command(config: Path | None, language: str | None, year: int | None, out: Path) -> None:
    """Write one sheet with sample data, to check wording, logo and colours.

    Nothing is issued and the registry is not touched; the sample password opens nothing.
    """
    path = run_preview(load_settings(config), out, language, year)
    click.echo(f"Wrote {path}")


@cli.group(
    epilog="""\b
Example:
  scolpass registry import staff.ldif
"""
)
def registry() -> None:
    """Look after the registry of issued and reserved logins."""


@registry.command(
    "import",
    epilog="""\b
Example:
  ldapsearch -x -LLL -b ou=people,dc=example,dc=fr uid mail > people.ldif
  scolpass registry import people.ldif --config scolpass.toml
""",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_config
@_registry_option
def import_command(file: Path, config: Path | None, registry_file: str | None) -> None:
    """Reserve every login of an LDIF or CSV export of existing accounts.

    Staff, former students and service accounts keep their logins: scolpass
    never issues a reserved login. LDIF: uid, sAMAccountName, supannAliasLogin,
    and the local part of mail or eduPersonPrincipalName. CSV: columns named
    uid, login, identifier, sAMAccountName, mail, email...
    """
    settings = _optional_settings(config)
    done = import_existing(file, settings, registry_file)
    if done.registry_created:
        click.echo(f"scolpass: created a new registry at {_shown_location(done.registry_path)}", err=True)
    click.echo(
        f"{file.name}: {done.read} logins read, {done.new} newly reserved; "
        f"{done.reserved} reserved in all in {done.registry_path}"
    )
    if done.adopted:
        click.echo(f"{done.adopted} students linked to their existing login (returning from the first run)")
    for conflict in done.conflicts:
        click.echo(f"warning: not linked: {conflict}", err=True)


def _shown_location(location: str) -> str:
    """A registry's location as the terminal names it: a file's absolute path, a URL as it is."""
    return location if is_postgres(location) else str(Path(location).resolve())


def _open_existing_registry(config: Path | None, registry_file: str | None) -> Registry:
    return read_registry(_optional_settings(config), registry_file)


@registry.command(
    "show",
    epilog="""\b
Example:
  scolpass registry show 00012345
""",
)
@click.argument("student_number")
@_config
@_registry_option
def show_command(student_number: str, config: Path | None, registry_file: str | None) -> None:
    """What the registry knows of one student: numbers, login, state, reissues.

    STUDENT_NUMBER may be any of the student's numbers (one linked by INE too).
    """
    with _open_existing_registry(config, registry_file) as reg:
        found = helpdesk.history(reg, student_number)
    account = found.account
    click.echo(f"student number: {account.student_number}")
    for link in account.links:
        run = f", run {link.run_id}" if link.run_id is not None else ""
        year = AcademicYear(link.year).label
        click.echo(f"also numbered:  {link.student_number} (linked {link.linked_at}, for {year}{run})")
    click.echo(f"identifier:     {account.identifier}")
    if account.short_identifier:
        click.echo(f"short login:    {account.short_identifier}")
    click.echo(f"state:          {account.state} (first year {account.first_year}, {account.issued_at})")
    if account.student:
        click.echo(f"name:           {account.student.first_name} {account.student.birth_name}")
    if found.issued_by:
        click.echo(f"issued by:      run {found.issued_by.id} ({found.issued_by.actor})")
    for reissue in found.reissues:
        click.echo(f"reissued:       {reissue.reissued_at} (run {reissue.run_id}, {reissue.actor})")


@registry.command(
    "search",
    epilog="""\b
Example:
  scolpass registry search "helene marie"
  scolpass registry search jean.martin --faculty DRT
""",
)
@click.argument("query")
@click.option(
    "--faculty", "faculties", multiple=True, metavar="CODE", help="Only students with a step in this faculty."
)
@_config
@_registry_option
def search_command(query: str, faculties: tuple[str, ...], config: Path | None, registry_file: str | None) -> None:
    """Find students by student number, login, address or name (accents, case and word order ignored)."""
    with _open_existing_registry(config, registry_file) as reg:
        found = helpdesk.search(reg, query, faculties or None)
    if not found:
        raise StateError(f"no student matches {query!r}")
    for account in found:
        s = account.student
        name = f"{s.first_name} {s.last_name}" if s else "-"
        faculty = s.faculty if s else "-"
        also = "".join(f"  also {link.student_number}" for link in account.links)
        click.echo(f"{account.student_number}  {account.identifier:<30} {account.state:<8} {name}  ({faculty}){also}")


@registry.command(
    "init",
    epilog="""\b
Example:
  scolpass registry init postgresql://scolpass@db.example.fr/scolpass
""",
)
@click.argument("location")
@_config
def init_command(location: str, config: Path | None) -> None:
    """Make a registry: its schema in an empty PostgreSQL database, or a new file.

    LOCATION is a registry file (or sqlite:///PATH) or a postgresql:// URL (the
    password from libpq: ~/.pgpass, PGPASSFILE, a service file, PGPASSWORD). An
    existing registry is checked and brought to this scolpass's schema.
    """
    where, created = init_registry(location, _optional_settings(config))
    click.echo(f"{where}: {'a new registry' if created else 'a registry already, up to date'}")


@registry.command(
    "copy",
    epilog="""\b
Example:
  scolpass registry copy scolpass.sqlite3 postgresql://scolpass@db.example.fr/scolpass
  scolpass registry copy postgresql:///scolpass?service=scolpass backup.sqlite3
""",
)
@click.argument("source")
@click.argument("target")
@_config
def copy_command(source: str, target: str, config: Path | None) -> None:
    """Copy a registry into a new one, from SQLite to PostgreSQL or back.

    SOURCE and TARGET are a registry file (or sqlite:///PATH) or a postgresql://
    URL; the password comes from libpq (~/.pgpass, PGPASSFILE, a service file,
    PGPASSWORD), never from the command line. Every account, reserved login,
    run, reissue and linked number is copied with its ids; the target must be
    empty, and is read back and compared with the source before the copy is done.
    """
    done = copy_registry(source, target, _optional_settings(config))
    rows = ", ".join(f"{count} {table}" for table, count in done.rows.items())
    click.echo(f"{done.target}: copied from {done.source} and verified: {rows}")


@registry.command(
    "export",
    epilog="""\b
Example:
  scolpass registry export > accounts.csv
""",
)
@_config
@_registry_option
def export_command(config: Path | None, registry_file: str | None) -> None:
    """Every account as CSV on stdout, for the help desk (no password: the registry has none)."""
    with _open_existing_registry(config, registry_file) as reg:
        helpdesk.export(reg, sys.stdout)


@registry.command(
    "purge",
    epilog="""\b
Example:
  scolpass registry purge --before 2021 --dry-run
  scolpass registry purge --before 2021 --yes
""",
)
@click.option(
    "--before",
    type=click.IntRange(2000, 2100),
    required=True,
    metavar="YEAR",
    help="Purge students not enrolled since the academic year starting in YEAR (2021 for 2021/2022).",
)
@click.option("--dry-run", is_flag=True, help="List who would be purged; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_config
@_registry_option
def purge_command(before: int, dry_run: bool, yes: bool, config: Path | None, registry_file: str | None) -> None:
    """Remove the personal data of students not enrolled since YEAR.

    Their student number, names, birth date, INE and sheet data are deleted
    from the registry; their logins stay reserved, so that no one else ever
    gets them. A student who comes back later is a new student, unless
    'scolpass registry import' links them to their account again.
    """
    settings = _optional_settings(config)
    planned = run_purge(before, settings, registry_file, dry_run=True)
    label = AcademicYear(before).label
    count = len(planned.students)
    if not count:
        click.echo(f"No student in {planned.registry_path} was last enrolled before {label}: nothing to purge")
        return
    if dry_run:
        for number, login, last in planned.students:
            click.echo(f"  {number}  {login}  last enrolled {AcademicYear(last).label}")
        click.echo(f"{count} student(s) not enrolled since {label} would be purged from {planned.registry_path}")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise StateError(f"{count} student(s) to purge: confirm with --yes (no terminal to ask on)")
        click.confirm(
            f"Remove the personal data of {count} student(s) not enrolled since {label} from "
            f"{planned.registry_path}? Their logins stay reserved",
            abort=True,
            err=True,
        )
    done = run_purge(before, settings, registry_file)
    click.echo(
        f"Purged {len(done.students)} student(s) not enrolled since {label} from {done.registry_path}; "
        "their logins stay reserved"
    )
    if done.notice:
        click.echo(f"scolpass: warning: {done.registry_path}: {done.notice}", err=True)


@registry.command(
    "runs",
    epilog="""\b
Example:
  scolpass registry runs
""",
)
@_config
@_registry_option
def runs_command(config: Path | None, registry_file: str | None) -> None:
    """Every run: when, who, what input, what counts, where its output went.

    A run not settled yet (pending or written) is listed with the machine it ran on, its staging
    folder, and whether it is alive (its process still holds it) or stopped.
    """
    with _open_existing_registry(config, registry_file) as reg:
        every = helpdesk.runs(reg)
        live = reg.live_runs(run.id for run in every if run.state in UNSETTLED)
    for run in every:
        counts = ", ".join(f"{n} {k}" for k, n in run.counts.items() if n)
        source = f"{run.input_name} (sha256 {run.input_sha256[:12]})" if run.input_name and run.input_sha256 else "-"
        # Who ran it, and who asked for it when that is someone else (a counter agent).
        who = run.os_user if run.actor == run.os_user else f"{run.os_user} for {run.actor}"
        click.echo(f"{run.id:>4}  {run.started_at}  {run.command:<8} {run.state:<9} {who:<10} "
                   f"{run.academic_year}  {source}  {counts or '-'}  {run.output or '(handed out)'}")  # fmt: skip
        if run.state in UNSETTLED:
            alive = "alive (its process holds it)" if run.id in live else "stopped (no process holds it)"
            click.echo(f"      on {run.host or '(machine not recorded)'}, staging {run.staging or '-'}: {alive}")


@registry.command(
    "settle",
    epilog="""\b
Example:
  scolpass registry settle 42
  scolpass registry settle 42 --abandon
""",
)
@click.argument("run_id", metavar="RUN", type=click.IntRange(1))
@click.option(
    "--abandon",
    is_flag=True,
    help="Undo the run whatever its folders say: its students' logins go back to being free. Only once its "
    "machine is known to be gone and its sheets never handed out.",
)
@_config
@_registry_option
def settle_command(run_id: int, abandon: bool, config: Path | None, registry_file: str | None) -> None:
    """Settle a run that stopped before it was confirmed (a crash, a machine gone).

    Without --abandon, on the evidence of its folders on this machine, as every run
    settles the runs of its own machine: a complete published folder confirms it, an
    incomplete staging folder undoes it. A run still alive is refused.
    """
    click.echo(settle_run(run_id, _optional_settings(config), registry_file, abandon=abandon))


@cli.group(
    epilog="""\b
Example:
  scolpass pegase fetch --out feed.json --config scolpass.toml
"""
)
def pegase() -> None:
    """Take the enrolments from Pégase, for a university whose enrolments are there."""


@pegase.command(
    "fetch",
    epilog="""\b
Example:
  scolpass pegase fetch --out feed.json            # the whole [pegase] period
  scolpass pegase fetch --out changes.json --since last
  scolpass pegase fetch --out changes.json --since 2026-09-01T08:00:00+02:00
""",
)
@_config
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The feed file to write (JSON, mode 600); written whole or, on any error, not at all.",
)
@click.option("--period", metavar="CODE", help="The Pégase period to fetch, e.g. PER-2026 (default: [pegase] period).")
@click.option(
    "--since",
    metavar="TIME",
    help="Only the learners changed since TIME, each with all their enrolments: Unix seconds, an ISO date-time, "
    "or 'last' (the last change a generate consumed, minus an hour).",
)
@_registry_option
@_quiet
def fetch_command(
    config: Path | None, out: Path, period: str | None, since: str | None, registry_file: str | None, quiet: bool
) -> None:
    """Fetch the enrolment feed from Pégase into a file for generate.

    Signs in to Pégase's CAS as [pegase] username, with the password from
    [pegase] password_file (mode 600) or the environment variable
    SCOLPASS_PEGASE_PASSWORD, and reads the feed page by page. Only the fields
    scolpass reads are kept: no contacts, addresses or photos. By default the
    whole period, the cumulative export generate expects.
    """
    if registry_file is not None and (since or "").strip().lower() != "last":
        raise click.UsageError("--registry is read by --since last only")
    settings = load_settings(config)
    bar = _StagedProgressBar(quiet)
    with _logged("pegase fetch", settings) as logged:
        try:
            with _terminable("pegase fetch stopped by SIGTERM: nothing written"):
                done = fetch_feed(settings, out, period=period, since=since, registry=registry_file, progress=bar)
        finally:
            bar.close()
        what = "the whole period" if done.since is None else f"changed since {_moment(done.since)}"
        click.echo(
            f"{done.path}: {_count(done.items, 'enrolment')} of {_count(done.learners, 'learner')}, {done.period} "
            f"{what}; {_count(done.pages, 'page')} in {_count(done.requests, 'request')}"
        )
        logged.update(period=done.period, since=done.since, items=done.items, learners=done.learners,
                      pages=done.pages, requests=done.requests, file=done.path.resolve(), exit=0)  # fmt: skip


def _moment(seconds: int) -> str:
    """Unix seconds as a local date-time, as a registrar reads it."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (tests call this without a subprocess)."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="scolpass", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except ScolpassError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    except _Terminated as exc:
        click.echo(f"scolpass: {exc.said}", err=True)
        return int(exc.code or 1)
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console entry point."""
    sys.exit(main())
