"""Worker processes die with the run that started them and never hold its registry."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from scolpass import open_registry
from scolpass.lock import run_lock
from scolpass.workers import worker_pool

from .conftest import SAMPLES, csv_text, row

CONFIG = SAMPLES / "scolpass.toml"


def open_files() -> list[str]:
    """What this process has open (run in a worker)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the descriptor listdir itself used, closed since
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def test_a_worker_holds_none_of_the_runs_files(tmp_path: Path) -> None:
    registry = tmp_path / "r.sqlite3"
    with run_lock(registry):
        reg = open_registry(registry)
        try:
            with worker_pool(2) as pool:
                seen = [path for future in [pool.submit(open_files) for _ in range(4)] for path in future.result()]
        finally:
            reg.close()
    assert seen  # the worker's own pipes, at least
    assert not [path for path in seen if path.startswith(str(tmp_path))]


def _tagged(tag: str) -> list[int]:
    """The processes whose environment carries ``tag``: the run and everything it started."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if f"SCOLPASS_TEST_TAG={tag}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["hashing", "rendering", "encrypting"])
def test_a_killed_run_leaves_no_worker_behind(tmp_path: Path, stage: str) -> None:
    # Enough students, in two faculties, for both stages to use every core.
    rows = [
        row(f"9{i:07d}", first_name=f"Jean-{i:04d}", birth_date="01/01/2006", faculty=("ECONOMIE", "LETTRES")[i % 2])
        for i in range(450)
    ]
    export = tmp_path / "export.csv"
    export.write_text(csv_text(rows), encoding="utf-8")
    secret = tmp_path / "pdf-password"
    secret.write_text("a long PDF password\n")
    secret.chmod(0o600)
    registry = str(tmp_path / "r.sqlite3")
    args = [sys.executable, "-m", "scolpass", "generate", str(export), "--config", str(CONFIG), "--year", "2026",
            "--registry", registry, "--encrypt-pdf", "--pdf-password-file", str(secret)]  # fmt: skip
    tag = uuid.uuid4().hex
    env = {**os.environ, "SCOLPASS_CRASH_AT": stage, "SCOLPASS_TEST_TAG": tag}
    killed = subprocess.run([*args, "--out", str(tmp_path / "killed")], env=env, capture_output=True, timeout=300,
                            check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    deadline = time.monotonic() + 2
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = _tagged(tag)
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind after the run was killed during {stage}"
    # The next run gets the lock at once (it would wait 30 s and fail if a worker held it) and settles the killed one.
    started = subprocess.run([*args, "--out", str(tmp_path / "next")], capture_output=True, text=True, timeout=300,
                             check=False)  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "recovered run 1" in started.stderr
    assert "450 new" in started.stdout
