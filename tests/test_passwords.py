"""Provisional passwords: random, unambiguous, within the printed rules."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from passlib.hash import argon2, bcrypt, ldap_salted_sha1, sha512_crypt  # type: ignore[import-untyped]
from scipy import stats

from scolpass import Account, generate_password, generate_passwords, hash_password, load_settings
from scolpass.exports import Credential, write_csv
from scolpass.hashers import sha512_crypt_backend
from scolpass.passwords import (
    PARALLEL_FROM,
    Choice,
    has_required_classes,
    hash_passwords,
    password_entropy_bits,
)
from scolpass.settings import (
    CredentialSettings,
    PasswordPolicy,
    PasswordRules,
    check_settings,
    count_valid_passwords,
    first_symbols,
)
from scolpass.spreadsheet import FORMULA_START
from scolpass.student import Step, Student

from .conftest import SAMPLES

POLICY = PasswordPolicy()
LOOK_ALIKES = set("0Oo1lI")
# The case: every formula symbol an alphabet may hold (not a tab: it must be printable).
FORMULA_POLICY = PasswordPolicy(alphabet=POLICY.alphabet + "-+=@")


def test_default_policy_is_strong_enough() -> None:
    assert POLICY.entropy_bits >= 80  # CNIL's floor for a password used alone
    assert not LOOK_ALIKES & set(POLICY.alphabet)
    assert not set("<>\"'$; ") & set(POLICY.alphabet)


def test_entropy_counts_the_class_constraint_exactly() -> None:
    # Brute force on a small case: alphabet "aB3x", length 4.
    brute = sum(has_required_classes("".join(p)) for p in itertools.product("aB3x", repeat=4))
    assert count_valid_passwords("aB3x", 4) == brute


@pytest.mark.parametrize("alphabet", ["aB3x", "aB3=-", "a=B+3@", "aB3\t"])
@pytest.mark.parametrize("length", [1, 3, 4, 5])
def test_possible_passwords_are_counted_exactly(alphabet: str, length: int) -> None:
    # Brute force: the passwords generate_password can return begin with no formula symbol.
    brute = sum(
        has_required_classes(p) and not p.startswith(FORMULA_START)
        for p in map("".join, itertools.product(alphabet, repeat=length))
    )
    assert count_valid_passwords(alphabet, length) == brute


def test_the_first_symbol_costs_entropy_only_when_the_alphabet_has_formula_symbols() -> None:
    assert password_entropy_bits(POLICY) == POLICY.entropy_bits  # the default alphabet holds none
    assert f"{password_entropy_bits(POLICY):.1f}" == "87.0"  # the README's figure
    # The first symbol is one of 56 instead of 60; the other 14 positions keep the 60.
    alphabet, length = FORMULA_POLICY.alphabet, FORMULA_POLICY.length
    sizes = [sum(map(test, alphabet)) for test in (str.islower, str.isupper, str.isdigit)]
    unrestricted = sum(  # inclusion-exclusion without the first-symbol rule
        (-1) ** sum(gone) * (len(alphabet) - sum(n for n, g in zip(sizes, gone, strict=True) if g)) ** length
        for gone in itertools.product((False, True), repeat=3)
    )
    bits = password_entropy_bits(FORMULA_POLICY)
    assert bits == pytest.approx(math.log2(unrestricted) - math.log2(60 / 56), abs=0.01)
    assert f"{bits:.1f}" == "88.3"  # the README's figure for this alphabet


def test_the_entropy_settings_check_is_the_generators() -> None:
    assert FORMULA_POLICY.entropy_bits == password_entropy_bits(FORMULA_POLICY)


def test_no_password_begins_like_a_spreadsheet_formula() -> None:
    # Before the rule, 4 passwords in 60 began so: about 1,300 of these 20,000.
    passwords = generate_passwords(20_000, FORMULA_POLICY)
    assert not [p for p in passwords if p.startswith(FORMULA_START)]
    # No symbol of the alphabet is refused: each still comes, after the first position.
    assert set("-+=@") <= set("".join(passwords))
    assert set(first_symbols(FORMULA_POLICY.alphabet)) == set(POLICY.alphabet)


def test_plaintext_credentials_hold_exactly_the_password(tmp_path: Path) -> None:
    # --plaintext-credentials: the CSV's password column is what the sheet prints, formula-safe.
    passwords = generate_passwords(2000, FORMULA_POLICY)
    assert _csv_passwords(passwords, tmp_path / "c.csv") == passwords


def test_every_symbol_the_csv_would_change_is_kept_from_the_first_position(tmp_path: Path) -> None:
    # If write_csv learns a new formula start, passwords must stop beginning with it too.
    candidates = [c + "Ab3" for c in string.printable]
    changed = {
        p[0] for p, cell in zip(candidates, _csv_passwords(candidates, tmp_path / "c.csv"), strict=True) if p != cell
    }
    assert changed <= set(FORMULA_START)
    assert set(FORMULA_START) >= {"=", "+", "-", "@", "\t"}


def _csv_passwords(passwords: Sequence[str], path: Path) -> list[str]:
    """The password column of a credentials.csv written with --plaintext-credentials."""
    student = Student("00000001", "MARTIN", "Jean", date(2007, 4, 17), "ECO", (Step("EE1", "1", "L1"),))
    batch = [Credential(Account(student, f"jean.martin{n}"), "j@etu.fr", "{SSHA}x", p) for n, p in enumerate(passwords)]
    write_csv(batch, "ou=people,dc=um,dc=fr", path)
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["password"] for row in csv.DictReader(handle)]


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


# sha512-crypt as libpass writes it: no rounds= at the scheme's default 5,000, a 16-character salt.
SHA512_CRYPT_FORM = r"\{CRYPT\}\$6\$(rounds=(?P<rounds>[1-9][0-9]*)\$)?(?P<salt>[./0-9A-Za-z]{16})\$[./0-9A-Za-z]{86}"


def test_sha512_crypt_goes_through_the_system_crypt_here() -> None:
    # Twice libpass's speed: a silent fall back to libpass (library missing, wrong answer) fails here.
    assert sha512_crypt_backend() == "libxcrypt"
    assert sha512_crypt_backend(system_crypt=False) == "libpass"


@pytest.mark.parametrize("system_crypt", [True, False], ids=["libxcrypt", "libpass"])
@pytest.mark.parametrize("rounds", [5000, 20000])
def test_both_sha512_crypts_write_the_same_form(system_crypt: bool, rounds: int) -> None:
    hashes = [
        hash_password(f"Xk7pQ2mZr9TnW{n:02d}", CredentialSettings(sha512_rounds=rounds), system_crypt=system_crypt)
        for n in range(20)
    ]
    forms = [re.fullmatch(SHA512_CRYPT_FORM, h) for h in hashes]
    assert all(forms), hashes
    assert {f["rounds"] for f in forms if f} == {None if rounds == 5000 else str(rounds)}
    assert len({f["salt"] for f in forms if f}) == 20  # a new salt for each
    for n, h in enumerate(hashes):
        assert sha512_crypt.verify(f"Xk7pQ2mZr9TnW{n:02d}", h.removeprefix("{CRYPT}"))  # libpass verifies both


def test_a_password_the_system_crypt_refuses_is_hashed_by_libpass() -> None:
    # 600 bytes: over libxcrypt's 511, within libpass's 4,096. Never reached from a checked policy.
    value = hash_password("x" * 600, CredentialSettings())
    assert sha512_crypt.verify("x" * 600, value.removeprefix("{CRYPT}"))


@pytest.mark.parametrize("system_crypt", [True, False], ids=["libxcrypt", "libpass"])
def test_batch_hashing_with_either_sha512_crypt_keeps_the_order(system_crypt: bool) -> None:
    passwords = generate_passwords(PARALLEL_FROM + 10, POLICY)
    hashes = hash_passwords(passwords, CredentialSettings(sha512_rounds=1000), system_crypt=system_crypt)
    assert all(sha512_crypt.verify(p, h.removeprefix("{CRYPT}")) for p, h in zip(passwords, hashes, strict=True))


def test_batch_hashing_on_every_core_keeps_the_order() -> None:
    passwords = generate_passwords(PARALLEL_FROM + 10, POLICY)
    hashes = hash_passwords(passwords, CredentialSettings(hash="ssha"))
    assert len(hashes) == len(passwords)
    assert all(ldap_salted_sha1.verify(p, h) for p, h in zip(passwords, hashes, strict=True))


# --- Randomness of the real generator (issue 11) ------------------------------------------------
#
# These tests draw from the real ``secrets`` source with no seed: a seed would only prove that one
# fixed sequence looks random. Unseeded tests must not flake, so a check fails only below
# ALPHA = 1e-6. A run makes about twenty such checks, so it fails by chance with probability below
# 2e-5 (Bonferroni): one false alarm in 50,000 runs. For the chi-square approximation to hold that
# far in the tail, expected counts must not be small: they are in the thousands, except the class
# mixes, whose rarest ones are pooled until every cell expects at least MIN_EXPECTED.
#
# The promise checked: every password generate_password can return (a lower case letter, an upper
# case letter and a digit; no formula symbol first) is equally likely. So the first position draws
# from fewer symbols than the others when the alphabet holds formula symbols, and the checks below
# judge it apart from the other positions, which are alike.

SAMPLE = 100_000
ALPHA = 1e-6
MIN_EXPECTED = 50
# Symbols a university may add: printable, no look-alike, none of [password_rules]'s forbidden ones;
# four of them (+ = @ -) may not come first.
SYMBOLS_POLICY = PasswordPolicy(length=14, alphabet=POLICY.alphabet + "#%+=?!@*-")
POLICIES = [pytest.param(POLICY, id="default"), pytest.param(SYMBOLS_POLICY, id="symbols")]


def classes_of(alphabet: str) -> dict[str, str]:
    """The alphabet split as ``has_required_classes`` sees it, plus the symbols it ignores."""
    tests = {"lower": str.islower, "upper": str.isupper, "digit": str.isdigit}
    groups = {name: "".join(c for c in alphabet if test(c)) for name, test in tests.items()}
    groups["other"] = "".join(c for c in alphabet if not any(test(c) for test in tests.values()))
    return {name: members for name, members in groups.items() if members}


Pattern = tuple[int, tuple[int, ...]]  # (class of the first symbol, symbols of each class after it)


def class_patterns(groups: dict[str, str], length: int) -> dict[Pattern, float]:
    """Exact probability of each class pattern: the first symbol's class, and the others' class mix.

    Under the documented promise, every password generate_password can return is equally likely.
    Its rules look only at classes and at which symbol comes first, so they accept or refuse a
    pattern as a whole, and a pattern's probability is its share of the accepted passwords: the
    first symbol has as many choices as its class has symbols allowed first, each other symbol as
    many as its class has.
    """
    sizes = [len(members) for members in groups.values()]
    first_sizes = [len(first_symbols(members)) for members in groups.values()]
    weights: dict[Pattern, int] = {}
    for first, rest in itertools.product(range(len(groups)), itertools.product(range(length), repeat=len(groups))):
        if sum(rest) != length - 1 or not first_sizes[first]:
            continue
        sample = list(groups.values())[first][0] + "".join(m[0] * n for m, n in zip(groups.values(), rest, strict=True))
        if has_required_classes(sample):
            orders = math.factorial(length - 1) // math.prod(math.factorial(n) for n in rest)
            weights[first, rest] = (
                first_sizes[first] * orders * math.prod(s**n for s, n in zip(sizes, rest, strict=True))
            )
    total = sum(weights.values())
    return {pattern: weight / total for pattern, weight in weights.items()}


def chisquare_pooling_rare(observed: Counter[object], expected: dict[object, float], count: int) -> float:
    """Chi-square p-value of counts against exact odds; the rarest cells share one cell.

    The shared cell also takes anything observed that ``expected`` does not hold (a class mix or
    pattern the rules should have refused).
    """
    by_odds = sorted(expected, key=expected.__getitem__)
    rare = sum(expected[m] * count < MIN_EXPECTED for m in by_odds)
    while sum(expected[m] for m in by_odds[:rare]) * count < MIN_EXPECTED:
        rare += 1
    common = by_odds[rare:]
    f_obs = [observed[m] for m in common] + [count - sum(observed[m] for m in common)]
    f_exp = [expected[m] * count for m in common] + [sum(expected[m] for m in by_odds[:rare]) * count]
    return float(stats.chisquare(f_obs, f_exp).pvalue)


def randomness_pvalues(passwords: Sequence[str], alphabet: str) -> dict[str, float]:
    """p-values of the checks that passwords drawn uniformly among the valid ones must pass.

    Not checked: "every symbol equally likely overall". Redrawing the passwords that lack a class
    refuses mostly those without a digit (about 10% of draws with the default policy), which
    raises the digits' share from 8/56 = 14.3% to 15.9% of the symbols: a correct generator would
    fail that check every time. Instead:

    - no password begins with a formula symbol (a certainty, not a test: its p-value is 0 or 1);
    - within a class, every symbol is equally likely, pooled over the positions that draw from the
      whole class and at each position: the rules look only at classes and at the first symbol, so
      given which class stands where, the symbols are independent and uniform within their class
      (among those allowed first, at the first position): exact multinomials;
    - the class mix of each password, and the class of its first symbol, follow their exact
      distributions (``class_patterns``): this catches a generator that picks classes with the
      wrong odds, which the symbol checks cannot;
    - every position after the first has the same class distribution (the rules treat them alike).
    """
    groups = classes_of(alphabet)
    count, length = len(passwords), len(passwords[0])
    codes = np.frombuffer("".join(passwords).encode("ascii"), dtype=np.uint8).reshape(count, length)
    class_of = np.full(256, -1)
    rank_of = np.full(256, -1)  # a symbol's rank in its class, after the first position
    first_rank_of = np.full(256, -1)  # and at the first position, among those allowed there
    for k, members in enumerate(groups.values()):
        for rank, symbol in enumerate(members):
            class_of[ord(symbol)], rank_of[ord(symbol)] = k, rank
        for rank, symbol in enumerate(first_symbols(members)):
            first_rank_of[ord(symbol)] = rank
    classes = class_of[codes]
    ranks = np.concatenate([first_rank_of[codes[:, :1]], rank_of[codes[:, 1:]]], axis=1)
    assert (classes >= 0).all(), "a symbol outside the alphabet"
    pvalues: dict[str, float] = {"no formula symbol first": 0.0 if (ranks[:, 0] < 0).any() else 1.0}

    for k, (name, members) in enumerate(groups.items()):
        first = first_symbols(members)
        mask = (classes == k) & (ranks >= 0)
        width = len(members)
        cells = np.bincount(np.nonzero(mask)[1] * width + ranks[mask], minlength=length * width)
        table = cells.reshape(length, width)
        # Rows (positions) with their number of possible symbols; a position the class never
        # reaches, or with a single symbol possible, says nothing here (the class checks judge it).
        rows = [(table[0, : len(first)], len(first))] + [(row, width) for row in table[1:]]
        rows = [(row, n) for row, n in rows if row.sum() > 0 and n > 1]
        if rows:
            # The rows are independent given the class pattern, so their statistics add up.
            statistic = sum(float(stats.chisquare(row).statistic) for row, _ in rows)
            pvalues[f"{name} symbols, per position"] = float(stats.chi2.sf(statistic, sum(n - 1 for _, n in rows)))
        pooled = table.sum(axis=0) if first == members else table[1:].sum(axis=0)
        if width > 1:
            pvalues[f"{name} symbols, pooled"] = float(stats.chisquare(pooled).pvalue)

    # Class patterns: one observation per password, so the passwords are independent draws.
    expected = class_patterns(groups, length)
    rest_mixes = np.stack([(classes[:, 1:] == k).sum(axis=1) for k in range(len(groups))], axis=1)
    mixes = rest_mixes + (classes[:, :1] == np.arange(len(groups)))
    mix_odds: dict[object, float] = {}
    first_odds: dict[object, float] = {}
    for (first_class, rest), odds in expected.items():
        mix = tuple(n + (k == first_class) for k, n in enumerate(rest))
        mix_odds[mix] = mix_odds.get(mix, 0.0) + odds
        first_odds[first_class] = first_odds.get(first_class, 0.0) + odds
    pvalues["class mix per password"] = chisquare_pooling_rare(Counter(map(tuple, mixes.tolist())), mix_odds, count)
    pvalues["class of the first symbol"] = chisquare_pooling_rare(Counter(classes[:, 0].tolist()), first_odds, count)

    # Positions after the first alike. chi2_contingency would assume independent cells, but the
    # positions of one password are not independent: a digit here makes one elsewhere less needed
    # (a negative correlation that inflates its statistic by up to 3%). The generalised statistic
    # below uses the exact covariance instead: over m alike positions, each row's deviation from
    # the mean row has covariance count * (diag(single) - pairs) * (1 - 1/m), where single[k] is
    # the chance a position holds class k and pairs[k, j] the chance two given positions hold k and j.
    alike = length - 1
    table = np.stack([(classes[:, 1:] == k).sum(axis=0) for k in range(len(groups))], axis=1)
    deviations = table - table.sum(axis=0) / alike
    rest_array = np.array([rest for _, rest in expected], dtype=float)
    odds = np.array(list(expected.values()))
    single = odds @ rest_array / alike
    pairs = ((rest_array.T * odds) @ rest_array - np.diag(odds @ rest_array)) / (alike * (alike - 1))
    inverse = np.linalg.pinv(np.diag(single) - pairs)
    statistic = float(np.einsum("pk,kj,pj->", deviations, inverse, deviations)) / count
    pvalues["class mix alike after the first position"] = float(
        stats.chi2.sf(statistic, (alike - 1) * (len(groups) - 1))
    )
    return pvalues


def failed(pvalues: dict[str, float]) -> list[str]:
    return [name for name, p in pvalues.items() if p < ALPHA]


def test_symbols_policy_is_one_the_settings_accept() -> None:
    # The "other" class is exercised with an alphabet check_settings lets a university write.
    sample = load_settings(SAMPLES / "scolpass.toml")
    check_settings(dataclasses.replace(sample, password=SYMBOLS_POLICY))
    assert sample.password == POLICY  # and the sample file keeps the default policy tested here
    assert set(classes_of(SYMBOLS_POLICY.alphabet)) == {"lower", "upper", "digit", "other"}


@pytest.mark.parametrize("policy", POLICIES)
def test_raw_draws_never_repeat(policy: PasswordPolicy) -> None:
    # generate_passwords removes repeats, which would hide a weak source; the raw draws must have
    # none. With 84+ bits, two equal draws among 100,000 have probability below 1e-15; a source with
    # fewer than 2**28 states repeats with probability above 1 - 1e-6 (birthday bound).
    draws = [generate_password(policy) for _ in range(SAMPLE)]
    assert len(set(draws)) == SAMPLE


@pytest.mark.parametrize("policy", POLICIES)
def test_passwords_pass_the_uniformity_checks(policy: PasswordPolicy) -> None:
    passwords = generate_passwords(SAMPLE, policy)
    assert len(set(passwords)) == SAMPLE
    pvalues = randomness_pvalues(passwords, policy.alphabet)
    assert not failed(pvalues), pvalues


@pytest.mark.parametrize("policy", POLICIES)
def test_checks_pass_an_unbiased_seeded_source(policy: PasswordPolicy) -> None:
    # The control for the biased sources below: the same Random(0), without the bias, passes.
    pvalues = randomness_pvalues(generate_passwords(SAMPLE, policy, random.Random(0).choice), policy.alphabet)
    assert not failed(pvalues), pvalues


def modulo_bias() -> Choice:
    # The classic bug: a random byte reduced modulo 56, so the first 256 % 56 = 32 symbols
    # (the lower case letters and 8 upper case ones) come 5/4 as often as the others.
    rng = random.Random(0)
    return lambda alphabet: alphabet[rng.getrandbits(8) % len(alphabet)]


def one_symbol_favoured() -> Choice:
    # "a" 10% more likely than any other symbol: about the smallest single-symbol bias 100,000
    # passwords reveal every time (1% would need about 60 times as many passwords).
    rng = random.Random(0)
    extra = 0.10 / (len(POLICY.alphabet) - 1)
    return lambda alphabet: alphabet[0] if rng.random() < extra else rng.choice(alphabet)


def first_position_favours_a_symbol() -> Choice:
    # "a" 50% more likely at the first position only: usually too little for the pooled count,
    # caught by the per-position one.
    rng, calls = random.Random(0), itertools.count()
    extra = 0.50 / (len(POLICY.alphabet) - 1)

    def choice(alphabet: Sequence[str]) -> str:
        first = next(calls) % POLICY.length == 0
        return alphabet[0] if first and rng.random() < extra else rng.choice(alphabet)

    return choice


def class_then_symbol() -> Choice:
    # A common design: pick a class, then a symbol of it. Uniform within classes, but digits
    # fill a third of the password instead of about a sixth.
    rng, groups = random.Random(0), list(classes_of(POLICY.alphabet).values())
    return lambda _: rng.choice(rng.choice(groups))


def ends_with_a_digit() -> Choice:
    # "Password1": a digit forced at the end meets the rule without a redraw.
    rng, calls = random.Random(0), itertools.count()
    digits = classes_of(POLICY.alphabet)["digit"]
    return lambda alphabet: rng.choice(digits if next(calls) % POLICY.length == POLICY.length - 1 else alphabet)


@pytest.mark.parametrize(
    ("source", "caught_by"),
    [
        (modulo_bias, "upper symbols, pooled"),
        (one_symbol_favoured, "lower symbols, pooled"),
        (first_position_favours_a_symbol, "lower symbols, per position"),
        (class_then_symbol, "class mix per password"),
        (ends_with_a_digit, "class mix alike after the first position"),
    ],
)
def test_checks_catch_a_biased_source(source: Callable[[], Choice], caught_by: str) -> None:
    # The checks have power at the sample size used: each bias, fed through generate_passwords
    # like the real source, is refused by the check aimed at it. Seeded, so this cannot flake, and
    # each bias is chosen large enough to be caught by a wide margin, whatever the seed.
    pvalues = randomness_pvalues(generate_passwords(SAMPLE, POLICY, source()), POLICY.alphabet)
    assert caught_by in failed(pvalues), pvalues


def formula_symbols_first() -> Choice:
    # The generator before the first-symbol rule: the first symbol from the whole alphabet.
    rng = random.Random(0)
    return lambda _: rng.choice(SYMBOLS_POLICY.alphabet)


def formula_symbol_replaced() -> Choice:
    # A tempting fix: a first symbol that would start a formula becomes the next one allowed, so
    # "?" comes first three times as often as "#" (after "+" and "=") and "*" twice (after "@").
    rng, calls, alphabet = random.Random(0), itertools.count(), SYMBOLS_POLICY.alphabet

    def choice(allowed: Sequence[str]) -> str:
        symbol = rng.choice(alphabet)
        if next(calls) % SYMBOLS_POLICY.length:
            return symbol
        index = alphabet.index(symbol)
        while alphabet[index] in FORMULA_START:
            index = (index + 1) % len(alphabet)
        return alphabet[index]

    return choice


def first_symbol_like_the_others() -> Choice:
    # The formula symbols refused first, but the first symbol's class drawn as at the other
    # positions (a symbol 9 times in 65 instead of 5 in 61): uniform within each class, wrong odds.
    rng, calls, groups = random.Random(0), itertools.count(), classes_of(SYMBOLS_POLICY.alphabet)
    weights = [len(m) for m in groups.values()]

    def choice(alphabet: Sequence[str]) -> str:
        if next(calls) % SYMBOLS_POLICY.length:
            return rng.choice(alphabet)
        return rng.choice(first_symbols(rng.choices(list(groups.values()), weights)[0]))

    return choice


@pytest.mark.parametrize(
    ("source", "caught_by"),
    [
        (formula_symbols_first, "no formula symbol first"),
        (formula_symbol_replaced, "other symbols, per position"),
        (first_symbol_like_the_others, "class of the first symbol"),
    ],
)
def test_checks_catch_a_biased_first_symbol(source: Callable[[], Choice], caught_by: str) -> None:
    # The same checks, on an alphabet with formula symbols, refuse a wrong first position.
    pvalues = randomness_pvalues(generate_passwords(SAMPLE, SYMBOLS_POLICY, source()), SYMBOLS_POLICY.alphabet)
    assert caught_by in failed(pvalues), pvalues


def test_repeat_check_catches_a_small_seed() -> None:
    # A generator reseeded with 24 random bits per password (a time- or PID-seeded one is worse):
    # 100,000 draws among 2**24 seeds repeat about 300 times.
    seeds, rng, calls = random.Random(0), random.Random(), itertools.count()

    def choice(alphabet: Sequence[str]) -> str:
        if next(calls) % POLICY.length == 0:
            rng.seed(seeds.getrandbits(24))
        return rng.choice(alphabet)

    draws = [generate_password(POLICY, choice) for _ in range(SAMPLE)]
    assert len(set(draws)) < SAMPLE


@pytest.mark.parametrize(
    ("length", "alphabet"), [(2, POLICY.alphabet), (15, "abcdefgh"), (15, "=+-@"), (0, POLICY.alphabet)]
)
def test_a_policy_no_password_can_meet_is_refused_not_looped_on(length: int, alphabet: str) -> None:
    from scolpass import ConfigError

    with pytest.raises(ConfigError, match="no password of"):
        generate_password(PasswordPolicy(length=length, alphabet=alphabet))
