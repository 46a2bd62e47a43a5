"""Provisional passwords and their hashes.

Randomness comes from ``secrets`` by default; tests pass a seeded ``choice``.
Class constraints are met by redrawing the whole password, which keeps every
valid password equally likely (fixing one position per class would not). The
first symbol is never one that starts a spreadsheet formula, drawn uniformly
from the others, so that a CSV holds the password exactly.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from passlib.hash import argon2, bcrypt, ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from . import xcrypt
from .errors import ConfigError, ScolpassError
from .settings import CredentialSettings, PasswordPolicy, count_valid_passwords, first_symbols
from .workers import crash_point, worker_pool

Choice = Callable[[Sequence[str]], str]


def has_required_classes(password: str) -> bool:
    """At least one lower case letter, one upper case letter and one digit."""
    return (
        any(c.islower() for c in password) and any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    )


def password_entropy_bits(policy: PasswordPolicy) -> float:
    """Entropy of a password drawn uniformly among those ``generate_password`` can return."""
    return policy.entropy_bits


def generate_password(policy: PasswordPolicy, choice: Choice = secrets.choice) -> str:
    """One provisional password under ``policy``.

    The first symbol is drawn uniformly from ``first_symbols``, the others from the whole alphabet,
    and a password lacking a class is redrawn whole: every password that begins with no formula
    symbol and holds the classes is then equally likely.
    """
    first = first_symbols(policy.alphabet)
    if count_valid_passwords(policy.alphabet, policy.length) == 0:
        # check_settings refuses such a policy; one built in code would otherwise redraw forever
        # (or, with only formula symbols, have nothing to begin with).
        raise ConfigError(
            f"[password] no password of {policy.length} characters over {policy.alphabet!r} holds a lower case "
            "letter, an upper case letter and a digit, and begins with none of = + - @"
        )
    while True:
        password = choice(first) + "".join(choice(policy.alphabet) for _ in range(policy.length - 1))
        if has_required_classes(password):
            return password


def generate_passwords(count: int, policy: PasswordPolicy, choice: Choice = secrets.choice) -> list[str]:
    """``count`` distinct passwords: a batch never hands two students the same one."""
    seen: set[str] = set()
    passwords: list[str] = []
    while len(passwords) < count:
        password = generate_password(policy, choice)
        if password not in seen:
            seen.add(password)
            passwords.append(password)
    return passwords


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


def hash_password(password: str, credentials: CredentialSettings | None = None, system_crypt: bool = True) -> str:
    """A ``userPassword`` value that stock OpenLDAP verifies.

    sha512_crypt at its standard 5,000 rounds by default: the password's 80+
    bits of entropy, not a slow hash, is what protects it, and a slow hash
    would cost hours on a university's intake (README, "Credential files").
    It goes through the system's libxcrypt when it has sha512-crypt, libpass
    otherwise or with ``system_crypt=False``: the same hash for the same salt.
    """
    c = credentials or CredentialSettings()
    if c.hash == "sha512_crypt":
        return "{CRYPT}" + _sha512_crypt(password, c.sha512_rounds, system_crypt)
    if c.hash == "bcrypt":
        return "{CRYPT}" + str(bcrypt.using(ident="2b", rounds=c.bcrypt_cost).hash(password))
    if c.hash == "argon2":
        hashed = argon2.using(type="ID", time_cost=c.argon2_time_cost, memory_cost=c.argon2_memory_kib)
        return "{ARGON2}" + str(hashed.hash(password))
    if c.hash == "ssha":
        return str(ldap_salted_sha1.using(salt_size=16).hash(password))
    raise ValueError(f"unknown hash scheme {c.hash!r}")


# Below this many passwords, starting worker processes costs more than it saves.
PARALLEL_FROM = 200


def hash_passwords(passwords: Sequence[str], credentials: CredentialSettings, system_crypt: bool = True) -> list[str]:
    """Hash a batch, on every core when the batch is large enough; results in the same order."""
    workers = os.cpu_count() or 1
    if len(passwords) < PARALLEL_FROM or workers == 1:
        return [hash_password(p, credentials, system_crypt) for p in passwords]
    chunk = max(1, len(passwords) // (workers * 8))
    one = partial(_hash_in_worker, credentials=credentials, system_crypt=system_crypt)
    try:
        # Processes, not threads: libxcrypt would release the GIL, but libpass (its fallback),
        # bcrypt's and argon2's cost settings are Python too. They die with the run (workers.py).
        with worker_pool(workers) as pool:
            return list(pool.map(one, passwords, chunksize=chunk))
    except BrokenProcessPool as exc:
        raise ScolpassError(f"a hashing process stopped abruptly (out of memory?): {exc}") from None


def _hash_in_worker(password: str, credentials: CredentialSettings, system_crypt: bool) -> str:
    crash_point("hashing")
    return hash_password(password, credentials, system_crypt)
