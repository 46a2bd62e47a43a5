"""The system's crypt(3) gives libpass's sha512-crypt hashes, or stands aside."""

from __future__ import annotations

import ctypes
import os

import pytest
from passlib.hash import sha512_crypt  # type: ignore[import-untyped]

from scolpass import xcrypt

# Drepper's specification of sha512-crypt ("Unix crypt using SHA-256 and SHA-512"), its test vectors.
SPECIFICATION = [
    ("Hello world!", "$6$saltstring",
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
    ("Hello world!", "$6$rounds=10000$saltstringsaltstring",
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def _system_crypt() -> None:
    # libxcrypt is libcrypt1 on Debian (installed with libc6): a machine without it is misconfigured.
    if not xcrypt.supports_sha512_crypt():
        message = f"{xcrypt.LIBRARY} with crypt_rn and $6$ not found: install the Debian package 'libcrypt1'"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: a skip is a failure: {message}")
        pytest.skip(message)


@pytest.mark.parametrize(("password", "setting", "expected"), SPECIFICATION)
def test_the_specifications_vectors(password: str, setting: str, expected: str) -> None:
    assert xcrypt.crypt(password, setting) == expected


@pytest.mark.parametrize("rounds", [1000, 5000, 20000])
@pytest.mark.parametrize("salt", ["saltstring", "./0123456789ABCD", "zyxwvutsrqponmlk", "a"])
@pytest.mark.parametrize("password", ["Xk7pQ2mZr9TnWc4", "=CKPC9iBQdAXcSf", "Élodie ΠΑΠΑΔΟΠΟΥΛΟΥ", "x" * 200])
def test_same_hash_as_libpass_for_the_same_salt_and_rounds(password: str, salt: str, rounds: int) -> None:
    # libpass writes no rounds= at the scheme's default of 5,000; the setting says it as libpass would.
    reference = sha512_crypt.using(salt=salt, rounds=rounds).hash(password)
    setting = reference.rsplit("$", 1)[0]
    assert setting == (f"$6${salt}" if rounds == 5000 else f"$6$rounds={rounds}${salt}")
    assert xcrypt.crypt(password, setting) == reference


@pytest.mark.parametrize(
    "setting",
    [
        "$6$bad*salt",  # not of the crypt alphabet
        "$6$rounds=10$saltstring",  # under the specification's 1,000
        "$7$saltstring",  # not a method libxcrypt knows
        "*0",  # the failure token crypt(3) returns; as a setting it must not hash
    ],
)
def test_a_refused_setting_is_none_never_a_failure_token(setting: str) -> None:
    assert xcrypt.crypt("Xk7pQ2mZr9TnWc4", setting) is None


@pytest.mark.parametrize("password", ["x" * 512, "a\x00b"])
def test_a_password_the_library_cannot_take_is_none(password: str) -> None:
    # Over CRYPT_MAX_PASSPHRASE_SIZE (512 with its NUL), or a NUL that would cut it short: the
    # caller hashes with libpass instead (which hashes the first, refuses the second).
    assert xcrypt.crypt(password, "$6$saltstring") is None


def test_a_missing_library_is_no_system_crypt() -> None:
    assert not xcrypt.supports_sha512_crypt("libcrypt-not-installed.so.1")
    assert xcrypt.crypt("Xk7pQ2mZr9TnWc4", "$6$saltstring", "libcrypt-not-installed.so.1") is None


def test_a_library_without_crypt_rn_is_no_system_crypt() -> None:
    # glibc's own crypt_r (before libxcrypt) takes a larger struct crypt_data it is not told the
    # size of; only crypt_rn, which is, is used. The C library has neither.
    assert not hasattr(ctypes.CDLL("libc.so.6"), "crypt_rn")
    assert not xcrypt.supports_sha512_crypt("libc.so.6")
    assert xcrypt.crypt("Xk7pQ2mZr9TnWc4", "$6$saltstring", "libc.so.6") is None


def test_hashes_concurrently_from_threads() -> None:
    # Each call owns its struct crypt_data: threads never see each other's hashes.
    from concurrent.futures import ThreadPoolExecutor

    salts = [f"salt{n:04d}" for n in range(64)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashes = list(pool.map(lambda salt: xcrypt.crypt(f"pw{salt}", f"$6$rounds=1000${salt}"), salts))
    assert hashes == [sha512_crypt.using(salt=s, rounds=1000).hash(f"pw{s}") for s in salts]
