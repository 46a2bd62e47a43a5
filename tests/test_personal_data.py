"""Personal data: private files from creation, and a purge that keeps logins reserved."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scolpass import RunOptions, Settings, StateError, generate, open_registry, purge, reissue
from scolpass.cli import main
from scolpass.registry import SCHEMA_VERSION, Location, is_postgres

from .conftest import SAMPLES, new_account, user_version
from .test_registry_engines import without_tls

SAMPLE = SAMPLES / "enrolment.csv"
HEADER, *LINES = SAMPLE.read_text(encoding="utf-8-sig").splitlines()
STUDENTS = len({line.split(";")[1] for line in LINES})  # a double degree is two lines


def export(tmp_path: Path, name: str, year: int, numbers: set[str] | None = None, extra: str = "") -> Path:
    """The sample export for ``year``, keeping the students ``numbers`` (all if None)."""
    kept = [line for line in LINES if numbers is None or line.split(";")[1] in numbers]
    path = tmp_path / name
    text = "\n".join([HEADER, *(f"{year};{line.split(';', 1)[1]}" for line in kept)]) + "\n" + extra
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # a careless shell: new files readable by everyone
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path, skip: set[Path]) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in sorted(root.rglob("*"))
        if path not in skip
    }


@pytest.mark.usefixtures("open_umask")
def test_every_file_a_run_writes_is_private(settings: Settings, tmp_path: Path) -> None:
    supann = dataclasses.replace(
        settings,
        ldap=dataclasses.replace(settings.ldap, profile="supann"),
        university=dataclasses.replace(settings.university, uai="0341087X"),
    )
    registry = tmp_path / "state" / "r.sqlite3"
    registry.parent.mkdir()
    bad = "2026;00099999;;;DURAND;;Paul;31/02/2008;NIMES;M;ECO;ECONOMIE;EE1;101;L1 Economie\n"
    first = export(tmp_path, "2026.csv", 2026, extra=bad)
    inputs = {first, export(tmp_path, "2027.csv", 2027)}
    now = datetime(2026, 9, 1, 9, 0)
    generate(
        first, supann, RunOptions(out_dir=tmp_path / "out" / "2026", registry=registry, now=now, skip_invalid=True)
    )
    generate(
        tmp_path / "2027.csv", supann, RunOptions(out_dir=tmp_path / "out" / "2027", registry=registry, reprint_returning=True,
        now=datetime(2027, 9, 1, 9, 0)),
    )  # fmt: skip
    reissue(
        ["00012345"], supann, RunOptions(out_dir=tmp_path / "out" / "reissue", registry=registry, year=2027, now=now)
    )
    assert main(["preview", "--config", str(SAMPLES / "scolpass.toml"), "--out", str(tmp_path / "preview.pdf")]) == 0
    # A Pégase feed with a malformed learner: its items set aside in rejected.json.
    feed = json.loads((SAMPLES / "pegase-feed.json").read_text(encoding="utf-8"))
    feed["resultats"][0]["dateDeNaissance"] = "2007-02-30"
    inputs.add(tmp_path / "feed.json")
    (tmp_path / "feed.json").write_text(json.dumps(feed), encoding="utf-8")
    generate(tmp_path / "feed.json", supann, RunOptions(out_dir=tmp_path / "out" / "feed", registry=tmp_path / "state" /
             "feed.sqlite3", now=now, skip_invalid=True))  # fmt: skip

    found = modes(tmp_path, inputs | {tmp_path / "state", tmp_path / "out"})
    written = {name for name in found if not name.startswith("out/") or name.count("/") > 1}
    # Everything a run could write is there: rejected rows, returning students' records, reprints, reissues.
    expected = {
        "out/2026/rejected.csv", "out/feed/rejected.json", "out/2027/returning.ldif", "out/2027/reprints.pdf", "out/reissue/credentials.ldif",
        "out/2026/manifest.json", "out/2026/credentials.csv", "out/2026/sheets-economie.pdf", "state/r.sqlite3",
        "preview.pdf",
    }  # fmt: skip
    assert expected <= written
    assert {name: mode for name, mode in found.items() if name in written and mode != 0o600} == {}
    assert {name: mode for name, mode in found.items() if name not in written} == {
        "out/2026": 0o700, "out/2027": 0o700, "out/reissue": 0o700, "out/feed": 0o700,
    }  # fmt: skip


def test_sqlite_journal_is_as_private_as_the_registry(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        reg = open_registry(tmp_path / "r.sqlite3")
        with reg.transaction():
            reg._db.execute("INSERT INTO reserved VALUES ('jean.martin', 'test', '2026-09-01')")
            journal = tmp_path / "r.sqlite3-journal"
            assert journal.exists()
            assert stat.S_IMODE(journal.stat().st_mode) == 0o600
        reg.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "r.sqlite3").stat().st_mode) == 0o600


# -- purge ------------------------------------------------------------------------------------------------------------
# On both engines: the registry file, or a database of the tests' PostgreSQL server (as its superuser, who may vacuum).

GONE = {"00012346", "00012347"}  # enrolled in 2024/2025 only
PURGED_TABLES = (("reissues", "student_number"), ("numbers", "account"), ("accounts", "student_number"))


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """A fresh registry's location on each engine: a file, or an empty database's URL."""
    if request.param == "sqlite":
        return tmp_path / "r.sqlite3"
    return without_tls(request.getfixturevalue("pg_database"))


def two_years(settings: Settings, tmp_path: Path, registry: Location | None = None) -> Location:
    registry = registry or tmp_path / "r.sqlite3"
    generate(export(tmp_path, "2024.csv", 2024), settings, RunOptions(out_dir=tmp_path / "2024", registry=registry,
             now=datetime(2024, 9, 1)))  # fmt: skip
    staying = {line.split(";")[1] for line in LINES} - GONE
    generate(export(tmp_path, "2025.csv", 2025, staying), settings, RunOptions(out_dir=tmp_path / "2025", registry=registry,
             now=datetime(2025, 9, 1)))  # fmt: skip
    return registry


def pg(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Rows of a query on the registry's database, as its superuser."""
    with psycopg.connect(url) as db:
        cursor = db.execute(query.encode(), params)
        return cursor.fetchall() if cursor.description is not None else []


def stored(registry: Location) -> object:
    """Everything the registry stores: the file's bytes, or every row of every table."""
    if not is_postgres(registry):
        return Path(registry).read_bytes()
    tables = ("meta", "accounts", "reserved", "runs", "reissues", "numbers")
    return {table: pg(registry, f"SELECT * FROM {table} ORDER BY 1") for table in tables}  # noqa: S608


def vacuums(url: str) -> dict[str, int]:
    """How many times each table a purge deletes from was vacuumed (not by autovacuum)."""
    tables = [table for table, _ in PURGED_TABLES]
    return dict(pg(url, "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY(%s)", [tables]))


def sampled(url: str) -> str:
    """The values the registry's column statistics hold (pg_stats: most common values, histogram bounds)."""
    rows = pg(url, "SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE schemaname = 'public'")
    return " ".join(str(value) for row in rows for value in row if value)


def test_purge_removes_personal_data_and_keeps_logins_reserved(
    settings: Settings, tmp_path: Path, location: Location
) -> None:
    registry = two_years(settings, tmp_path, location)
    with open_registry(registry) as reg:
        gone = {a.student_number: a for a in reg.accounts() if a.student_number in GONE}
    assert {a.identifier for a in gone.values()} == {"jean.martin2", "marie-helene.de-la-fontaine"}
    before = stored(registry)
    if isinstance(before, bytes):
        for number, account in gone.items():
            assert number.encode() in before
            assert account.student
            assert account.student.birth_place.encode() in before
    else:
        vacuumed = vacuums(str(registry))
        # As autovacuum would have by then: the column statistics sample values, theirs among them.
        pg(str(registry), "ANALYZE")
        assert set(re.findall(r"\d{8}", sampled(str(registry)))) >= GONE
        before = stored(registry)

    planned = purge(2025, settings, registry, now=datetime(2026, 10, 1), dry_run=True)
    assert stored(registry) == before  # a dry run changes nothing
    done = purge(2025, settings, registry, now=datetime(2026, 10, 1))
    assert done.students == planned.students == (
        ("00012346", "jean.martin2", 2024), ("00012347", "marie-helene.de-la-fontaine", 2024)
    )  # fmt: skip
    assert done.notice is None  # the purge made the data unrecoverable as far as its engine can

    if isinstance(before, bytes):
        # Nothing of them is left in the file: not in a table, not in a free page.
        after = Path(registry).read_bytes()
        for number, account in gone.items():
            assert account.student
            for value in (number, account.student.birth_place, account.student.ine, "NIMES", "Marie-Hélène"):
                assert value.encode() not in after, value
    else:
        # No row of them is left, the tables were vacuumed, and the column statistics sample no value of theirs.
        url = str(registry)
        for table, column in PURGED_TABLES:
            assert pg(url, f"SELECT 1 FROM {table} WHERE {column} = ANY(%s)", [sorted(GONE)]) == [], table  # noqa: S608
        assert vacuums(url) == {table: count + 1 for table, count in vacuumed.items()}
        statistics = sampled(url)
        assert "00012345" in statistics  # analyzed again: the students who stayed are sampled, and only they
        for number, account in gone.items():
            assert account.student
            for value in (number, account.identifier, account.student.ine):
                assert not value or value not in statistics, value
    reg = open_registry(registry)
    assert {a.student_number for a in reg.accounts()}.isdisjoint(GONE)
    assert len(list(reg.accounts())) == STUDENTS - 2
    assert {"jean.martin2", "marie-helene.de-la-fontaine"} <= reg.taken_identifiers()
    reg.close()

    # The students who stayed keep their logins; the purged ones' logins are never given again.
    result = generate(export(tmp_path, "2026.csv", 2026), settings, RunOptions(out_dir=tmp_path / "2026", registry=registry,
                      now=datetime(2026, 10, 2)))  # fmt: skip
    by_number = {o.student_number: (o.identifier, o.status) for o in result.outcomes}
    assert by_number["00012345"] == ("jean.martin", "returning")
    assert by_number["00012346"] == ("jean.martin3", "new")
    assert by_number["00012347"] == ("marie-helene.de-la-fontaine2", "new")
    with pytest.raises(StateError, match="has not begun"):
        purge(2027, settings, registry, now=datetime(2026, 10, 1))


def test_purge_from_the_command_line(
    tmp_path: Path, settings: Settings, location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = two_years(settings, tmp_path, location)
    args = ["registry", "purge", "--before", "2025", "--config", str(SAMPLES / "scolpass.toml"),
            "--registry", str(registry)]  # fmt: skip
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "00012346  jean.martin2  last enrolled 2024/2025" in out
    assert "2 student(s) not enrolled since 2025/2026 would be purged" in out
    assert main(args) == 1  # no terminal to confirm on: nothing done
    assert _count(registry) == STUDENTS
    assert main([*args, "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "Purged 2 student(s)" in out
    assert "warning" not in err  # the role may vacuum: nothing left for anyone to do
    assert _count(registry) == STUDENTS - 2
    assert main(["registry", "show", "00012346", "--registry", str(registry)]) == 1


def test_a_schema_2_registry_keeps_everyone_until_its_last_run(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    reg = open_registry(path)
    reg.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE accounts DROP COLUMN last_year")
    db.execute("INSERT INTO accounts (student_number, identifier, first_year, issued_at) VALUES ('1', 'a.b', 2023, '')")
    db.execute(
        "INSERT INTO runs (command, state, started_at, os_user, academic_year, output, staging)"
        " VALUES ('generate', 'complete', '', 'x', 2025, '', '')"
    )
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    reg = open_registry(path)
    # Schema 2 did not record returns: the student may have been enrolled until 2025/2026.
    assert reg.purgeable(2025) == []
    assert reg.purgeable(2026) == [("1", "a.b", 2025)]
    reg.close()
    assert user_version(path) == SCHEMA_VERSION


def test_a_print_group_may_read_the_sheets_and_nothing_else(settings: Settings, tmp_path: Path) -> None:
    group = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, file_mode="0640"))
    previous = os.umask(0o077)  # a strict umask does not take the group's read back
    try:
        result = generate(SAMPLE, group, RunOptions(out_dir=tmp_path / "o", registry=tmp_path / "r.sqlite3",
                          now=datetime(2026, 9, 1)))  # fmt: skip
    finally:
        os.umask(previous)
    found = modes(result.out_dir, set())
    assert {name for name, mode in found.items() if mode == 0o640} == {p.name for p in result.out_dir.glob("*.pdf")}
    assert {name for name, mode in found.items() if mode == 0o600} == {
        "credentials.csv", "credentials.ldif", "manifest.json"
    }  # fmt: skip
    assert stat.S_IMODE(result.out_dir.stat().st_mode) == 0o750


@pytest.mark.parametrize("mode", ["0666", "0700", "0400", "0604x", "640 ", "0o640", "1600"])
def test_sheet_modes_that_would_expose_or_lock_the_sheets_are_refused(settings: Settings, mode: str) -> None:
    from scolpass import ConfigError
    from scolpass.settings import check_settings

    bad = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, file_mode=mode))
    with pytest.raises(ConfigError, match=r"\[sheet\] file_mode = .* must be an octal mode from 0600"):
        check_settings(bad)


def test_purge_with_nobody_to_purge_says_so(
    tmp_path: Path, settings: Settings, location: Location, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = two_years(settings, tmp_path, location)
    before = stored(registry)
    assert main(["registry", "purge", "--before", "2024", "--registry", str(registry)]) == 0
    assert "was last enrolled before 2024/2025: nothing to purge" in capsys.readouterr().out
    assert stored(registry) == before


def test_a_year_no_run_has_listed_yet_cannot_be_purged(settings: Settings, tmp_path: Path, location: Location) -> None:
    # 1 September 2026: the 2026/2027 year has begun, but no 2026 run has listed the returning students yet.
    registry = two_years(settings, tmp_path, location)
    with pytest.raises(StateError, match=r"latest run is for 2025/2026.*purge --before 2025 at most"):
        purge(2026, settings, registry, now=datetime(2026, 9, 1))
    with pytest.raises(StateError, match="latest run is for 2025/2026"):
        purge(2026, settings, registry, now=datetime(2026, 9, 1), dry_run=True)
    assert _count(registry) == STUDENTS


def test_a_schema_1_registry_keeps_everyone_until_its_latest_year(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE accounts (student_number TEXT PRIMARY KEY, identifier TEXT NOT NULL UNIQUE,"
        " short_identifier TEXT UNIQUE, first_year INTEGER NOT NULL, issued_at TEXT NOT NULL);"
        "CREATE TABLE reserved (identifier TEXT PRIMARY KEY, source TEXT NOT NULL, reserved_at TEXT NOT NULL);"
        "INSERT INTO accounts VALUES ('1', 'jean.martin', NULL, 2020, ''), ('2', 'paul.durand', NULL, 2025, '');"
        "PRAGMA user_version = 1;"
    )
    db.close()
    reg = open_registry(path)
    # Schema 1 recorded neither runs nor returns: Jean (first issued in 2020) may be enrolled still.
    assert reg.purgeable(2025) == []
    assert reg.latest_year() == 2025
    reg.close()


def test_purge_keeps_short_logins_reserved_too(location: Location) -> None:
    reg = open_registry(location)
    with reg.transaction():
        reg.record([new_account("1", "jean.martin", "jmartin")], 2020, datetime(2020, 9, 1))
    reg.record([new_account("2", "paul.durand", "pdurand", first_name="Paul")], 2024, datetime(2024, 9, 1))
    assert reg.purge(2021, datetime(2026, 9, 1)) == [("1", "jean.martin", 2020)]
    assert {"jean.martin", "jmartin"} <= reg.taken_identifiers() & reg.taken_identifiers(short=True)
    assert [a.student_number for a in reg.accounts()] == ["2"]
    reg.close()


def _count(registry: Location) -> int:
    with open_registry(registry) as reg:
        return len(list(reg.accounts()))
