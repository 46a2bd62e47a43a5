"""Logins: ``prenom.nom``, transliterated, unique, never reissued.

anyascii is a real transliteration table: stripping accents after Unicode
decomposition would silently lose ł ø đ œ æ ß and every non-Latin script.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from anyascii import anyascii

from .student import Student

# Logins a university keeps for its services, never given to a student.
RESERVED = frozenset(
    {
        "abuse", "admin", "administrateur", "administrator", "anonymous", "hostmaster", "info",
        "mailer-daemon", "noc", "nobody", "noreply", "no-reply", "postmaster", "root", "scolarite",
        "security", "support", "webmaster", "www",
    }
)  # fmt: skip

_APOSTROPHES = re.compile(r"['\u2019\u02bc`]")
_OTHER = re.compile(r"[^a-z0-9]+")
_LETTER = re.compile("[a-z]")
# Room kept for the homonym suffix when the base is cut to max_length.
SUFFIX_ROOM = 3


@lru_cache(maxsize=65536)
def name_part(name: str) -> str:
    """One half of a login: ``Jean-Pierre`` gives ``jean-pierre``, ``N'Diaye`` gives ``ndiaye``.

    Transliterated first, then lower-cased (so ``İlkay`` gives ``ilkay``),
    apostrophes removed, every other run of characters outside ``[a-z0-9]``
    made one hyphen, hyphens trimmed.
    """
    text = _APOSTROPHES.sub("", anyascii(name).lower())
    return _OTHER.sub("-", text).strip("-")


def base_identifier(student: Student, max_length: int) -> str:
    """The login before homonyms are told apart; empty when a name leaves no letter."""
    first, last = name_part(student.first_name), name_part(student.last_name)
    if not _LETTER.search(first) or not _LETTER.search(last):
        return ""
    return _cut(f"{first}.{last}", max_length - SUFFIX_ROOM)


def _cut(text: str, length: int) -> str:
    # Never end on a separator: "jean-pierre." reads as a typing slip.
    return text[:length].rstrip("-.")


NO_LETTER = "leaves no letter for the login after transliteration"


def name_check(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Row check: the names a login is made from must leave a letter (never an empty login)."""
    found = []
    last_column = "usual_name" if values.get("usual_name") else "birth_name"
    for column in ("first_name", last_column):
        value = values.get(column, "")
        if value and not _LETTER.search(name_part(value)):
            found.append((column, NO_LETTER))
    return found


def assign_identifiers(
    students: Iterable[Student],
    is_taken: Callable[[str], bool],
    max_length: int = 64,
) -> dict[str, str]:
    """Give each student a free login; returns ``{student_number: identifier}``.

    Homonyms get ``2``, ``3``... in student-number order, so the same data
    always gives the same logins. ``is_taken`` answers for logins issued
    before (the registry) and reserved words; logins given in this call are
    tracked here.
    """
    given: dict[str, str] = {}
    used: set[str] = set()
    for student in sorted(students, key=lambda s: s.student_number):
        base = base_identifier(student, max_length)
        if not base:
            raise ValueError(f"student {student.student_number} has no usable name; check names with name_check first")
        candidate, n = base, 1
        while candidate in used or candidate in RESERVED or is_taken(candidate):
            n += 1
            candidate = f"{_cut(base, max_length - len(str(n)))}{n}"
        used.add(candidate)
        given[student.student_number] = candidate
    return given
