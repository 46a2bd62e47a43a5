"""The migration year, from Apogée to Pégase: returning students under new numbers, linked by their INE.

Year 1 issues the sample (an Apogée export); year 2's export gives every student a new
learner code with the INE they had. With ``--link-by-ine`` each keeps their account: the
same login, no new password, both numbers finding them; without it they are held back as
probable duplicates, as in any other year.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from scolpass import (
    RunOptions,
    RunResult,
    Settings,
    StateError,
    generate,
    helpdesk,
    read_registry,
    reissue,
    reissue_now,
)
from scolpass import pipeline as pipeline_module
from scolpass.cli import main
from scolpass.duplicates import SAME_INE, SAME_PERSON, note

from .conftest import PASSWORD_PATTERN, SAMPLES, attributes, page_texts, settings_with, sheet_texts
from .slapd import Slapd

SAMPLE = SAMPLES / "enrolment.csv"
CONFIG = SAMPLES / "scolpass.toml"
YEAR_1 = datetime(2026, 9, 1, 10, 0)
YEAR_2 = datetime(2027, 9, 1, 10, 0)
OLD_NUMBERS = [f"000123{n}" for n in range(45, 56)]


def pegase(number: str) -> str:
    """The learner code Pégase gives a student Apogée numbered ``number`` (nine digits: 00012345 -> 000112345)."""
    return f"{int(number) + 100_000:09d}"


def year_two(folder: Path, edit: dict[str, str] | None = None, extra: str = "") -> Path:
    """The sample as next year's export: COD_ANU 2027, every COD_ETU a learner code, the same INEs.

    ``edit`` replaces whole lines by their old number (a row as the test wants it); ``extra`` adds lines.
    """
    lines = []
    for line in SAMPLE.read_text(encoding="utf-8-sig").splitlines():
        match = re.match(r"2026;(\d{8});", line)
        if match:
            old = match.group(1)
            line = (edit or {}).get(old, f"2027;{pegase(old)};{line[len(match.group(0)) :]}")
        lines.append(line)
    path = folder / "pegase-2027.csv"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def first_year(settings: Settings, tmp_path: Path) -> RunResult:
    return generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "y1", registry=tmp_path / "r.sqlite3", now=YEAR_1))


def second_year(settings: Settings, tmp_path: Path, enrolment: Path, out: str = "y2", **kw: object) -> RunResult:
    options = RunOptions(out_dir=tmp_path / out, registry=tmp_path / "r.sqlite3", now=YEAR_2, **kw)  # type: ignore[arg-type]
    return generate(enrolment, settings, options)


def numbers_table(registry: Path) -> list[tuple[str, str, int, str, int]]:
    """The registry's links, read with sqlite3 itself."""
    with contextlib.closing(sqlite3.connect(registry)) as db:
        return db.execute(
            "SELECT student_number, account, year, linked_at, run_id FROM numbers ORDER BY student_number"
        ).fetchall()


def test_the_migration_year_keeps_every_login_and_password(settings: Settings, tmp_path: Path) -> None:
    first = first_year(settings, tmp_path)
    logins = {o.student_number: o.identifier for o in first.outcomes}
    registry = tmp_path / "r.sqlite3"

    second = second_year(settings, tmp_path, year_two(tmp_path), link_by_ine=True)

    assert (second.count("new"), second.count("returning"), second.count("duplicate")) == (0, 11, 0)
    assert {o.student_number: o.identifier for o in second.outcomes} == {pegase(n): logins[n] for n in OLD_NUMBERS}
    # No new password anywhere: no sheet, no credential file; the directory gets the new numbers only.
    assert sorted(p.name for p in second.out_dir.iterdir()) == ["manifest.json", "returning.ldif"]
    manifest = json.loads((second.out_dir / "manifest.json").read_text())
    assert manifest["counts"] == {
        "new": 0,
        "returning": 11,
        "reissued": 0,
        "duplicate": 0,
        "cancelled": 0,
        "skipped": 0,
    }
    assert {s["student_number"]: (s["status"], s["note"], s["pdf"]) for s in manifest["students"]} == {
        pegase(n): ("returning", f"linked by INE to {n}", None) for n in OLD_NUMBERS
    }
    assert "employeeNumber: 000112345" in (second.out_dir / "returning.ldif").read_text()
    # The links, recorded by the run that made them, in its transaction.
    stamp = YEAR_2.isoformat(timespec="seconds")
    assert numbers_table(registry) == [(pegase(n), n, 2027, stamp, second.run_id) for n in OLD_NUMBERS]
    with contextlib.closing(sqlite3.connect(registry)) as db:
        assert db.execute("SELECT count(*) FROM accounts").fetchone() == (11,)  # no second account
        assert db.execute("SELECT state, counts FROM runs WHERE id = ?", (second.run_id,)).fetchone() == (
            "complete", json.dumps({"new": 0, "returning": 11, "reissued": 0, "duplicate": 0, "cancelled": 0, "skipped": 0})
        )  # fmt: skip

    # Both numbers find the student, at the help desk and for a reissue.
    with read_registry(None, registry) as reg:
        for number in ("00012347", pegase("00012347"), pegase("00012347").lstrip("0")):
            (found,) = helpdesk.search(reg, number)
            assert (found.student_number, found.identifier) == ("00012347", logins["00012347"])
            assert found.student_numbers == ("00012347", pegase("00012347"))
        assert helpdesk.history(reg, pegase("00012347")).account.student_number == "00012347"
    lost = reissue([pegase("00012347")], settings, RunOptions(year=2027, out_dir=tmp_path / "lost", registry=registry,
                                                              now=YEAR_2))  # fmt: skip
    (outcome,) = lost.outcomes
    assert (outcome.student_number, outcome.identifier, outcome.status) == (
        pegase("00012347"), logins["00012347"], "reissued"
    )  # fmt: skip
    page = sheet_texts(lost.out_dir)[pegase("00012347")]
    assert f"{logins['00012347']}@etu.umontpellier.fr" in page
    assert pegase("00012347") in page  # the sheet prints this year's number
    assert re.search(PASSWORD_PATTERN, page, re.MULTILINE)
    # At the counter, by the new number too.
    handed = reissue_now(pegase("00012347"), settings, RunOptions(registry=registry, now=YEAR_2, actor="agent.x"))
    assert (handed.account.student_number, handed.email) == ("00012347", f"{logins['00012347']}@etu.umontpellier.fr")
    with read_registry(None, registry) as reg:
        for number in ("00012347", pegase("00012347")):  # one history, whichever number is asked
            assert [r.run_id for r in helpdesk.history(reg, number).reissues] == [lost.run_id, handed.run_id]

    # The cumulative export again: returning by their new numbers, nothing linked twice.
    again = second_year(settings, tmp_path, year_two(tmp_path), out="y2-again", link_by_ine=True)
    assert again.count("returning") == 11
    assert {o.note for o in again.outcomes} == {None}
    assert len(numbers_table(registry)) == 11


def test_without_the_option_they_are_probable_duplicates_as_ever(settings: Settings, tmp_path: Path) -> None:
    first_year(settings, tmp_path)
    second = second_year(settings, tmp_path, year_two(tmp_path))
    assert (second.count("new"), second.count("returning"), second.count("duplicate")) == (0, 0, 11)
    assert {o.student_number: o.note for o in second.outcomes} == {pegase(n): note(n, SAME_INE) for n in OLD_NUMBERS}
    assert numbers_table(tmp_path / "r.sqlite3") == []


def test_the_option_comes_from_the_configuration_and_the_run_overrides_it(settings: Settings, tmp_path: Path) -> None:
    first_year(settings, tmp_path)
    linking = settings_with("registry", "link_by_ine", True)
    refused = second_year(linking, tmp_path, year_two(tmp_path), out="not", link_by_ine=False)
    assert refused.count("duplicate") == 11
    linked = second_year(linking, tmp_path, year_two(tmp_path))
    assert linked.count("returning") == 11
    assert len(numbers_table(tmp_path / "r.sqlite3")) == 11


def test_only_one_clear_ine_match_links(settings: Settings, tmp_path: Path) -> None:
    first_year(settings, tmp_path)
    registry = tmp_path / "r.sqlite3"
    # A second account with Aïssatou's INE (a registrar issued it anyway), for the conflict below.
    shared = tmp_path / "shared.csv"
    shared.write_text(
        SAMPLE.read_text(encoding="utf-8-sig").splitlines()[0]
        + "\n2026;00099999;0423456789;D;SOW;;Awa;01/01/2007;DAKAR;F;SCI;SCIENCES;SB1;101;L1 Biologie\n",
        encoding="utf-8",
    )
    generate(shared, settings, RunOptions(out_dir=tmp_path / "s", registry=registry, now=YEAR_1,
                                          allow_duplicates=("00099999",)))  # fmt: skip
    edit = {
        # The second Jean Martin under his new number, without his INE: his names and birth date hold him back.
        "00012346": f"2027;{pegase('00012346')};;;MARTIN;;Jean;02/11/2006;NIMES;M;DRT;DROIT;DL1;102;L1 Droit",
        # Marie-Hélène twice: her Apogée number (that row without the INE) and her learner code.
        "00012347": "2027;00012347;;;DE LA FONTAINE;;Marie-Hélène;30/01/2005;PARIS;F;LET;LETTRES;LM3;101;L3 Lettres"
        f"\n2027;{pegase('00012347')};0323456789;C;DE LA FONTAINE;;Marie-Hélène;30/01/2005;PARIS;F;LET;LETTRES;LM3;"
        "101;L3 Lettres",
    }
    newcomer = "2027;000200001;;;NOUVEAU;;Nina;01/01/2008;LYON;F;ECO;ECONOMIE;EE1;101;L1 Economie\n"  # no INE
    second = second_year(settings, tmp_path, year_two(tmp_path, edit, newcomer), link_by_ine=True)

    by_number = {o.student_number: o for o in second.outcomes}
    assert by_number["000200001"].status == "new"  # nobody alike: a new student, INE or not
    assert (by_number["00012347"].status, by_number["00012347"].note) == ("returning", None)
    held = {o.student_number: o.note for o in second.outcomes if o.status == "duplicate"}
    assert held == {
        pegase("00012346"): note("00012346", SAME_PERSON),
        pegase("00012347"): f"{note('00012347', SAME_INE)}; not linked by INE: student 00012347 is in this file too",
        pegase("00012348"): note("00012348", SAME_INE),  # two accounts with her INE: neither is linked
    }
    linked = {o.student_number for o in second.outcomes if o.note and o.note.startswith("linked by INE")}
    assert linked == {pegase(n) for n in OLD_NUMBERS} - set(held)
    assert [link[:2] for link in numbers_table(tmp_path / "r.sqlite3")] == sorted(
        (pegase(n), n) for n in OLD_NUMBERS if pegase(n) not in held
    )


def test_the_same_ine_with_another_birth_date_is_held_and_the_account_left_as_it_was(
    settings: Settings, tmp_path: Path
) -> None:
    first_year(settings, tmp_path)
    registry = tmp_path / "r.sqlite3"
    with read_registry(None, registry) as reg:
        before = reg.account("00012345")
    # Jean's INE on a new learner who is someone else (a typo, a reused INE): other names, another birth date.
    paule = "2027;PG777;0123456789;A;DURAND;;Paule;24/12/1999;LYON;F;ECO;ECONOMIE;EE1;101;L1 Economie"
    second = second_year(settings, tmp_path, year_two(tmp_path, {"00012345": paule}), link_by_ine=True)

    by_number = {o.student_number: o for o in second.outcomes}
    assert (by_number["PG777"].status, by_number["PG777"].identifier, by_number["PG777"].note) == (
        "duplicate", None,
        f"{note('00012345', SAME_INE)}; not linked by INE: the birth date differs (17/04/2007 in the registry)",
    )  # fmt: skip
    assert second.count("returning") == 10  # everyone else is linked as before
    changes = (second.out_dir / "returning.ldif").read_text()
    assert "DURAND" not in changes
    assert "uid=jean.martin," not in changes  # no change record for Jean's entry
    assert [link[:2] for link in numbers_table(registry)] == sorted((pegase(n), n) for n in OLD_NUMBERS[1:])
    with read_registry(None, registry) as reg:
        assert reg.account("00012345") == before  # Jean's names, birth date, number and year, as they were
        assert reg.account("PG777") is None
        assert reg.count() == 11


def test_a_dry_run_reports_the_same_links_and_writes_nothing(settings: Settings, tmp_path: Path) -> None:
    first_year(settings, tmp_path)
    registry = tmp_path / "r.sqlite3"
    before = registry.read_bytes()
    dry = second_year(settings, tmp_path, year_two(tmp_path), out="dry", link_by_ine=True, dry_run=True)
    assert registry.read_bytes() == before
    assert not (tmp_path / "dry").exists()
    assert numbers_table(registry) == []
    real = second_year(settings, tmp_path, year_two(tmp_path), link_by_ine=True)
    assert dry.outcomes == real.outcomes


def test_reprints_for_linked_students_carry_the_new_number_and_no_password(settings: Settings, tmp_path: Path) -> None:
    first = first_year(settings, tmp_path)
    second = second_year(settings, tmp_path, year_two(tmp_path), link_by_ine=True, reprint_returning=True)
    assert sorted(p.name for p in second.out_dir.iterdir()) == ["manifest.json", "reprints.pdf", "returning.ldif"]
    pages = sheet_texts(second.out_dir)
    assert len(page_texts(second.out_dir / "reprints.pdf")) == 11
    logins = {o.student_number: o.identifier for o in first.outcomes}
    for old in OLD_NUMBERS:
        page = pages[pegase(old)]
        assert pegase(old) in page
        assert f"{logins[old]}@etu.umontpellier.fr" in page
        assert not re.search(PASSWORD_PATTERN, page, re.MULTILINE)


def test_a_failed_linking_run_takes_its_links_back(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_year(settings, tmp_path)
    registry = tmp_path / "r.sqlite3"

    def disk_full(*_: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pipeline_module, "write_returning", disk_full)
    with pytest.raises(StateError, match="No space left on device"):
        second_year(settings, tmp_path, year_two(tmp_path), link_by_ine=True)
    monkeypatch.undo()
    assert numbers_table(registry) == []
    with read_registry(None, registry) as reg:
        account = reg.account("00012345")
        assert account is not None
        assert account.student is not None
        assert account.student.student_number == "00012345"  # the record names a number that finds it
        assert reg.account(pegase("00012345")) is None
    assert second_year(settings, tmp_path, year_two(tmp_path), out="retry", link_by_ine=True).count("returning") == 11


def test_the_command_line_links_and_finds_by_both_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = str(tmp_path / "r.sqlite3")
    common = ["--config", str(CONFIG), "--registry", registry]
    assert main(["generate", str(SAMPLE), *common, "--out", str(tmp_path / "y1")]) == 0
    export = str(year_two(tmp_path))
    capsys.readouterr()

    assert main(["generate", export, *common, "--link-by-ine", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "Dry run, nothing written: SCOL'PASS 2027/2028: 0 new, 11 returning, 0 skipped" in out
    assert f"  {pegase('00012345')}  jean.martin  (linked by INE to 00012345)" in out
    assert "11 new student numbers linked by INE" in err

    assert main(["generate", export, *common, "--out", str(tmp_path / "y2"), "--link-by-ine"]) == 0
    out, err = capsys.readouterr()
    assert "SCOL'PASS 2027/2028: 0 new, 11 returning, 0 skipped" in out
    assert "11 new student numbers linked by INE" in err
    assert "duplicate" not in err

    assert main(["registry", "show", pegase("00012345"), *common]) == 0
    shown = capsys.readouterr().out
    assert "student number: 00012345\n" in shown
    assert f"also numbered:  {pegase('00012345')} (linked " in shown
    assert "identifier:     jean.martin\n" in shown
    assert main(["registry", "search", pegase("00012345"), *common]) == 0
    found = capsys.readouterr().out
    assert found.startswith("00012345  jean.martin")
    assert found.rstrip().endswith(f"also {pegase('00012345')}")
    assert main(["registry", "export", *common]) == 0
    (jean,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("00012345,")]
    assert jean.startswith("00012345,jean.martin,")
    assert jean.endswith(f",MARTIN,Jean,{pegase('00012345')}")  # linked_numbers

    assert main(["reissue", pegase("00012345"), *common, "--out", str(tmp_path / "lost")]) == 0
    assert "1 reissued" in capsys.readouterr().out


def test_no_link_by_ine_overrides_the_configuration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "scolpass.toml"
    config.write_text(CONFIG.read_text() + "\n[registry]\nlink_by_ine = true\n")
    common = ["--config", str(config), "--registry", str(tmp_path / "r.sqlite3")]
    assert main(["generate", str(SAMPLE), *common, "--out", str(tmp_path / "y1")]) == 0
    capsys.readouterr()
    assert main(["generate", str(year_two(tmp_path)), *common, "--no-link-by-ine", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "0 new, 0 returning, 11 duplicate" in out
    assert f"duplicate: {pegase('00012345')} not issued, {note('00012345', SAME_INE)}" in err
    assert main(["generate", str(year_two(tmp_path)), *common, "--dry-run"]) == 0
    assert "0 new, 11 returning" in capsys.readouterr().out


def supann(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        university=dataclasses.replace(settings.university, uai="0341087X"),
        ldap=dataclasses.replace(settings.ldap, profile="supann"),
    )


@pytest.mark.slow
def test_the_directory_finds_a_linked_student_by_both_numbers(slapd: Slapd, settings: Settings, tmp_path: Path) -> None:
    settings = supann(settings)
    people = settings.ldap.people_dn
    first = first_year(settings, tmp_path)
    loaded = slapd.add(first.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr
    texts = sheet_texts(first.out_dir)
    passwords = {o.identifier: re.findall(PASSWORD_PATTERN, texts[o.student_number], re.MULTILINE)[0]
                 for o in first.outcomes}  # fmt: skip

    second = second_year(settings, tmp_path, year_two(tmp_path), link_by_ine=True)
    changes = second.out_dir / "returning.ldif"
    for _ in range(2):  # loading the same change records twice leaves the same entries
        changed = slapd.modify(changes)
        assert changed.returncode == 0, changed.stderr

    for old in OLD_NUMBERS:
        by_old = attributes(slapd.search(people, f"(supannEtuId={old})"))
        by_new = attributes(slapd.search(people, f"(supannEtuId={pegase(old)})"))
        assert by_old == by_new
        assert by_new["supannEtuId"] == [old, pegase(old)]  # the Apogée number kept beside Pégase's
        assert by_new["employeeNumber"] == [pegase(old)]
        assert by_new["supannEtuInscription"][0].startswith("[etab={UAI}0341087X][anneeinsc=2027]")
    for identifier, password in passwords.items():
        assert slapd.bind(f"uid={identifier},{people}", password), identifier  # year 1's password still opens it
    assert "userPassword" not in changes.read_text()

    # Later runs of the year list them by their new numbers: the same change loads again.
    again = second_year(settings, tmp_path, year_two(tmp_path), out="y2-again", link_by_ine=True)
    changed = slapd.modify(again.out_dir / "returning.ldif")
    assert changed.returncode == 0, changed.stderr
    martin = attributes(slapd.search(people, f"(supannEtuId={pegase('00012345')})"))
    assert martin["supannEtuId"] == ["00012345", pegase("00012345")]


def pegase_year_two(folder: Path) -> Path:
    """The sample Pégase feed as year 2: every learner under a new code, the same INEs, and one new learner."""
    feed = json.loads((SAMPLES / "pegase-feed.json").read_text(encoding="utf-8"))
    for item in feed["resultats"]:
        item["codeApprenant"] = pegase(item["codeApprenant"])
        item["anneeUniversitaire"] = 2027
    newcomer = dict(feed["resultats"][0], codeApprenant="000200001", INE="2023456789Z", prenom="Inès",
                    nomFamille="BENALI", nomUsage="BENALI", dateDeNaissance="2008-03-09")  # fmt: skip
    feed["resultats"].append(newcomer)
    path = folder / "pegase-2027.json"
    path.write_text(json.dumps(feed, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_cancelled_learner_under_a_new_code_is_listed_with_the_account_of_their_ine(
    settings: Settings, tmp_path: Path
) -> None:
    first = first_year(settings, tmp_path)
    login = {o.student_number: o.identifier for o in first.outcomes}["00012347"]
    registry = tmp_path / "r.sqlite3"
    feed_path = pegase_year_two(tmp_path)
    feed = json.loads(feed_path.read_text(encoding="utf-8"))
    for item in feed["resultats"]:  # Marie-Hélène cancels, under her new learner code
        if item["codeApprenant"] == pegase("00012347"):
            item["statutInscription"] = "annulee"
    feed_path.write_text(json.dumps(feed, ensure_ascii=False), encoding="utf-8")
    with read_registry(None, registry) as reg:
        before = reg.account("00012347")
    untouched = registry.read_bytes()

    # Without the option, as in any other year: her new code finds no account.
    other_year = second_year(settings, tmp_path, feed_path, out="dry", dry_run=True)
    assert {(o.student_number, o.identifier, o.note) for o in other_year.outcomes if o.status == "cancelled"} == {
        (pegase("00012347"), None, "enrolment cancelled: not issued"),
        (pegase("00012356"), None, "enrolment cancelled: not issued"),
    }
    assert registry.read_bytes() == untouched

    second = second_year(settings, tmp_path, feed_path, link_by_ine=True)
    cancelled = {(o.student_number, o.identifier, o.note) for o in second.outcomes if o.status == "cancelled"}
    assert cancelled == {
        (pegase("00012347"), login, "enrolment cancelled; account issued in 2026 under 00012347, found by the INE "
         "alone, left as it is"),
        (pegase("00012356"), None, "enrolment cancelled: not issued"),  # no account has that INE
    }  # fmt: skip
    manifest = json.loads((second.out_dir / "manifest.json").read_text())
    assert manifest["counts"]["cancelled"] == 2
    # Nothing linked or recorded for her: a cancelled enrolment never changes the registry.
    assert pegase("00012347") not in [number for number, *_ in numbers_table(registry)]
    assert len(numbers_table(registry)) == 10
    with read_registry(None, registry) as reg:
        assert reg.account("00012347") == before
        assert reg.account(pegase("00012347")) is None
    assert "uid=" + login + "," not in (second.out_dir / "returning.ldif").read_text()


@pytest.mark.slow
def test_apogee_then_pegase_keeps_every_login_and_every_password_opens_its_account(
    slapd: Slapd, settings: Settings, tmp_path: Path
) -> None:
    """Year 1 from Apogée's export, year 2 from Pégase's feed under new learner codes."""
    settings = supann(settings)
    people = settings.ldap.people_dn
    first = first_year(settings, tmp_path)
    assert slapd.add(first.out_dir / "credentials.ldif").returncode == 0
    texts = sheet_texts(first.out_dir)
    passwords = {o.identifier: re.findall(PASSWORD_PATTERN, texts[o.student_number], re.MULTILINE)[0]
                 for o in first.outcomes}  # fmt: skip
    logins = {o.student_number: o.identifier for o in first.outcomes}

    second = second_year(settings, tmp_path, pegase_year_two(tmp_path), link_by_ine=True)
    statuses = {o.student_number: (o.status, o.identifier) for o in second.outcomes}
    # The sample's cancelled learner (never issued) stays cancelled, under its new code.
    assert statuses == {
        **{pegase(n): ("returning", logins[n]) for n in OLD_NUMBERS},
        pegase("00012356"): ("cancelled", None),
        "000200001": ("new", "ines.benali"),
    }
    assert slapd.add(second.out_dir / "credentials.ldif").returncode == 0
    changed = slapd.modify(second.out_dir / "returning.ldif")
    assert changed.returncode == 0, changed.stderr
    for identifier, password in passwords.items():
        assert slapd.bind(f"uid={identifier},{people}", password), identifier
    (newcomer_text,) = sheet_texts(second.out_dir).values()
    (password,) = re.findall(PASSWORD_PATTERN, newcomer_text, re.MULTILINE)
    assert slapd.bind(f"uid=ines.benali,{people}", password)
    greek = attributes(slapd.search(people, f"(supannEtuId={pegase('00012351')})"))
    assert greek["supannEtuId"] == ["00012351", pegase("00012351")]
