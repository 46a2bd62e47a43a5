"""The throwaway PostgreSQL server of tests/postgres.py, for real: passwords, the socket, down and up, roles, cleanup."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from .conftest import ROOT, require_postgres
from .postgres import ADMIN, Postgres, database_name


def tables(url: str) -> list[str]:
    """The tables and views a database holds outside the system's schemas."""
    with psycopg.connect(url, connect_timeout=10) as db:
        rows = db.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        ).fetchall()
    return [row[0] for row in rows]


def processes_of(data: Path) -> list[int]:
    """The processes started as ``... -D DATA``: the postmaster (its children rename themselves, and die with it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            argv = command.split("\0")
            if any(argv[i : i + 2] == ["-D", str(data)] for i in range(len(argv))):
                found.append(int(entry.name))
    return found


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a Python subprocess that imports ``tests``."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_psycopg_connects_over_tcp_with_the_password_from_the_pgpassfile(
    postgres: Postgres, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pg_database == f"postgresql://{ADMIN}@127.0.0.1:{postgres.port}/{database_name(pg_database)}"
    assert postgres.password not in pg_database
    assert postgres.port != 5432
    assert os.environ["PGPASSFILE"] == str(postgres.passfile)
    assert stat.S_IMODE(postgres.passfile.stat().st_mode) == 0o600
    assert postgres.passfile.stat().st_uid == os.geteuid()
    with psycopg.connect(pg_database, connect_timeout=10) as db:
        row = db.execute("SELECT current_user, current_database(), host(inet_server_addr()), inet_server_port()")
        assert row.fetchone() == (ADMIN, database_name(pg_database), "127.0.0.1", postgres.port)
    # The password did come from the PGPASSFILE: without it, the server asks for one.
    empty = tmp_path / "empty-pgpass"
    empty.write_text("")
    empty.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(empty))
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(pg_database, connect_timeout=10)


def test_psycopg_connects_over_the_socket(postgres: Postgres, pg_database: str) -> None:
    url = postgres.socket_url(database_name(pg_database))
    assert "127.0.0.1" not in url
    assert postgres.password not in url
    with psycopg.connect(url, connect_timeout=10) as db:
        row = db.execute("SELECT current_user, current_database(), inet_server_addr()").fetchone()
    assert row == (ADMIN, database_name(pg_database), None)  # no server address: a Unix socket
    assert (postgres.socket_folder / f".s.PGSQL.{postgres.port}").is_socket()
    assert len(str(postgres.socket_folder / f".s.PGSQL.{postgres.port}")) < 100


def test_the_server_runs_as_postgres_in_a_folder_of_its_own(postgres: Postgres) -> None:
    owner = postgres.folder.stat()
    assert stat.S_IMODE(owner.st_mode) == 0o700  # the socket with trust: nobody else may reach it
    if os.geteuid() == 0:
        import pwd

        assert owner.st_uid == pwd.getpwnam("postgres").pw_uid
        assert Path(f"/proc/{postgres.pid}").stat().st_uid == owner.st_uid
    assert str(postgres.folder).startswith("/tmp/")
    assert postgres.execute("SHOW fsync") == [("off",)]
    assert postgres.execute("SHOW listen_addresses") == [("127.0.0.1",)]


def test_a_wrong_password_is_refused(postgres: Postgres, pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_database, password="not-the-password", connect_timeout=10)
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"127.0.0.1:{postgres.port}:*:{ADMIN}:not-the-password\n")
    wrong.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(wrong))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_database, connect_timeout=10)


def test_a_stopped_server_refuses_connections_and_start_brings_it_back(postgres: Postgres, pg_database: str) -> None:
    with psycopg.connect(pg_database, connect_timeout=10) as db:
        db.execute("CREATE TABLE kept (n integer)")
        db.execute("INSERT INTO kept VALUES (7)")
    socket_url = postgres.socket_url(database_name(pg_database))
    port = postgres.port
    try:
        postgres.stop()
        assert not postgres.running
        assert not listening(port)
        with pytest.raises(psycopg.OperationalError, match="refused"):
            psycopg.connect(pg_database, connect_timeout=5)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(socket_url, connect_timeout=5)
        postgres.stop()  # twice: nothing to do
    finally:
        postgres.start()
    assert postgres.running
    assert postgres.port == port  # the URLs handed out still hold
    with psycopg.connect(pg_database, connect_timeout=10) as db:
        assert db.execute("SELECT n FROM kept").fetchall() == [(7,)]
    with psycopg.connect(socket_url, connect_timeout=10) as db:
        assert db.execute("SELECT count(*) FROM kept").fetchone() == (1,)


def test_a_limited_role_cannot_create_or_drop_what_it_does_not_own(postgres: Postgres, pg_database: str) -> None:
    name = database_name(pg_database)
    postgres.execute("CREATE TABLE accounts (login text PRIMARY KEY)", database=name)
    postgres.execute("CREATE TABLE secrets (n integer)", database=name)
    postgres.execute("GRANT SELECT, INSERT ON accounts TO PUBLIC", database=name)
    password = "clerk: pass\\word"  # a ':' and a '\' escaped in the PGPASSFILE
    postgres.create_role("clerk", password)
    url = postgres.url(name, user="clerk")
    assert password not in url
    assert "word" not in url
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as db:
        assert db.execute("SELECT current_user, host(inet_server_addr())").fetchone() == ("clerk", "127.0.0.1")
        db.execute("INSERT INTO accounts VALUES ('jmartin')")
        assert db.execute("SELECT login FROM accounts").fetchall() == [("jmartin",)]
        refusals = [
            "CREATE TABLE public.mine (n integer)",  # a schema it does not own (PostgreSQL 15: not PUBLIC's either)
            "CREATE SCHEMA mine",
            "DROP TABLE accounts",
            "ALTER TABLE accounts ADD COLUMN x integer",
            "SELECT * FROM secrets",
            "UPDATE accounts SET login = 'x'",
            f'DROP DATABASE "{name}"',
            "CREATE DATABASE other",
            "CREATE ROLE other",
        ]
        for statement in refusals:
            with pytest.raises(errors.InsufficientPrivilege):
                db.execute(statement)
        assert db.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone() == (False, False, False)  # fmt: skip
    assert tables(pg_database) == ["public.accounts", "public.secrets"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url, password="clerk", connect_timeout=10)


_SEEN: list[str] = []


@pytest.mark.parametrize("turn", [1, 2])
def test_each_pg_database_is_empty_and_its_own(postgres: Postgres, pg_database: str, turn: int) -> None:
    assert tables(pg_database) == []
    assert pg_database not in _SEEN
    _SEEN.append(pg_database)
    other = postgres.create_database(label="other")  # dropped after the test, with pg_database
    assert other != pg_database
    with psycopg.connect(pg_database, connect_timeout=10) as db:
        db.execute("CREATE TABLE marker (turn integer)")
    assert tables(pg_database) == ["public.marker"]
    assert tables(other) == []
    # Nothing left behind by earlier tests: only the system's databases, this test's two, and no role of theirs.
    names = {row[0] for row in postgres.execute("SELECT datname FROM pg_database")}
    assert names == {"postgres", "template0", "template1", database_name(pg_database), database_name(other)}
    roles = {row[0] for row in postgres.execute("SELECT rolname FROM pg_roles WHERE rolname !~ '^pg_'")}
    assert roles == {ADMIN}


def test_psql_runs_over_the_socket(postgres: Postgres, pg_database: str) -> None:
    name = database_name(pg_database)
    assert postgres.psql("SELECT current_database()", database=name).strip() == name
    with pytest.raises(RuntimeError, match="syntax error"):
        postgres.psql("SELEKT 1")


def test_a_server_that_does_not_start_says_why_with_its_log() -> None:
    server = Postgres(require_postgres(), settings={"shared_buffers": "'lots'"})
    try:
        with pytest.raises(RuntimeError) as caught:
            server.start()
        folder = server.folder
    finally:
        server.close()
    message = str(caught.value)
    assert f"PostgreSQL did not start on 127.0.0.1:{server.port}" in message
    assert "the server log's last lines" in message
    assert 'invalid value for parameter "shared_buffers"' in message
    assert not folder.exists()
    with (
        pytest.raises(RuntimeError, match="shared_buffers"),
        Postgres(require_postgres(), settings={"shared_buffers": "'lots'"}),
    ):
        pass  # the context manager closes what it started, even when the start fails


_INNER_TESTS = """
import os
from pathlib import Path

import psycopg


def test_uses_the_server(postgres, pg_database):
    Path(os.environ["REPORT"]).write_text(f"{postgres.data}\\n{postgres.pid}\\n{postgres.port}\\n")
    with psycopg.connect(pg_database) as db:
        db.execute("CREATE TABLE t (n integer)")


def test_fails(postgres):
    assert postgres.running
    raise AssertionError("a failing test: the server is stopped all the same")
"""


def assert_gone(data: Path, pid: int, port: int, within: float = 0) -> None:
    deadline = time.monotonic() + within
    while (processes_of(data) or data.parent.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(data) == []
    assert not Path(f"/proc/{pid}").exists() or str(data) not in Path(f"/proc/{pid}/cmdline").read_text()
    assert not data.parent.exists()  # the folder, socket and log with it
    assert not listening(port)


@pytest.mark.slow
def test_nothing_is_left_running_after_the_session(tmp_path: Path) -> None:
    require_postgres()
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (tmp_path / "test_inner.py").write_text(_INNER_TESTS)
    report = tmp_path / "report"
    env = python_env(REPORT=str(report))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # one passed, one failed
    assert "1 failed, 1 passed" in done.stdout, done.stdout
    data, pid, port = report.read_text().split()
    assert_gone(Path(data), int(pid), int(port))


@pytest.mark.slow
def test_a_killed_test_process_leaves_no_server_behind() -> None:
    # SIGKILL runs no finally: the watchdog stops the server when the test process's end of its pipe closes.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from tests.postgres import Postgres
        server = Postgres(Path({str(require_postgres())!r}))
        server.start()
        print(server.data, server.pid, server.port, flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=python_env())
    try:
        assert child.stdout is not None
        data, pid, port = child.stdout.readline().split()
        assert processes_of(Path(data)) == [int(pid)]
        assert listening(int(port))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert_gone(Path(data), int(pid), int(port), within=20)
