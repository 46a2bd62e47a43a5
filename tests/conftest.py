"""Shared fixtures: sample settings, CSV builders, PDF readers, system tools."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import re
import shutil
import sqlite3
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pypdf import PdfReader

from scolpass import Account, ConfigError, Settings, Step, Student, load_settings, settings_from_dict
from scolpass.settings import DEFAULT_ALPHABET

from .postgres import LIBPQ_ENVIRONMENT, Postgres, find_binaries
from .slapd import Slapd

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PASSWORD_PATTERN = rf"^[{DEFAULT_ALPHABET}]{{15}}$"

HEADER = (
    "student_number", "birth_name", "usual_name", "first_name", "birth_date", "birth_place", "sex",
    "faculty", "step_code", "step_label",
)  # fmt: skip


def row(number: str = "00000001", **values: str) -> dict[str, str]:
    """One enrolment row in scolpass's own columns, with plausible defaults."""
    base = {
        "student_number": number,
        "birth_name": "MARTIN",
        "usual_name": "",
        "first_name": "Jean",
        "birth_date": "17/04/2007",
        "birth_place": "MONTPELLIER",
        "sex": "M",
        "faculty": "ECONOMIE",
        "step_code": "EE1",
        "step_label": "L1 Economie",
    }
    base.update(values)
    return base


def a_student(number: str = "00000001", first_name: str = "Jean", birth_name: str = "MARTIN", **values: str) -> Student:
    """A student as the registry keeps one (registry tests that need no enrolment file)."""
    step = Step("L1DRT", "1", "Licence 1 Droit", "DROIT")
    return Student(number, birth_name, first_name, date(2006, 5, 1), "DROIT", (step,), **values)  # type: ignore[arg-type]


def new_account(number: str, identifier: str, short: str | None = None, **values: str) -> Account:
    """An account to record, for a student made by :func:`a_student`."""
    return Account(a_student(number, **values), identifier, short)


def csv_text(rows: list[dict[str, str]], separator: str = ";", header: tuple[str, ...] = HEADER) -> str:
    """Rows as CSV text with ``header``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(header), delimiter=separator, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows to ``tmp_path/enrolment.csv`` (or a given name) and return the path."""

    def write(rows: list[dict[str, str]], name: str = "enrolment.csv", **kwargs: object) -> Path:
        path = tmp_path / name
        path.write_text(csv_text(rows, **kwargs), encoding="utf-8")  # type: ignore[arg-type]
        return path

    return write


# -- Configurations: the sample, and the sample with one value changed ---------------------


def sample() -> dict[str, Any]:
    """The sample configuration, parsed: a fresh copy to change."""
    with (SAMPLES / "scolpass.toml").open("rb") as handle:
        return tomllib.load(handle)


def settings_with(table: str, key: str, value: object) -> Settings:
    """The sample's settings with ``[table] key = value``, checked, as read from ``u.toml``."""
    data = sample()
    data.setdefault(table, {})[key] = value
    return settings_from_dict(data, "u.toml")


def refusal(table: str, key: str, value: object) -> str:
    """The message that refuses ``[table] key = value`` in the sample."""
    with pytest.raises(ConfigError) as caught:
        settings_with(table, key, value)
    return str(caught.value)


@pytest.fixture
def settings() -> Settings:
    """The sample university's settings."""
    return load_settings(SAMPLES / "scolpass.toml")


@pytest.fixture
def seeded_choice() -> Callable[[str], str]:
    """A reproducible stand-in for ``secrets.choice``."""
    return random.Random(20260701).choice


def user_version(path: Path) -> int:
    """The schema version written in a registry file (the connection closed at once)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def require(binary: str, package: str) -> str:
    """The path of a system tool; skip the test naming its Debian package, or fail under CI=true."""
    found = shutil.which(binary, path=SYSTEM_PATH)
    if found:
        return found
    message = f"{binary} not found: install the Debian package {package!r} (bash tests/system-packages.sh as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: a skip is a failure: {message}")
    pytest.skip(message)


def sheet_texts(folder: Path) -> dict[str, str]:
    """Each student's page text, found through the manifest's ``pdf`` and ``page``."""
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    texts: dict[str, list[str]] = {}
    found = {}
    for student in manifest["students"]:
        if student["pdf"]:
            pages = texts.setdefault(student["pdf"], page_texts(folder / student["pdf"]))
            found[student["student_number"]] = pages[student["page"] - 1]
    return found


def attributes(ldif: str) -> dict[str, list[str]]:
    """An LDIF entry's values by attribute (a base64 value's name without its second colon)."""
    found: dict[str, list[str]] = {}
    for line in ldif.splitlines():
        if ": " in line:
            name, value = line.split(": ", 1)
            found.setdefault(name.rstrip(":"), []).append(value)
    return found


def page_texts(pdf: Path) -> list[str]:
    """The text of each page, as a PDF reader extracts it."""
    return [page.extract_text() for page in PdfReader(pdf).pages]


def drawn_glyphs(pdf: Path, page: int = 1) -> dict[str, bool]:
    """Every character a page draws, and whether its embedded glyph has an outline.

    Read from the fonts themselves (each subset's ToUnicode map, then its glyph
    table), not from extracted text, which can hold a character the page shows
    as a blank box.
    """
    import io
    import re

    from fontTools.ttLib import TTFont

    def fonts(resources: object) -> list[object]:
        found = []
        for font in (resources.get("/Font") or {}).values():  # type: ignore[attr-defined]
            found.append(font.get_object())
        for xobject in (resources.get("/XObject") or {}).values():  # type: ignore[attr-defined]
            inner = xobject.get_object().get("/Resources")
            if inner is not None:
                found += fonts(inner.get_object())
        return found

    glyphs: dict[str, bool] = {}
    resources = PdfReader(pdf).pages[page - 1]["/Resources"].get_object()
    for font in fonts(resources):
        program = TTFont(io.BytesIO(font["/FontDescriptor"]["/FontFile2"].get_data()))  # type: ignore[index]
        cmap = program["cmap"].getcmap(1, 0).cmap
        glyf = program["glyf"]
        notdef = glyf[program.getGlyphOrder()[0]]  # the "missing character" box
        to_unicode = font["/ToUnicode"].get_data().decode()  # type: ignore[index]
        for code, unicode in re.findall(r"<([0-9A-F]{2})> <([0-9A-F]{4})>", to_unicode):
            char = chr(int(unicode, 16))
            if not char.isprintable() or char.isspace():
                continue  # ReportLab lists U+007F in every subset's map without drawing it
            name = cmap.get(int(code, 16))
            glyph = glyf[name] if name is not None else notdef
            box = glyph.numberOfContours == notdef.numberOfContours and glyph.getCoordinates(
                glyf
            ) == notdef.getCoordinates(glyf)
            drawn = glyph.numberOfContours != 0 and not box
            glyphs[char] = glyphs.get(char, False) or drawn
    return glyphs


def render_page(pdf: Path, page: int, out: Path, dpi: int = 150) -> Image.Image:
    """Page ``page`` (1-based) rendered by poppler, as a person's viewer would show it."""
    pdftoppm = require("pdftoppm", "poppler-utils")
    prefix = out / f"page{page}"
    subprocess.run(
        [pdftoppm, "-png", "-r", str(dpi), "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(prefix)],
        check=True,
    )
    return Image.open(prefix.with_suffix(".png"))


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A throwaway OpenLDAP server on 127.0.0.1 holding the sample university's tree."""
    server = Slapd(
        tmp_path / "slapd",
        suffix="dc=umontpellier,dc=fr",
        slapd=require("slapd", "slapd"),
        ldapadd=require("ldapadd", "ldap-utils"),
        ldapwhoami=require("ldapwhoami", "ldap-utils"),
        ldapsearch=require("ldapsearch", "ldap-utils"),
        ldapmodify=require("ldapmodify", "ldap-utils"),
    )
    server.start()
    try:
        server.add_ldif(
            "dn: dc=umontpellier,dc=fr\nobjectClass: dcObject\nobjectClass: organization\no: UM\ndc: umontpellier\n\n"
            "dn: ou=people,dc=umontpellier,dc=fr\nobjectClass: organizationalUnit\nou: people\n\n"
            "dn: ou=policies,dc=umontpellier,dc=fr\nobjectClass: organizationalUnit\nou: policies\n\n"
            # ppolicy: a password set by an administrator (pwdReset) must be changed at first login.
            "dn: cn=default,ou=policies,dc=umontpellier,dc=fr\nobjectClass: device\nobjectClass: pwdPolicy\n"
            "cn: default\npwdAttribute: userPassword\npwdMustChange: TRUE\n"
        )
        yield server
    finally:
        server.stop()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small real filesystems (tmpfs) under ``tmp_path``: a full disk, a mount point.

    Needs root (CI runs as root); elsewhere the test skips, or fails under CI=true.
    """
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir(mode=0o700)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(point)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            message = f"cannot mount a tmpfs (root needed): {done.stderr.strip()}"
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI=true: a skip is a failure: {message}")
            pytest.skip(message)
        mounted.append(point)
        return point

    try:
        yield mount
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)


def require_postgres() -> Path:
    """The folder of PostgreSQL's initdb, pg_ctl and psql (Debian keeps them off PATH, in
    /usr/lib/postgresql/VERSION/bin); skip the test naming the Debian package, or fail under CI=true."""
    found = find_binaries()
    if found:
        return found
    message = (
        "initdb not found (looked in /usr/lib/postgresql/*/bin and on PATH): install the Debian package "
        "'postgresql' (bash tests/system-packages.sh as root)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: a skip is a failure: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One throwaway PostgreSQL server for the whole run (about 1 s to start), stopped and removed at the end.

    Superuser ``postgres.admin``; ``postgres.url(db, user)`` over TCP (the password from ``postgres.passfile``),
    ``postgres.socket_url(db, user)`` over the socket; ``create_database``, ``create_role``, ``stop``, ``start``.
    """
    with Postgres(require_postgres()) as server:
        yield server


@pytest.fixture
def pg_database(postgres: Postgres, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh empty database on the session's server: its TCP URL, ``postgresql://scolpass_admin@127.0.0.1:PORT/DB``.

    For the test, libpq's environment is the server's own: PGPASSFILE is ``postgres.passfile`` (so that psycopg, or
    scolpass in a subprocess, finds the passwords) and a developer's PGHOST, PGPASSWORD, PGSERVICE... are unset.
    Afterwards the database is dropped, with the roles and databases the test made through ``postgres``, and a
    server the test stopped is started again.
    """
    for name in LIBPQ_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(postgres.passfile))
    roles, databases = list(postgres.roles), list(postgres.databases)
    url = postgres.create_database(label=re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_"))
    try:
        yield url
    finally:
        postgres.start()  # a test of "server down" that failed before starting it again
        for made in [name for name in postgres.databases if name not in databases]:
            postgres.drop_database(made)
        for made in [name for name in postgres.roles if name not in roles]:
            postgres.drop_role(made)


def without_tls(url: str) -> str:
    """The tests' server has no TLS: on 127.0.0.1 nothing crosses a network."""
    return url + ("&" if "?" in url else "?") + "sslmode=disable"


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh registry's location on each engine (ids ``[sqlite]``, ``[postgresql]``): a file that does not
    exist yet, or an empty database's URL on the session's server (PGPASSFILE set, see :func:`pg_database`)."""
    if request.param == "sqlite":
        return str(tmp_path / "r.sqlite3")
    return without_tls(request.getfixturevalue("pg_database"))
