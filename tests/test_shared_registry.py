"""Several offices on one PostgreSQL registry at once (run.py, lock.py, output.py's recovery): no lock held
for a whole run, logins and students kept unique by the database, dead runs told from live ones by their
advisory lock, whatever their machine's name."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt  # type: ignore[import-untyped]

from scolpass.registry import open_registry

from .conftest import SAMPLES, row
from .test_lifecycle import hashes_by_student, passwords_by_student
from .test_registry_engines import without_tls

CONFIG = SAMPLES / "scolpass.toml"
# A scolpass command as if on the machine named by the first argument: two offices on one test machine.
ON_HOST = (
    "import socket, sys; name = sys.argv.pop(1); socket.gethostname = lambda: name; "
    "from scolpass.cli import main; sys.exit(main(sys.argv[1:]))"
)


def scolpass(host: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``scolpass ARGS`` started on ``host``."""
    import os

    return subprocess.Popen(
        [sys.executable, "-c", ON_HOST, host, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finished(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def people(numbers: range) -> list[dict[str, str]]:
    """Students ``numbers``: every one a Jean MARTIN or an Anne MARTIN, each another person (their birth
    dates differ), so that every office's new students are homonyms of every other's: jean.martin,
    jean.martin2... go to whichever office records them first."""
    return [
        row(f"{n:08d}", first_name=("Jean", "Anne")[n % 2], birth_date=f"{1 + n % 28:02d}/0{1 + n % 9}/2006")
        for n in numbers
    ]


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"ended before {path.name}: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


@pytest.mark.slow
def test_four_offices_at_once_on_one_postgresql_registry(
    pg_database: str, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    url = without_tls(pg_database)
    exports = {
        "held": write_csv(people(range(1, 21)), name="held.csv"),
        "b": write_csv(people(range(11, 31)), name="b.csv"),  # 10 of held's students, 10 of c's
        "c": write_csv(people(range(21, 41)), name="c.csv"),
        "killed": write_csv(people(range(36, 51)), name="killed.csv"),  # 5 of c's
    }

    def generate(
        name: str, host: str, env: Mapping[str, str] | None = None, out_name: str = ""
    ) -> subprocess.Popen[str]:
        out = str(tmp_path / f"out-{out_name or name}")
        common = ("--config", str(CONFIG), "--year", "2026", "--registry", url, "--out", out)
        return scolpass(host, "generate", str(exports[name]), *common, env=env)

    # A student issued before the afternoon: the counter's reissue must not wait behind anyone.
    first = write_csv([row("00000500", first_name="Paul")], name="first.csv")
    done = finished(scolpass("office-a", "generate", str(first), "--config", str(CONFIG), "--year", "2026",
                             "--registry", url, "--out", str(tmp_path / "out-first")))  # fmt: skip
    assert done[0] == 0, done

    # One office held after recording its students pending, before writing a sheet: the overlap is certain.
    gate = tmp_path / "gate"
    gate.touch()
    held = generate("held", "office-a", {"SCOLPASS_HOLD_AT": "pending", "SCOLPASS_HOLD_GATE": str(gate)})
    wait_for(tmp_path / "gate.reached", held)
    # Killed on a third machine: no other office's run may settle it (its folders would be there).
    killed = generate("killed", "office-c", {"SCOLPASS_CRASH_AT": "rendering"})
    others = [generate("b", "office-b"), generate("c", "office-a")]
    reissue = scolpass("office-b", "reissue", "00000500", "--config", str(CONFIG), "--year", "2026",
                       "--registry", url, "--out", str(tmp_path / "out-reissue"))  # fmt: skip
    # Every other office ends while the held one still holds its run: nobody waits for it.
    results = [finished(p) for p in (*others, reissue)]
    assert [r[0] for r in results] == [0, 0, 0], results
    assert finished(killed)[0] == -9
    assert held.poll() is None

    # The killed run is stopped, the held one alive: their lock says so, not their machine's name. (The
    # server frees a killed process's lock once its backend has seen the connection end: a moment later.)
    with open_registry(url) as reg:
        (dead,) = [run.id for run in reg.runs("pending") if run.input_name == "killed.csv"]
        deadline = time.monotonic() + 10
        while reg.live_runs([dead]) and time.monotonic() < deadline:
            time.sleep(0.05)
    listed = finished(scolpass("office-a", "registry", "runs", "--registry", url))
    assert listed[0] == 0, listed
    runs = {int(line.split()[0]): line for line in listed[1].splitlines() if line[:4].strip().isdigit()}
    details = listed[1].split("\n")
    state = {
        int(line.split()[0]): details[i + 1]
        for i, line in enumerate(details)
        if line[:4].strip().isdigit() and "pending" in line
    }
    assert len(state) == 2, listed[1]
    alive = [run_id for run_id, detail in state.items() if ": alive" in detail]
    stopped = [run_id for run_id, detail in state.items() if ": stopped" in detail]
    assert len(alive) == len(stopped) == 1, listed[1]
    assert "on office-a" in state[alive[0]]
    assert "on office-c" in state[stopped[0]]
    assert all(run_id in runs for run_id in state)

    # Office a cannot settle office c's run (its folders are there), nor anyone the held one's (alive).
    refused = finished(scolpass("office-a", "registry", "settle", str(stopped[0]), "--registry", url))
    assert refused[0] == 1, refused
    assert "settle it from office-c" in refused[2]
    refused = finished(scolpass("office-a", "registry", "settle", str(alive[0]), "--registry", url))
    assert refused[0] == 1, refused
    assert "is alive" in refused[2]
    # From its own machine, on the evidence of its staging folder left incomplete: undone.
    settled = finished(scolpass("office-c", "registry", "settle", str(stopped[0]), "--registry", url))
    assert settled[0] == 0, settled
    assert "undone" in settled[1]

    gate.unlink()
    done = finished(held)
    assert done[0] == 0, done
    # The killed office's export again, now that its run is settled.
    again = finished(generate("killed", "office-c", out_name="again"))
    assert again[0] == 0, again

    with open_registry(url) as reg:
        accounts = list(reg.accounts())
        assert {a.state for a in accounts} == {"issued"}
        assert not reg.runs("pending", "written")
    everyone = {f"{n:08d}" for n in range(1, 51)} | {"00000500"}
    assert sorted(a.student_number for a in accounts) == sorted(everyone)  # every student one account
    logins = [a.identifier for a in accounts]
    assert len(set(logins)) == len(logins)  # no login given twice
    assert {"jean.martin", "jean.martin25", "anne.martin", "anne.martin25"} <= set(logins)  # homonyms, numbered
    # Every student new in exactly one complete folder, under the login the registry has, and the
    # password printed there opens that folder's credential hash.
    by_number = {a.student_number: a.identifier for a in accounts}
    new_in: dict[str, list[str]] = {}
    for folder in sorted(tmp_path.glob("out-*")):
        manifest = json.loads((folder / "manifest.json").read_text())
        for student in manifest["students"]:
            if student["status"] == "new":
                new_in.setdefault(student["student_number"], []).append(folder.name)
                assert student["identifier"] == by_number[student["student_number"]]
        if (folder / "credentials.csv").exists():
            hashes = hashes_by_student(folder)
            printed = passwords_by_student(folder)
            assert sorted(printed) == sorted(hashes)
            for number, password in printed.items():
                assert sha512_crypt.verify(password, hashes[number].removeprefix("{CRYPT}"))
    assert sorted(new_in) == sorted(everyone)
    assert all(len(folders) == 1 for folders in new_in.values()), new_in
    # The students the held run was issuing are returning for the office that met them in progress (and
    # so may be those of c, whichever of b and c recorded them first).
    b_manifest = json.loads((tmp_path / "out-b" / "manifest.json").read_text())
    in_progress = {s["student_number"] for s in b_manifest["students"] if s["note"] and "in progress" in s["note"]}
    assert {f"{n:08d}" for n in range(11, 21)} <= in_progress <= {f"{n:08d}" for n in range(11, 31)}


def test_a_server_down_a_wrong_password_or_a_newer_schema_is_one_line_and_nothing_written(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    url = without_tls(pg_database)
    with open_registry(url):
        pass
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    wrong = tmp_path / "pgpass"
    wrong.write_text("*:*:*:*:not-the-password\n")
    wrong.chmod(0o600)
    cases = {
        "down": (
            "postgresql://scolpass@127.0.0.1:1/scolpass?sslmode=disable",
            {},
            "cannot reach the registry's database",
        ),
        "password": (url, {"PGPASSFILE": str(wrong)}, "password authentication failed"),
        "newer": (url, {}, "written by a newer scolpass (schema 99); upgrade scolpass"),
    }
    for name, (location, env, reason) in cases.items():
        monkeypatch.chdir(tmp_path)
        done = finished(scolpass("office-a", "generate", str(SAMPLES / "enrolment.csv"), "--config", str(CONFIG),
                                 "--registry", location, env=env))  # fmt: skip
        assert done[0] == 1, (name, done)
        (line,) = done[2].splitlines()
        assert line.startswith("Error: "), (name, line)
        assert reason in line, (name, line)
        assert not (tmp_path / "scolpass-output").exists(), name  # nothing written, not even a folder
