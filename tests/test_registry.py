"""The registry file: identifiers remembered across runs, all or nothing."""

from __future__ import annotations

import dataclasses
import grp
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

import pytest

from scolpass import Account, Registry, StateError, open_registry
from scolpass.duplicates import SAME_INE, SAME_NUMBER, SAME_PERSON
from scolpass.registry import SCHEMA_VERSION, LinkedNumber

from .conftest import SAMPLES, csv_text, new_account, row, user_version

SAMPLE = SAMPLES / "enrolment.csv"
CONFIG = SAMPLES / "scolpass.toml"

WHEN = datetime(2026, 9, 1, 10, 0)


def account(number: str, identifier: str, short: str | None = None) -> Account:
    # Each its own person: a distinct birth name, so that no two are probable duplicates.
    return new_account(number, identifier, short, birth_name=f"MARTIN{number}")


def test_created_then_reopened(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    reg = open_registry(path)
    assert reg.created
    with reg.transaction():
        reg.record([account("00000001", "jean.martin")], 2026, WHEN)
    reg.close()
    again = open_registry(path)
    assert not again.created
    assert again.taken_identifiers() == {"jean.martin"}
    assert again.issued(["00000001", "00000002"])["00000001"].identifier == "jean.martin"
    assert again.count() == 1
    again.close()


def test_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    reg = open_registry(tmp_path / "r.sqlite3")

    def run_that_fails() -> None:
        with reg.transaction():
            reg.record([account("00000001", "jean.martin")], 2026, WHEN)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        run_that_fails()
    assert reg.count() == 0
    reg.close()


def test_identifier_is_never_recorded_twice(tmp_path: Path) -> None:
    reg = open_registry(tmp_path / "r.sqlite3")
    with reg.transaction():
        reg.record([account("1", "jean.martin", "jmartin")], 2026, WHEN)
    with pytest.raises(StateError, match="recorded twice"), reg.transaction():
        reg.record([account("2", "jean.martin")], 2026, WHEN)
    reg.close()


def test_second_writer_waits_then_reports_busy(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    first = open_registry(path)
    second = open_registry(path)
    second._db.execute("PRAGMA busy_timeout = 100")
    with first.transaction(), pytest.raises(StateError, match="busy"), second.transaction():
        pass
    first.close()
    second.close()


def test_not_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    path.write_text("hello, I am a text file" * 100)
    with pytest.raises(StateError, match="not a scolpass registry"):
        open_registry(path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="does not exist"):
        open_registry(tmp_path / "nope" / "r.sqlite3")


def test_registry_holds_no_password_column(tmp_path: Path) -> None:
    reg = open_registry(tmp_path / "r.sqlite3")
    columns = {row[1] for row in reg._db.execute("PRAGMA table_info(accounts)")}
    assert "password" not in " ".join(columns)
    everything = " ".join(row[0] or "" for row in reg._db.execute("SELECT sql FROM sqlite_master"))
    assert "password" not in everything.lower()
    reg.close()


def test_other_sqlite_files_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE accounts (id INTEGER, login TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StateError, match=r"not a scolpass registry .*tables accounts.*left untouched"):
        open_registry(path)
    assert path.read_bytes() == before


def test_empty_sqlite_file_becomes_a_registry(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    sqlite3.connect(path).close()
    reg = open_registry(path)
    assert reg.count() == 0
    reg.close()


def test_reserved_logins_are_taken_in_both_namespaces(tmp_path: Path) -> None:
    reg = open_registry(tmp_path / "r.sqlite3")
    assert reg.reserve(["admin.scol", "jmartin"], "staff.ldif", WHEN) == 2
    assert reg.reserve(["jmartin", "pdurand"], "staff.csv", WHEN) == 1  # already reserved: not counted
    with reg.transaction():
        reg.record([account("1", "jean.martin", "jmartin2")], 2026, WHEN)
    assert reg.taken_identifiers() == {"jean.martin", "admin.scol", "jmartin", "pdurand"}
    assert reg.taken_identifiers(short=True) == {"jmartin2", "admin.scol", "jmartin", "pdurand"}
    assert reg.reserved_count() == 3
    assert reg.issued(["1"])["1"].short_identifier == "jmartin2"
    reg.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scolpass", *args], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, timeout=300,
    )  # fmt: skip


def _many(path: Path, count: int, first: int = 0) -> Path:
    """An export of ``count`` other students (a transaction larger than SQLite's page cache)."""
    rows = [row(f"9{i:07d}", first_name=f"Jean-{i:05d}", birth_date="01/01/2006") for i in range(first, first + count)]
    path.write_text(csv_text(rows), encoding="utf-8")
    return path


@pytest.mark.slow
def test_read_only_commands_work_after_a_kill_inside_a_transaction(tmp_path: Path) -> None:
    registry = str(tmp_path / "r.sqlite3")
    common = ["--config", str(CONFIG), "--registry", registry]
    assert _cli("generate", str(SAMPLE), *common, "--out", str(tmp_path / "first")).returncode == 0
    big = _many(tmp_path / "big.csv", 3000)
    killed = _cli("generate", str(big), *common, "--year", "2026", "--out", str(tmp_path / "k"),
                  env={"SCOLPASS_CRASH_AT": "recording"})  # fmt: skip
    assert killed.returncode == -9
    assert (tmp_path / "r.sqlite3-journal").stat().st_size > 0  # a hot journal: the file holds half a transaction
    for command in (
        ["registry", "runs", *common],
        ["registry", "show", "00012345", *common],
        ["registry", "export", *common],
        ["generate", str(big), *common, "--year", "2026", "--dry-run"],
        ["registry", "purge", "--before", "2026", "--dry-run", *common],
    ):
        done = _cli(*command)
        assert done.returncode == 0, (command, done.stderr)
        assert "Error" not in done.stderr
    assert "3000 new, 0 returning" in _cli("generate", str(big), *common, "--year", "2026", "--dry-run").stdout
    reg = open_registry(registry)
    assert [r.state for r in reg.runs()] == ["complete"]  # the killed run's record was never committed
    assert reg.count() == 11
    reg.close()


@pytest.mark.slow
def test_a_full_disk_under_the_registry_is_one_error_line(tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    disk = tmpfs("4m")
    registry = str(disk / "r.sqlite3")
    common = ["--config", str(CONFIG), "--registry", registry, "--year", "2026"]
    assert _cli("generate", str(SAMPLE), *common, "--out", str(tmp_path / "first")).returncode == 0
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * (free - 8192))
    big = _many(tmp_path / "big.csv", 3000)
    full = _cli("generate", str(big), *common, "--out", str(tmp_path / "full"))
    assert full.returncode == 1
    assert full.stderr.splitlines() == [f"Error: {registry}: cannot write the registry: database or disk is full"]
    assert not (tmp_path / "full").exists()
    assert not list(tmp_path.glob(".*partial*"))
    filler.unlink()  # the administrator frees some space: the next run issues them all
    again = _cli("generate", str(big), *common, "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert "3000 new, 0 returning" in again.stdout


def test_a_registry_writable_by_everyone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    path.touch()
    path.chmod(0o666)  # pre-created by another user in a shared folder
    with pytest.raises(StateError, match="the registry is writable by every user of this machine"):
        open_registry(path)
    assert path.stat().st_size == 0  # nothing written into it


def test_a_registry_in_a_folder_writable_by_everyone_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # without the sticky bit, anyone may replace the file later
    with pytest.raises(StateError, match="the folder of the registry is writable by every user"):
        open_registry(shared / "r.sqlite3")
    assert not (shared / "r.sqlite3").exists()
    shared.chmod(0o1777)  # like /tmp: the sticky bit stops others from replacing what we make there
    open_registry(shared / "r.sqlite3").close()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file another user's needs root (CI runs as root)")
def test_another_users_registry_is_refused_unless_the_group_is_shared(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    open_registry(path).close()
    group = grp.getgrgid(os.getegid())
    os.chown(path, 65534, group.gr_gid)  # another registrar's file, in our group
    with pytest.raises(StateError, match=r"the registry belongs to nobody .*, not to root"):
        open_registry(path)
    open_registry(path, group=group.gr_gid).close()  # [registry] group names the group they share


def test_a_registry_another_group_may_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    open_registry(path).close()
    path.chmod(0o660)  # its group is not the registrars' ([registry] group unset)
    with pytest.raises(StateError, match=r"the registry is writable by the group .*chmod g-w"):
        open_registry(path)
    open_registry(path, group=path.stat().st_gid).close()  # the group named as the registrars' one


# -- Further student numbers (the migration year) ------------------------------------------------------------

OLD, NEW = "00012345", "000123456"  # Apogée's number, then Pégase's learner code for the same student


def _linked(path: Path) -> tuple[Registry, Account]:
    """A registry where ``NEW`` is linked to the account issued under ``OLD``, by a complete run."""
    reg = open_registry(path)
    jean = new_account(OLD, "jean.martin", "jmartin", ine="0123456789A")
    with reg.transaction():
        reg.record([jean], 2026, WHEN)
    with reg.transaction():
        run_id = reg.begin_run("generate", 2027, WHEN, "registrar", path.parent / "out")
        reg.link([(NEW, OLD)], 2027, WHEN, run_id)
        reg.update_students([dataclasses.replace(jean.student, student_number=NEW)], 2027)
    reg.confirm(run_id, {"returning": 1}, WHEN)
    return reg, jean


def test_a_linked_number_finds_its_account_everywhere_a_number_is_looked_up(tmp_path: Path) -> None:
    reg, jean = _linked(tmp_path / "r.sqlite3")
    with reg:
        found = reg.issued([OLD, NEW, "99"])
        assert set(found) == {OLD, NEW}  # by the number asked
        assert found[OLD] == found[NEW]
        account = reg.account(NEW)
        assert account is not None
        assert (account.student_number, account.identifier, account.last_year) == (OLD, "jean.martin", 2027)
        assert account.student_numbers == (OLD, NEW)  # the account keeps its own number; the link beside it
        assert account.links == (LinkedNumber(NEW, 2027, WHEN.isoformat(timespec="seconds"), 1),)
        assert account.student is not None
        assert account.student.student_number == NEW  # the printed record: this year's data
        assert [a.student_numbers for a in reg.accounts()] == [(OLD, NEW)]
        assert reg.find_login("jmartin") == account
        assert [a.student_number for a in reg.same_number_key("123456")] == [OLD]  # NEW as Excel shows it
        assert [a.student_number for a in reg.same_number_key("12345")] == [OLD]
        assert reg.count() == 1
        # A linked number is its account's, never a duplicate of it; the number without its zeros is one.
        assert reg.probable_duplicates(dataclasses.replace(jean.student, student_number=NEW)) == []
        assert reg.probable_duplicates(dataclasses.replace(jean.student, student_number="123456")) == [
            (OLD, SAME_NUMBER), (OLD, SAME_INE), (OLD, SAME_PERSON)
        ]  # fmt: skip


def test_a_number_that_finds_an_account_is_never_linked_again(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    reg, _ = _linked(path)
    with reg:
        with reg.transaction():
            reg.record([account("00099999", "paul.durand")], 2026, WHEN)
        refused = [
            ((NEW, "00099999"), f"{NEW} cannot be linked to student 00099999: it is already student {OLD}'s"),
            (("00099999", OLD), f"00099999 cannot be linked to student {OLD}: it is already student 00099999's"),
            (("000999999", "nobody"), "000999999 cannot be linked to student nobody: no account"),
        ]
        for pair, message in refused:
            with pytest.raises(StateError, match=message), reg.transaction():
                reg.link([pair], 2027, WHEN)
        with pytest.raises(StateError, match="it is already student 00099999's"), reg.transaction():
            reg.link([("000111111", "00099999"), ("000111111", "00099999")], 2027, WHEN)
        with pytest.raises(StateError, match="this student number is linked to another account"), reg.transaction():
            reg.record([account(NEW, "someone.else")], 2027, WHEN)  # an account under a linked number
    # The constraints hold whatever writes to the file, not only scolpass's checks.
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    for values, error in [
        ((NEW, "00099999"), "UNIQUE constraint failed: numbers.student_number"),
        (("00099999", OLD), "this student number is an account of its own"),
        (("000222222", "nobody"), "FOREIGN KEY constraint failed"),
    ]:
        with pytest.raises(sqlite3.IntegrityError, match=error):
            db.execute(
                "INSERT INTO numbers (student_number, account, number_key, year, linked_at) VALUES (?, ?, '', 0, '')",
                values,
            )
    assert db.execute("SELECT student_number, account FROM numbers").fetchall() == [(NEW, OLD)]
    db.close()


def test_an_abandoned_run_takes_its_links_back(tmp_path: Path) -> None:
    reg = open_registry(tmp_path / "r.sqlite3")
    jean = new_account(OLD, "jean.martin", ine="0123456789A")
    with reg.transaction():
        reg.record([jean], 2026, WHEN)
    with reg.transaction():
        run_id = reg.begin_run("generate", 2027, WHEN, "registrar", tmp_path / "out")
        reg.link([(NEW, OLD)], 2027, WHEN, run_id)
        reg.update_students([dataclasses.replace(jean.student, student_number=NEW)], 2027)
    reg.abandon(run_id, WHEN)  # killed before its folder was complete: no sheet or file left it
    assert reg.issued([NEW]) == {}
    account = reg.account(OLD)
    assert account is not None
    assert account.links == ()
    # The printed record names a number that still finds the student.
    assert account.student is not None
    assert account.student.student_number == OLD
    reg.close()


def test_an_import_agrees_with_a_linked_number_of_the_same_login(tmp_path: Path) -> None:
    reg, _ = _linked(tmp_path / "r.sqlite3")
    with reg:
        assert reg.adopt({NEW: "jean.martin"}, 2027, WHEN) == (0, [])
        assert reg.adopt({NEW: "paul.durand"}, 2027, WHEN) == (
            0, [f"{NEW} -> paul.durand: the registry links {NEW} to {OLD} -> jean.martin"]
        )  # fmt: skip
        assert reg.count() == 1


def test_purge_takes_an_accounts_numbers_with_it(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    reg, _ = _linked(path)
    with reg:
        assert reg.purge(2028, datetime(2029, 9, 1)) == [(OLD, "jean.martin", 2027)]
        assert reg.issued([OLD, NEW]) == {}
        assert {"jean.martin", "jmartin"} <= reg.taken_identifiers()  # the logins stay reserved
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM numbers").fetchone() == (0,)
    db.close()


def test_every_query_binds_at_most_999_variables_as_sqlite_before_3_32_allows(tmp_path: Path) -> None:
    """RHEL 8's SQLite (3.26) allows 999 variables per statement: a run of 2,000 students stays within it."""
    reg = open_registry(tmp_path / "r.sqlite3")
    with reg:
        reg._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        with reg.transaction():
            reg.record([account(f"{n:08d}", f"login{n}") for n in range(1500)], 2026, WHEN)
        with reg.transaction():
            reg.link([(f"9{n:08d}", f"{n:08d}") for n in range(0, 1500, 5)], 2027, WHEN)  # 300 linked numbers
        asked = [f"{n:08d}" for n in range(1200)] + [f"9{n:08d}" for n in range(0, 1500, 5)]
        asked += [f"8{n:08d}" for n in range(2000 - len(asked))]  # no account
        found = reg.issued(asked)
        assert len(asked) == 2000
        assert len(found) == 1500
        assert found["900000005"].student_number == "00000005"
        assert found["00000005"].student_numbers == ("00000005", "900000005")
        assert (found["900001495"].student_number, found["900001495"].identifier) == ("00001495", "login1495")
        assert sum(len(a.links) for a in reg.accounts()) == 300
        assert reg.with_ine(f"{n:010d}A" for n in range(2000)) == {}  # a cancelled learner's INE, looked up


V5_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (
    student_number TEXT PRIMARY KEY, identifier TEXT NOT NULL UNIQUE, short_identifier TEXT UNIQUE,
    first_year INTEGER NOT NULL, issued_at TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'issued', run_id INTEGER,
    ine TEXT, identity_key TEXT, number_key TEXT, student TEXT, last_year INTEGER
);
CREATE INDEX accounts_ine ON accounts (ine);
CREATE INDEX accounts_identity ON accounts (identity_key);
CREATE INDEX accounts_number_key ON accounts (number_key);
CREATE TABLE reserved (identifier TEXT PRIMARY KEY, source TEXT NOT NULL, reserved_at TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    os_user TEXT NOT NULL, academic_year INTEGER NOT NULL, input_name TEXT, input_sha256 TEXT, output TEXT NOT NULL,
    staging TEXT NOT NULL, counts TEXT, actor TEXT
);
CREATE TABLE reissues (
    id INTEGER PRIMARY KEY, student_number TEXT NOT NULL, run_id INTEGER NOT NULL, reissued_at TEXT NOT NULL
);
INSERT INTO accounts (student_number, identifier, first_year, issued_at, ine, identity_key, number_key, last_year)
    VALUES ('00012345', 'jean.martin', 2026, '2026-09-01T10:00:00', '0123456789A', 'martin|jean|2006-05-01',
            '12345', 2026);
INSERT INTO runs (command, state, started_at, os_user, academic_year, output, staging, actor)
    VALUES ('generate', 'complete', '2026-09-01T10:00:00', 'registrar', 2026, '/out', '', 'registrar');
PRAGMA user_version = 5;
"""


def test_a_schema_5_registry_gains_the_numbers_table(tmp_path: Path) -> None:
    path = tmp_path / "v5.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V5_SCHEMA)
    db.close()
    before = path.read_bytes()
    with open_registry(path, in_memory=True) as copy:  # a dry run migrates its copy only
        assert copy.account(OLD) is not None
    assert path.read_bytes() == before
    with open_registry(path) as reg:
        assert [(a.student_number, a.identifier, a.links) for a in reg.accounts()] == [(OLD, "jean.martin", ())]
        with reg.transaction():
            reg.link([(NEW, OLD)], 2027, WHEN)
        found = reg.account(NEW)
        assert found is not None
        assert found.student_number == OLD
    assert user_version(path) == SCHEMA_VERSION == 7
    db = sqlite3.connect(path)
    objects = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"numbers", "numbers_account", "numbers_number_key", "numbers_not_an_account",
            "accounts_not_a_linked_number"} <= objects  # fmt: skip
    assert db.execute("SELECT student_number, account, number_key, year FROM numbers").fetchall() == [
        (NEW, OLD, "123456", 2027)
    ]
    db.close()


def test_the_feed_mark_counts_complete_generate_runs_only(tmp_path: Path) -> None:
    with open_registry(tmp_path / "r.sqlite3") as reg:

        def run(modified: int, command: Literal["generate", "reissue"] = "generate") -> int:
            with reg.transaction():
                run_id = reg.begin_run(command, 2026, WHEN, "registrar", tmp_path / f"out-{modified}")
                reg.set_feed_mark(run_id, modified)
            return run_id

        assert reg.feed_mark() is None
        first = run(1_780_000_000)
        assert reg.feed_mark() is None  # still writing: it may yet be abandoned
        reg.confirm(first, {}, WHEN)
        assert reg.feed_mark() == 1_780_000_000
        reg.abandon(run(1_790_000_000), WHEN)  # issued nobody: its feed must be fetched again
        reg.confirm(run(1_770_000_000), {}, WHEN)  # an older feed read later: the mark never goes back
        reg.confirm(run(1_795_000_000, "reissue"), {}, WHEN)
        assert reg.feed_mark() == 1_780_000_000
        reg.confirm(run(1_785_000_000), {}, WHEN)
        assert reg.feed_mark() == 1_785_000_000
    with open_registry(tmp_path / "r.sqlite3", in_memory=True) as copy:
        assert copy.feed_mark() == 1_785_000_000
