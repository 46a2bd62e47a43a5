"""A throwaway OpenLDAP server for tests: the real slapd, on 127.0.0.1, in a temporary folder."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
HERE = Path(__file__).resolve().parent
ROOT_PASSWORD = "root-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Slapd:
    """Start, load, bind, stop."""

    def __init__(
        self, folder: Path, suffix: str, slapd: str, ldapadd: str, ldapwhoami: str, ldapsearch: str, ldapmodify: str
    ) -> None:
        self.folder = folder
        self.suffix = suffix
        self.root_dn = f"cn=admin,{suffix}"
        self.tools = {
            "slapd": slapd, "ldapadd": ldapadd, "ldapwhoami": ldapwhoami, "ldapsearch": ldapsearch,
            "ldapmodify": ldapmodify,
        }  # fmt: skip
        self.port = _free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}/"
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        includes = "\n".join(f"include /etc/ldap/schema/{name}.schema" for name in SCHEMAS)
        # SUPANN and eduPerson: Debian ships neither; the tests keep their own copies.
        includes += "".join(f"\ninclude {HERE / 'schema' / name}.schema" for name in ("eduperson", "supann"))
        return f"""{includes}
pidfile {self.folder}/slapd.pid
argsfile {self.folder}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload argon2
moduleload ppolicy
database mdb
maxsize 104857600
suffix "{self.suffix}"
rootdn "{self.root_dn}"
rootpw {ROOT_PASSWORD}
directory {self.folder}/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{self.suffix}"
"""

    def start(self) -> None:
        """Start the server and wait until it answers."""
        (self.folder / "db").mkdir(parents=True)
        conf = self.folder / "slapd.conf"
        conf.write_text(self._config())
        with (self.folder / "slapd.log").open("wb") as log:
            self._process = subprocess.Popen(
                [self.tools["slapd"], "-f", str(conf), "-h", self.uri, "-d", "0"], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"slapd exited: {(self.folder / 'slapd.log').read_text()}")
            if self.bind(self.root_dn, ROOT_PASSWORD):
                return
            time.sleep(0.1)
        raise RuntimeError("slapd did not answer within 15 s")

    def stop(self) -> None:
        """Stop the server."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def add(self, ldif: Path) -> subprocess.CompletedProcess[str]:
        """``ldapadd`` a file as the root DN (check=False: callers assert on it)."""
        return subprocess.run(
            [self.tools["ldapadd"], "-x", "-H", self.uri, "-D", self.root_dn, "-w", ROOT_PASSWORD, "-f", str(ldif)],
            capture_output=True,
            text=True,
            check=False,
        )

    def modify(self, ldif: Path) -> subprocess.CompletedProcess[str]:
        """``ldapmodify`` a file of change records as the root DN."""
        return subprocess.run(
            [self.tools["ldapmodify"], "-x", "-H", self.uri, "-D", self.root_dn, "-w", ROOT_PASSWORD, "-f", str(ldif)],
            capture_output=True,
            text=True,
            check=False,
        )

    def add_ldif(self, text: str) -> None:
        """``ldapadd`` LDIF text, failing loudly."""
        path = self.folder / f"add-{time.monotonic_ns()}.ldif"
        path.write_text(text)
        result = self.add(path)
        if result.returncode != 0:
            raise RuntimeError(f"ldapadd failed: {result.stderr}")

    def bind(self, dn: str, password: str) -> bool:
        """Whether a simple bind with ``dn`` and ``password`` succeeds."""
        result = subprocess.run(
            [self.tools["ldapwhoami"], "-x", "-H", self.uri, "-D", dn, "-w", password],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.returncode == 0

    def search_as(self, dn: str, password: str, base: str) -> subprocess.CompletedProcess[str]:
        """``ldapsearch`` bound as a user (check=False: callers assert on it)."""
        return subprocess.run(
            [self.tools["ldapsearch"], "-x", "-LLL", "-H", self.uri, "-D", dn, "-w", password, "-b", base],
            capture_output=True,
            text=True,
            check=False,
        )

    def change_password(self, dn: str, old: str, new: str) -> bool:
        """The user changes their own password (password modify extended operation)."""
        ldappasswd = str(Path(self.tools["ldapsearch"]).with_name("ldappasswd"))
        result = subprocess.run(
            [ldappasswd, "-x", "-H", self.uri, "-D", dn, "-w", old, "-s", new], capture_output=True, check=False
        )
        return result.returncode == 0

    def search(self, base: str, *attributes: str) -> str:
        """``ldapsearch`` as root, LDIF out."""
        return subprocess.run(
            [self.tools["ldapsearch"], "-x", "-LLL", "-o", "ldif_wrap=no", "-H", self.uri, "-D", self.root_dn,
             "-w", ROOT_PASSWORD, "-b", base, *attributes],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
