"""A whole run through the library: files, manifest, registry, and nothing written on failure."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from scolpass import InputError, RunOptions, Settings, StateError, generate, open_registry
from scolpass import pipeline as pipeline_module

from .conftest import HEADER, SAMPLES, csv_text, row, sheet_texts

NOW = datetime(2026, 9, 1, 9, 30, 0)


def run(
    settings: Settings, tmp_path: Path, enrolment: Path = SAMPLES / "enrolment.csv", out: str = "out", **kw: object
):  # type: ignore[no-untyped-def]
    return generate(
        enrolment, settings, RunOptions(out_dir=tmp_path / out, registry=tmp_path / "r.sqlite3", now=NOW, **kw)
    )  # type: ignore[arg-type]


def test_sample_run_writes_everything(settings: Settings, tmp_path: Path, seeded_choice: Callable[[str], str]) -> None:
    result = run(settings, tmp_path, choice=seeded_choice)
    assert result.registry_created
    assert result.year.label == "2026/2027"
    assert sorted(p.name for p in result.out_dir.iterdir()) == [
        "credentials.csv", "credentials.ldif", "manifest.json", "sheets-droit.pdf", "sheets-economie.pdf",
        "sheets-lettres.pdf", "sheets-sciences.pdf",
    ]  # fmt: skip
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert result.out_dir.stat().st_mode & 0o777 == 0o700  # sheets carry passwords
    assert manifest["academic_year"] == "2026/2027"
    assert manifest["counts"] == {
        "new": 11,
        "returning": 0,
        "reissued": 0,
        "duplicate": 0,
        "cancelled": 0,
        "skipped": 0,
    }
    for entry in manifest["files"]:
        assert hashlib.sha256((result.out_dir / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]

    texts = sheet_texts(result.out_dir)
    students = manifest["students"]
    assert {s["student_number"] for s in students} == {f"000123{n}" for n in range(45, 56)} == set(texts)
    for s in students:
        assert s["status"] == "new"
        assert s["pdf"].startswith("sheets-")
        assert s["email"] == f"{s['identifier']}@etu.umontpellier.fr"
        assert s["email"] in texts[s["student_number"]]
    assert [(p["path"], p["faculty"], p["sheets"]) for p in manifest["parts"]] == [
        ("sheets-droit.pdf", "DROIT", 2), ("sheets-economie.pdf", "ECONOMIE", 3),
        ("sheets-lettres.pdf", "LETTRES", 3), ("sheets-sciences.pdf", "SCIENCES", 3),
    ]  # fmt: skip
    ids = {s["student_number"]: s["identifier"] for s in students}
    assert ids["00012345"] == "jean.martin"
    assert ids["00012346"] == "jean.martin2"
    assert ids["00012349"] == "anne-sophie.kerguelen"
    assert ids["00012350"] == "lukasz.walesa"
    assert ids["00012352"] == "sean.obrien"
    assert ids["00012348"] == "aissatou.ndiaye"
    # In a faculty's file, sheets follow the usual name as written ("de La Fontaine" under D, as registrars list it).
    lettres = [s["identifier"] for s in sorted(students, key=lambda s: s["page"]) if s["pdf"] == "sheets-lettres.pdf"]
    assert lettres == ["marie-helene.de-la-fontaine", "oedipe.dupont-fils", "eleni.papadopoulou"]


def test_second_run_keeps_identifiers_and_issues_only_new_students(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    first = run(settings, tmp_path)
    again = run(settings, tmp_path, out="again")
    assert not again.registry_created
    assert again.count("new") == 0
    assert again.count("returning") == 11
    assert {o.student_number: o.identifier for o in again.outcomes} == {
        o.student_number: o.identifier for o in first.outcomes
    }
    assert all(o.pdf is None and o.page is None for o in again.outcomes)
    assert sorted(p.name for p in again.out_dir.iterdir()) == ["manifest.json"]

    # A third Jean Martin gets the next free identifier, never a taken one.
    newcomer = write_csv(
        [row("00099999", academic_year="2026", birth_date="03/03/2006")], header=(*HEADER, "academic_year")
    )
    third = run(settings, tmp_path, enrolment=newcomer, out="third")
    (outcome,) = third.outcomes
    assert (outcome.identifier, outcome.status) == ("jean.martin3", "new")
    assert third.registry_size == 12


def test_every_problem_in_one_report_and_nothing_written(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    bad = write_csv(
        [
            row("1"),
            row("2", birth_date="31/02/2008", first_name="王"),
            row("3", first_name="---"),
            row("4", birth_name="x" * 300),
        ]
    )
    with pytest.raises(InputError) as caught:
        run(settings, tmp_path, enrolment=bad)
    assert [(p.line, p.column) for p in caught.value.problems] == [
        (3, "birth_date"),
        (3, "first_name"),  # the font check: '王' (U+738B)
        (4, "first_name"),  # no letter for a login
        (5, "birth_name"),  # too long
    ]
    assert "'王' (U+738B)" in str(caught.value)
    assert "300 characters long" in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "r.sqlite3").exists()


def test_built_enrolment_is_checked_too(settings: Settings, tmp_path: Path) -> None:
    from scolpass import read_enrolment

    enrolment = read_enrolment(SAMPLES / "enrolment.csv")
    student = dataclasses.replace(enrolment.students[0], first_name="中")
    bad = dataclasses.replace(enrolment, students=(student, *enrolment.students[1:]))
    with pytest.raises(InputError, match=r"U\+4E2D"):
        run(settings, tmp_path, enrolment=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "r.sqlite3").exists()


def test_data_that_cannot_fit_is_located_before_writing(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    steps = [row("7", step_code=f"S{i:02d}", step_label="Licence professionnelle " * 4) for i in range(30)]
    with pytest.raises(InputError) as caught:
        run(settings, tmp_path, enrolment=write_csv([row("1"), *steps]))
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (3, "step_code")
    assert "30 programme steps" in problem.reason
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "r.sqlite3").exists()


def test_non_empty_output_folder_is_refused(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "credentials.ldif").write_text("not yet loaded")
    with pytest.raises(StateError, match="must not exist or be empty"):
        run(settings, tmp_path)
    assert (tmp_path / "out" / "credentials.ldif").read_text() == "not yet loaded"
    assert not (tmp_path / "r.sqlite3").exists()


def test_empty_output_folder_is_used_and_kept_on_failure(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(pipeline_module, "write_ldif", _fail)
    with pytest.raises(StateError):
        run(settings, tmp_path)
    assert (tmp_path / "out").is_dir()
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.undo()
    assert run(settings, tmp_path).count("new") == 11
    assert ".scolpass-writing" not in {p.name for p in (tmp_path / "out").iterdir()}


def _fail(*_: object) -> int:
    raise OSError(28, "No space left on device")


def test_failed_run_removes_the_folders_it_made(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nest").mkdir()
    monkeypatch.setattr(pipeline_module, "write_csv", _fail)
    with pytest.raises(StateError):
        generate(
            SAMPLES / "enrolment.csv",
            settings,
            RunOptions(out_dir=tmp_path / "nest/a/b/c", registry=tmp_path / "r.sqlite3"),
        )
    assert list((tmp_path / "nest").iterdir()) == []


def test_failure_while_writing_rolls_everything_back(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(settings, tmp_path, enrolment=SAMPLES / "enrolment.csv", out="first")

    def disk_full(*_: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline_module, "write_ldif", disk_full)
    newcomer = tmp_path / "new.csv"
    newcomer.write_text(csv_text([row("00077777", birth_date="03/03/2006")]), encoding="utf-8")
    with pytest.raises(StateError, match="cannot write the output: No space left on device"):
        run(settings, tmp_path, enrolment=newcomer, out="second", year=2026)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "new.csv", "r.sqlite3"]  # no staging left
    reopened = open_registry(tmp_path / "r.sqlite3")
    assert reopened.count() == 11  # the pending account was removed, its identifier freed
    assert [(r.command, r.state) for r in reopened.runs()] == [("generate", "complete"), ("generate", "abandoned")]
    reopened.close()


def test_failure_on_a_new_registry_leaves_no_account(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> int:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(pipeline_module, "write_csv", broken)
    with pytest.raises(StateError, match="I/O error"):
        run(settings, tmp_path)
    assert not (tmp_path / "out").exists()
    # The registry file stays (deleting it could split the lock another office waits on), empty of accounts.
    reg = open_registry(tmp_path / "r.sqlite3")
    assert reg.count() == 0
    assert [r.state for r in reg.runs()] == ["abandoned"]
    reg.close()


def test_default_output_folder_and_registry(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = generate(SAMPLES / "enrolment.csv", settings, RunOptions(now=NOW))
    second = generate(SAMPLES / "enrolment.csv", settings, RunOptions(now=NOW))
    assert first.out_dir == Path("scolpass-output/2026-2027/2026-09-01_093000")
    assert second.out_dir == Path("scolpass-output/2026-2027/2026-09-01_093000-2")
    assert first.registry_path == "scolpass.sqlite3"
    assert (tmp_path / "scolpass.sqlite3").is_file()


def test_registry_path_from_config_is_relative_to_the_config(settings: Settings, tmp_path: Path) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    settings = dataclasses.replace(
        settings, registry=dataclasses.replace(settings.registry, path="um.sqlite3"), source=config_dir / "um.toml"
    )
    result = generate(SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "out", now=NOW))
    assert result.registry_path == str(config_dir / "um.sqlite3")
    assert (config_dir / "um.sqlite3").is_file()


def test_skip_invalid_issues_the_others_and_writes_rejected_rows(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    bad = write_csv([row("1"), row("2", birth_date="31/02/2008", first_name="Jeanne"), row("3", first_name="Paul")])
    result = run(settings, tmp_path, enrolment=bad, skip_invalid=True, year=2026)
    assert sorted(o.identifier for o in result.outcomes) == ["jean.martin", "paul.martin"]
    assert result.enrolment.skipped == 1
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["counts"] == {"new": 2, "returning": 0, "reissued": 0, "duplicate": 0, "cancelled": 0, "skipped": 1}
    assert "rejected.csv" in [f["path"] for f in manifest["files"]]
    raw = (result.out_dir / "rejected.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
    with (result.out_dir / "rejected.csv").open(encoding="utf-8-sig", newline="") as handle:
        (rejected,) = list(csv.DictReader(handle, delimiter=";"))
    assert rejected["student_number"] == "2"
    assert rejected["first_name"] == "Jeanne"
    assert rejected["birth_date"] == "31/02/2008"
    assert "is not a valid date" in rejected["reason"]


def test_without_skip_invalid_one_bad_row_stops_the_run(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    bad = write_csv([row("1"), row("2", birth_date="31/02/2008")])
    with pytest.raises(InputError):
        run(settings, tmp_path, enrolment=bad, year=2026)
    assert not (tmp_path / "r.sqlite3").exists()


def test_configured_patterns_and_short_logins(settings: Settings, tmp_path: Path) -> None:
    rules = dataclasses.replace(
        settings.identifiers, pattern="{last}.{first}", suffix="-{n}", short_pattern="{first_initial}{last}",
        short_max_length=20, reserved=("martin.jean",),
    )  # fmt: skip
    settings = dataclasses.replace(settings, identifiers=rules)
    first = run(settings, tmp_path)
    ids = {o.student_number: (o.identifier, o.short_login) for o in first.outcomes}
    assert ids["00012345"] == ("martin.jean-2", "jmartin")
    assert ids["00012346"] == ("martin.jean-3", "jmartin-2")
    assert ids["00012347"] == ("de-la-fontaine.marie-helene", "mde-la-fontaine")
    with (first.out_dir / "credentials.csv").open(encoding="utf-8", newline="") as handle:
        shorts = {r["student_number"]: r["short_login"] for r in csv.DictReader(handle)}
    assert shorts["00012346"] == "jmartin-2"
    again = run(settings, tmp_path, out="again")
    assert {o.student_number: (o.identifier, o.short_login) for o in again.outcomes} == ids


def test_a_short_login_is_never_another_students_login(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    rules = dataclasses.replace(settings.identifiers, short_pattern="{first}.{last}", short_max_length=20)
    settings = dataclasses.replace(settings, identifiers=rules)
    rows = [row("1", birth_name="MARTIN-DUPONTEL"), row("2", birth_name="MARTIN-DUPON", birth_date="02/02/2006")]
    result = run(settings, tmp_path, enrolment=write_csv(rows), year=2026)
    owners: dict[str, str] = {}
    for o in result.outcomes:
        for login in {o.identifier, o.short_login}:
            assert owners.setdefault(str(login), o.student_number) == o.student_number, login


def test_encrypted_sheets_open_with_the_password_and_hold_the_same_pages(
    settings: Settings, tmp_path: Path, seeded_choice: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    import pikepdf
    from pypdf import PdfReader

    from scolpass import PdfProtection, reissue
    from scolpass import batches as batches_module

    plain = run(settings, tmp_path, out="plain", choice=seeded_choice)
    secret = "for the print shop, 2026"
    protection = PdfProtection(secret)
    monkeypatch.setattr(batches_module, "PARALLEL_FROM", 1)  # the parts rendered by worker processes too
    encrypted = generate(
        SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "enc", registry=tmp_path / "r2.sqlite3", now=NOW,
        choice=random.Random(20260701).choice, protection=protection),
    )  # fmt: skip
    manifest = json.loads((encrypted.out_dir / "manifest.json").read_text())
    assert manifest["pdf_encrypted"] is True
    pdfs = sorted(p.name for p in encrypted.out_dir.glob("*.pdf"))
    assert pdfs == sorted(p.name for p in plain.out_dir.glob("*.pdf"))
    for name in pdfs:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(encrypted.out_dir / name)
        with pikepdf.open(encrypted.out_dir / name, password=secret) as pdf:
            assert (pdf.encryption.R, pdf.encryption.bits) == (6, 256)
            decrypted = io.BytesIO()
            pdf.save(decrypted)
        # Same students, same passwords (same random source), same pages.
        pages = [page.extract_text() for page in PdfReader(decrypted).pages]
        assert pages == [page.extract_text() for page in PdfReader(plain.out_dir / name).pages]
    # The credential files are for the directory, not the print shop: not encrypted, still loadable.
    assert (encrypted.out_dir / "credentials.ldif").read_bytes().startswith(b"version: 1")

    # Every other kind of sheet PDF: reprints for returning students, a reissue's per-student files.
    again = generate(SAMPLES / "enrolment.csv", settings, RunOptions(out_dir=tmp_path / "again", registry=tmp_path / "r2.sqlite3",
                     now=NOW, protection=protection, reprint_returning=True))  # fmt: skip
    lost = reissue(["00012345"], settings, RunOptions(out_dir=tmp_path / "lost", registry=tmp_path / "r2.sqlite3", now=NOW,
                   year=2026, protection=protection, one_pdf_per_student=True))  # fmt: skip
    others = [again.out_dir / "reprints.pdf", lost.out_dir / "sheet-00012345.pdf"]
    for path in others:
        with pytest.raises(pikepdf.PasswordError):
            pikepdf.open(path)
        with pikepdf.open(path, password=secret) as pdf:
            assert pdf.encryption.bits == 256
            assert len(pdf.pages) >= 1
