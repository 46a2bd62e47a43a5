"""The student record the registry keeps reloads to the same student."""

from __future__ import annotations

import dataclasses
from datetime import date

from scolpass import Step, Student
from scolpass.enrolment import read_enrolment

from .conftest import SAMPLES


def test_every_sample_student_reloads_from_its_record_exactly() -> None:
    for student in read_enrolment(SAMPLES / "enrolment.csv").students:
        assert Student.from_record(student.to_record()) == student


def test_a_record_keeps_dates_steps_and_supann_components() -> None:
    step = Step("L1DRT", "1", "Licence 1 Droit", "DROIT", "DRT", (("regimeinsc", "{SISE}10"), ("typedip", "XB")))
    student = Student(
        "00000001", "MARTIN", "Jean", date(2006, 5, 1), "DROIT", (step, dataclasses.replace(step, code="L1ECO")),
        usual_name="DURAND", social_security_date=date(2024, 9, 1), language="en", line=7,
    )  # fmt: skip
    again = Student.from_record(student.to_record())
    assert again == student
    assert again.steps[0].supann == (("regimeinsc", "{SISE}10"), ("typedip", "XB"))
    assert isinstance(again.birth_date, date)
    assert isinstance(again.steps, tuple)
