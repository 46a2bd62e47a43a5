"""The system's crypt(3): libxcrypt, through ctypes.

libpass has only its own, pure Python sha512-crypt, at half the speed of
libxcrypt's for the same ``$6$`` hash; Python's ``crypt`` module, which would
reach libxcrypt, is deprecated and gone in Python 3.13.

Only ``crypt_rn`` is called: it writes into a ``struct crypt_data`` the caller
owns and tells the size of, so it keeps no global state (threads may hash at
once: ctypes releases the GIL during the call), and it answers a setting or a
passphrase it refuses with NULL, never with a ``*0``/``*1`` token that could pass
for a hash. glibc's own libcrypt.so.1 (before libxcrypt) has no ``crypt_rn``,
and a larger ``struct crypt_data``: it is not used, nor is a library whose
answer to the specification's test vector is wrong.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache
from typing import Any

# libxcrypt's soname (Debian's libcrypt1, installed with libc6; Fedora's libxcrypt).
LIBRARY = "libcrypt.so.1"

# Drepper's specification of sha512-crypt, its first test vector: the scheme's default 5,000 rounds.
_KNOWN_ANSWER = (
    "Hello world!",
    "$6$saltstring",
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
)


class _CryptData(ctypes.Structure):
    """libxcrypt's ``struct crypt_data`` (crypt.h), 32,768 bytes."""

    _fields_ = (
        ("output", ctypes.c_char * 384),  # CRYPT_OUTPUT_SIZE
        ("setting", ctypes.c_char * 384),
        ("input", ctypes.c_char * 512),  # CRYPT_MAX_PASSPHRASE_SIZE
        ("reserved", ctypes.c_char * 767),
        ("initialized", ctypes.c_char),  # 0 before the first call: a new structure is all zeros
        ("internal", ctypes.c_char * 30720),
    )


_CryptRn = Callable[[bytes, bytes, Any, int], "bytes | None"]


@cache
def _crypt_rn(library: str) -> _CryptRn | None:
    """``crypt_rn`` of ``library``, or None when the library or the function is missing."""
    try:
        function = ctypes.CDLL(library).crypt_rn
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_CryptData), ctypes.c_int)
    function.restype = ctypes.c_char_p  # NULL becomes None
    crypt_rn: _CryptRn = function
    return crypt_rn


def crypt(password: str, setting: str, library: str = LIBRARY) -> str | None:
    """The hash of ``password`` under ``setting`` (e.g. ``$6$rounds=5000$salt``), as crypt(3) writes it.

    None when the library is missing or refuses: an unknown method, a bad salt or rounds, a
    passphrase over 511 bytes or holding a NUL (which the C string would silently cut).
    """
    function = _crypt_rn(library)
    if function is None:
        return None
    try:
        phrase, salt = password.encode("utf-8"), setting.encode("ascii")
    except UnicodeEncodeError:
        return None
    if b"\0" in phrase or b"\0" in salt:
        return None
    data = _CryptData()
    try:
        hashed = function(phrase, salt, ctypes.byref(data), ctypes.sizeof(data))
    finally:
        # The scratch area held the password's intermediate digests.
        ctypes.memset(ctypes.addressof(data), 0, ctypes.sizeof(data))
    if hashed is None or hashed.startswith(b"*"):
        return None
    return hashed.decode("ascii")


@cache
def supports_sha512_crypt(library: str = LIBRARY) -> bool:
    """Whether ``library`` hashes sha512-crypt (``$6$``), checked on the specification's vector."""
    password, setting, expected = _KNOWN_ANSWER
    return crypt(password, setting, library) == expected
