"""The hash schemes ``[credentials] hash`` chooses from: one entry each, in :data:`HASHERS`.

An entry holds what scolpass knows of its scheme: how to hash, how the
directory holds the result (its ``userPassword`` form), what slapd needs to
verify it, what a hash costs, and the longest password it takes whole. The
settings take the schemes' names and the password limit from here, and
``passwords.hash_password`` hashes through the table.

To add a scheme: write its function here and add its :class:`Hasher` to
:data:`HASHERS` (``[credentials] hash`` accepts it from then on); a setting it
takes goes to ``CredentialSettings``, checked with the other ``[credentials]``
values (settings.py); name it in config_template.toml's ``hash`` comment and in
the README's "Credential files" table (tests/test_hashers.py fails until both
do), and in the slapd bind test (tests/test_ldap.py), whose slapd.conf
(tests/slapd.py) must hold its ``slapd_needs``.
"""

from __future__ import annotations

import secrets
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from passlib.hash import argon2, bcrypt, ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from . import xcrypt

if TYPE_CHECKING:  # settings imports this module for the schemes' names
    from .settings import CredentialSettings

# password, [credentials], system_crypt (whether sha512_crypt may use libxcrypt; the others ignore it).
HashFunction = Callable[[str, "CredentialSettings", bool], str]


@dataclass(frozen=True)
class Hasher:
    """One hash scheme for ``userPassword``."""

    name: str  # as [credentials] hash names it
    hash: HashFunction  # a module-level function: batches are hashed in worker processes
    # The userPassword value with the default settings, "..." standing for the salt and hash.
    written_as: str
    cost: str  # one hash with the default settings, as measured (README, "Credential files")
    # What slapd.conf needs to verify it, beyond a stock OpenLDAP; "" when nothing.
    slapd_needs: str = ""
    # The longest password it hashes whole, in bytes; None when no provisional password is too long.
    max_password_bytes: int | None = None

    @property
    def prefix(self) -> str:
        """What every hash it writes with the default settings starts with."""
        return self.written_as.removesuffix("...")


# sha512-crypt's salt as libpass makes it: 16 symbols (96 bits) of the crypt alphabet.
SALT_SYMBOLS = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SALT_LENGTH = 16


def sha512_crypt_backend(system_crypt: bool = True) -> str:
    """What hashes sha512_crypt here: ``libxcrypt`` (the system's, twice as fast) or ``libpass``.

    ``system_crypt=False`` asks for libpass, the fallback on a system without libxcrypt.
    """
    return "libxcrypt" if system_crypt and xcrypt.supports_sha512_crypt() else "libpass"


def _sha512_crypt(password: str, rounds: int, system_crypt: bool) -> str:
    salt = "".join(secrets.choice(SALT_SYMBOLS) for _ in range(SALT_LENGTH))
    if sha512_crypt_backend(system_crypt) == "libxcrypt":
        # libpass's form, so that the hashes look the same whoever made them: no rounds= at 5,000.
        hashed = xcrypt.crypt(password, f"$6${salt}" if rounds == 5000 else f"$6$rounds={rounds}${salt}")
        if hashed is not None:
            return hashed
        # Refused: a password over libxcrypt's 511 bytes (libpass takes it) or holding a NUL
        # (libpass refuses it, without showing it).
    return str(sha512_crypt.using(salt=salt, rounds=rounds).hash(password))


def hash_sha512_crypt(password: str, credentials: CredentialSettings, system_crypt: bool = True) -> str:
    """sha512-crypt at ``sha512_rounds``, through libxcrypt when the system has it, else libpass."""
    return "{CRYPT}" + _sha512_crypt(password, credentials.sha512_rounds, system_crypt)


def hash_argon2(password: str, credentials: CredentialSettings, system_crypt: bool = True) -> str:
    """argon2id at ``argon2_time_cost`` and ``argon2_memory_kib``."""
    c = credentials
    hashed = argon2.using(type="ID", time_cost=c.argon2_time_cost, memory_cost=c.argon2_memory_kib)
    return "{ARGON2}" + str(hashed.hash(password))


def hash_ssha(password: str, credentials: CredentialSettings, system_crypt: bool = True) -> str:
    """Salted SHA-1 with a 16-byte salt (no setting)."""
    return str(ldap_salted_sha1.using(salt_size=16).hash(password))


def hash_bcrypt(password: str, credentials: CredentialSettings, system_crypt: bool = True) -> str:
    """bcrypt (``$2b$``) at ``bcrypt_cost``."""
    return "{CRYPT}" + str(bcrypt.using(ident="2b", rounds=credentials.bcrypt_cost).hash(password))


# Every scheme, the default first; the order in which messages and the template list them.
HASHERS: Mapping[str, Hasher] = types.MappingProxyType(
    {
        hasher.name: hasher
        for hasher in (
            Hasher(
                name="sha512_crypt",
                hash=hash_sha512_crypt,
                written_as="{CRYPT}$6$...",
                cost="1.2 ms (the system's libxcrypt; 2.8 ms with libpass, where there is none)",
            ),
            Hasher(
                name="argon2",
                hash=hash_argon2,
                written_as="{ARGON2}$argon2id$...",
                cost="130 ms",
                slapd_needs="moduleload argon2",
            ),
            Hasher(name="ssha", hash=hash_ssha, written_as="{SSHA}...", cost="0.02 ms"),
            Hasher(
                name="bcrypt",
                hash=hash_bcrypt,
                written_as="{CRYPT}$2b$10$...",
                cost="61 ms",
                max_password_bytes=72,
            ),
        )
    }
)
