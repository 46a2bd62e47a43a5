"""``scolpass preview``: one sheet with sample data, before a real run."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

from .academic_year import AcademicYear
from .errors import StateError
from .identifiers import LoginRule, assign_identifiers
from .passwords import generate_passwords
from .settings import Settings, email_of
from .sheet import Sheet, SheetRenderer, activation_link
from .student import Step, Student

PREVIEW_STUDENT = Student(
    student_number="00012345",
    birth_name="DE LA FONTAINE",
    usual_name="KERGUELEN",
    first_name="Marie-Hélène",
    birth_date=date(2006, 4, 17),
    birth_place="SAINT-ÉTIENNE",
    sex="F",
    ine="0123456789A",
    faculty="LETTRES, LANGUES ET SCIENCES HUMAINES",
    steps=(Step("LM1", "101", "L1 Lettres modernes"), Step("DUX", "101", "DU Écritures créatives")),
)


def preview(settings: Settings, path: str | Path, language: str | None = None, year: int | None = None) -> Path:
    """One sheet with sample data, to check wording, logo and colours before a real run.

    Its password is random and opens nothing.
    """
    academic_year = AcademicYear(year) if year else AcademicYear.of_date(date.today())
    renderer = SheetRenderer(settings, academic_year.label)
    student = dataclasses.replace(PREVIEW_STUDENT, language=(language or settings.sheet.language).lower())
    renderer.wording(student.language)  # an unknown language fails here, with the template's name
    rules = settings.identifiers
    rule = LoginRule(rules.pattern, rules.max_length, rules.suffix)
    identifier = assign_identifiers([student], lambda _: False, rule)[student.student_number]
    email = email_of(identifier, settings.university.email_domain)
    link = activation_link(settings.university.activation_url, identifier, email)
    (password,) = generate_passwords(1, settings.password)
    path = Path(path)
    try:
        renderer.render(
            [Sheet(student, email, settings.login_of(identifier), password, link)], path, "SCOL'PASS preview"
        )
    except OSError as exc:
        raise StateError(f"{path}: cannot write the preview: {exc.strerror}") from None
    return path
