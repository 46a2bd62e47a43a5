"""Provisional passwords and their hashes.

Randomness comes from ``secrets`` by default; tests pass a seeded ``choice``.
Class constraints are met by redrawing the whole password, which keeps every
valid password equally likely (fixing one position per class would not).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from passlib.hash import argon2, bcrypt, ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from .errors import ConfigError, ScolpassError
from .settings import CredentialSettings, PasswordPolicy, count_valid_passwords

Choice = Callable[[Sequence[str]], str]


def has_required_classes(password: str) -> bool:
    """At least one lower case letter, one upper case letter and one digit."""
    return (
        any(c.islower() for c in password) and any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    )


def generate_password(policy: PasswordPolicy, choice: Choice = secrets.choice) -> str:
    """One provisional password under ``policy``."""
    if count_valid_passwords(policy.alphabet, policy.length) == 0:
        # check_settings refuses such a policy; one built in code would otherwise redraw forever.
        raise ConfigError(
            f"[password] no password of {policy.length} characters over {policy.alphabet!r} holds a lower case "
            "letter, an upper case letter and a digit"
        )
    while True:
        password = "".join(choice(policy.alphabet) for _ in range(policy.length))
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


def hash_password(password: str, credentials: CredentialSettings | None = None) -> str:
    """A ``userPassword`` value that stock OpenLDAP verifies.

    sha512_crypt at its standard 5,000 rounds by default: the password's 80+
    bits of entropy, not a slow hash, is what protects it, and a slow hash
    would cost hours on a university's intake (see docs/performance.md).
    """
    c = credentials or CredentialSettings()
    if c.hash == "sha512_crypt":
        return "{CRYPT}" + str(sha512_crypt.using(rounds=c.sha512_rounds).hash(password))
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


def hash_passwords(passwords: Sequence[str], credentials: CredentialSettings) -> list[str]:
    """Hash a batch, on every core when the batch is large enough; results in the same order."""
    workers = os.cpu_count() or 1
    if len(passwords) < PARALLEL_FROM or workers == 1:
        return [hash_password(p, credentials) for p in passwords]
    chunk = max(1, len(passwords) // (workers * 8))
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(partial(hash_password, credentials=credentials), passwords, chunksize=chunk))
    except BrokenProcessPool as exc:
        raise ScolpassError(f"a hashing process stopped abruptly (out of memory?): {exc}") from None
