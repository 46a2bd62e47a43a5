"""Provisional passwords: random, unambiguous, within the printed rules."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from passlib.hash import argon2, bcrypt, ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from scolpass import generate_password, generate_passwords, hash_password
from scolpass.passwords import PARALLEL_FROM, has_required_classes, hash_passwords
from scolpass.settings import CredentialSettings, PasswordPolicy, PasswordRules, count_valid_passwords

POLICY = PasswordPolicy()
LOOK_ALIKES = set("0Oo1lI")


def test_default_policy_is_strong_enough() -> None:
    assert POLICY.entropy_bits >= 80  # CNIL's floor for a password used alone
    assert not LOOK_ALIKES & set(POLICY.alphabet)
    assert not set("<>\"'$; ") & set(POLICY.alphabet)


def test_entropy_counts_the_class_constraint_exactly() -> None:
    # Brute force on a small case: alphabet "aB3x", length 4.
    import itertools

    brute = sum(has_required_classes("".join(p)) for p in itertools.product("aB3x", repeat=4))
    assert count_valid_passwords("aB3x", 4) == brute


@given(seed=st.integers(min_value=0))
def test_passwords_obey_policy_and_printed_rules(seed: int) -> None:
    password = generate_password(POLICY, random.Random(seed).choice)
    rules = PasswordRules()
    assert len(password) == POLICY.length >= rules.min_length
    assert set(password) <= set(POLICY.alphabet)
    assert has_required_classes(password)
    assert not set(password) & set(rules.forbidden_characters)


def test_batch_is_unique_even_with_a_repeating_source() -> None:
    # A generator that replays the same draws (GAM's old bug) must not yield duplicates.
    replay = iter("aB3" * 5 + "aB3" * 5 + "cD4" * 5)
    passwords = generate_passwords(2, PasswordPolicy(length=15), lambda _: next(replay))
    assert passwords == ["aB3" * 5, "cD4" * 5]


def test_symbols_of_a_class_are_equally_likely(seeded_choice: Callable[[str], str]) -> None:
    # Redrawing passwords that lack a class makes digits (8 of 56 symbols) a little more
    # frequent among valid passwords; within a class, every symbol must be as likely as the others.
    counts = Counter("".join(generate_passwords(4000, POLICY, seeded_choice)))
    for cls in (str.islower, str.isupper, str.isdigit):
        members = [c for c in POLICY.alphabet if cls(c)]
        mean = sum(counts[c] for c in members) / len(members)
        assert all(abs(counts[c] - mean) < mean * 0.12 for c in members), members


@pytest.mark.parametrize(
    ("scheme", "prefix", "checker"),
    [
        ("sha512_crypt", "{CRYPT}$6$", sha512_crypt),
        ("bcrypt", "{CRYPT}$2b$10$", bcrypt),
        ("argon2", "{ARGON2}$argon2id$", argon2),
        ("ssha", "{SSHA}", ldap_salted_sha1),
    ],
)
def test_hashes_verify_and_never_hold_the_password(scheme: str, prefix: str, checker: object) -> None:
    value = hash_password("Xk7pQ2mZr9TnWc4", CredentialSettings(hash=scheme))
    assert value.startswith(prefix)
    assert "Xk7pQ2mZr9TnWc4" not in value
    stored = value.removeprefix("{CRYPT}").removeprefix("{ARGON2}")
    assert checker.verify("Xk7pQ2mZr9TnWc4", stored)  # type: ignore[attr-defined]
    assert not checker.verify("Xk7pQ2mZr9TnWc5", stored)  # type: ignore[attr-defined]


def test_rounds_are_configurable() -> None:
    assert "$rounds=20000$" in hash_password("x", CredentialSettings(sha512_rounds=20000))
    assert hash_password("x", CredentialSettings(hash="bcrypt", bcrypt_cost=4)).startswith("{CRYPT}$2b$04$")


def test_batch_hashing_on_every_core_keeps_the_order() -> None:
    passwords = generate_passwords(PARALLEL_FROM + 10, POLICY)
    hashes = hash_passwords(passwords, CredentialSettings(hash="ssha"))
    assert len(hashes) == len(passwords)
    assert all(ldap_salted_sha1.verify(p, h) for p, h in zip(passwords, hashes, strict=True))
