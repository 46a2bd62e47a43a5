"""The registry file: identifiers remembered across runs, all or nothing."""

from __future__ import annotations

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

from scolpass import Account, StateError, open_registry

from .conftest import SAMPLES, csv_text, new_account, row

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
