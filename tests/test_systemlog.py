"""Each run's summary line reaches the system log, a real socket here, with counts and never a name."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from scolpass.cli import main
from scolpass.systemlog import log_summary, summary, write_line

from .conftest import SAMPLES, row


@pytest.fixture
def unix_log(tmp_path: Path) -> Iterator[tuple[str, Callable[[], list[str]]]]:
    """A datagram socket where syslog(3) would write, and what it received."""
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.2)

    def received() -> list[str]:
        lines = []
        while True:
            try:
                lines.append(server.recv(65536).decode("utf-8"))
            except TimeoutError:
                return lines

    yield path, received
    server.close()


def config_with_log(tmp_path: Path, address: str) -> Path:
    """The sample configuration with ``[log] syslog = address`` and the sample feed's faculties."""
    text = (SAMPLES / "scolpass.toml").read_text(encoding="utf-8")
    path = tmp_path / "scolpass.toml"
    path.write_text(text.replace("[sheet]", f"[log]\nsyslog = {json.dumps(address)}\n\n[sheet]"), encoding="utf-8")
    return path


def test_a_line_is_key_value_words() -> None:
    line = summary("generate", {"run": 3, "new": 2, "folder": "/srv/out put", "skipped": None})
    assert line == "generate: run=3 new=2 folder=/srv/out%20put"


def test_generate_writes_its_summary_and_never_a_name_or_a_password(
    tmp_path: Path, unix_log: tuple[str, Callable[[], list[str]]], write_csv: Callable[..., Path]
) -> None:
    address, received = unix_log
    config = config_with_log(tmp_path, address)
    enrolment = write_csv([row("1", first_name="Zoé", birth_name="ÉLISÉE"), row("2", birth_date="31/02/2008")])
    args = ["generate", str(enrolment), "--config", str(config), "--year", "2026", "--registry",
            str(tmp_path / "r.sqlite3"), "--out", str(tmp_path / "out"), "--skip-invalid"]  # fmt: skip
    assert main(args) == 3
    (line,) = received()
    assert re.fullmatch(
        r"<14>scolpass\[\d+\]: generate: run=1 year=2026/2027 new=1 returning=0 reissued=0 duplicate=0 "
        rf"cancelled=0 skipped=1 folder={re.escape(str((tmp_path / 'out').resolve()))} exit=3\x00?",
        line,
    ), line
    credentials = (tmp_path / "out" / "credentials.csv").read_text(encoding="utf-8")
    for secret in ("Zoé", "ÉLISÉE", "zoe.elisee", "2008", "$6$", *credentials.split(";")[-1:]):
        assert secret not in line

    # A failure is logged by kind: its message quotes the file's values.
    assert main([*args[:-1], "--out", str(tmp_path / "out2")]) == 1
    (line,) = received()
    assert re.fullmatch(r"<14>scolpass\[\d+\]: generate: failed=InputError problems=1 exit=1\x00?", line), line
    assert "31/02/2008" not in line


def test_a_dry_run_logs_nothing(tmp_path: Path, unix_log: tuple[str, Callable[[], list[str]]]) -> None:
    address, received = unix_log
    config = config_with_log(tmp_path, address)
    args = ["generate", str(SAMPLES / "enrolment.csv"), "--config", str(config), "--dry-run", "--registry",
            str(tmp_path / "r.sqlite3")]  # fmt: skip
    assert main(args) == 0
    assert received() == []


def test_a_syslog_server_over_udp_gets_the_line() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(2)
    port = server.getsockname()[1]
    with server:
        assert log_summary("pegase fetch", {"items": 12, "exit": 0}, f"127.0.0.1:{port}", "local3")
        data = server.recv(65536).decode()
    assert re.fullmatch(r"<158>scolpass\[\d+\]: pegase fetch: items=12 exit=0\x00?", data), data  # local3.info


def test_no_system_log_at_the_default_address_is_no_error_and_a_configured_one_that_fails_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scolpass.systemlog.DEFAULT_ADDRESS", str(tmp_path / "absent"))
    assert not write_line("x", str(tmp_path / "absent"))
    assert not write_line("x", "")
    config = config_with_log(tmp_path, str(tmp_path / "no-such.sock"))
    args = ["generate", str(SAMPLES / "enrolment.csv"), "--config", str(config), "--registry",
            str(tmp_path / "r.sqlite3"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0  # the run is done; its log line is what failed
    err = capsys.readouterr().err
    assert f"scolpass: warning: the system log at {tmp_path / 'no-such.sock'} cannot be reached" in err


def test_a_value_cannot_split_or_forge_a_line() -> None:
    line = summary("generate", {"folder": "/srv/a b\nscolpass: generate: run=99 new=0", "exit": 0})
    assert line == "generate: folder=/srv/a%20b%0Ascolpass:%20generate:%20run%3D99%20new%3D0 exit=0"


@pytest.mark.parametrize("address", ["host:²", "::1", "host:0", "host:65536", "host", "[::1]:514"])
def test_an_odd_syslog_address_is_refused_by_the_configuration(address: str) -> None:
    from .conftest import refusal

    assert refusal("log", "syslog", address).startswith(f"u.toml: [log] syslog = {address!r} must be a socket path")
