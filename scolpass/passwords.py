"""Provisional passwords and their hashes.

Randomness comes from ``secrets`` by default; tests pass a seeded ``choice``.
Class constraints are met by redrawing the whole password, which keeps every
valid password equally likely (fixing one position per class would not).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from passlib.hash import ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from .settings import PasswordPolicy

Choice = Callable[[Sequence[str]], str]


def has_required_classes(password: str) -> bool:
    """At least one lower case letter, one upper case letter and one digit."""
    return (
        any(c.islower() for c in password) and any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    )


def generate_password(policy: PasswordPolicy, choice: Choice = secrets.choice) -> str:
    """One provisional password under ``policy``."""
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


def hash_password(password: str, scheme: str) -> str:
    """A ``userPassword`` value that stock OpenLDAP verifies.

    sha512_crypt at its standard 5,000 rounds: the password's 80+ bits of
    entropy, not a slow hash, is what protects it, and a slow hash would cost
    hours on a university's intake (see docs/performance.md).
    """
    if scheme == "sha512_crypt":
        return "{CRYPT}" + str(sha512_crypt.using(rounds=5000).hash(password))
    if scheme == "ssha":
        return str(ldap_salted_sha1.using(salt_size=16).hash(password))
    raise ValueError(f"unknown hash scheme {scheme!r}")
