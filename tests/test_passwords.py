"""Provisional passwords: random, unambiguous, within the printed rules."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from passlib.hash import ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]

from scolpass import generate_password, generate_passwords, hash_password
from scolpass.passwords import has_required_classes
from scolpass.settings import PasswordPolicy, PasswordRules, count_valid_passwords

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


@pytest.mark.parametrize(("scheme", "checker"), [("sha512_crypt", sha512_crypt), ("ssha", ldap_salted_sha1)])
def test_hashes_verify_and_never_hold_the_password(scheme: str, checker: object) -> None:
    value = hash_password("Xk7pQ2mZr9TnWc4", scheme)
    assert "Xk7pQ2mZr9TnWc4" not in value
    stored = value.removeprefix("{CRYPT}")
    assert checker.verify("Xk7pQ2mZr9TnWc4", stored)  # type: ignore[attr-defined]
    assert not checker.verify("Xk7pQ2mZr9TnWc5", stored)  # type: ignore[attr-defined]
    assert value.startswith("{CRYPT}$6$" if scheme == "sha512_crypt" else "{SSHA}")
