"""No plaintext password anywhere but on the sheets (and in the file the explicit option asks for).

The runs below (a good one, runs that fail half-way, a killed one, a reissue)
are watched: every file under the test's folder is read at each checkpoint of
the pipeline and inside every registry transaction (so SQLite's journal and
any temporary file are seen while they exist), and again at the end. Each
version of each file, the terminal output and the log records are searched
for every password issued, after decoding what could hide one (base64 in
LDIF, compressed or UTF-16 data, hex, text extracted from PDF pages that are
not a student's own).

On a PostgreSQL registry what the server holds is searched too, at the end:
the database's dump (every table's rows), every file of the server's data
folder after a CHECKPOINT (tables, indexes and the WAL, which keeps rows
deleted or rolled back since) and the server's log.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import io
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
from ldif import LDIFParser  # type: ignore[import-untyped]
from psycopg import sql
from pypdf import PdfReader

from scolpass import Account, pipeline, run
from scolpass.cli import main
from scolpass.registry import Registry, is_postgres

from .conftest import PASSWORD_PATTERN, SAMPLES, page_texts, sheet_texts
from .postgres import Postgres, database_name

CONFIG = str(SAMPLES / "scolpass.toml")
BAD_ROW = "2026;00099999;;;DURAND;;Paul;31/02/2008;NIMES;M;ECO;ECONOMIE;EE1;101;L1 Economie\n"


# -- what could hide a password ---------------------------------------------------------------------------------------


def _inflated(blob: bytes) -> Iterator[bytes]:
    """Every zlib or gzip stream found in ``blob`` (whole, or starting at a zlib header), inflated."""
    with suppress(OSError, EOFError, zlib.error):
        yield gzip.decompress(blob)
    for match in re.finditer(rb"\x78[\x01\x5e\x9c\xda]", blob):
        try:
            yield zlib.decompressobj().decompress(memoryview(blob)[match.start() :])  # no copy: files are large
        except zlib.error:
            continue


def _unbased(text: bytes) -> Iterator[bytes]:
    """Every base64 token of ``text`` (LDIF lines unfolded first), decoded."""
    unfolded = text.replace(b"\r\n ", b"").replace(b"\n ", b"")
    for token in re.findall(rb"[A-Za-z0-9+/]{12,}={0,2}", unfolded):
        for candidate in (token, token[1:], token[2:], token[3:]):  # a token may start mid-value
            try:
                yield base64.b64decode(candidate + b"=" * (-len(candidate) % 4))
            except binascii.Error:
                continue


def readings(blob: bytes) -> Iterator[bytes]:
    """``blob`` and what it decodes to."""
    yield blob
    for inner in _inflated(blob):
        yield inner
        yield from _unbased(inner)
    yield from _unbased(blob)
    if blob.startswith(b"version: 1") and b"changetype:" not in blob:
        # Add records, parsed (the ldif parser has no change records: their values are base64 tokens above).
        with io.BytesIO(blob) as handle:
            handle.readline()
            for dn, entry in LDIFParser(handle).parse():
                yield dn.encode()
                yield json.dumps(entry, ensure_ascii=False).encode()


def hidden(blob: bytes, passwords: set[str]) -> set[str]:
    """The passwords ``blob`` holds in any of the readings above, as UTF-8, UTF-16 or hex."""
    forms = {
        p: (p.encode(), p.encode("utf-16-le"), p.encode("utf-16-be"), p.encode().hex().encode()) for p in passwords
    }
    found = set()
    for reading in readings(blob):
        lowered = reading.lower()
        for password, encodings in forms.items():
            if password not in found and any(e in reading or e in lowered for e in encodings):
                found.add(password)
    return found


def test_the_scan_finds_a_password_however_it_is_hidden() -> None:
    """A scan that cannot find anything would prove nothing."""
    password = "Xk7pQ9rT2mW4zNa"
    folded = b"version: 1\n\ndn: uid=x,dc=fr\ndescription:: " + base64.b64encode(b"note " + password.encode())
    folded = folded[:40] + b"\n " + folded[40:] + b"\n"
    hiding = {
        "plain": f"login;{password}\n".encode(),
        "ldif base64, folded": folded,
        "zlib": b"%PDF stream\n" + zlib.compress(f"BT ({password}) Tj ET".encode()),
        "gzip": gzip.compress(password.encode()),
        "utf-16": password.encode("utf-16"),
        "hex": password.encode().hex().upper().encode(),
        "base64 in json": json.dumps({"x": base64.b64encode(b"\x00" + password.encode()).decode()}).encode(),
    }
    assert {name: hidden(blob, {password}) for name, blob in hiding.items()} == {key: {password} for key in hiding}
    assert hidden(b"nothing to see " * 100, {password}) == set()


# -- what a PostgreSQL server holds -----------------------------------------------------------------------------------


def _lsn(text: str) -> int:
    """A WAL position, ``X/Y``, as a byte number."""
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


class Server:
    """What the tests' PostgreSQL server holds of one database, from the moment this is made on.

    The server logs every statement sent to the database from then on, with its values: a password that
    only passed through the server is in its log. A replication slot keeps every WAL segment written since
    then (no checkpoint recycles one); :meth:`close` drops it. The other databases' folders (template0,
    template1, postgres) and the WAL written before are not read: nothing of this database is written
    there, and with them a scan would take seconds.
    """

    def __init__(self, postgres: Postgres, url: str) -> None:
        self.postgres = postgres
        self.database = database_name(url)
        for setting in ("log_statement = 'all'", "log_parameter_max_length = -1",
                        "log_parameter_max_length_on_error = -1"):  # fmt: skip
            postgres.execute(sql.SQL("ALTER DATABASE {} SET ").format(sql.Identifier(self.database)) + sql.SQL(setting))
        self.slot = f"scan_{self.database}"[:63]
        postgres.execute("SELECT pg_create_physical_replication_slot(%s, true)", (self.slot,))
        self.start = _lsn(postgres.execute("SELECT pg_current_wal_insert_lsn()::text")[0][0])  # kept by the slot

    def close(self) -> None:
        self.postgres.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))

    def wal(self) -> bytes:
        """The WAL written since this was made, once on disk (a CHECKPOINT writes it out)."""
        self.postgres.execute("CHECKPOINT")
        ((end, size, timeline),) = self.postgres.execute(
            "SELECT pg_current_wal_insert_lsn()::text, pg_size_bytes(current_setting('wal_segment_size')), "
            "timeline_id FROM pg_control_checkpoint()"
        )
        deadline = time.monotonic() + 10
        while _lsn(self.postgres.execute("SELECT pg_current_wal_flush_lsn()::text")[0][0]) < _lsn(end):
            assert time.monotonic() < deadline, f"the server never wrote its WAL up to {end}"
            time.sleep(0.05)
        per_id = 0x1_0000_0000 // size
        written = b""
        for segment in range(self.start // size, _lsn(end) // size + 1):
            name = f"{timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"
            written += (self.postgres.data / "pg_wal" / name).read_bytes()
        first = self.start // size * size
        return written[self.start - first : _lsn(end) - first]

    def holdings(self) -> dict[str, bytes]:
        """By name: ``pg_dump`` (the database's every table, row and large object), ``wal`` (see :meth:`wal`),
        ``data/PATH`` (the database's folder and every file outside base/ and pg_wal/, once a CHECKPOINT wrote
        out what was in memory) and ``server.log``."""
        server = self.postgres
        dump = subprocess.run(
            [str(server.bindir / "pg_dump"), "-h", str(server.socket_folder), "-p", str(server.port),
             "-U", server.admin, "-d", self.database],
            capture_output=True, check=True, timeout=60, env=server.environ(),
        ).stdout  # fmt: skip
        held = {"pg_dump": dump, "wal": self.wal()}  # after a CHECKPOINT
        ((oid,),) = server.execute("SELECT oid FROM pg_database WHERE datname = %s", (self.database,))
        for path in server.data.rglob("*"):
            inside = path.relative_to(server.data)
            if inside.parts[0] in ("base", "pg_wal") and inside.parts[:2] != ("base", str(oid)):
                continue
            with suppress(FileNotFoundError):  # a file the server removed meanwhile
                if path.is_file():
                    held[f"data/{inside}"] = path.read_bytes()
        held["server.log"] = server.log.read_bytes()
        return held

    def leaks(self, passwords: set[str]) -> dict[str, set[str]]:
        """What the server holds (by name) that holds a password, and which."""
        return {name: hits for name, data in self.holdings().items() if (hits := hidden(data, passwords))}


@pytest.fixture
def server(request: pytest.FixtureRequest, registry_at: str) -> Iterator[Server | None]:
    """The server a PostgreSQL registry's database is on, watched from now on; None for an SQLite file."""
    if not is_postgres(registry_at):
        yield None
        return
    watched = Server(request.getfixturevalue("postgres"), registry_at)
    try:
        yield watched
    finally:
        watched.close()


def test_the_scan_finds_a_password_a_postgresql_server_holds(postgres: Postgres, pg_database: str) -> None:
    """Kept in a table, deleted, rolled back, named in a failed statement: each is found where it is, and
    every one in the server's log, which has every statement sent and its values."""
    kept, deleted, undone, failed = ("Xk7pQ9rT2mW4zN" + c for c in "abcd")
    watched = Server(postgres, pg_database)
    try:
        with postgres.connect(database_name(pg_database)) as db:
            db.execute("CREATE TABLE notes (note TEXT)")
            db.execute("INSERT INTO notes VALUES (%s), (%s)", (f"kept {kept}", f"deleted {deleted}"))
            db.execute("DELETE FROM notes WHERE note LIKE 'deleted%%'")
            with suppress(ZeroDivisionError), db.transaction():
                db.execute("INSERT INTO notes VALUES (%s)", (f"undone {undone}",))
                raise ZeroDivisionError  # rolled back
            with suppress(psycopg.errors.InvalidTextRepresentation):
                db.execute(f"SELECT '{failed}'::integer")  # the server logs the statement that failed
        leaks = watched.leaks({kept, deleted, undone, failed})
    finally:
        watched.close()
    assert leaks.pop("pg_dump") == {kept}
    assert leaks.pop("wal") == {kept, deleted, undone}
    assert leaks.pop("server.log") == {kept, deleted, undone, failed}
    # The rows deleted or rolled back are still on the table's page, dead.
    assert set().union(*(found for name, found in leaks.items() if name.startswith("data/base/"))) >= {
        kept, deleted, undone,
    }  # fmt: skip


# -- watching runs ----------------------------------------------------------------------------------------------------


class Watch:
    """Every version of every file under ``root`` that is not a sheet, what a PostgreSQL registry's ``server``
    holds at the end, and the passwords issued."""

    def __init__(self, root: Path, server: Server | None = None) -> None:
        self.root = root
        self.server = server
        self.versions: dict[str, set[bytes]] = {}
        self.passwords: set[str] = set()

    def snapshot(self) -> None:
        for path in self.root.rglob("*"):
            if path.is_file() and path.suffix != ".pdf":
                try:
                    data = path.read_bytes()
                except FileNotFoundError:  # removed meanwhile by a worker
                    continue
                self.versions.setdefault(str(path.relative_to(self.root)), set()).add(data)

    def leaks(self) -> dict[str, set[str]]:
        """Files (by name) that ever held a password, and which; what the server holds, as ``server: NAME``."""
        self.snapshot()
        found: dict[str, set[str]] = {}
        for name, versions in self.versions.items():
            for data in versions:
                if hits := hidden(data, self.passwords):
                    found.setdefault(name, set()).update(hits)
        if self.server is not None:
            found.update({f"server: {name}": hits for name, hits in self.server.leaks(self.passwords).items()})
        return found


@pytest.fixture
def watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Server | None) -> Watch:
    """A :class:`Watch` of ``tmp_path``, which is also the current folder and ``TMPDIR``, and of the registry's
    server on PostgreSQL (the registry: ``registry_at``)."""
    watch = Watch(tmp_path, server)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR

    generate_passwords = pipeline.generate_passwords

    def recorded(*args: object, **kwargs: object) -> list[str]:
        passwords = generate_passwords(*args, **kwargs)  # type: ignore[arg-type]
        watch.passwords.update(passwords)
        return passwords

    checkpoint = pipeline.checkpoint

    def watched_checkpoint(name: str) -> None:
        watch.snapshot()
        checkpoint(name)

    transaction = Registry.transaction

    @contextmanager
    def watched_transaction(self: Registry) -> Iterator[None]:
        with transaction(self):
            yield
            watch.snapshot()  # before COMMIT: the rollback journal exists now

    monkeypatch.setattr(pipeline, "generate_passwords", recorded)
    monkeypatch.setattr(pipeline, "checkpoint", watched_checkpoint)
    monkeypatch.setattr(run, "checkpoint", watched_checkpoint)  # the run frame's own checkpoints
    monkeypatch.setattr(Registry, "transaction", watched_transaction)
    return watch


def non_sheet_pages(folder: Path) -> dict[str, str]:
    """The text of every page of ``folder``'s PDFs that is not a student's sheet (covers, lists), and metadata."""
    manifest = json.loads((folder / "manifest.json").read_text())
    sheets = {(s["pdf"], s["page"]) for s in manifest["students"] if s["pdf"]}
    found = {}
    for pdf in folder.glob("*.pdf"):
        reader = PdfReader(pdf)
        found[f"{pdf.name} metadata"] = json.dumps({k: str(v) for k, v in (reader.metadata or {}).items()})
        for number, text in enumerate(page_texts(pdf), start=1):
            if (pdf.name, number) not in sheets:
                found[f"{pdf.name} page {number}"] = text
    return found


def printed_passwords(folder: Path) -> set[str]:
    texts = sheet_texts(folder).values()
    return {m for t in texts for m in re.findall(PASSWORD_PATTERN, t, flags=re.MULTILINE)}


def test_no_password_outside_the_sheets_through_good_failed_and_reissue_runs(
    watch: Watch, tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
    registry_at: str,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    enrolment = tmp_path / "enrolment.csv"
    enrolment.write_text(SAMPLES.joinpath("enrolment.csv").read_text(encoding="utf-8-sig") + BAD_ROW)
    common = ["--config", CONFIG, "--registry", registry_at]

    # A good run (with a rejected row), then a reissue.
    assert main(["generate", str(enrolment), *common, "--out", "good", "--skip-invalid"]) == 3  # done, a row set aside
    assert (tmp_path / "good" / "rejected.csv").exists()
    assert main(["reissue", "00012345", "00012350", *common, "--out", "reissued"]) == 0
    # The recorded passwords are the printed ones: the scan looks for the real thing.
    printed = printed_passwords(tmp_path / "good") | printed_passwords(tmp_path / "reissued")
    assert len(printed) == 13
    assert printed == watch.passwords

    # Runs that fail half-way, once the passwords exist and the sheets are written: a full disk
    # (a clear error) and a bug (a traceback).
    more = tmp_path / "more.csv"
    header = enrolment.read_text().splitlines()[0]
    more.write_text(
        f"{header}\n2026;00077777;0999999991;K;ROBERT;;Lucie;01/01/2006;LYON;F;ECO;ECONOMIE;EE1;101;L1 Economie\n"
        "2026;00077778;0999999992;L;PETIT;;Hugo;02/02/2006;LYON;M;DRT;DROIT;DL1;102;L1 Droit\n"
    )

    def full_disk(*args: object, **kwargs: object) -> int:
        watch.snapshot()  # what is on disk at the moment of the failure
        raise OSError(28, "No space left on device", "credentials.ldif")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "write_ldif", full_disk)
        assert main(["generate", str(more), *common, "--out", "full"]) == 1

    def bug(credentials: list[object], *args: object, **kwargs: object) -> int:
        raise RuntimeError(f"unexpected: {len(credentials)} credentials")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "write_ldif", bug)
        with pytest.raises(RuntimeError) as crashed:
            main(["generate", str(more), *common, "--out", "bug"])
    assert len(watch.passwords) == 13 + 2 * 2  # both failed runs had made the new students' passwords
    assert not (tmp_path / "full").exists()
    assert not (tmp_path / "bug").exists()

    out, err = capfd.readouterr()
    shown = {
        "stdout": out,
        "stderr": err,
        "traceback": "".join(traceback.format_exception(crashed.value)),
        "log": "\n".join(r.getMessage() for r in caplog.records),
        **non_sheet_pages(tmp_path / "good"),
        **non_sheet_pages(tmp_path / "reissued"),
    }
    assert "No space left on device" in err
    assert {name: hidden(text.encode(), watch.passwords) for name, text in shown.items()} == {
        key: set() for key in shown
    }
    assert watch.leaks() == {}
    # What was watched: the registry (its journal, or what its server holds), every credential file, the
    # manifests, rejected rows.
    names = set(watch.versions)
    assert {"good/credentials.ldif", "good/credentials.csv", "good/manifest.json", "good/rejected.csv",
            "reissued/credentials.ldif"} <= names  # fmt: skip
    if watch.server is None:
        assert {"r.sqlite3", "r.sqlite3-journal"} <= names
    else:
        held = watch.server.holdings()
        where = [name for name, data in held.items() if b"jean.martin" in data]  # the registry's rows
        assert {"pg_dump", "wal", "server.log"} <= set(where)  # the log: every statement, with its values
        assert any(name.startswith("data/base/") for name in where)
        assert "server.log" in held
    assert any(name.startswith(".full.partial-") and name.endswith("credentials.csv") for name in names)
    # No temporary file is left behind.
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", "-journal", "-wal")) or "partial" in str(p)]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_plaintext_credentials_put_the_passwords_where_asked_and_nowhere_else(
    watch: Watch, tmp_path: Path, registry_at: str
) -> None:
    common = ["--config", CONFIG, "--registry", registry_at, "--plaintext-credentials"]
    assert main(["generate", str(SAMPLES / "enrolment.csv"), *common, "--out", "o"]) == 0
    leaks = watch.leaks()
    # The scan sees them where they are (the published file, and the same file while it was written aside).
    assert leaks.pop("o/credentials.csv") == watch.passwords
    assert {name.split("/")[-1]: found for name, found in leaks.items()} == {"credentials.csv": watch.passwords}


@pytest.mark.slow
def test_a_killed_run_leaves_no_password_outside_its_sheets(
    tmp_path: Path, registry_at: str, server: Server | None
) -> None:
    def cli(*args: str, crash: str = "") -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SCOLPASS_CRASH_AT": crash, "TMPDIR": str(tmp_path / "tmp")}
        command = [sys.executable, "-m", "scolpass", "generate", str(SAMPLES / "enrolment.csv"), "--config", CONFIG,
                   "--registry", registry_at, *args]  # fmt: skip
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, check=False, timeout=120)

    (tmp_path / "tmp").mkdir()
    killed = cli("--out", "killed", crash="rendered")
    assert killed.returncode == -9
    (staging,) = tmp_path.glob(".killed.partial-*")
    passwords = {
        m for pdf in staging.glob("*.pdf") for text in page_texts(pdf)
        for m in re.findall(PASSWORD_PATTERN, text, flags=re.MULTILINE)
    }  # fmt: skip
    assert len(passwords) == 11
    left = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".pdf"}
    assert (tmp_path / "r.sqlite3" in left) is (server is None)
    assert {str(p): hidden(data, passwords) for p, data in left.items()} == {str(p): set() for p in left}
    assert hidden((killed.stdout + killed.stderr).encode(), passwords) == set()
    if server is not None:  # the killed run's transactions, committed or not, and its connection's end
        assert server.leaks(passwords) == {}
    # The next run removes the dead run's sheets: no password is left lying in a staging folder.
    rerun = cli("--out", "rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert not staging.exists()
    if server is not None:
        assert server.leaks(passwords) == {}
        return
    with contextlib.closing(sqlite3.connect(tmp_path / "r.sqlite3")) as registry:
        dump = "\n".join(registry.iterdump())
    assert hidden(dump.encode(), passwords) == set()


def test_passwords_never_show_in_reprs() -> None:
    from scolpass.exports import Credential
    from scolpass.sheet import Sheet

    from .test_exports import credentials

    credential = credentials()[0]
    password = "Xk7pQ9rT2mW4zNa"
    sheet = Sheet(credential.student, credential.email, credential.identifier, password, "https://ent")
    with_plain = Credential(Account(credential.student, credential.identifier), credential.email, "{CRYPT}x", password)
    assert password not in repr(sheet)
    assert password not in repr(with_plain)
