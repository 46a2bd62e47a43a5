"""A registry through an enrolment period and the next year: reruns, reissues, reprints,
duplicates, adoption, dry runs, migration, crashes and two offices at once."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from passlib.hash import sha512_crypt  # type: ignore[import-untyped]
from psycopg import sql

from scolpass import RunOptions, Settings, StateError, generate, open_registry
from scolpass.admin import import_existing
from scolpass.pipeline import reissue
from scolpass.registry import SCHEMA_VERSION, is_postgres

from .conftest import PASSWORD_PATTERN, SAMPLES, page_texts, row, sheet_texts, user_version

NOW = datetime(2026, 9, 1, 9, 0)
SAMPLE = SAMPLES / "enrolment.csv"
CONFIG = SAMPLES / "scolpass.toml"


def sample_with(tmp_path: Path, name: str, extra: str = "", year: str = "2026") -> Path:
    """The sample export, for another year and with extra rows (cumulative exports)."""
    text = SAMPLE.read_text(encoding="utf-8-sig").replace("\n2026;", f"\n{year};")
    path = tmp_path / name
    path.write_text(text + extra, encoding="utf-8")
    return path


def passwords_by_student(folder: Path) -> dict[str, str]:
    """Read each password back from its sheet, through the manifest's page numbers."""
    return {
        number: re.findall(PASSWORD_PATTERN, text, flags=re.MULTILINE)[0]
        for number, text in sheet_texts(folder).items()
        if re.findall(PASSWORD_PATTERN, text, flags=re.MULTILINE)
    }


def registry_content(location: str) -> Any:
    """All a registry holds: an SQLite file's bytes, or every row of every table of a PostgreSQL database."""
    if not is_postgres(location):
        return Path(location).read_bytes()
    with psycopg.connect(location) as db:
        tables = [t for (t,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        every = sql.SQL("SELECT * FROM {}")
        return {t: sorted(map(repr, db.execute(every.format(sql.Identifier(t))))) for t in sorted(tables)}


def hashes_by_student(folder: Path) -> dict[str, str]:
    import csv

    with (folder / "credentials.csv").open(encoding="utf-8", newline="") as handle:
        return {r["student_number"]: r["password_hash"] for r in csv.DictReader(handle)}


def test_an_enrolment_period_and_the_next_year(settings: Settings, tmp_path: Path, registry_at: str) -> None:
    registry = registry_at

    def run(path: Path, out: str, **kw: object):  # type: ignore[no-untyped-def]
        return generate(path, settings, RunOptions(out_dir=tmp_path / out, registry=registry, now=NOW, **kw))  # type: ignore[arg-type]

    first = run(SAMPLE, "1-first")
    assert first.count("new") == 11
    ids = {o.student_number: o.identifier for o in first.outcomes}

    # Later in the period: the cumulative export, with a new homonym.
    homonym = "2026;00012399;0999999999;Z;MARTIN;;Jean;05/05/2005;LYON;M;SCI;SCIENCES;SI1;101;L1 Informatique\n"
    later = run(sample_with(tmp_path, "later.csv", homonym), "2-later")
    assert (later.count("new"), later.count("returning")) == (1, 11)
    assert {o.student_number: o.identifier for o in later.outcomes if o.status == "returning"} == ids
    assert [o.identifier for o in later.outcomes if o.status == "new"] == ["jean.martin3"]

    # A lost sheet: a new password, the same identifier, a change record for the directory.
    lost = reissue(
        ["00012345"], settings, RunOptions(year=2026, out_dir=tmp_path / "3-reissue", registry=registry, now=NOW)
    )
    (outcome,) = lost.outcomes
    assert (outcome.identifier, outcome.status) == ("jean.martin", "reissued")
    ldif = (lost.out_dir / "credentials.ldif").read_text()
    assert "changetype: modify\nreplace: userPassword\nuserPassword: {CRYPT}$6$" in ldif
    assert "objectClass" not in ldif
    (password,) = passwords_by_student(lost.out_dir).values()
    assert sha512_crypt.verify(password, hashes_by_student(lost.out_dir)["00012345"].removeprefix("{CRYPT}"))

    # The next year: everyone returns; a reprint without password for each.
    next_year = run(sample_with(tmp_path, "2027.csv", homonym.replace("2026;", "2027;"), "2027"), "4-2027",
                    reprint_returning=True)  # fmt: skip
    assert next_year.year.label == "2027/2028"
    assert (next_year.count("new"), next_year.count("returning")) == (0, 12)
    reprints = page_texts(next_year.out_dir / "reprints.pdf")
    assert len(reprints) == 12
    for o in next_year.outcomes:
        text = reprints[o.page - 1]  # type: ignore[operator]
        assert o.email in text
        assert "SCOL'PASS 2027/2028" in text
        assert "reste valable" in " ".join(text.split())
        assert not re.findall(PASSWORD_PATTERN, text, flags=re.MULTILINE)
    assert not (next_year.out_dir / "credentials.ldif").exists()

    reg = open_registry(registry)
    assert [(r.command, r.state) for r in reg.runs()] == [("generate", "complete")] * 2 + [
        ("reissue", "complete"), ("generate", "complete"),
    ]  # fmt: skip
    assert reg.runs()[0].input_sha256 is not None
    assert len(reg.reissues("00012345")) == 1
    reg.close()


def test_probable_duplicates_are_held_back(settings: Settings, tmp_path: Path, registry_at: str) -> None:
    registry = registry_at
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "a", registry=registry, now=NOW))
    rows = (
        "2026;12345;0123456788;A;MARTINEZ;;Paul;01/01/2006;X;M;ECO;ECONOMIE;EE1;101;L1\n"  # 00012345 without zeros
        "2026;00055555;0223456789;B;DURAND;;Luc;01/01/2006;X;M;ECO;ECONOMIE;EE1;101;L1\n"  # INE of 00012346
        "2026;00066666;;;DE LA FONTAINE;;Marie-Hélène;30/01/2005;X;F;LET;LETTRES;LM3;101;L3\n"  # same person
    )
    path = tmp_path / "d.csv"
    path.write_text(SAMPLE.read_text(encoding="utf-8-sig").splitlines()[0] + "\n" + rows, encoding="utf-8")
    result = generate(path, settings, RunOptions(out_dir=tmp_path / "b", registry=registry, now=NOW))
    held = {o.student_number: o.note for o in result.outcomes if o.status == "duplicate"}
    assert held == {
        "12345": "probable duplicate of student 00012345: the same student number but for leading zeros",
        "00055555": "probable duplicate of student 00012346: the same INE",
        "00066666": "probable duplicate of student 00012347: the same birth name, first name and birth date",
    }
    assert result.count("new") == 0
    again = generate(
        path, settings, RunOptions(out_dir=tmp_path / "c", registry=registry, now=NOW, allow_duplicates=["00066666"])
    )
    assert [o.student_number for o in again.outcomes if o.status == "new"] == ["00066666"]


def test_existing_accounts_are_adopted(settings: Settings, tmp_path: Path, registry_at: str) -> None:
    export = tmp_path / "people.ldif"
    export.write_text(
        "dn: uid=jmartin,ou=people,dc=umontpellier,dc=fr\nuid: jmartin\nsupannEtuId: 00012345\n"
        "mail: jmartin@etu.umontpellier.fr\n\n"
        "dn: uid=prof.x,ou=people,dc=umontpellier,dc=fr\nuid: prof.x\n"
    )
    registry = registry_at
    done = import_existing(export, settings, registry)
    assert (done.adopted, done.read) == (1, 2)
    result = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=registry, now=NOW))
    by_number = {o.student_number: (o.identifier, o.status) for o in result.outcomes}
    assert by_number["00012345"] == ("jmartin", "returning")  # no second account
    assert by_number["00012346"] == ("jean.martin", "new")
    assert result.count("new") == 10


def test_dry_run_writes_nothing(settings: Settings, tmp_path: Path, registry_at: str) -> None:
    registry = registry_at
    dry = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=registry, now=NOW, dry_run=True))
    assert dry.count("new") == 11
    assert sorted(o.identifier or "" for o in dry.outcomes)[0] == "aissatou.ndiaye"
    assert list(tmp_path.iterdir()) == []  # not even an SQLite file
    if is_postgres(registry):
        assert registry_content(registry) == {}  # nor a table
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=registry, now=NOW))
    before = registry_content(registry)
    again = generate(
        sample_with(tmp_path, "e.csv"), settings, RunOptions(out_dir=tmp_path / "p", registry=registry, dry_run=True)
    )
    assert again.count("returning") == 11
    assert registry_content(registry) == before
    assert not (tmp_path / "p").exists()


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (student_number TEXT PRIMARY KEY, identifier TEXT NOT NULL UNIQUE,
    short_identifier TEXT UNIQUE, first_year INTEGER NOT NULL, issued_at TEXT NOT NULL);
CREATE TABLE reserved (identifier TEXT PRIMARY KEY, source TEXT NOT NULL, reserved_at TEXT NOT NULL);
INSERT INTO accounts VALUES ('00012345', 'jean.martin', NULL, 2025, '2025-09-01T10:00:00');
INSERT INTO reserved VALUES ('marie-helene.de-la-fontaine', 'staff.ldif', '2025-09-01T10:00:00');
PRAGMA user_version = 1;
"""


def test_migration_from_schema_1(settings: Settings, tmp_path: Path) -> None:
    # SQLite only: schema 1 was a file's; a PostgreSQL registry began at schema 6 (test_registry_engines.py).
    registry = tmp_path / "old.sqlite3"
    old = sqlite3.connect(registry)
    old.executescript(V1_SCHEMA)
    old.close()
    result = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=registry, now=NOW))
    by_number = {o.student_number: (o.identifier, o.status) for o in result.outcomes}
    assert by_number["00012345"] == ("jean.martin", "returning")
    assert by_number["00012347"] == ("marie-helene.de-la-fontaine2", "new")  # still reserved
    assert user_version(registry) == SCHEMA_VERSION


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scolpass", *args], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, timeout=120,
    )  # fmt: skip


# Each point on both engines but "rendering": the registry is then as at "pending" and "rendered" (a pending
# run), only the staging folder's files differ, and they are the same on either engine.
KILLED_AT = [
    pytest.param(point, engine, id=f"{engine}-{point}")
    for point in ("pending", "rendering", "rendered", "written", "published")
    for engine in ("sqlite", "postgresql")
    if (point, engine) != ("rendering", "postgresql")
]


@pytest.mark.slow
@pytest.mark.parametrize(("point", "registry_at"), KILLED_AT, indirect=["registry_at"])
def test_a_killed_run_leaves_nothing_a_rerun_cannot_settle(tmp_path: Path, point: str, registry_at: str) -> None:
    # On PostgreSQL the killed run's advisory lock died with its connection; its staging folder is here.
    registry = registry_at
    common = ["generate", str(SAMPLE), "--config", str(CONFIG), "--registry", registry]
    killed = _cli(*common, "--out", str(tmp_path / "killed"), env={"SCOLPASS_CRASH_AT": point})
    assert killed.returncode == -9, killed.stderr
    rerun = _cli(*common, "--out", str(tmp_path / "rerun"))
    assert rerun.returncode == 0, rerun.stderr
    assert "recovered run 1" in rerun.stderr

    assert not list(tmp_path.glob(".*partial*"))  # no half-written folder anywhere
    reg = open_registry(registry)
    accounts = list(reg.accounts())
    assert len(accounts) == 11
    assert {a.state for a in accounts} == {"issued"}
    assert len({a.identifier for a in accounts}) == 11
    reg.close()
    # Every issued student is new in exactly one complete folder, and the password printed
    # there opens the hash of that folder's credential files.
    complete = [f for f in (tmp_path / "killed", tmp_path / "rerun") if (f / "manifest.json").exists()]
    issued_in: dict[str, list[Path]] = {}
    for folder in complete:
        hashes = hashes_by_student(folder) if (folder / "credentials.csv").exists() else {}
        for number, password in (passwords_by_student(folder) if hashes else {}).items():
            assert sha512_crypt.verify(password, hashes[number].removeprefix("{CRYPT}"))
            issued_in.setdefault(number, []).append(folder)
    assert sorted(issued_in) == sorted(a.student_number for a in accounts)
    assert all(len(folders) == 1 for folders in issued_in.values())
    # From "written" on, the output was complete: the rerun publishes it instead of undoing it.
    expected = "killed" if point in ("written", "published") else "rerun"
    assert {f.name for fs in issued_in.values() for f in fs} == {expected}


@pytest.mark.slow
def test_two_offices_at_once(tmp_path: Path, write_csv: Callable[..., Path], registry_at: str) -> None:
    # One after the other on SQLite (its run lock); at the same time on PostgreSQL, each office planning
    # again when the other recorded one of its homonym logins first.
    registry = registry_at

    def people(office: int) -> list[dict[str, str]]:
        # Every Jean Martin is another person (first names differ): homonym logins, no duplicates.
        born = f"0{office}/0{office}/2006"  # and the two offices' students are other people again
        names = [f"Jean-{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(150)]
        return [row(f"{office}{i:07d}", first_name=name, birth_date=born) for i, name in enumerate(names)]

    files = [write_csv(people(1), name="a.csv"), write_csv(people(2), name="b.csv")]
    offices = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scolpass",
                "generate",
                str(f),
                "--config",
                str(CONFIG),
                "--year",
                "2026",
                "--registry",
                registry,
                "--out",
                str(tmp_path / f.stem),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in files
    ]
    for office in offices:
        _, err = office.communicate(timeout=120)
        assert office.returncode == 0, err
    reg = open_registry(registry)
    identifiers = [a.identifier for a in reg.accounts()]
    assert len(identifiers) == len(set(identifiers)) == 300
    assert [r.state for r in reg.runs()] == ["complete", "complete"]
    reg.close()


def test_registry_busy_stops_with_a_clear_message(settings: Settings, tmp_path: Path) -> None:
    # SQLite only: its file's run lock; on PostgreSQL runs take no lock for the whole run (test_shared_registry.py).
    from scolpass.lock import run_lock

    registry = tmp_path / "r.sqlite3"

    def second_office() -> None:
        with run_lock(registry, wait=0.5):
            pass

    with run_lock(registry), pytest.raises(StateError, match="another scolpass run is using this registry"):
        second_office()
    second_office()  # released: free again


def test_help_desk_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str], registry_at: str) -> None:
    from scolpass.cli import main

    registry = registry_at
    assert (
        main(["generate", str(SAMPLE), "--config", str(CONFIG), "--registry", registry, "--out", str(tmp_path / "o")])
        == 0
    )
    assert (
        main(["reissue", "00012345", "--config", str(CONFIG), "--registry", registry, "--out", str(tmp_path / "r")])
        == 0
    )
    capsys.readouterr()
    assert main(["registry", "show", "00012345", "--registry", registry]) == 0
    shown = capsys.readouterr().out
    assert "identifier:     jean.martin" in shown
    assert "reissued:" in shown
    assert main(["registry", "export", "--registry", registry]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert exported[0].startswith("student_number,identifier")
    assert len(exported) == 12
    assert main(["registry", "runs", "--registry", registry]) == 0
    runs = capsys.readouterr().out.splitlines()
    assert len(runs) == 2
    for line, words in zip(
        runs, (("generate", "complete", "11 new"), ("reissue", "complete", "1 reissued")), strict=True
    ):
        assert all(word in line for word in words), line
    assert main(["registry", "show", "99999999", "--registry", registry]) == 1


@pytest.mark.slow
def test_two_offices_on_a_new_registry_with_default_folders(tmp_path: Path, registry_at: str) -> None:
    # Same second, same default folder name, no registry yet: both must succeed, apart. On SQLite the
    # default registry (./scolpass.sqlite3); on PostgreSQL an empty database, both runs starting on it at once.
    where = ["--registry", registry_at] if is_postgres(registry_at) else []
    offices = [
        subprocess.Popen(
            [sys.executable, "-m", "scolpass", "generate", str(path), "--config", str(CONFIG), *where],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in (SAMPLE, sample_with(tmp_path, "other.csv", year="2026"))
    ]
    results = [office.communicate(timeout=120) for office in offices]
    assert [office.returncode for office in offices] == [0, 0], results
    folders = sorted(p for p in (tmp_path / "scolpass-output" / "2026-2027").iterdir())
    assert len(folders) == 2
    counts = sorted(json.loads((f / "manifest.json").read_text())["counts"]["new"] for f in folders)
    assert counts == [0, 11]  # the second saw the first's students as returning
    reg = open_registry(registry_at if where else tmp_path / "scolpass.sqlite3")
    assert reg.count() == 11
    reg.close()


@pytest.mark.parametrize("command", ["generate", "reissue"])
def test_an_interrupt_after_publishing_keeps_the_run(
    settings: Settings, tmp_path: Path, command: str, registry_at: str
) -> None:
    from scolpass import run as run_module

    registry = registry_at
    if command == "reissue":
        generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "first", registry=registry, now=NOW))

    def interrupt(point: str) -> None:
        if point == "published":
            raise KeyboardInterrupt

    def run_it() -> None:
        if command == "generate":
            generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "a", registry=registry, now=NOW))
        else:
            reissue(["00012345"], settings, RunOptions(year=2026, out_dir=tmp_path / "a", registry=registry, now=NOW))

    with pytest.MonkeyPatch.context() as patch:  # undone alone: not pg_database's PGPASSFILE
        patch.setattr(run_module, "checkpoint", interrupt)
        with pytest.raises(KeyboardInterrupt):
            run_it()
    assert (tmp_path / "a" / "manifest.json").exists()  # the sheets exist: the run must count
    again = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "b", registry=registry, now=NOW))
    assert again.recovered
    assert "confirmed" in again.recovered[0]
    assert again.count("new") == 0  # nobody gets a second password
    reg = open_registry(registry)
    assert len(reg.reissues("00012345")) == (1 if command == "reissue" else 0)
    reg.close()


@pytest.mark.slow
def test_a_published_folder_moved_before_recovery_still_counts(tmp_path: Path, registry_at: str) -> None:
    registry = registry_at
    common = ["generate", str(SAMPLE), "--config", str(CONFIG), "--registry", registry]
    assert _cli(*common, "--out", str(tmp_path / "m1"), env={"SCOLPASS_CRASH_AT": "published"}).returncode == -9
    (tmp_path / "m1").rename(tmp_path / "m1-printed")
    rerun = _cli(*common, "--out", str(tmp_path / "m2"))
    assert rerun.returncode == 0, rerun.stderr
    assert "which is no longer there: confirmed" in rerun.stderr
    assert "0 new, 11 returning" in rerun.stdout


def test_duplicates_within_one_file(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path], registry_at: str
) -> None:
    rows = [row("00012345"), row("12345", first_name="Paul"), row("00077777", step_code="X")]
    result = generate(write_csv(rows), settings, RunOptions(year=2026, out_dir=tmp_path / "o", registry=registry_at))
    held = {o.student_number: o.note for o in result.outcomes if o.status == "duplicate"}
    assert held == {
        "00077777": "probable duplicate of student 00012345: the same birth name, first name and birth date",
        "12345": "probable duplicate of student 00012345: the same student number but for leading zeros",
    }
    assert [o.identifier for o in result.outcomes if o.status == "new"] == ["jean.martin"]


def test_adopted_accounts_are_compared_for_duplicates(settings: Settings, tmp_path: Path, registry_at: str) -> None:
    export = tmp_path / "people.csv"
    export.write_text("uid;student_number\njmartin;00012345\n")
    registry = registry_at
    import_existing(export, settings, registry)
    generate(
        SAMPLE, settings, RunOptions(out_dir=tmp_path / "a", registry=registry, now=NOW)
    )  # 00012345 returning, keys set
    same_ine = "2026;00099999;0123456789;A;DURAND;;Luc;01/01/2006;X;M;ECO;ECONOMIE;EE1;101;L1\n"
    path = tmp_path / "n.csv"
    path.write_text(SAMPLE.read_text(encoding="utf-8-sig").splitlines()[0] + "\n" + same_ine, encoding="utf-8")
    result = generate(path, settings, RunOptions(out_dir=tmp_path / "b", registry=registry, now=NOW))
    (outcome,) = result.outcomes
    assert (outcome.status, outcome.note) == ("duplicate", "probable duplicate of student 00012345: the same INE")


@pytest.mark.slow
def test_a_dry_run_after_a_crash_reports_what_the_next_run_will_do(tmp_path: Path, registry_at: str) -> None:
    registry = registry_at
    common = ["generate", str(SAMPLE), "--config", str(CONFIG), "--registry", registry]
    assert _cli(*common, "--out", str(tmp_path / "k"), env={"SCOLPASS_CRASH_AT": "rendered"}).returncode == -9
    dry = _cli(*common, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Dry run, nothing written: SCOL'PASS 2026/2027: 11 new, 0 returning" in dry.stdout
    assert list(tmp_path.glob(".*partial*"))  # the dry run left the crashed run's folder to the real run
    assert "11 new" in _cli(*common, "--out", str(tmp_path / "o")).stdout


def test_a_reissue_waiting_behind_a_run_chooses_its_own_folder(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite only: a run waits for its file's run lock; on PostgreSQL no run waits for another.
    import threading

    from scolpass.academic_year import AcademicYear
    from scolpass.lock import run_lock
    from scolpass.output import output_folder

    monkeypatch.chdir(tmp_path)
    registry = tmp_path / "r.sqlite3"
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "first", registry=registry, now=NOW))
    taken = output_folder(None, AcademicYear(2026), NOW)  # the default folder of this second
    results: list[object] = []

    def counter() -> None:
        try:
            results.append(reissue(["00012345"], settings, RunOptions(year=2026, registry=registry, now=NOW)))
        except Exception as exc:  # reported below, in the test thread
            results.append(exc)

    with run_lock(registry):  # a generate of the same second holds the lock...
        thread = threading.Thread(target=counter)
        thread.start()
        thread.join(0.5)  # ...while the reissue waits for it,
        taken.mkdir(parents=True)  # ...then publishes into that default folder
        (taken / "manifest.json").write_text("{}")
    thread.join(30)
    (result,) = results
    assert not isinstance(result, Exception), result
    assert result.out_dir == taken.with_name(taken.name + "-2")  # type: ignore[attr-defined]
    assert (result.out_dir / "manifest.json").exists()  # type: ignore[attr-defined]
