"""The ``scolpass`` command: a thin layer over the library.

Each command loads the settings, calls one library function and reports. Any
:class:`ScolpassError` becomes one ``Error: ...`` message on stderr and exit 1;
click's usage errors exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from . import __version__
from .errors import ScolpassError, StateError
from .pipeline import generate as run_generate
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


@cli.command(
    epilog="""\b
Example:
  scolpass generate samples/enrolment.csv --config samples/scolpass.toml --year 2026
"""
)
@click.argument("enrolment", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--year", type=click.IntRange(2000, 2100), help="First year of the academic year: 2026 for 2026/2027.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Configuration file (default: ./{DEFAULT_CONFIG_NAME}).",
)
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
def generate(enrolment: Path, year: int | None, config: Path | None, out: Path | None, registry: Path | None) -> None:
    """Issue accounts and print SCOL'PASS sheets for an enrolment file.

    Students already in the registry keep their login and get no new sheet
    (status "returning" in the manifest). Nothing is written if the file has
    a problem: every problem is listed with its line and column.
    """
    settings = load_settings(config)
    result = run_generate(enrolment, settings, year=year, out_dir=out, registry=registry)
    if result.ignored_columns:
        click.echo(f"scolpass: columns not used: {', '.join(result.ignored_columns)}", err=True)
    if result.registry_created:
        click.echo(f"scolpass: created a new registry at {result.registry_path.resolve()}", err=True)
    new, returning = result.count("new"), result.count("returning")
    click.echo(f"SCOL'PASS {result.year.label}: {new} new, {returning} returning")
    click.echo(f"Output folder: {result.out_dir}")
    for name in result.files:
        click.echo(f"  {name}")
    size_kb = result.registry_path.stat().st_size / 1024
    accounts = f"{result.registry_size} account{'s' if result.registry_size != 1 else ''}"
    click.echo(f"Registry: {result.registry_path} ({accounts}, {size_kb:.0f} KB)")


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
