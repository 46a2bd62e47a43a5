"""Provisional passwords and their hashes (each scheme is in hashers.py).

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

from .errors import ConfigError, ScolpassError
from .hashers import HASHERS
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


def hash_password(password: str, credentials: CredentialSettings | None = None, system_crypt: bool = True) -> str:
    """A ``userPassword`` value that stock OpenLDAP verifies, by the scheme ``credentials.hash`` names
    (``hashers.HASHERS``).

    sha512_crypt at its standard 5,000 rounds by default: the password's 80+
    bits of entropy, not a slow hash, is what protects it, and a slow hash
    would cost hours on a university's intake (README, "Credential files").
    It goes through the system's libxcrypt when it has sha512-crypt, libpass
    otherwise or with ``system_crypt=False``: the same hash for the same salt.
    """
    c = credentials or CredentialSettings()
    hasher = HASHERS.get(c.hash)
    if hasher is None:
        raise ValueError(f"unknown hash scheme {c.hash!r}")
    return hasher.hash(password, c, system_crypt)


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
