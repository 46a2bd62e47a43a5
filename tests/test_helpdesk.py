"""The help desk's library calls: search, history, export, runs, and a reissue held in memory."""

from __future__ import annotations

import csv
import dataclasses
import io
import multiprocessing
import os
import sqlite3
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt  # type: ignore[import-untyped]

from scolpass import (
    IssuedAccount,
    RunOptions,
    Settings,
    StateError,
    generate,
    helpdesk,
    open_registry,
    read_registry,
    reissue,
    reissue_now,
)
from scolpass.lock import os_user, run_lock

from .conftest import SAMPLES, require
from .slapd import Slapd

SAMPLE = SAMPLES / "enrolment.csv"
NOW = datetime(2026, 9, 1, 10, 0).astimezone()


@pytest.fixture
def registry(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "r.sqlite3"
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "first", registry=path, now=NOW, actor="batch.office"))
    return path


def numbers(found: list[IssuedAccount]) -> list[str]:
    return [a.student_number for a in found]


def test_a_name_is_found_whatever_its_accents_case_and_word_order(registry: Path) -> None:
    with read_registry(None, registry) as reg:
        for query in ("Marie-Hélène", "helene marie", "MARIE HELENE", "fontaine de la marie", "mar hel"):
            assert numbers(helpdesk.search(reg, query)) == ["00012347"], query
        assert numbers(helpdesk.search(reg, "oedipe")) == ["00012355"]  # Œ
        assert numbers(helpdesk.search(reg, "lukasz walesa")) == ["00012350"]  # Ł, Ę
        assert numbers(helpdesk.search(reg, "kerguelen")) == ["00012349"]  # the usual name too
        assert numbers(helpdesk.search(reg, "jean martin")) == ["00012345", "00012346"]
        assert helpdesk.search(reg, "marie marie") == []  # each word matches its own word of the name
        assert helpdesk.search(reg, "durand") == []
        assert helpdesk.search(reg, "   ") == []


def test_a_number_a_login_or_an_address_finds_its_student_first(registry: Path) -> None:
    with read_registry(None, registry) as reg:
        login = reg.account("00012347")
        assert login is not None
        assert numbers(helpdesk.search(reg, "00012347")) == ["00012347"]
        assert numbers(helpdesk.search(reg, "12347")) == ["00012347"]  # Excel ate the leading zeros
        assert numbers(helpdesk.search(reg, login.identifier)) == ["00012347"]
        assert numbers(helpdesk.search(reg, f"{login.identifier.upper()}@etu.umontpellier.fr")) == ["00012347"]
        assert len(helpdesk.search(reg, "jean", limit=1)) == 1


def test_an_agent_limited_to_faculties_sees_only_their_students(registry: Path) -> None:
    with read_registry(None, registry) as reg:
        assert numbers(helpdesk.search(reg, "jean martin", faculties={"DRT"})) == ["00012346"]
        assert numbers(helpdesk.search(reg, "jean martin", faculties={"ECONOMIE"})) == ["00012345"]  # or its label
        assert helpdesk.search(reg, "00012347", faculties={"DRT"}) == []
        with pytest.raises(StateError, match="no account for student 00012347"):
            helpdesk.history(reg, "00012347", faculties={"DRT"})
        assert helpdesk.history(reg, "00012347", faculties={"LET"}).account.student_number == "00012347"


def test_history_names_the_run_that_issued_and_every_reissue_with_who_asked(
    settings: Settings, registry: Path, tmp_path: Path
) -> None:
    options = RunOptions(year=2026, out_dir=tmp_path / "lost", registry=registry, now=NOW, actor="agent.dupont")

    reissue(["00012347"], settings, options)
    reissue_now("00012347", settings, dataclasses.replace(options, out_dir=None, actor="agent.durand"))
    with read_registry(None, registry) as reg:
        found = helpdesk.history(reg, "00012347")
        every = helpdesk.runs(reg)
    assert found.account.student is not None
    assert found.account.student.first_name == "Marie-Hélène"
    assert found.issued_by is not None
    assert found.issued_by.actor == "batch.office"
    assert [r.actor for r in found.reissues] == ["agent.dupont", "agent.durand"]
    assert [(r.command, r.actor, r.os_user) for r in every] == [
        ("generate", "batch.office", os_user()),
        ("reissue", "agent.dupont", os_user()),
        ("reissue", "agent.durand", os_user()),
    ]
    assert every[2].output == ""
    assert every[2].state == "complete"
    assert every[2].counts == {"reissued": 1}


def test_a_run_records_the_os_user_when_nobody_else_asked(settings: Settings, tmp_path: Path) -> None:
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=tmp_path / "r.sqlite3", now=NOW))
    with read_registry(None, tmp_path / "r.sqlite3") as reg:
        (run,) = helpdesk.runs(reg)
    assert run.actor == run.os_user == os_user()


def test_a_schema_4_registry_gets_its_runs_actor_from_their_os_user(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite3"
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=path, now=NOW))
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs DROP COLUMN actor")
    db.execute("UPDATE runs SET os_user = 'registrar'")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with open_registry(path) as reg:
        assert [run.actor for run in reg.runs()] == ["registrar"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT actor FROM runs").fetchall() == [("registrar",)]
    db.close()


def test_the_export_lists_every_account(registry: Path) -> None:
    out = io.StringIO()
    with read_registry(None, registry) as reg:
        assert helpdesk.export(reg, out) == 11
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 11
    assert {r["first_name"] for r in rows if r["student_number"] == "00012347"} == {"Marie-Hélène"}


def pdf_text(data: bytes) -> str:
    pdftotext = require("pdftotext", "poppler-utils")
    return subprocess.run([pdftotext, "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def test_a_reissue_at_the_counter_is_held_in_memory_and_recorded(
    settings: Settings, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "elsewhere"
    (empty / "tmp").mkdir(parents=True)
    monkeypatch.chdir(empty)
    monkeypatch.setenv("TMPDIR", str(empty / "tmp"))
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() and p.name != "r.sqlite3"}

    handed = reissue_now("00012347", settings, RunOptions(registry=registry, now=NOW, actor="agent.x"))

    assert list(empty.rglob("*")) == [empty / "tmp"]  # nothing on disk: not the sheet, not a temporary file
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file() and p.name != "r.sqlite3"}
    assert after == before  # not a file of the earlier run's folder either
    assert handed.password not in repr(handed)
    text = pdf_text(handed.pdf)
    assert handed.password in text.replace(" ", "")
    assert handed.account.identifier in text
    record = handed.change_record.decode().replace("\n ", "")  # LDIF folds long lines
    assert f"dn: uid={handed.account.identifier},{settings.ldap.people_dn}" in record
    assert "replace: userPassword" in record
    (hashed,) = [line.split(": ", 1)[1] for line in record.splitlines() if line.startswith("userPassword: ")]
    assert sha512_crypt.verify(handed.password, hashed.removeprefix("{CRYPT}"))
    assert handed.password not in record
    with read_registry(None, registry) as reg:
        (reissued,) = reg.reissues("00012347")
        assert (reissued.run_id, reissued.actor) == (handed.run_id, "agent.x")
    assert handed.password.encode() not in registry.read_bytes()


def test_the_reissued_password_opens_the_account_once_its_change_is_loaded(
    slapd: Slapd, settings: Settings, tmp_path: Path
) -> None:
    registry = tmp_path / "r.sqlite3"
    first = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "o", registry=registry, now=NOW))
    assert slapd.add(first.out_dir / "credentials.ldif").returncode == 0
    handed = reissue_now("00012345", settings, RunOptions(registry=registry))
    change = tmp_path / "change.ldif"
    change.write_bytes(handed.change_record)
    assert slapd.modify(change).returncode == 0
    dn = f"uid={handed.account.identifier},{settings.ldap.people_dn}"
    assert slapd.bind(dn, handed.password)


def test_a_counter_reissue_does_not_wait_for_a_batch_runs_lock(settings: Settings, registry: Path) -> None:
    # A batch run holds the run lock for all its rendering; the counter takes only short transactions.
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(registry, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        handed = reissue_now("00012345", settings, RunOptions(registry=registry))
        assert holder.is_alive()  # still holding the lock while the counter was served
    finally:
        release.set()
        holder.join(10)
    assert handed.run_id > 1


def _hold_lock(path: Path, ready: threading.Event, release: threading.Event) -> None:
    with run_lock(path):
        ready.set()
        release.wait(30)
    os._exit(0)


def test_a_counter_reissue_behind_a_transaction_says_busy_after_five_seconds(
    settings: Settings, registry: Path
) -> None:
    blocker = sqlite3.connect(registry, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # what a batch run holds while it records its accounts
    start = time.monotonic()
    try:
        with pytest.raises(StateError, match=r"busy: a batch run is in progress \(waited 5 s.*retry in a moment"):
            reissue_now("00012345", settings, RunOptions(registry=registry))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert time.monotonic() - start < 20  # bounded (5 s), not the batch run's 30 s
    with read_registry(None, registry) as reg:
        assert reg.reissues("00012345") == []  # nothing recorded


def test_a_counter_reissue_is_refused_for_a_student_not_issued(settings: Settings, registry: Path) -> None:
    with pytest.raises(StateError, match="00099999: is not a student number this registry issued"):
        reissue_now("00099999", settings, RunOptions(registry=registry))
    db = sqlite3.connect(registry)
    db.execute("UPDATE accounts SET state = 'pending' WHERE student_number = '00012345'")
    db.execute("UPDATE accounts SET student = NULL, state = 'adopted' WHERE student_number = '00012346'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="is not a student number this registry issued"):
        reissue_now("00012345", settings, RunOptions(registry=registry))  # another run is issuing it
    with pytest.raises(StateError, match="adopted account"):
        reissue_now("00012346", settings, RunOptions(registry=registry))
    with pytest.raises(StateError, match="is not a student number"):
        reissue_now("00012347", settings, RunOptions(registry=registry), faculties={"DRT"})
    with read_registry(None, registry) as reg:
        assert len(helpdesk.runs(reg)) == 1  # nothing recorded by the refusals
