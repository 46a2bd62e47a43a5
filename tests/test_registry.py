"""The registry file: identifiers remembered across runs, all or nothing."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from scolpass import StateError, open_registry
from scolpass.registry import NewAccount

WHEN = datetime(2026, 9, 1, 10, 0)


def account(number: str, identifier: str, short: str | None = None) -> NewAccount:
    return NewAccount(number, identifier, short, "", f"key-{number}", {"first_name": "Jean"})


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
