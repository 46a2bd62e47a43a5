"""The PostgreSQL roles of docs/registry.md, made on the tests' server by the doc's own SQL (read out of the page, so
that the two cannot drift): every command works as the role the page gives it, and what the page says a role may not
do, the server refuses it."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from scolpass import RunOptions, Settings, StateError, generate, helpdesk, open_registry, purge, reissue
from scolpass.admin import import_existing, read_registry, settle_run
from scolpass.cli import main

from .conftest import ROOT, SAMPLES, new_account
from .postgres import Postgres, database_name
from .test_personal_data import GONE, LINES, export
from .test_registry_engines import without_tls

PAGE = (ROOT / "docs" / "registry.md").read_text(encoding="utf-8")
CONFIG = str(SAMPLES / "scolpass.toml")
# The tests' server already has a superuser named scolpass_admin: the page's roles are made as doc_owner, doc_issue...
RENAMED = "doc"
LOGINS = ("issue", "counter", "admin")
PURGED = ("reissues", "numbers", "accounts")
STAYING = {line.split(";")[1] for line in LINES} - GONE


def section(heading: str) -> str:
    """The text of the page's section ``heading``, up to the next heading of its level."""
    start = PAGE.index(f"\n{heading}\n")
    end = PAGE.find("\n## ", start + 1)
    return PAGE[start : end if end != -1 else len(PAGE)]


ROLES = section("## PostgreSQL: roles")


def sql_blocks() -> list[str]:
    """The section's ```sql blocks, in order: the roles and the database (as a superuser), then the grants."""
    return re.findall(r"^```sql\n(.*?)^```$", ROLES, re.S | re.M)


def inline(pattern: str) -> str:
    """The section's one inline `code` (outside its code blocks) matching ``pattern``, its line breaks as spaces."""
    prose = re.sub(r"^```.*?^```$", "", ROLES, flags=re.S | re.M)
    (found,) = [
        code for code in (" ".join(c.split()) for c in re.findall(r"`([^`]+)`", prose)) if re.match(pattern, code)
    ]
    return found


def for_test(text: str, database: str) -> str:
    """The page's SQL for this test's database and roles; ``\\password`` left out (the test gives the passwords)."""
    text = re.sub(r"\bscolpass_(owner|issue|counter|admin)\b", rf"{RENAMED}_\1", text)
    text = re.sub(r"\bscolpass\b", database, text)
    return re.sub(r"^\\password .*$", "", text, flags=re.M)


@dataclass
class Roles:
    """The page's roles on a database of the tests' server."""

    postgres: Postgres
    database: str

    def url(self, role: str) -> str:
        return without_tls(self.postgres.url(self.database, f"{RENAMED}_{role}"))

    def connect(self, role: str) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(role), autocommit=True)

    def query(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        """As the superuser."""
        return self.postgres.execute(statement, params, database=self.database)

    def psql(self, script: str) -> str:
        """A script run by psql as the superuser, as the DBA runs the page's; stops at the first error."""
        done = subprocess.run(
            [self.postgres.tools["psql"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.postgres.socket_folder),
             "-p", str(self.postgres.port), "-U", self.postgres.admin, "-d", "postgres", "-f", "-"],
            input=script, capture_output=True, text=True, timeout=60, check=False, env=self.postgres.environ(),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def vacuums(self) -> dict[str, int]:
        rows = self.query(
            "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY(%s)", [list(PURGED)]
        )
        return dict(rows)  # type: ignore[arg-type]


@pytest.fixture
def roles(postgres: Postgres, pg_database: str, monkeypatch: pytest.MonkeyPatch) -> Roles:
    """The page's roles, database, schema (``registry init`` as the owner, the page's way) and grants."""
    database = f"{database_name(pg_database)[:57]}_roles"
    # Dropped afterwards by pg_database, with the test's roles (registered first: a failure half-way leaves none).
    postgres.databases.append(database)
    postgres.roles.extend(f"{RENAMED}_{role}" for role in ("owner", *LOGINS))
    made = Roles(postgres, database)
    first, grants = sql_blocks()
    made.psql(for_test(first, database))
    for role in LOGINS:
        postgres.set_password(f"{RENAMED}_{role}", f"{role}-secret-password")
    # $ PGOPTIONS='-c role=scolpass_owner' scolpass registry init postgresql://dba@db.example.fr/scolpass
    (command,) = [line[2:] for line in ROLES.splitlines() if line.startswith("$ ") and "registry init" in line]
    assignment, *args = shlex.split(command)
    name, value = assignment.split("=", 1)
    assert args[:3] == ["scolpass", "registry", "init"]
    monkeypatch.setenv(name, for_test(value, database))
    assert main(["registry", "init", without_tls(postgres.url(database))]) == 0  # the superuser, as the owner
    monkeypatch.delenv(name)
    owners = made.query("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == [(f"{RENAMED}_owner",)]
    made.psql(f"\\connect {database}\n{for_test(grants, database)}")
    return made


def test_no_role_is_a_superuser_and_the_owner_logs_in_to_nothing(roles: Roles) -> None:
    found = roles.query(
        "SELECT rolname, rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls"
        " FROM pg_roles WHERE rolname LIKE %s ORDER BY rolname",
        [f"{RENAMED}\\_%"],
    )
    assert found == [
        ("doc_admin", True, False), ("doc_counter", True, False), ("doc_issue", True, False),
        ("doc_owner", False, False),
    ]  # fmt: skip
    # Nobody else may connect to the registry's database; the page's roles may, but make no table in it.
    roles.postgres.create_role("stranger", "stranger-secret-password")
    with pytest.raises(psycopg.OperationalError, match="does not have CONNECT privilege"):
        psycopg.connect(without_tls(roles.postgres.url(roles.database, "stranger")))
    for role in LOGINS:
        with roles.connect(role) as db, pytest.raises(InsufficientPrivilege):
            db.execute("CREATE TABLE mine (a INTEGER)")


def test_each_command_works_as_the_role_the_page_gives_it(
    roles: Roles, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issue, counter, admin = (roles.url(role) for role in LOGINS)
    # An office's registry of 2024, copied into the shared one by administration.
    office = tmp_path / "office.sqlite3"
    generate(export(tmp_path, "2024.csv", 2024), settings,
             RunOptions(out_dir=tmp_path / "2024", registry=office, now=datetime(2024, 9, 1)))  # fmt: skip
    assert main(["registry", "copy", str(office), admin]) == 0
    # The runs of 2025, as the issuing role: the sequences went past the copied ids.
    done = generate(export(tmp_path, "2025.csv", 2025, STAYING), settings,
                    RunOptions(out_dir=tmp_path / "2025", registry=issue, now=datetime(2025, 9, 1)))  # fmt: skip
    assert done.run_id == 2
    assert {o.status for o in done.outcomes} == {"returning"}
    again = reissue(["00012345"], settings, RunOptions(out_dir=tmp_path / "lost", registry=issue, year=2025,
                    now=datetime(2025, 9, 2)))  # fmt: skip
    # The counter reads, and hands a new password out at once.
    handed = helpdesk.reissue_now("00012345", settings, RunOptions(registry=counter, year=2025, actor="agent"))
    with read_registry(settings, counter) as reg:
        history = helpdesk.history(reg, "00012345")
    assert [r.run_id for r in history.reissues] == [again.run_id, handed.run_id]
    # Administration reserves the directory's logins.
    ldif = tmp_path / "people.ldif"
    ldif.write_text("dn: uid=admin-ent,ou=people,dc=example,dc=fr\nuid: admin-ent\n\n", encoding="utf-8")
    assert import_existing(ldif, settings, admin).new == 1

    # A run killed on this machine: the next run, as the issuing role, takes back its account (its folder is here).
    staging = tmp_path / "2025" / ".staging-killed"
    staging.mkdir()
    killed = stopped_run(issue, staging, "00099998", "killed.run")
    generate(export(tmp_path, "late.csv", 2025, {"00012345"}), settings,
             RunOptions(out_dir=tmp_path / "late", registry=issue, now=datetime(2025, 9, 3)))  # fmt: skip
    # A run of a machine that is gone: administration abandons it (registry settle RUN --abandon).
    gone = stopped_run(issue, tmp_path / "elsewhere" / ".staging", "00099999", "gone.run")
    assert "abandoned" in settle_run(gone, settings, admin, abandon=True)
    states = dict(roles.query("SELECT id, state FROM runs WHERE id IN (%s, %s)", [killed, gone]))
    assert states == {killed: "abandoned", gone: "abandoned"}
    assert roles.query("SELECT student_number FROM accounts WHERE student_number LIKE '0009999%'") == []
    assert not staging.exists()
    # Their reissues stay, as what they tried; only complete runs' count.
    assert roles.query("SELECT count(*) FROM reissues WHERE run_id IN (%s, %s)", [killed, gone]) == [(2,)]
    with read_registry(settings, counter) as reg:
        assert [r.run_id for r in helpdesk.history(reg, "00012345").reissues] == [again.run_id, handed.run_id]

    # The purge, as administration: done, and said plainly that the owner must vacuum.
    vacuums = roles.vacuums()
    capsys.readouterr()
    assert main(["registry", "purge", "--before", "2025", "--yes", "--config", CONFIG, "--registry", admin]) == 0
    out, err = capsys.readouterr()
    assert "Purged 2 student(s)" in out
    assert (
        f"scolpass: warning: {admin}: the purged students' rows are deleted, but role doc_admin may not VACUUM " in err
    )
    assert "'VACUUM (ANALYZE) reissues, numbers, accounts' as doc_owner" in err
    for table, column in (("accounts", "student_number"), ("reissues", "student_number"), ("numbers", "account")):
        assert roles.query(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)", [sorted(GONE)]) == []  # noqa: S608
    kept = roles.query("SELECT identifier FROM reserved WHERE source LIKE 'purged%' ORDER BY identifier")
    assert kept == [("jean.martin2",), ("marie-helene.de-la-fontaine",)]
    assert roles.vacuums() == vacuums  # the server would only have warned: scolpass did not pretend
    # The DBA does as the page says.
    vacuum = inline(r"SET ROLE scolpass_owner; VACUUM")
    with roles.postgres.connect(roles.database) as db:
        for statement in filter(None, (s.strip() for s in for_test(vacuum, roles.database).split(";"))):
            db.execute(statement.encode())
    assert roles.vacuums() == {table: count + 1 for table, count in vacuums.items()}


def stopped_run(url: str, staging: Path, number: str, login: str) -> int:
    """A generate run that recorded a pending account and a reissue, then stopped (its connection closed)."""
    when = datetime(2025, 9, 2)
    with open_registry(url) as reg, reg.transaction():
        run_id = reg.begin_run("generate", 2025, when, "registrar", staging.parent, "x.csv", "ab" * 32,
                               host=socket.gethostname())  # fmt: skip
        reg.hold_run(run_id)
        reg.set_staging(run_id, staging)
        reg.record([new_account(number, login)], 2025, when, run_id)
        reg.record_reissues(["00012345"], run_id, when)
    return run_id


# What a run was, who ran it and the reissues it made: no role rewrites them; only administration deletes reissues
# (a purge). Nobody drops, alters or empties a table, nor frees a reserved login or an issued one by renaming it.
REFUSED_TO_ALL = (
    "DELETE FROM runs",
    "UPDATE runs SET command = 'purge'",
    "UPDATE runs SET actor = 'someone else'",
    "UPDATE runs SET os_user = 'someone else'",
    "UPDATE runs SET started_at = ''",
    "UPDATE runs SET input_sha256 = ''",
    "UPDATE reissues SET reissued_at = ''",
    "DROP TABLE runs",
    "DROP TABLE accounts",
    "ALTER TABLE runs ADD COLUMN note TEXT",
    "ALTER TABLE accounts DROP CONSTRAINT accounts_identifier_key",
    "TRUNCATE reissues",
    "DELETE FROM reserved",
    "UPDATE reserved SET source = ''",
    "UPDATE accounts SET identifier = 'x'",
    "CREATE TABLE mine (a INTEGER)",
)
REFUSED_BELOW_ADMINISTRATION = ("DELETE FROM reissues",)
REFUSED_TO_THE_COUNTER = (
    "INSERT INTO accounts (student_number, identifier, first_year, issued_at) VALUES ('1', 'a.b', 2025, '')",
    "INSERT INTO numbers (student_number, account, number_key, year, linked_at) VALUES ('2', '1', '2', 2025, '')",
    "INSERT INTO reserved VALUES ('a.b', 'x', '')",
    "UPDATE accounts SET student = ''",
    "UPDATE runs SET state = 'complete'",
    "DELETE FROM accounts",
    "DELETE FROM meta",
)


@pytest.mark.parametrize("role", LOGINS)
def test_what_the_page_refuses_a_role_the_server_refuses(roles: Roles, role: str, settings: Settings) -> None:
    with open_registry(roles.url("issue")) as reg:
        with reg.transaction():
            run_id = reg.begin_run("generate", 2025, datetime(2025, 9, 1), "registrar", Path("/srv/out"))
            reg.record([new_account("00012345", "jean.martin")], 2025, datetime(2025, 9, 1), run_id)
        reg.confirm(run_id, {"new": 1}, datetime(2025, 9, 1))
    helpdesk.reissue_now("00012345", settings, RunOptions(registry=roles.url("counter"), year=2025))
    refused = REFUSED_TO_ALL
    if role != "admin":
        refused += REFUSED_BELOW_ADMINISTRATION
    if role == "counter":
        refused += REFUSED_TO_THE_COUNTER
    with roles.connect(role) as db:
        for statement in refused:
            with pytest.raises(InsufficientPrivilege):
                db.execute(statement.encode())
    assert roles.query("SELECT count(*) FROM runs") == [(2,)]
    assert roles.query("SELECT count(*) FROM reissues") == [(1,)]


def test_only_the_owner_migrates_the_schema(roles: Roles, monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry as a scolpass of schema 6 left it.
    with roles.postgres.connect(roles.database) as db:
        db.execute(f"SET ROLE {RENAMED}_owner".encode())
        db.execute("ALTER TABLE runs DROP COLUMN host")
        db.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    for role in LOGINS:
        with pytest.raises(StateError, match="the role that owns its tables must migrate it"):
            open_registry(roles.url(role))
        with pytest.raises(StateError, match="the role that owns its tables must migrate it"):
            open_registry(roles.url(role), in_memory=True)
    # The owner does, the page's way, here through a DBA who is no superuser but a member of the owner role;
    # then every role works on it.
    roles.postgres.create_role("dba", "dba-secret-password")
    roles.query(for_test(inline(r"GRANT scolpass_owner TO dba$"), roles.database))
    monkeypatch.setenv("PGOPTIONS", f"-c role={RENAMED}_owner")
    assert main(["registry", "init", without_tls(roles.postgres.url(roles.database, "dba"))]) == 0
    monkeypatch.delenv("PGOPTIONS")
    with open_registry(roles.url("issue")) as reg, reg.transaction():
        run_id = reg.begin_run("generate", 2025, datetime(2025, 9, 1), "registrar", Path("/srv/out"), host="here")
    assert roles.query("SELECT host FROM runs WHERE id = %s", [run_id]) == [("here",)]
    # An empty database: only the owner may make the schema.
    roles.query("DROP TABLE numbers, reissues, runs, reserved, accounts, meta")
    with pytest.raises(StateError, match="this role may not make one"):
        open_registry(roles.url("issue"))


def two_years(roles: Roles, settings: Settings, tmp_path: Path) -> None:
    issue = roles.url("issue")
    generate(export(tmp_path, "2024.csv", 2024), settings,
             RunOptions(out_dir=tmp_path / "2024", registry=issue, now=datetime(2024, 9, 1)))  # fmt: skip
    generate(export(tmp_path, "2025.csv", 2025, STAYING), settings,
             RunOptions(out_dir=tmp_path / "2025", registry=issue, now=datetime(2025, 9, 1)))  # fmt: skip


@pytest.mark.parametrize("grant", [r"GRANT scolpass_owner TO scolpass_admin$", r"GRANT MAINTAIN ON "])
def test_the_purge_vacuums_once_the_dba_lets_administration(
    roles: Roles, settings: Settings, tmp_path: Path, grant: str
) -> None:
    two_years(roles, settings, tmp_path)
    vacuums = roles.vacuums()
    if grant.startswith("GRANT MAINTAIN") and int(roles.query("SHOW server_version_num")[0][0]) < 170000:
        # As the page says, MAINTAIN is PostgreSQL 17's: before it, the purge says the owner must vacuum.
        with pytest.raises(psycopg.errors.SyntaxError):
            roles.query(for_test(inline(grant), roles.database))
        done = purge(2025, settings, roles.url("admin"), now=datetime(2026, 10, 1))
        assert done.notice is not None
        assert "may not VACUUM reissues, numbers, accounts" in done.notice
        assert roles.vacuums() == vacuums
        return
    roles.query(for_test(inline(grant), roles.database))
    done = purge(2025, settings, roles.url("admin"), now=datetime(2026, 10, 1))
    assert len(done.students) == 2
    assert done.notice is None
    assert roles.vacuums() == {table: count + 1 for table, count in vacuums.items()}
    with roles.connect("admin") as db, db.transaction(force_rollback=True):
        if grant.startswith("GRANT MAINTAIN"):
            with pytest.raises(InsufficientPrivilege):
                db.execute("DROP TABLE reserved")
        else:
            db.execute("DROP TABLE reserved")  # the cost the page names: the owner's every right
