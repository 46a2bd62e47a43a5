"""A throwaway PostgreSQL server for tests: Debian's own binaries, on 127.0.0.1 and a socket, in a temporary folder.

``Postgres(bindir).start()`` runs ``initdb`` in a fresh ``tempfile.mkdtemp()`` folder under /tmp (short, for the
socket's path), then ``pg_ctl start`` on a free port (never 5432). As root, ``initdb`` and ``pg_ctl`` run as the
``postgres`` user (they refuse root) and the folder is that user's; otherwise they run as the current user. The
superuser is :data:`ADMIN` with a random password (``server.password``); every role's password is written to a
PGPASSFILE (``server.passfile``, mode 0600), never into a URL. Over TCP a password is needed (scram-sha-256);
over the socket, in a folder only the server's user (and root) can enter, no password is (trust).

``close()`` stops the server (``pg_ctl -m fast stop``) and removes the folder; a watchdog process does the same if
the test process dies without closing it (SIGKILL, a crash), so that no server outlives its run.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

ADMIN = "scolpass_admin"  # the superuser initdb makes
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# libpq reads these from the environment: a developer's own must not point the tests' connections elsewhere.
LIBPQ_ENVIRONMENT = (
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGSERVICE",
    "PGSERVICEFILE", "PGSYSCONFDIR", "PGOPTIONS", "PGSSLMODE", "PGREQUIRESSL", "PGSSLCERT", "PGSSLKEY",
    "PGSSLROOTCERT", "PGSSLCRL", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS", "PGCHANNELBINDING", "PGGSSENCMODE",
    "PGREQUIREAUTH", "PGAPPNAME", "PGDATA", "PGCLIENTENCODING", "PGTZ", "PGDATESTYLE",
)  # fmt: skip
TIMEOUT = 60  # seconds, for any one command (initdb takes about 0.6 s, pg_ctl start or stop about 0.1 s)
LOG_TAIL = 40  # lines of the server's log shown when it does not start

# Run in its own process: waits until the test process's end of the pipe closes (closed by close(), or by the
# kernel when that process dies), then stops a server still running and removes the folder.
_WATCHDOG = r"""
import os, shutil, signal, subprocess, sys, time
folder, data, *pg_ctl = sys.argv[1:]
sys.stdin.buffer.read()
pidfile = os.path.join(data, "postmaster.pid")
if os.path.exists(pidfile):
    subprocess.run([*pg_ctl, "-D", data, "-m", "immediate", "-w", "-t", "10", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, check=False, cwd="/")
    try:
        pid = int(open(pidfile).readline())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass
shutil.rmtree(folder, ignore_errors=True)
"""


def find_binaries() -> Path | None:
    """The folder of the newest PostgreSQL server's ``initdb``, ``pg_ctl`` and ``psql``, or None.

    Debian keeps them off PATH, under /usr/lib/postgresql/VERSION/bin; elsewhere they are on PATH.
    """

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)

    candidates = sorted(DEBIAN_BINARIES.glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb", path=SYSTEM_PATH)
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return folder
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS's choice), never PostgreSQL's 5432."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 5432:
            return port


def database_name(url: str) -> str:
    """The database a ``postgresql://`` URL names."""
    return urlsplit(url).path.lstrip("/")


def _passfile_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


class Postgres:
    """A PostgreSQL server of the tests' own: start, create databases and roles, stop, start again, close."""

    def __init__(self, bindir: Path, settings: Mapping[str, str] | None = None) -> None:
        self.bindir = bindir
        self.tools = {tool: str(bindir / tool) for tool in ("initdb", "pg_ctl", "psql")}
        self.settings = dict(settings or {})  # extra postgresql.conf settings
        self.admin = ADMIN
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()
        self.host = "127.0.0.1"
        self._as_root = os.geteuid() == 0
        self._folder: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._passwords: dict[str, str] = {}
        self.roles: list[str] = []  # made by create_role, in order
        self.databases: list[str] = []  # made by create_database, in order
        self._counter = 0

    # -- Where things are ------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """The temporary folder: ``data/`` (the cluster), the socket, ``server.log``, ``pgpass``."""
        if self._folder is None:
            raise RuntimeError("the PostgreSQL server was never started")
        return self._folder

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    @property
    def passfile(self) -> Path:
        """The PGPASSFILE holding every role's password (mode 0600, the test process's own)."""
        return self.folder / "pgpass"

    @property
    def socket_folder(self) -> Path:
        return self.folder

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        return pid

    @property
    def running(self) -> bool:
        return self._folder is not None and self.pid is not None

    def url(self, database: str = "postgres", user: str | None = None) -> str:
        """A URL over TCP, ``postgresql://USER@127.0.0.1:PORT/DB``: the password comes from the PGPASSFILE."""
        return f"postgresql://{quote(user or self.admin, safe='')}@{self.host}:{self.port}/{quote(database, safe='')}"

    def socket_url(self, database: str = "postgres", user: str | None = None) -> str:
        """A URL over the socket folder: ``postgresql://USER@/DB?host=FOLDER&port=PORT`` (no password needed)."""
        return (
            f"postgresql://{quote(user or self.admin, safe='')}@/{quote(database, safe='')}"
            f"?host={quote(str(self.socket_folder), safe='/')}&port={self.port}"
        )

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (the process's environment) without libpq's variables, and PGPASSFILE: for a subprocess."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in LIBPQ_ENVIRONMENT}
        env["PGPASSFILE"] = str(self.passfile)
        return env

    def log_tail(self, lines: int = LOG_TAIL) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- Life ------------------------------------------------------------------------------

    def start(self) -> None:
        """Make the cluster on the first call, then start the server and wait until it accepts connections.

        Raises RuntimeError, with the server log's tail, when it does not start. Does nothing while it runs.
        """
        if self._folder is None:
            self._create()
            for _attempt in range(5):
                logged = self._log_size()
                try:
                    self._pg_ctl_start()
                    return
                except RuntimeError:
                    # Another process may have taken the free port in between: try another one.
                    if "Address already in use" not in self._log_since(logged):
                        raise
                    self.port = free_port()
                    self._configure()
                    self._write_passfile()
            raise RuntimeError(f"PostgreSQL found no free port in five tries:\n{self.log_tail()}")
        if not self.running:
            self._pg_ctl_start()

    def stop(self) -> None:
        """Stop the server (``pg_ctl -m fast stop``), keeping its data: ``start()`` brings it back on the same port."""
        if not self.running:
            return
        done = self._run([self.tools["pg_ctl"], "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"])
        if done.returncode != 0 and self.running:
            self._run([self.tools["pg_ctl"], "-D", str(self.data), "-m", "immediate", "-w", "-t", "10", "stop"])
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid)
        if self.running:
            raise RuntimeError(f"PostgreSQL did not stop:\n{done.stdout}{done.stderr}\n{self.log_tail()}")

    def close(self) -> None:
        """Stop the server and remove its folder, data and log with it (safe to call twice)."""
        if self._folder is None:
            return
        try:
            self.stop()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
            if self._watchdog is not None:
                try:
                    self._watchdog.communicate(timeout=30)  # closes its pipe: it finds nothing left to do
                except subprocess.TimeoutExpired:
                    self._watchdog.kill()
                    self._watchdog.wait(timeout=10)
                self._watchdog = None

    def __enter__(self) -> Postgres:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- Databases and roles ---------------------------------------------------------------

    def create_database(self, name: str | None = None, owner: str | None = None, label: str = "") -> str:
        """Create an empty database and return its TCP URL for the superuser.

        Unless ``name`` is given, a fresh one: ``scolpass_N``, with ``label`` after it (a test's name, say).
        """
        if name is None:
            self._counter += 1
            name = f"scolpass_{self._counter}_{label}"[:63].rstrip("_")
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if owner is not None:
            query += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
        self.execute(query)
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self.databases:
            self.databases.remove(name)

    def create_role(self, name: str, password: str, attributes: str = "") -> None:
        """Create a login role with no privileges beyond PUBLIC's (not superuser, no CREATEDB or CREATEROLE).

        Its password goes into the PGPASSFILE, for connections over TCP. ``attributes`` adds SQL role options
        (``"CREATEDB"``, say).
        """
        query = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD {} ").format(
            sql.Identifier(name), sql.Literal(password)
        ) + sql.SQL(attributes)
        self.execute(query)
        self.roles.append(name)
        self._passwords[name] = password
        self._write_passfile()

    def set_password(self, name: str, password: str) -> None:
        """Give an existing role (made by SQL of the test's own, say) a password, into the PGPASSFILE too; the
        role is then the test's, dropped with the others it made (:meth:`drop_role`)."""
        self.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        if name not in self.roles:
            self.roles.append(name)
        self._passwords[name] = password
        self._write_passfile()

    def drop_role(self, name: str) -> None:
        """Drop a role made by :meth:`create_role`, with what it owns in the ``postgres`` database."""
        with contextlib.suppress(psycopg.errors.UndefinedObject):
            self.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        self.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        if name in self.roles:
            self.roles.remove(name)
        self._passwords.pop(name, None)
        self._write_passfile()

    @contextlib.contextmanager
    def connect(self, database: str = "postgres", user: str | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A connection over the socket (as the superuser unless ``user``), autocommit, closed afterwards."""
        with psycopg.connect(
            host=str(self.socket_folder), port=self.port, dbname=database, user=user or self.admin,
            autocommit=True, connect_timeout=10, options="-c statement_timeout=60000",
        ) as connection:  # fmt: skip
            yield connection

    def execute(self, query: str | sql.SQL | sql.Composed, params: Sequence[Any] | None = None, database: str = "postgres") -> list[tuple[Any, ...]]:  # fmt: skip
        """Run one statement as the superuser over the socket; the rows it returns, if any."""
        with self.connect(database) as connection, connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description is not None else []

    def psql(self, command: str, database: str = "postgres", user: str | None = None) -> str:
        """Run ``psql -c`` over the socket (unaligned, tuples only) and return its output; raise if it fails."""
        done = subprocess.run(
            [self.tools["psql"], "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_folder),
             "-p", str(self.port), "-U", user or self.admin, "-d", database, "-c", command],
            capture_output=True, text=True, timeout=TIMEOUT, check=False, env=self.environ(), cwd=self.folder,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    # -- Inside ----------------------------------------------------------------------------

    def _as_server_user(self, command: list[str]) -> list[str]:
        if not self._as_root:
            return command
        runuser = shutil.which("runuser", path=SYSTEM_PATH)
        if runuser is None:
            raise RuntimeError("runuser not found (util-linux): needed to run initdb and pg_ctl as 'postgres'")
        return [runuser, "-u", "postgres", "--", *command]

    def _run(self, command: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        env = self.environ()
        env.pop("PGPASSFILE")
        env["LC_ALL"] = "C"  # the log's messages in English, as start() reads them
        try:
            return subprocess.run(
                self._as_server_user(command), capture_output=True, text=True, timeout=timeout, check=False,
                env=env, cwd=self.folder,
            )  # fmt: skip
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(
                f"{Path(command[0]).name} did not finish within {timeout} s:\n{self.log_tail()}"
            ) from error

    def _create(self) -> None:
        base = "/tmp" if os.path.isdir("/tmp") else None  # short: a socket's path has at most about 107 bytes
        self._folder = Path(tempfile.mkdtemp(prefix="scolpass-pg-", dir=base))
        if len(str(self._folder / f".s.PGSQL.{self.port}.lock")) > 100:
            raise RuntimeError(f"the socket folder's path is too long for a Unix socket: {self._folder}")
        uid = gid = -1
        if self._as_root:
            try:
                server = pwd.getpwnam("postgres")
            except KeyError:
                self.close()
                raise RuntimeError(
                    "no 'postgres' user to run initdb as (Debian's postgresql package makes it)"
                ) from None
            uid, gid = server.pw_uid, server.pw_gid
            os.chown(self._folder, uid, gid)
        self._start_watchdog()
        pwfile = self.folder / "admin-password"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_root:
            os.chown(pwfile, uid, gid)
        try:
            done = self._run(
                [self.tools["initdb"], "-D", str(self.data), "-U", self.admin, "-A", "scram-sha-256",
                 "--pwfile", str(pwfile), "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync",
                 "--no-instructions"]
            )  # fmt: skip
        finally:
            pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        self._configure()
        self._write_passfile()

    def _configure(self) -> None:
        """Where and how the server listens, in its own postgresql.conf (read again at each start)."""
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_folder}'",
            "fsync": "off",  # a throwaway server: nothing to keep across a crash
            "full_page_writes": "off",
            "synchronous_commit": "off",
            **self.settings,
        }
        conf = self.data / "scolpass-tests.conf"
        conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        main = self.data / "postgresql.conf"
        include = "include = 'scolpass-tests.conf'\n"
        if include not in main.read_text():
            with main.open("a") as handle:
                handle.write("\n" + include)
        if self._as_root:
            server = pwd.getpwnam("postgres")
            os.chown(conf, server.pw_uid, server.pw_gid)

    def _write_passfile(self) -> None:
        lines = []
        for user, password in {self.admin: self.password, **self._passwords}.items():
            for host in (self.host, str(self.socket_folder)):
                fields = (host, str(self.port), "*", user, password)
                lines.append(":".join(_passfile_field(field) for field in fields))
        tmp = self.passfile.with_name("pgpass.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        tmp.replace(self.passfile)

    def _start_watchdog(self) -> None:
        pg_ctl = self._as_server_user([self.tools["pg_ctl"]])
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.folder), str(self.data), *pg_ctl],
            stdin=subprocess.PIPE, start_new_session=True, cwd="/",
        )  # fmt: skip

    def _pg_ctl_start(self) -> None:
        done = self._run(
            [self.tools["pg_ctl"], "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start"], timeout=45
        )
        if done.returncode != 0 or not self.running:
            raise RuntimeError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port} ({done.returncode}): "
                f"{(done.stdout + done.stderr).strip()}\n--- the server log's last lines ({self.log}):\n"
                f"{self.log_tail()}"
            )

    def _log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _wait_gone(pid: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
