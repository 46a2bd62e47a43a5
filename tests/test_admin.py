"""Looking after the registry (admin.py): settling a run that stopped, by its evidence or explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scolpass.cli import main
from scolpass.registry import open_registry

from .conftest import SAMPLES

SAMPLE = SAMPLES / "enrolment.csv"
CONFIG = SAMPLES / "scolpass.toml"


def killed_run(tmp_path: Path, point: str) -> str:
    """A registry whose only run was killed at ``point``; returns its location."""
    registry = str(tmp_path / "r.sqlite3")
    done = subprocess.run(
        [sys.executable, "-m", "scolpass", "generate", str(SAMPLE), "--config", str(CONFIG), "--year", "2026",
         "--registry", registry, "--out", str(tmp_path / "killed")],
        capture_output=True, text=True, check=False, timeout=120, env={**os.environ, "SCOLPASS_CRASH_AT": point},
    )  # fmt: skip
    assert done.returncode == -9, done.stderr
    return registry


def test_a_stopped_run_is_listed_and_settled_on_its_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = killed_run(tmp_path, "rendering")
    assert main(["registry", "runs", "--registry", registry]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "generate pending" in listed[0]
    assert listed[1].strip().startswith("on ")
    assert ".killed.partial-1" in listed[1]
    assert listed[1].endswith(": stopped (no process holds it)")
    assert main(["registry", "settle", "1", "--registry", registry]) == 0
    assert "stopped before its output was complete: undone" in capsys.readouterr().out
    assert not list(tmp_path.glob(".killed.partial-*"))
    with open_registry(registry) as reg:
        assert reg.count() == 0  # its students are free to be issued again
        assert [r.state for r in reg.runs()] == ["abandoned"]
    assert main(["registry", "settle", "1", "--registry", registry]) == 1
    assert "run 1 is abandoned already: nothing to settle" in capsys.readouterr().err
    assert main(["registry", "settle", "7", "--registry", registry]) == 1
    assert "no run 7" in capsys.readouterr().err


def test_a_run_whose_sheets_exist_is_never_abandoned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = killed_run(tmp_path, "written")
    assert main(["registry", "settle", "1", "--abandon", "--registry", registry]) == 1
    assert "had written its output completely (its sheets exist): it cannot be abandoned" in capsys.readouterr().err
    assert main(["registry", "settle", "1", "--registry", registry]) == 0
    assert "published to" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert manifest["counts"]["new"] == 11
    with open_registry(registry) as reg:
        assert {a.state for a in reg.accounts()} == {"issued"}


def test_abandon_undoes_a_run_whatever_its_folders_say(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = killed_run(tmp_path, "pending")
    assert main(["registry", "settle", "1", "--abandon", "--registry", registry]) == 0
    assert "abandoned: its students' logins are free again" in capsys.readouterr().out
    with open_registry(registry) as reg:
        assert reg.count() == 0
        assert [r.state for r in reg.runs()] == ["abandoned"]
    assert not list(tmp_path.glob(".killed.partial-*"))
