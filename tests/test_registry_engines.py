"""The registry's guarantees on both engines: the embedded SQLite file and a real PostgreSQL server
(started by the tests, tests/postgres.py). Each test runs once per engine, on a fresh registry."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from scolpass.duplicates import SAME_INE, SAME_NUMBER, SAME_PERSON
from scolpass.errors import StateError
from scolpass.registry import Registry, is_postgres, open_registry

from .conftest import a_student, new_account, without_tls
from .postgres import Postgres

WHEN = datetime(2026, 9, 1, 10, 0)
Opener = Callable[..., Registry]


@pytest.fixture
def location(registry_at: str) -> str:
    """A fresh registry's location on each engine: a file, or an empty database's URL."""
    return registry_at


@pytest.fixture
def registry(location: str) -> Iterator[Registry]:
    with open_registry(location) as reg:
        yield reg


def run(reg: Registry, year: int = 2026, command: Any = "generate") -> int:
    """A run begun in its own transaction, as run.py begins one; returns its id."""
    with reg.transaction():
        run_id = reg.begin_run(command, year, WHEN, "registrar", Path("/srv/out"), "export.csv", "ab" * 32)
        reg.set_staging(run_id, Path(f"/srv/.staging-{run_id}"))
    return run_id


def test_a_new_registry_is_made_once_and_opens_again(location: str) -> None:
    with open_registry(location) as reg:
        assert reg.created
        assert reg.count() == 0
    with open_registry(location) as reg:
        assert not reg.created


def test_accounts_are_found_by_number_and_login(registry: Registry) -> None:
    run_id = run(registry)
    with registry.transaction():
        registry.record([new_account("00012345", "jean.martin", "jmartin", ine="0123456789A"),
                         new_account("00012346", "anne.martin", first_name="Anne")], 2026, WHEN, run_id)  # fmt: skip
    assert registry.issued(["00012345", "99"])["00012345"].state == "pending"
    registry.confirm(run_id, {"new": 2}, WHEN)
    jean = registry.account("00012345")
    assert jean is not None
    assert (jean.identifier, jean.short_identifier, jean.state, jean.run_id) == ("jean.martin", "jmartin", "issued", 1)
    assert jean.student == a_student("00012345", ine="0123456789A")
    assert registry.find_login("jmartin") == jean
    assert [a.student_number for a in registry.accounts()] == ["00012345", "00012346"]
    assert registry.count() == 2
    assert registry.taken_identifiers() == {"jean.martin", "anne.martin"}
    assert registry.taken_identifiers(short=True) == {"jmartin"}
    assert [a.student_number for a in registry.same_number_key("12345")] == ["00012345"]
    assert registry.with_ine(["0123456789A", "X"]) == {"0123456789A": ["00012345"]}
    found = registry.probable_duplicates(a_student("99999999", ine="0123456789A"))
    assert [(number, r.key) for number, r in found] == [("00012345", "ine"), ("00012345", "identity_key")]


def test_a_login_or_a_student_is_never_recorded_twice(registry: Registry) -> None:
    with registry.transaction():
        registry.record([new_account("1", "jean.martin")], 2026, WHEN)
    for account in (new_account("2", "jean.martin"), new_account("1", "jean.martin2")):
        with pytest.raises(StateError, match="recorded twice"), registry.transaction():
            registry.record([new_account("3", "li.wang"), account], 2026, WHEN)
    assert registry.count() == 1  # the whole transaction undone, li.wang too


def test_linked_numbers_find_their_account_and_are_never_linked_twice(registry: Registry) -> None:
    with registry.transaction():
        registry.record(
            [
                new_account("00012345", "jean.martin"),
                new_account("00099999", "paul.durand", first_name="Paul", birth_name="DURAND"),
            ],
            2026,
            WHEN,
        )
    run_id = run(registry, 2027)
    with registry.transaction():
        registry.link([("000123456", "00012345")], 2027, WHEN, run_id)
        registry.update_students([a_student("000123456")], 2027)
    registry.confirm(run_id, {"returning": 1}, WHEN)
    found = registry.issued(["000123456", "00012345"])
    assert found["000123456"] == found["00012345"]
    assert found["000123456"].student_numbers == ("00012345", "000123456")
    assert found["000123456"].last_year == 2027
    assert registry.probable_duplicates(a_student("000123456")) == []
    with pytest.raises(StateError, match="it is already student 00012345's"), registry.transaction():
        registry.link([("000123456", "00099999")], 2027, WHEN)
    with pytest.raises(StateError, match="this student number is linked to another account"), registry.transaction():
        registry.record([new_account("000123456", "someone.else")], 2027, WHEN)


def test_a_whole_file_is_compared_and_linked_in_a_few_statements_as_one_student_at_a_time(
    registry: Registry,
) -> None:
    # Planning asks for every new student at once, and a migration year links thousands: more values
    # than one statement binds (SQLite's 999), in slices, with the answers one student at a time gives.
    with registry.transaction():
        registry.record([new_account("00012345", "jean.martin", ine="0123456789A"),
                         new_account("00012346", "anne.martin", first_name="Anne")], 2026, WHEN)  # fmt: skip
        registry.record([new_account(f"6{n:07d}", f"old{n}", first_name=f"Old{n}") for n in range(1200)], 2026, WHEN)
    with registry.transaction():
        registry.link([("000777", "00012346"), *((f"7{n:07d}", f"6{n:07d}") for n in range(1200))], 2027, WHEN)
    assert registry.issued(["70001199"])["70001199"].student_number == "60001199"
    others = [a_student(f"5{n:07d}", first_name=f"Paul{n}") for n in range(1500)]
    asked = [
        *others,
        a_student("99999999", ine="0123456789A"),  # the same INE and person as 00012345
        a_student("12345", first_name="Léa"),  # 00012345 but for leading zeros
        a_student("777", first_name="Zoé"),  # a number linked to 00012346 but for leading zeros
        a_student("000777", first_name="Anne"),  # linked to 00012346: that account's, no duplicate of it
        a_student("8", first_name="Old1199"),  # the same person as 60001199 (linked to 70001199)
    ]
    expected = {s.student_number: [] for s in others} | {
        "99999999": [("00012345", SAME_INE), ("00012345", SAME_PERSON)],
        "12345": [("00012345", SAME_NUMBER)],
        "777": [("00012346", SAME_NUMBER)],
        "000777": [],
        "8": [("60001199", SAME_PERSON)],
    }
    assert registry.probable_duplicates_of(asked) == expected
    assert {s.student_number: registry.probable_duplicates(s) for s in asked} == expected
    assert registry.probable_duplicates_of([]) == {}
    run_id = run(registry, 2027)
    with registry.transaction():
        registry.record([new_account("999", "new.one", first_name="New")], 2027, WHEN, run_id)
    with (
        pytest.raises(StateError, match="0999 cannot be linked to student 999: account pending"),
        registry.transaction(),
    ):
        registry.link([("000888", "00012345"), ("0999", "999")], 2027, WHEN, run_id)
    assert registry.account("000888") is None  # nothing of the refused links


def test_an_abandoned_run_takes_back_its_accounts_and_links_and_its_reissues_count_for_nothing(
    registry: Registry,
) -> None:
    with registry.transaction():
        registry.record([new_account("00012345", "jean.martin")], 2026, WHEN)
    run_id = run(registry, 2027)
    with registry.transaction():
        registry.record([new_account("00012346", "anne.martin")], 2027, WHEN, run_id)
        registry.link([("000123456", "00012345")], 2027, WHEN, run_id)
        registry.update_students([a_student("000123456")], 2027)
        registry.record_reissues(["00012345"], run_id, WHEN)
        registry.set_feed_mark(run_id, 1_780_000_000)
    registry.abandon(run_id, WHEN)
    assert registry.count() == 1
    assert registry.account("000123456") is None
    jean = registry.account("00012345")
    assert jean is not None
    assert jean.student is not None
    assert jean.student.student_number == "00012345"  # the printed record back to a number that finds it
    assert registry.reissues("00012345") == []  # only a complete run's reissues count
    # ... but the row stays, as the record of what the run tried: reissues are only added to, but for a purge.
    assert registry.table_rows("reissues", ("student_number", "run_id"), "id") == [("00012345", run_id)]
    assert registry.feed_mark() is None
    (record,) = registry.runs("abandoned")
    assert (record.id, record.state, record.input_name) == (run_id, "abandoned", "export.csv")


def test_runs_and_reissues_are_remembered(registry: Registry) -> None:
    first = run(registry)
    with registry.transaction():
        registry.record([new_account("00012345", "jean.martin")], 2026, WHEN, first)
        registry.set_feed_mark(first, 1_780_000_000)
    with pytest.raises(StateError, match="cannot be reissued now: account pending"):
        registry.record_handed_reissue("00012345", 2026, WHEN, "registrar", "agent")
    registry.mark_written(first)
    assert registry.run(first) is not None
    assert [r.state for r in registry.runs()] == ["written"]
    registry.confirm(first, {"new": 1}, WHEN)
    assert registry.feed_mark() == 1_780_000_000
    handed = registry.record_handed_reissue("00012345", 2026, WHEN, "registrar", "agent")
    assert handed == first + 1
    assert [(r.run_id, r.actor) for r in registry.reissues("00012345")] == [(handed, "agent")]
    assert [(r.id, r.command, r.state, r.counts) for r in registry.runs("complete")] == [
        (first, "generate", "complete", {"new": 1}), (handed, "reissue", "complete", {"reissued": 1})
    ]  # fmt: skip
    assert registry.latest_year() == 2026


def test_returning_students_update_what_changed_and_only_that(registry: Registry) -> None:
    # An unchanged account is not written again (a rerun of the same export), every change is: an INE given or
    # no longer given, a name, an adopted account's first data, a later year.
    with registry.transaction():
        registry.record([new_account("1", "jean.martin", ine="0123456789A"),
                         new_account("2", "anne.martin", first_name="Anne")], 2026, WHEN)  # fmt: skip
    assert registry.adopt({"3": "eve.martin"}, 2026, WHEN) == (1, [])
    current = [a_student("1"), a_student("2", first_name="Anne", ine="0123456789B"), a_student("3", first_name="Ève")]
    for year in (2026, 2026, 2025):  # again, then an older export: no last year goes back
        with registry.transaction():
            registry.update_students(current, year)
        found = registry.issued(["1", "2", "3"])
        assert [(found[n].student, found[n].last_year) for n in "123"] == [(s, 2026) for s in current]
    assert registry.probable_duplicates(a_student("9", first_name="Zoé", ine="0123456789A")) == []
    assert registry.probable_duplicates(a_student("9", ine="0123456789B")) == [("2", SAME_INE), ("1", SAME_PERSON)]
    assert registry.probable_duplicates(a_student("9", first_name="Eve")) == [("3", SAME_PERSON)]
    with registry.transaction():
        registry.update_students([a_student("1", ine="0123456789A")], 2027)
    jean = registry.account("1")
    assert jean is not None
    assert (jean.student, jean.last_year) == (a_student("1", ine="0123456789A"), 2027)


def test_reserved_logins_and_adopted_accounts(registry: Registry) -> None:
    assert registry.reserve(["admin-ent", "jean.martin"], "staff.csv", WHEN) == 2
    assert registry.reserve(["admin-ent", "bu"], "other.csv", WHEN) == 1
    assert registry.reserved_count() == 3
    assert {"admin-ent", "jean.martin", "bu"} <= registry.taken_identifiers()
    with registry.transaction():
        registry.record([new_account("00000001", "anne.martin")], 2026, WHEN)
    adopted, conflicts = registry.adopt({"00000002": "paul.durand", "00000001": "someone"}, 2026, WHEN)
    assert adopted == 1
    assert conflicts == ["00000001 -> someone: the registry links 00000001 -> anne.martin"]
    assert registry.account("00000002") is not None


def test_a_purge_forgets_students_and_keeps_their_logins(registry: Registry) -> None:
    with registry.transaction():
        registry.record([new_account("1", "jean.martin", "jmartin"), new_account("2", "anne.martin")], 2024, WHEN)
    with registry.transaction():
        registry.update_students([a_student("2")], 2026)
        registry.link([("0001", "1")], 2024, WHEN)
    assert registry.purgeable(2026) == [("1", "jean.martin", 2024)]
    assert registry.purge(2026, WHEN) == [("1", "jean.martin", 2024)]
    assert registry.account("1") is None
    assert registry.account("0001") is None  # its further numbers go with it
    assert {"jean.martin", "jmartin"} <= registry.taken_identifiers()
    assert registry.count() == 1


def test_a_dry_registry_changes_nothing(location: str) -> None:
    with open_registry(location) as reg, reg.transaction():
        reg.record([new_account("1", "jean.martin")], 2026, WHEN)
    with open_registry(location, in_memory=True) as reg:
        with reg.transaction():
            reg.record([new_account("2", "anne.martin")], 2026, WHEN)
        assert reg.count() == 2
    with open_registry(location) as reg:
        assert [a.student_number for a in reg.accounts()] == ["1"]


# -- PostgreSQL: the server and the database as they may be ----------------------------------------------


@pytest.fixture
def pg_location(pg_database: str) -> str:
    location = without_tls(pg_database)
    assert is_postgres(location)
    return location


def test_openers_of_an_empty_database_at_once_make_its_schema_once(postgres: Postgres, pg_database: str) -> None:
    # Offices starting on a new registry at the same moment (a dry run among them): one makes the schema,
    # the others find it. (pg_database: for its PGPASSFILE; the databases are made here, dropped after.)
    import threading

    for turn in range(3):
        url = without_tls(postgres.create_database(label=f"at_once_{turn}"))
        start = threading.Barrier(4)
        opened: list[object] = []

        def open_it(url: str, start: threading.Barrier, opened: list[object], dry: bool) -> None:
            start.wait()
            try:
                with open_registry(url, in_memory=dry) as reg:
                    opened.append((reg.created, reg.count()))
            except StateError as exc:
                opened.append(exc)

        threads = [threading.Thread(target=open_it, args=(url, start, opened, dry)) for dry in (0, 0, 0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(opened) == 4
        assert all(isinstance(done, tuple) for done in opened), opened
        with open_registry(url) as reg:
            assert not reg.created


def test_a_schema_made_by_a_newer_scolpass_or_another_application_is_refused(pg_location: str) -> None:
    with open_registry(pg_location):
        pass
    with psycopg.connect(pg_location, autocommit=True) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match=r"written by a newer scolpass \(schema 99\); upgrade scolpass"):
        open_registry(pg_location)
    with psycopg.connect(pg_location, autocommit=True) as db:
        db.execute("DROP TABLE numbers, reissues, runs, reserved, accounts, meta")
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StateError, match=r"not a scolpass registry .*invoices.*left untouched"):
        open_registry(pg_location)


def test_an_unreachable_server_a_wrong_password_or_no_database_is_one_clear_error(
    pg_location: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = pg_location.replace("/" + pg_location.rsplit("/", 1)[1].split("?")[0] + "?", "/no_such_db?")
    with pytest.raises(StateError) as caught:
        open_registry(missing)
    assert 'database "no_such_db" does not exist' in str(caught.value)
    wrong = tmp_path / "pgpass"
    wrong.write_text("*:*:*:*:not-the-password\n")
    wrong.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(wrong))
    with pytest.raises(StateError, match=r"cannot reach the registry's database: .*password authentication failed"):
        open_registry(pg_location)
    closed = "postgresql://scolpass@127.0.0.1:1/db?sslmode=disable"
    with pytest.raises(StateError) as caught:
        open_registry(closed)
    message = str(caught.value)
    assert message.startswith("postgresql://scolpass@127.0.0.1:1/db?sslmode=disable: cannot reach")
    assert "\n" not in message


def test_a_password_is_never_taken_from_the_location_nor_shown(pg_location: str, tmp_path: Path) -> None:
    for url in (pg_location.replace("://", "://intruder:S3cret-pass@", 1), pg_location + "&password=S3cret-pass"):
        with pytest.raises(StateError, match="a password in the URL would be on command lines") as caught:
            open_registry(url)
        assert "S3cret-pass" not in str(caught.value)
    with pytest.raises(StateError) as caught:
        open_registry("host=db dbname=scolpass password=S3cret-pass")
    assert str(caught.value).startswith("a libpq keyword string (host, dbname, password) is not a registry location")
    assert "S3cret-pass" not in str(caught.value)
    assert not list(Path().glob("host=*"))  # no file of that name made


def test_the_dry_registry_of_an_empty_database_creates_nothing(pg_location: str) -> None:
    with open_registry(pg_location, in_memory=True) as reg:
        assert reg.count() == 0
    with psycopg.connect(pg_location) as db:
        tables = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").fetchone()
    assert tables == (0,)


def test_every_engine_holds_the_same_records(tmp_path: Path, pg_location: str) -> None:
    """The same calls give the same records on both engines."""

    def fill(reg: Registry) -> list[Any]:
        run_id = run(reg)
        with reg.transaction():
            reg.record([new_account("00012345", "jean.martin", "jmartin", ine="0123456789A")], 2026, WHEN, run_id)
        reg.confirm(run_id, {"new": 1}, WHEN)
        reg.record_handed_reissue("00012345", 2026, WHEN, "registrar", "agent")
        return [list(reg.accounts()), [dataclasses.asdict(r) for r in reg.runs()], reg.reissues("00012345")]

    with open_registry(tmp_path / "r.sqlite3") as lite, open_registry(pg_location) as pg:
        assert fill(lite) == fill(pg)


# -- registry copy ------------------------------------------------------------------------------------------


def filled_sqlite(tmp_path: Path) -> Path:
    """A registry as a year of work leaves it: runs, accounts, a link, reissues, reserved logins, a feed mark."""
    from scolpass import RunOptions, Settings, generate, load_settings

    from .conftest import SAMPLES

    settings: Settings = load_settings(SAMPLES / "scolpass.toml")
    path = tmp_path / "office.sqlite3"
    generate(SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "y1", registry=path, year=2026))
    with open_registry(path) as reg:
        reg.reserve(["admin-ent", "bu"], "staff.csv", WHEN)
        run_id = run(reg, 2027)
        with reg.transaction():
            reg.link([("000112345", "00012345")], 2027, WHEN, run_id)
            reg.record_reissues(["00012346"], run_id, WHEN)
            reg.set_feed_mark(run_id, 1_780_000_000)
        reg.confirm(run_id, {"returning": 1}, WHEN)
        reg.record_handed_reissue("000112345", 2027, WHEN, "registrar", "agent")
    return path


def everything(location: str | Path) -> dict[str, Any]:
    """What a registry holds, through the interface every engine gives."""
    with open_registry(location, in_memory=True) as reg:
        accounts = list(reg.accounts())
        return {
            "accounts": accounts,
            "runs": reg.runs(),
            "reissues": {a.student_number: reg.reissues(a.student_number) for a in accounts},
            "taken": reg.taken_identifiers(),
            "reserved": reg.reserved_count(),
            "mark": reg.feed_mark(),
        }


def test_a_registry_is_copied_into_postgresql_and_back_whole(
    tmp_path: Path, pg_location: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from scolpass.cli import main

    office = filled_sqlite(tmp_path)
    assert main(["registry", "copy", str(office), pg_location]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{pg_location}: copied from {office} and verified: 11 accounts, 2 reserved, 3 runs, ")
    assert "2 reissues, 1 numbers" in out
    assert everything(pg_location) == everything(office)
    # The copy goes on where the office left off: a new run takes the next id.
    with open_registry(pg_location) as reg:
        assert run(reg, 2027) == 4
    back = tmp_path / "back.sqlite3"
    assert main(["registry", "copy", pg_location, f"sqlite:///{back}"]) == 0
    capsys.readouterr()
    assert everything(back) == everything(pg_location)


def test_a_copy_into_a_registry_that_is_not_empty_is_refused(tmp_path: Path, pg_location: str) -> None:
    from scolpass import copy_registry

    office = filled_sqlite(tmp_path)
    copy_registry(office, pg_location)
    with pytest.raises(StateError, match=r"the target registry is not empty \(11 accounts, 2 reserved, 3 runs"):
        copy_registry(office, pg_location)
    with pytest.raises(StateError, match="no registry here"):
        copy_registry(tmp_path / "absent.sqlite3", pg_location)


def test_a_copy_that_does_not_read_back_the_same_is_an_error(
    tmp_path: Path, pg_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scolpass import copy_registry
    from scolpass.registry import PostgresRegistry

    loaded = PostgresRegistry.load_rows

    def lossy(self: PostgresRegistry, table: str, columns: Any, rows: Any) -> None:
        loaded(self, table, columns, rows[:-1] if table == "reissues" else rows)  # a row lost on the way

    monkeypatch.setattr(PostgresRegistry, "load_rows", lossy)
    office = filled_sqlite(tmp_path)
    with pytest.raises(StateError, match=r"the copy of reissues differs from .*office.sqlite3 \(1 rows against 2\)"):
        copy_registry(office, pg_location)
    monkeypatch.setattr(PostgresRegistry, "load_rows", loaded)
    assert everything(pg_location)["accounts"] == []  # the whole copy undone
    copy_registry(f"sqlite:///{office}", pg_location)  # and it can be made again, from a sqlite:/// URL
    assert everything(pg_location) == everything(office)


def test_an_empty_database_is_no_registry_to_copy_from(pg_location: str, tmp_path: Path) -> None:
    from scolpass import copy_registry

    with pytest.raises(StateError, match="no registry here"):
        copy_registry(pg_location, tmp_path / "backup.sqlite3")
    assert not (tmp_path / "backup.sqlite3").exists()


def test_registry_init_makes_the_schema_once(location: str, capsys: pytest.CaptureFixture[str]) -> None:
    from scolpass.cli import main

    assert main(["registry", "init", location]) == 0
    assert main(["registry", "init", location]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith(": a new registry")
    assert second.endswith(": a registry already, up to date")
    with open_registry(location) as reg:
        assert (reg.created, reg.count()) == (False, 0)


def test_a_schema_6_registry_gains_the_machine_of_each_run(location: str) -> None:
    with open_registry(location) as reg:
        old = run(reg)
    # Schema 6, as the scolpass before this one left it: runs without their machine.
    if is_postgres(location):
        with psycopg.connect(location, autocommit=True) as db:
            db.execute("ALTER TABLE runs DROP COLUMN host")
            db.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    else:
        db = sqlite3.connect(location)
        db.execute("ALTER TABLE runs DROP COLUMN host")
        db.execute("PRAGMA user_version = 6")
        db.commit()
        db.close()
    with open_registry(location) as reg:
        (before,) = reg.runs()
        assert (before.id, before.host) == (old, "")  # recorded before: any machine's
        with reg.transaction():
            new = reg.begin_run("generate", 2026, WHEN, "registrar", Path("/srv/out2"), host="office-b")
        assert reg.run(new) is not None
        assert reg.run(new).host == "office-b"  # type: ignore[union-attr]
    if is_postgres(location):
        with psycopg.connect(location) as db:
            assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("7",)


def test_a_run_is_alive_while_its_connection_holds_it(pg_location: str) -> None:
    with open_registry(pg_location) as office, open_registry(pg_location) as other:
        with office.transaction():
            run_id = office.begin_run("generate", 2026, WHEN, "registrar", Path("/srv/out"), host="office-a")
            office.hold_run(run_id)
        assert other.live_runs([run_id]) == {run_id}
        assert not other.claim_run(run_id)  # nobody settles a living run
        office.close()  # the connection ends, as it does when its process is killed
        # The server frees the lock once the session's backend has seen the connection end: a moment later.
        deadline = time.monotonic() + 10
        while other.live_runs([run_id]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.live_runs([run_id]) == set()
        assert other.claim_run(run_id)  # held by the settler now, so that no third one settles it too
        with open_registry(pg_location) as third:
            assert not third.claim_run(run_id)
        other.release_run(run_id)


def test_on_sqlite_the_run_lock_says_which_run_is_alive(tmp_path: Path) -> None:
    from scolpass.lock import run_lock

    path = tmp_path / "r.sqlite3"
    with open_registry(path) as reg:
        first, second = run(reg), run(reg)
        assert reg.live_runs([first, second]) == set()
        with run_lock(path):
            assert reg.live_runs([first, second]) == {second}  # one run at a time: the latest


def test_a_login_recorded_by_another_run_first_is_a_conflict(location: str) -> None:
    from scolpass.errors import ConflictError

    with open_registry(location) as first, open_registry(location) as second:
        with first.transaction():
            first.record([new_account("00012345", "jean.martin")], 2026, WHEN)
        with pytest.raises(ConflictError, match="recorded twice"), second.transaction():
            second.record([new_account("00099999", "jean.martin")], 2026, WHEN)
        assert second.count() == 1
