"""The ``scolpass`` command: a thin layer over the library.

Each command loads the settings, calls one library function and reports. Any
:class:`ScolpassError` becomes one ``Error: ...`` message on stderr and exit 1;
click's usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from . import __version__
from .errors import InputError, Problem, ScolpassError, StateError
from .pipeline import check as run_check
from .pipeline import generate as run_generate
from .pipeline import import_existing, report
from .settings import DEFAULT_CONFIG_NAME, config_template, load_settings

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


def _warn(problems: Sequence[Problem], prefix: str = "warning") -> None:
    for problem in problems:
        click.echo(f"{prefix}: {problem}", err=True)


@cli.command(
    epilog="""\b
Example:
  scolpass generate samples/enrolment.csv --config samples/scolpass.toml --year 2026
"""
)
@_enrolment
@_year
@_config
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder; must not exist or be empty (default: a new dated folder under scolpass-output/).",
)
@click.option(
    "--registry",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Registry file (default: [registry] path, else ./scolpass.sqlite3).",
)
@_encoding
@_separator
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Issue the valid students; set the others aside in rejected.csv with the reason.",
)
def generate(
    enrolment: Path,
    year: int | None,
    config: Path | None,
    out: Path | None,
    registry: Path | None,
    encoding: str | None,
    separator: str | None,
    skip_invalid: bool,
) -> None:
    """Issue accounts and print SCOL'PASS sheets for an enrolment file.

    Students already in the registry keep their login and get no new sheet
    (status "returning" in the manifest). Nothing is written if the file has
    a problem: every problem is listed with its line and column.
    """
    settings = load_settings(config)
    result = run_generate(
        enrolment,
        settings,
        year=year,
        out_dir=out,
        registry=registry,
        encoding=encoding and encoding.lower(),
        separator=separator,
        skip_invalid=skip_invalid,
    )
    read = result.enrolment
    _warn(read.warnings)
    if read.ignored_columns:
        click.echo(f"scolpass: columns not used: {', '.join(read.ignored_columns)}", err=True)
    _warn(read.problems, "skipped")
    if result.registry_created:
        click.echo(f"scolpass: created a new registry at {result.registry_path.resolve()}", err=True)
    new, returning = result.count("new"), result.count("returning")
    click.echo(f"SCOL'PASS {result.year.label}: {new} new, {returning} returning, {read.skipped} skipped")
    click.echo(f"Output folder: {result.out_dir}")
    for name in result.files:
        click.echo(f"  {name}")
    size_kb = result.registry_path.stat().st_size / 1024
    accounts = f"{result.registry_size} account{'s' if result.registry_size != 1 else ''}"
    click.echo(f"Registry: {result.registry_path} ({accounts}, {size_kb:.0f} KB)")


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
    settings = load_settings(config) if config or Path(DEFAULT_CONFIG_NAME).is_file() else None
    try:
        checked = run_check(enrolment, settings, year=year, encoding=encoding and encoding.lower(), separator=separator)
    except InputError as exc:
        if not as_json:
            raise
        click.echo(json.dumps(report(None, exc.problems, settings is not None), indent=2, ensure_ascii=False))
        raise click.exceptions.Exit(1) from None
    if as_json:
        click.echo(json.dumps(report(checked, (), settings is not None), indent=2, ensure_ascii=False))
        return
    data = report(checked, (), settings is not None)
    click.echo(f"{data['file']}: {data['encoding']}, separator {data['separator']!r}")
    click.echo(
        f"{data['rows']} rows, {data['students']} students, {data['steps']} programme steps, "
        f"{data['faculties']} faculties; academic year {data['academic_year']}"
    )
    if settings is None:
        click.echo("No configuration: the sheet's layout and [columns] were not checked.")
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
@click.option(
    "--registry",
    "registry_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Registry file (default: [registry] path, else ./scolpass.sqlite3).",
)
def import_command(file: Path, config: Path | None, registry_file: Path | None) -> None:
    """Reserve every login of an LDIF or CSV export of existing accounts.

    Staff, former students and service accounts keep their logins: scolpass
    never issues a reserved login. LDIF: uid, sAMAccountName, supannAliasLogin,
    and the local part of mail or eduPersonPrincipalName. CSV: columns named
    uid, login, identifier, sAMAccountName, mail, email...
    """
    settings = load_settings(config) if config or Path(DEFAULT_CONFIG_NAME).is_file() else None
    done = import_existing(file, settings, registry_file)
    if done.registry_created:
        click.echo(f"scolpass: created a new registry at {done.registry_path.resolve()}", err=True)
    click.echo(
        f"{file.name}: {done.read} logins read, {done.new} newly reserved; "
        f"{done.reserved} reserved in all in {done.registry_path}"
    )


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
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console entry point."""
    sys.exit(main())
