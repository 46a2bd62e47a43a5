"""Logins: ``prenom.nom``, transliterated, unique, never reissued.

anyascii is a real transliteration table: stripping accents after Unicode
decomposition would silently lose ł ø đ œ æ ß and every non-Latin script.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
_SEPARATORS = "-._"
# Greek "ου" is one sound, "ou" in the passport transliteration (ELOT 743) that
# French records follow; letter by letter it would give "oy" (Papadopoyloy).
_GREEK_OU = re.compile("[Οο][ΥυΎύ]")


# What every login scolpass issues is made of: name_part() leaves a-z 0-9 and '-', and the
# [identifiers] pattern and suffix may add only . _ - and digits (login_pattern_problem, settings),
# within max_length, at most 64 (an e-mail address's local part). A login read from elsewhere
# (`registry import`) is held to the same before it is reserved or adopted: an adopted login goes
# into a DN (uid=<login>,<people_dn>), onto the sheet and into the manifest as it is.
LOGIN_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-")
MAX_LOGIN_LENGTH = 64
LOGIN_RULE = (
    f"a login holds only a-z, 0-9 and . _ - (as the logins scolpass issues), at most {MAX_LOGIN_LENGTH} characters"
)


def login_problem(login: str) -> str | None:
    """Why ``login`` (lower-cased) could not be a login scolpass issues, or None.

    Only the characters and the length are asked for, not the shape of a pattern: a directory
    holds logins such as ``jdupont2`` or ``ab1234``. It must start with a letter or a digit,
    as every issued login does: a leading '-' reads as an option to a command, a leading '.'
    as a hidden file or '..' where a login names a folder.
    """
    if not login:
        return "is empty"
    if len(login) > MAX_LOGIN_LENGTH:
        return f"is {len(login):,} characters long; {LOGIN_RULE}"
    bad = next((c for c in login if c not in LOGIN_CHARACTERS), None)
    if bad is not None:
        return f"holds {_character(bad)}; {LOGIN_RULE}"
    if login[0] in _SEPARATORS:
        return f"starts with {login[0]!r}; a login starts with a letter or a digit, as the logins scolpass issues"
    return None


# What a [identifiers] pattern may hold in braces: LoginRule.base fills in these, and only these.
LOGIN_PLACEHOLDERS = ("first", "last", "first_initial", "last_initial")
SEPARATORS = (".", "_", "-")


def login_pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot make logins, or None."""
    names = re.findall(r"{([^{}]*)}", pattern)
    unknown = [n for n in names if n not in LOGIN_PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}}; known: " + ", ".join("{" + n + "}" for n in LOGIN_PLACEHOLDERS)
    if not {"last", "last_initial"} & set(names):
        return "must hold {last} or {last_initial}, and may hold {first} or {first_initial}"
    literal = re.sub(r"{[^{}]*}", "", pattern)
    if not re.fullmatch(r"[a-z0-9._-]*", literal):
        return "only a-z 0-9 . _ - may stand between the placeholders"
    if pattern.startswith(SEPARATORS) or pattern.endswith(SEPARATORS) or re.search(r"[._-]{2}", pattern):
        return "must not start or end with . _ - nor hold two of them in a row (an address cannot)"
    return None


def _character(c: str) -> str:
    """``c`` for a message: itself when it can be seen, else its code point (never raw: no ESC to a terminal)."""
    name = f"U+{ord(c):04X} ({unicodedata.name(c, 'a control character')})"
    if c.isprintable() and not c.isspace():
        # Beyond ASCII the code point too: the Kelvin sign looks like 'K', a Cyrillic 'а' like 'a'.
        return repr(c) if c.isascii() else f"{c!r}, {name}"
    return name


@lru_cache(maxsize=65536)
def name_part(name: str) -> str:
    """One half of a login: ``Jean-Pierre`` gives ``jean-pierre``, ``N'Diaye`` gives ``ndiaye``.

    Transliterated first, then lower-cased (so ``İlkay`` gives ``ilkay``),
    apostrophes removed, every other run of characters outside ``[a-z0-9]``
    made one hyphen, hyphens trimmed.
    """
    text = _APOSTROPHES.sub("", anyascii(_GREEK_OU.sub("ou", name)).lower())
    return _OTHER.sub("-", text).strip("-")


@dataclass(frozen=True)
class LoginRule:
    """How a login is made from a name, and told apart from a homonym's."""

    pattern: str = "{first}.{last}"
    max_length: int = MAX_LOGIN_LENGTH
    suffix: str = "{n}"

    @property
    def room(self) -> int:
        """Characters kept free for the homonym suffix when a base is cut (up to 999 homonyms)."""
        return len(self.suffix.replace("{n}", "999"))

    def base(self, student: Student) -> str:
        """The login before homonyms are told apart; empty when a name leaves no letter."""
        if name_check({"first_name": student.first_name, "usual_name": student.usual_name,
                       "birth_name": student.birth_name}):  # fmt: skip
            return ""
        first, last = name_part(student.first_name), name_part(student.last_name)
        login = self.pattern.format(first=first, last=last, first_initial=first[0], last_initial=last[0])
        return _cut(login, self.max_length - self.room)

    def numbered(self, base: str, n: int) -> str:
        """The ``n``-th holder of ``base``: the base itself, then base + suffix."""
        if n == 1:
            return base
        suffix = self.suffix.replace("{n}", str(n))
        return _cut(base, self.max_length - len(suffix)) + suffix


def _cut(text: str, length: int) -> str:
    # Never end on a separator: "jean-pierre." reads as a typing slip.
    return text[:length].rstrip(_SEPARATORS)


NO_LETTER = "has no letter to make a login from"


def name_check(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Row check: the names a login is made from must leave a letter (never an empty login)."""
    found = []
    last_column = "usual_name" if values.get("usual_name") else "birth_name"
    for column in ("first_name", last_column):
        value = values.get(column, "")
        # A letter of the name itself: anyascii spells symbols out ("°" gives "deg", "€" "eur").
        if value and not (_has_letter(value) and _LETTER.search(name_part(value))):
            found.append((column, NO_LETTER))
    return found


@lru_cache(maxsize=65536)
def _has_letter(value: str) -> bool:
    return any(unicodedata.category(c).startswith("L") for c in value)


def assign_identifiers(
    students: Iterable[Student],
    is_taken: Callable[[str], bool],
    rule: LoginRule | None = None,
    reserved: Iterable[str] = (),
) -> dict[str, str]:
    """Give each student a free login; returns ``{student_number: identifier}``.

    Homonyms get the suffix with 2, 3... in student-number order, so the same
    data always gives the same logins. ``is_taken`` answers for logins issued
    or reserved before (the registry); ``reserved`` adds words to the built-in
    ones; logins given in this call are tracked here.
    """
    rule = rule or LoginRule()
    never = RESERVED | set(reserved)
    given: dict[str, str] = {}
    used: set[str] = set()
    # The number last given to each base: every lower one was refused then and still would be (used only
    # grows; what is_taken refuses stays refused), so the next homonym starts there, not at 1 (125 homonyms
    # of one name tried 7,800 logins).
    last: dict[str, int] = {}
    for student in sorted(students, key=lambda s: s.student_number):
        base = rule.base(student)
        if not base:
            raise ValueError(f"student {student.student_number} has no usable name; check names with name_check first")
        n = last.get(base, 1)
        candidate = rule.numbered(base, n)
        while candidate in used or candidate in never or is_taken(candidate):
            n += 1
            candidate = rule.numbered(base, n)
        used.add(candidate)
        last[base] = n
        given[student.student_number] = candidate
    return given
