"""The nightly job of a Pégase university, as samples/nightly/ ships it: systemd accepts its units,
and its own ExecStart lines, run night after night against a local Pégase, issue exactly the valid
new enrolments, set a malformed learner aside without blocking the others, stop cleanly when Pégase
refuses, and write one line a step to the system log."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD_PATTERN, SAMPLES, require, sheet_texts
from .pegase_server import FakePegase
from .slapd import Slapd
from .test_pegase_fetch import USER, write_config

pytestmark = pytest.mark.slow

UNITS = SAMPLES / "nightly"
SERVICE = UNITS / "scolpass-nightly.service"


@dataclass(frozen=True)
class Unit:
    """What systemd runs: the service's ExecStart lines in order, and the exit codes it counts as success."""

    commands: tuple[tuple[str, ...], ...]
    success: frozenset[int]
    working_directory: str


def read_unit(text: str) -> Unit:
    service: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            service.setdefault(key, []).append(value)
    assert service["Type"] == ["oneshot"]  # each ExecStart in turn; the first that fails ends the unit
    success = frozenset({0, *(int(code) for line in service.get("SuccessExitStatus", []) for code in line.split())})
    commands = tuple(tuple(shlex.split(line)) for line in service["ExecStart"])
    return Unit(commands, success, service["WorkingDirectory"][0])


@dataclass
class Night:
    codes: list[int]
    succeeded: bool
    stderr: str


class Installed:
    """The units as installed on this machine: scolpass is this Python's, /etc and /var/lib are folders here."""

    def __init__(self, tmp_path: Path, pegase: FakePegase, log: str) -> None:
        self.state = tmp_path / "var-lib-scolpass"
        self.state.mkdir(mode=0o700)
        self.config = write_config(tmp_path, pegase)
        with self.config.open("a", encoding="utf-8") as handle:
            handle.write(f"\n[log]\nsyslog = {json.dumps(log)}\n")
        self.unit = read_unit(SERVICE.read_text(encoding="utf-8"))

    def command(self, words: tuple[str, ...]) -> list[str]:
        replaced = {"/usr/local/bin/scolpass": [sys.executable, "-m", "scolpass"],
                    "/etc/scolpass/scolpass.toml": [str(self.config)]}  # fmt: skip
        out: list[str] = []
        for word in words:
            word = word.replace(self.unit.working_directory, str(self.state))
            out += replaced.get(word, [word])
        return out

    def run_night(self) -> Night:
        """As systemd runs a oneshot service: each command in turn, until one exits with a failure."""
        codes, errors = [], []
        for words in self.unit.commands:
            done = subprocess.run(self.command(words), cwd=self.state, capture_output=True, text=True, check=False,
                                  env={**os.environ, "SCOLPASS_PEGASE_PASSWORD": ""}, timeout=300)  # fmt: skip
            codes.append(done.returncode)
            errors.append(done.stderr)
            if done.returncode not in self.unit.success:
                return Night(codes, False, "".join(errors))
        return Night(codes, True, "".join(errors))

    def folders(self) -> list[Path]:
        return sorted((self.state / "scolpass-output").glob("*/*"))


@pytest.fixture
def pegase() -> Iterator[FakePegase]:
    server = FakePegase(username=USER).start()
    yield server
    server.stop()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.5)
    yield path, server
    server.close()


def lines(server: socket.socket) -> list[str]:
    found = []
    while True:
        try:
            found.append(re.sub(r"^<\d+>scolpass\[\d+\]: ", "", server.recv(65536).decode()).rstrip("\x00"))
        except TimeoutError:
            return found


def sample_items() -> list[dict[str, Any]]:
    feed: dict[str, Any] = json.loads((SAMPLES / "pegase-feed.json").read_text(encoding="utf-8"))
    return list(feed["resultats"])


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = require("systemd-analyze", "systemd")
    # As installed: the ExecStart binary must exist for systemd to accept the unit.
    text = SERVICE.read_text(encoding="utf-8").replace("/usr/local/bin/scolpass", f"{sys.executable} -m scolpass")
    (tmp_path / SERVICE.name).write_text(text, encoding="utf-8")
    (tmp_path / "scolpass-nightly.timer").write_text((UNITS / "scolpass-nightly.timer").read_text(), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(tmp_path / SERVICE.name), str(tmp_path / "scolpass-nightly.timer")],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SuccessExitStatus=3" in text


def test_night_after_night_the_valid_new_enrolments_are_issued(
    tmp_path: Path, pegase: FakePegase, journal: tuple[str, socket.socket], slapd: Slapd, settings: Any
) -> None:
    address, log = journal
    installed = Installed(tmp_path, pegase, address)
    people = settings.ldap.people_dn
    for item in sample_items():
        pegase.add(item)

    # Night 1: the period so far. Everyone valid is issued; the cancelled learner is not.
    first = installed.run_night()
    assert (first.codes, first.succeeded) == ([0, 0], True), first.stderr
    (folder,) = installed.folders()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["counts"]["new"], manifest["counts"]["cancelled"]) == (11, 1)
    fetched, generated = lines(log)
    assert fetched.startswith("pegase fetch: period=PER-2026 items=14 learners=12 ")
    assert fetched.endswith(f"file={installed.state / 'feed.json'} exit=0")
    assert generated.startswith("generate: run=1 year=2026/2027 new=11 returning=0 ")
    assert generated.endswith(f"folder={folder} exit=0")

    # Night 2: one new learner, one malformed. The first is issued, the second set aside: exit 3, a success.
    newcomer = dict(sample_items()[0], codeApprenant="00020001", INE="2023456789Z", prenom="Inès",
                    nomFamille="BENALI", nomUsage="BENALI", dateDeNaissance="2008-03-09")  # fmt: skip
    malformed = dict(newcomer, codeApprenant="00020002", INE="2123456789Y", prenom="Yann", dateDeNaissance="2008-02-30")
    pegase.add(newcomer)
    pegase.add(malformed)
    second = installed.run_night()
    assert (second.codes, second.succeeded) == ([0, 3], True), second.stderr
    night_two = installed.folders()[-1]
    statuses = {
        s["student_number"]: s["status"] for s in json.loads((night_two / "manifest.json").read_text())["students"]
    }
    assert statuses["00020001"] == "new"
    assert "00020002" not in statuses
    assert sum(status == "returning" for status in statuses.values()) == 11
    rejected = json.loads((night_two / "rejected.json").read_text())
    assert [item["codeApprenant"] for item in rejected["resultats"]] == ["00020002"]
    _, generated = lines(log)
    assert " new=1 returning=11 " in generated
    assert generated.endswith(f"skipped=1 folder={night_two} exit=3")
    for line in (fetched, generated):
        assert "BENALI" not in line
        assert "ines.benali" not in line

    # Every printed password of both nights opens its account.
    for night in installed.folders():
        assert slapd.add(night / "credentials.ldif").returncode == 0
        for number, text in sheet_texts(night).items():
            (password,) = re.findall(PASSWORD_PATTERN, text, re.MULTILINE)
            login = next(s["identifier"] for s in json.loads((night / "manifest.json").read_text())["students"]
                         if s["student_number"] == number)  # fmt: skip
            assert slapd.bind(f"uid={login},{people}", password), login

    # Night 3: Pégase refuses the account. The fetch fails, generate does not run, nothing changes.
    feed_before = (installed.state / "feed.json").read_bytes()
    registry_before = (installed.state / "scolpass.sqlite3").read_bytes()
    pegase.forbid = True
    third = installed.run_night()
    assert (third.codes, third.succeeded) == ([1], False)
    assert f"Pégase refuses the account {USER} (HTTP 403)" in third.stderr
    assert (installed.state / "feed.json").read_bytes() == feed_before
    assert (installed.state / "scolpass.sqlite3").read_bytes() == registry_before
    assert len(installed.folders()) == 2
    assert lines(log) == ["pegase fetch: failed=ServiceError exit=1"]
