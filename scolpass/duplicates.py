"""The probable-duplicate check: which keys tell that a new student number is a student already issued.

One table of (key, reason), shared by the registry's query over issued students
and by the plan's comparison of a file's new students with each other, so that
both give the same reasons for the same resemblance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .identifiers import name_part
from .student import Student

Key = Literal["number_key", "ine", "identity_key"]


@dataclass(frozen=True)
class Resemblance:
    """One way two student numbers can be the same person."""

    key: Key  # also the registry's column
    reason: str  # as the manifest and the terminal say it


SAME_NUMBER = Resemblance("number_key", "the same student number but for leading zeros")
SAME_INE = Resemblance("ine", "the same INE")
SAME_PERSON = Resemblance("identity_key", "the same birth name, first name and birth date")
# In the order a student's first resemblance is reported.
RESEMBLANCES = (SAME_NUMBER, SAME_INE, SAME_PERSON)


def number_key(student_number: str) -> str:
    """A student number as Excel may have mangled it: without leading zeros."""
    return student_number.lstrip("0")


def identity_key(student: Student) -> str:
    """Birth name, first name and birth date, as a probable-duplicate check compares them."""
    return f"{name_part(student.birth_name)}|{name_part(student.first_name)}|{student.birth_date.isoformat()}"


def keys(student: Student) -> dict[Key, str]:
    """The student's value of every key; an INE the file does not give matches nothing, and is left out."""
    found: dict[Key, str] = {"number_key": number_key(student.student_number), "identity_key": identity_key(student)}
    if student.ine:
        found["ine"] = student.ine
    return found


def note(other: str, resemblance: Resemblance) -> str:
    """Why a student is held back, as the manifest and the terminal say it."""
    return f"probable duplicate of student {other}: {resemblance.reason}"
