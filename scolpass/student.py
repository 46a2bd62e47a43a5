"""The student as scolpass sees them: one person, one or more programme steps."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Step:
    """One programme step ("étape") a student is enrolled in."""

    code: str
    version: str
    label: str
    faculty: str = ""  # a student in a double degree may have steps in two faculties
    faculty_code: str = ""
    # SUPANN components (regimeinsc, sectdisc, typedip, cursusann, diplome) the export gives.
    supann: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Student:
    """A student of the enrolment file, every value as the registrar typed it."""

    student_number: str
    birth_name: str
    first_name: str
    birth_date: date
    faculty: str
    steps: tuple[Step, ...]
    usual_name: str = ""
    birth_place: str = ""
    sex: str = ""
    ine: str = ""
    faculty_code: str = ""
    status: str = ""  # printed instead of the template's default ("Étudiant") when given
    social_security_date: date | None = None
    paying_centre: str = ""
    language: str = ""  # of the sheet; "" for the configured default
    line: int = 0  # first line of the student in the enrolment file

    @property
    def last_name(self) -> str:
        """The usual name, falling back to the birth name."""
        return self.usual_name or self.birth_name

    @property
    def faculties(self) -> list[str]:
        """Every faculty of the student's steps, first step's first, each once."""
        return list(dict.fromkeys([self.faculty, *(s.faculty for s in self.steps if s.faculty)]))

    @property
    def civility(self) -> str:
        """ "M." or "Mme" when the file gives the sex, else nothing."""
        return {"M": "M.", "F": "Mme"}.get(self.sex, "")

    def printed_fields(self) -> dict[str, str]:
        """Every value of the student that is printed, by column name (for font and name checks)."""
        fields = {
            "student_number": self.student_number,
            "birth_name": self.birth_name,
            "usual_name": self.usual_name,
            "first_name": self.first_name,
            "birth_place": self.birth_place,
            "ine": self.ine,
            "faculty": self.faculty,
            "status": self.status,
            "paying_centre": self.paying_centre,
        }
        for step in self.steps:
            fields[f"step_code ({step.code})"] = step.code
            fields[f"step_label ({step.code})"] = step.label
            fields[f"faculty ({step.code})"] = step.faculty
        return fields

    def to_record(self) -> str:
        """What the registry keeps of the student to print a sheet again (JSON; no secret)."""
        # As dataclasses.asdict gives it (fields in order, steps as objects), at a tenth of its cost: a run
        # records 50,000 of them.
        data = {field: getattr(self, field) for field in _STUDENT_FIELDS}
        data["steps"] = [{field: getattr(step, field) for field in _STEP_FIELDS} for step in self.steps]
        data["birth_date"] = self.birth_date.isoformat()
        data["social_security_date"] = self.social_security_date.isoformat() if self.social_security_date else None
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_record(cls, record: str | Mapping[str, Any]) -> Student:
        """The inverse of :meth:`to_record`: the registry hands out students, never their JSON."""
        values = dict(json.loads(record) if isinstance(record, str) else record)
        values["birth_date"] = date.fromisoformat(values["birth_date"])
        security = values.get("social_security_date")
        values["social_security_date"] = date.fromisoformat(security) if security else None
        values["steps"] = tuple(
            Step(**{**step, "supann": tuple(tuple(pair) for pair in step.get("supann", ()))})
            for step in values["steps"]
        )
        return cls(**values)


_STUDENT_FIELDS = tuple(field.name for field in dataclasses.fields(Student))
_STEP_FIELDS = tuple(field.name for field in dataclasses.fields(Step))


@dataclass(frozen=True)
class Account:
    """A student and the login(s) given to them: what a run records, prints and exports."""

    student: Student
    identifier: str
    short_identifier: str | None = None  # with [identifiers] short_pattern
