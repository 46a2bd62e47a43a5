"""The student record the registry keeps reloads to the same student."""

from __future__ import annotations

import dataclasses
import json
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


def test_a_record_is_the_json_registries_already_hold() -> None:
    # Records written before (by dataclasses.asdict) and now are the same text: fields in order, steps as objects.
    step = Step("L1DRT", "1", "Licence 1 Droit", "DROIT", "DRT", (("regimeinsc", "{SISE}10"),))
    student = Student("00000001", "ÉLÉONORE", "Zoé", date(2006, 5, 1), "DROIT", (step,), ine="0123456789A", line=3)
    for one in (student, dataclasses.replace(student, social_security_date=date(2024, 9, 1), steps=(step, step))):
        data = {**dataclasses.asdict(one), "birth_date": one.birth_date.isoformat()}
        data["social_security_date"] = one.social_security_date.isoformat() if one.social_security_date else None
        assert one.to_record() == json.dumps(data, ensure_ascii=False)
