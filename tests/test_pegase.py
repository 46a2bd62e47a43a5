"""Pégase's enrolment feed read as an enrolment file: its shapes, its fields, its faculties, its
cancelled enrolments, and every problem located by the item's place in the file."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from scolpass import RunOptions, Settings, generate
from scolpass.cli import main
from scolpass.enrolment import Enrolment, read_enrolment
from scolpass.errors import ConfigError, InputError
from scolpass.pegase import looks_like_feed, read_feed
from scolpass.settings import Faculty, PegaseSettings, settings_from_dict

from .conftest import PASSWORD_PATTERN, SAMPLES, csv_text, sample, sheet_texts
from .slapd import Slapd

FACULTIES = {"F-ECO": Faculty("ECONOMIE", "ECO"), "F-DRT": Faculty("DROIT", "DRT"), "F-SCI": Faculty("SCIENCES")}
PEGASE = PegaseSettings(faculties=FACULTIES)


def item(code: str = "000000001", **values: Any) -> dict[str, Any]:
    """One enrolment of the feed, with plausible values and fields scolpass does not read."""
    base: dict[str, Any] = {
        "codeApprenant": code,
        "INE": "0123456789A",
        "civilite": "M",
        "nomFamille": "MARTIN",
        "nomUsage": "MARTIN",
        "prenom": "Jean",
        "dateDeNaissance": "2007-04-17",
        "nationalite": "100",
        "statutInscription": "valide",
        "inscriptionPrincipale": True,
        "formation": "F-ECO-LIC",
        "chemin": [
            {"code": "F-ECO-LIC", "type": "FORMATION", "libelleCourt": "LIC ECO", "libelleLong": "Licence Economie"},
            {"code": "EE1", "type": "ANNEE", "libelleCourt": "L1 ECO", "libelleLong": "L1 Economie"},
            {"code": "EE1-S1", "type": "SEMESTRE", "libelleLong": "Semestre 1"},
        ],
        "anneeUniversitaire": 2026,
        "periode": "Année 2026-2027",
        "statutPaiement": "paye",
        "derniereModification": 1_780_000_000,
        "mels": [{"mail": "jean@example.org", "code": "MEL-001"}],
        "photo": None,
    }
    base.update(values)
    return base


def page(items: list[Any]) -> dict[str, Any]:
    return {"taille": 500, "page": 0, "totalPages": 1, "totalElements": len(items), "resultats": items}


def feed_text(items: list[Any], shape: str = "page") -> str:
    """The feed's text in each of the shapes scolpass reads."""
    if shape == "page":
        return json.dumps(page(items), ensure_ascii=False, indent=2)
    if shape == "pages":
        halves = [items[: len(items) // 2], items[len(items) // 2 :]]
        return json.dumps([page(h) for h in halves], ensure_ascii=False)
    if shape == "items":
        return json.dumps(items, ensure_ascii=False, indent=1)
    assert shape == "lines"
    return "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)


@pytest.fixture
def write_feed(tmp_path: Path) -> Callable[..., Path]:
    def write(items: list[Any], shape: str = "page", name: str = "feed.json") -> Path:
        path = tmp_path / name
        path.write_text(feed_text(items, shape), encoding="utf-8")
        return path

    return write


def read(path: Path, pegase: PegaseSettings | None = PEGASE, **kwargs: Any) -> Enrolment:
    return read_enrolment(path, pegase=pegase, **kwargs)


def problems_of(path: Path, pegase: PegaseSettings | None = PEGASE) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(InputError) as caught:
        read(path, pegase)
    return [(p.line, p.column, p.reason) for p in caught.value.problems]


@pytest.fixture
def pegase_settings() -> Settings:
    """The sample configuration, whose [pegase.faculties] name the sample feed's formations."""
    return settings_from_dict(sample(), "scolpass.toml")


# -- Shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["page", "pages", "items", "lines"])
def test_every_shape_of_the_feed_gives_the_same_students(write_feed: Callable[..., Path], shape: str) -> None:
    items = [
        item("000000001"),
        item("000000002", prenom="Anne", INE="0223456789B"),
        item("000000003", prenom="Li", INE="0323456789C"),
    ]
    enrolment = read(write_feed(items, shape))
    assert [s.student_number for s in enrolment.students] == ["000000001", "000000002", "000000003"]
    assert enrolment.format == "pegase"
    assert enrolment.shape == {"page": "one page", "pages": "2 pages", "items": "an array of items",
                               "lines": "JSON Lines"}[shape]  # fmt: skip


def test_a_feed_is_recognised_by_its_content_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "inscriptions.csv"  # a misleading name
    path.write_text("\ufeff  \n" + feed_text([item()]), encoding="utf-8")
    assert read(path).students[0].student_number == "000000001"
    assert looks_like_feed(b'\xef\xbb\xbf\n [{"a": 1}]')
    assert not looks_like_feed(b"COD_ETU;LIB_NOM_PAT_IND\n")


def test_each_field_becomes_the_students_value(write_feed: Callable[..., Path]) -> None:
    feed = write_feed([item(nomFamille="LE GOFF", nomUsage="KERGUELEN", prenom="Anne-Sophie", civilite="F",
                            dateDeNaissance="2004-07-14", INE="0523456789E")])  # fmt: skip
    (student,) = read(feed).students
    assert (student.birth_name, student.usual_name, student.first_name) == ("LE GOFF", "KERGUELEN", "Anne-Sophie")
    assert (student.sex, student.birth_date, student.ine) == ("F", date(2004, 7, 14), "0523456789E")
    assert (student.faculty, student.faculty_code) == ("ECONOMIE", "ECO")
    ((step),) = student.steps
    assert (step.code, step.label, step.faculty) == ("EE1", "L1 Economie", "ECONOMIE")
    assert read(feed).academic_years == {2026: 7}  # the line of the first item


def test_values_are_nfc_whatever_escapes_spell_them(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text(feed_text([item(prenom="Zoe")]).replace('"Zoe"', '"Zoe\\u0301"'), encoding="utf-8")
    assert read(path).students[0].first_name == "Zoé"


def test_fields_scolpass_does_not_use_are_ignored_whatever_they_are(write_feed: Callable[..., Path]) -> None:
    odd = item(photo="iVBORw0KGgo" * 1000, adresses=[{"deep": [[[[1]]]]}], telephones=None, regime=12,
               UAI={"unexpected": True}, dateInscription=None)  # fmt: skip
    (student,) = read(write_feed([odd])).students
    assert student.student_number == "000000001"


def test_learners_without_ine_and_without_year(write_feed: Callable[..., Path]) -> None:
    without = item()
    del without["INE"], without["anneeUniversitaire"], without["nomUsage"], without["civilite"]
    enrolment = read(write_feed([without, item("000000002", INE=None, prenom="Anne")]))
    assert [(s.ine, s.usual_name, s.sex) for s in enrolment.students] == [("", "", ""), ("", "MARTIN", "M")]


# -- The step and the faculty ------------------------------------------------------------------


def test_the_step_is_the_path_element_of_the_step_type_else_the_last(write_feed: Callable[..., Path]) -> None:
    no_year = item("000000002", prenom="Anne", INE="0223456789B",
                   chemin=[{"code": "F-ECO-DU", "type": "FORMATION"}, {"code": "DU-DATA", "type": "PARCOURS_TYPE",
                                                                      "libelleCourt": "DU données"}])  # fmt: skip
    steps = {s.student_number: s.steps[0] for s in read(write_feed([item(), no_year])).students}
    assert (steps["000000001"].code, steps["000000001"].label) == ("EE1", "L1 Economie")
    assert (steps["000000002"].code, steps["000000002"].label) == ("DU-DATA", "DU données")  # its short label
    semesters = dataclasses.replace(PEGASE, step_type="SEMESTRE")
    (student,) = read(write_feed([item()]), semesters).students
    assert student.steps[0].code == "EE1-S1"


def test_the_longest_prefix_of_the_formation_names_the_faculty(write_feed: Callable[..., Path]) -> None:
    faculties = {**FACULTIES, "F-ECO-MAS": Faculty("IAE", "IAE")}
    pegase = dataclasses.replace(PEGASE, faculties=faculties)
    master = item("000000002", prenom="Anne", INE="0223456789B", formation="F-ECO-MAS-FIN")
    no_formation = item("000000003", prenom="Li", INE="0323456789C")
    del no_formation["formation"]  # the first element of the path then
    found = {s.student_number: (s.faculty, s.faculty_code) for s in read(write_feed([item(), master, no_formation]),
                                                                           pegase).students}  # fmt: skip
    assert found == {"000000001": ("ECONOMIE", "ECO"), "000000002": ("IAE", "IAE"), "000000003": ("ECONOMIE", "ECO")}


def test_a_formation_no_prefix_matches_is_a_problem_unless_a_default_is_set(write_feed: Callable[..., Path]) -> None:
    feed = write_feed([item(), item("000000002", prenom="Anne", INE="0223456789B", formation="X-MED")])
    ((_, column, reason),) = problems_of(feed)
    assert column == "resultats[1].formation"
    assert "matches no prefix of [pegase.faculties]" in reason
    assert "(learner 000000002)" in reason
    with pytest.raises(InputError) as caught:
        read(feed)
    assert "'X-MED'" in str(caught.value)
    defaulted = dataclasses.replace(PEGASE, default_faculty=Faculty("AUTRES"))
    assert [s.faculty for s in read(feed, defaulted).students] == ["ECONOMIE", "AUTRES"]


def test_without_a_configuration_the_formation_code_stands_for_the_faculty(write_feed: Callable[..., Path]) -> None:
    (student,) = read(write_feed([item(formation="X-MED")]), None).students
    assert student.faculty == "X-MED"


# -- One learner, several items ----------------------------------------------------------------


def test_a_main_and_a_complementary_enrolment_are_one_student_with_both_steps(
    write_feed: Callable[..., Path],
) -> None:
    du = item(inscriptionPrincipale=False, formation="F-SCI-DU",
              chemin=[{"code": "F-SCI-DU", "type": "FORMATION"}, {"code": "DUB", "type": "ANNEE",
                                                                 "libelleLong": "DU Bioinformatique"}])  # fmt: skip
    (student,) = read(write_feed([du, item()])).students  # the complementary one first in the file
    assert [(s.code, s.faculty) for s in student.steps] == [("EE1", "ECONOMIE"), ("DUB", "SCIENCES")]
    assert student.faculty == "ECONOMIE"  # the main enrolment's


def test_two_paths_to_one_step_print_it_once_and_a_repeated_item_is_a_problem(
    write_feed: Callable[..., Path],
) -> None:
    other_track = item()
    other_track["chemin"] = [*item()["chemin"][:2], {"code": "EE1-PARC-B", "type": "PARCOURS_TYPE"}]
    (student,) = read(write_feed([item(), other_track])).students
    assert [s.code for s in student.steps] == ["EE1"]
    problems = problems_of(write_feed([item(), item()]))
    assert problems == [(50, "resultats[1].chemin[1].code",
                         "repeats the enrolment of line 7 (resultats[0]) (learner 000000001)")]  # fmt: skip


def test_items_that_disagree_on_the_learner_are_a_problem_naming_both(write_feed: Callable[..., Path]) -> None:
    second = item(dateDeNaissance="2007-04-18", chemin=[{"code": "DL1", "type": "ANNEE"}], formation="F-DRT")
    ((_, column, reason),) = problems_of(write_feed([item(), second]))
    assert column == "resultats[1].dateDeNaissance"
    assert reason == (
        "differs from '2007-04-17' on line 7 (resultats[0]) for the same student 000000001 (learner 000000001)"
    )


# -- Cancelled enrolments ----------------------------------------------------------------------


def test_cancelled_items_are_set_aside_and_a_learner_with_only_those_is_listed(
    write_feed: Callable[..., Path],
) -> None:
    # A cancelled item is never read further: its other fields may be anything.
    gone = item("000000002", statutInscription="annulee", prenom=None, dateDeNaissance="n/a")
    dropped_step = item(statutInscription="annulee", chemin=[{"code": "DL1", "type": "ANNEE"}], formation="F-DRT")
    enrolment = read(write_feed([item(), gone, dropped_step]))
    (student,) = enrolment.students
    assert [s.code for s in student.steps] == ["EE1"]
    assert [(c.student_number, c.line) for c in enrolment.cancelled] == [("000000002", 50)]
    assert enrolment.cancelled_rows == 2


def test_an_unknown_state_of_enrolment_is_a_problem(write_feed: Callable[..., Path]) -> None:
    ((_, column, reason),) = problems_of(write_feed([item(statutInscription="suspendue")]))
    assert column == "resultats[0].statutInscription"
    assert reason.startswith("is not a state of enrolment")


def test_apogee_eta_iae_cancels_like_pegase(tmp_path: Path) -> None:
    from .conftest import HEADER, row

    header = (*HEADER, "ETA_IAE")
    rows = [row("1", ETA_IAE="E"), row("2", first_name="Anne", ETA_IAE="A"), row("3", first_name="Li", ETA_IAE="A"),
            row("3", first_name="Li", step_code="EE2", ETA_IAE="E")]  # fmt: skip
    path = tmp_path / "apogee.csv"
    path.write_text(csv_text(rows, header=header), encoding="utf-8")
    enrolment = read_enrolment(path)
    assert [s.student_number for s in enrolment.students] == ["1", "3"]
    assert [s.code for s in enrolment.students[1].steps] == ["EE2"]
    assert [c.student_number for c in enrolment.cancelled] == ["2"]
    path.write_text(csv_text([row("1", ETA_IAE="X")], header=header), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_enrolment(path)
    ((problem),) = caught.value.problems
    assert (problem.line, problem.column, problem.value) == (2, "ETA_IAE", "X")


def test_a_cancelled_learner_is_never_issued_and_an_issued_one_is_left_as_it_is(
    write_feed: Callable[..., Path], settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, pegase=PEGASE)
    registry = tmp_path / "r.sqlite3"
    two = [item(), item("000000002", prenom="Anne", INE="0223456789B")]
    first = generate(write_feed(two), settings, RunOptions(out_dir=tmp_path / "a", registry=registry))
    assert first.count("new") == 2
    later = [item("000000002", prenom="Anne", INE="0223456789B", statutInscription="annulee"),
             item("000000003", prenom="Li", INE="0323456789C", statutInscription="annulee"), item()]  # fmt: skip
    second = generate(write_feed(later, name="later.json"), settings, RunOptions(out_dir=tmp_path / "b",
                                                                                 registry=registry))  # fmt: skip
    statuses = {o.student_number: (o.status, o.identifier, o.pdf) for o in second.outcomes}
    assert statuses == {"000000001": ("returning", "jean.martin", None),
                        "000000002": ("cancelled", "anne.martin", None),
                        "000000003": ("cancelled", None, None)}  # fmt: skip
    manifest = json.loads((second.out_dir / "manifest.json").read_text())
    assert manifest["counts"]["cancelled"] == 2
    notes = {s["student_number"]: s["note"] for s in manifest["students"]}
    assert notes["000000002"] == "enrolment cancelled; account issued in 2026, left as it is"
    assert notes["000000003"] == "enrolment cancelled: not issued"
    # Nothing written for them: no sheet, no credential, no change record; the registry has no third account.
    assert not (second.out_dir / "credentials.ldif").exists()
    assert second.registry_size == 2


# -- Problems ----------------------------------------------------------------------------------


def test_invalid_json_is_named_with_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text('{"resultats": [\n  {"codeApprenant": "1",\n   "nomFamille" "MARTIN"}\n]}\n', encoding="utf-8")
    ((line, column, reason),) = problems_of(path)
    assert (line, column) == (3, None)
    assert reason == "is not valid JSON at line 3, column 17: Expecting ':' delimiter"


def test_a_bad_line_of_json_lines_is_named(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps(item()) + "\n" + '{"codeApprenant": "2",}\n', encoding="utf-8")
    ((line, _, reason),) = problems_of(path)
    assert line == 2
    # The column and wording are the json module's, which vary between Python versions.
    assert re.match(r"is not valid JSON at line 2, column 2[23]: ", reason), reason


def test_every_missing_or_malformed_field_is_named_by_its_place_in_one_report(
    write_feed: Callable[..., Path],
) -> None:
    bad = item("000000002", prenom=None, dateDeNaissance="17/04/2007", civilite="MME", anneeUniversitaire="2026")
    del bad["nomFamille"]
    worse = item(42, chemin=[])
    feed = write_feed([item("000000001", INE="0923456789Z"), bad, worse, "not an item"])
    found = problems_of(feed)
    assert found == [
        (50, "resultats[1].nomFamille", "is missing; a value is required (learner 000000002)"),
        (50, "resultats[1].prenom", "is missing; a value is required (learner 000000002)"),
        (50, "resultats[1].anneeUniversitaire", "is not a year: a number like 2026 (learner 000000002)"),
        (50, "resultats[1].civilite", "is 3 characters long (at most 1) (learner 000000002)"),
        (50, "resultats[1].dateDeNaissance", "is not a valid date (YYYY-MM-DD) (learner 000000002)"),
        (50, "resultats[1].civilite", "is not M or F (learner 000000002)"),
        (92, "resultats[2].codeApprenant", "is not text (a JSON string)"),
        (92, "resultats[2].chemin", "has no path: the step enrolled in cannot be known"),
        (117, "resultats[3]", "is not an enrolment (a JSON object)"),
    ]


def test_a_hostile_name_is_refused_with_its_place(write_feed: Callable[..., Path]) -> None:
    hostile = item(nomFamille="MARTIN\u202eNIAM", prenom='=HYPERLINK("http://x")\nJean')
    found = problems_of(write_feed([hostile]))
    columns = {column for _, column, _ in found}
    assert {"resultats[0].nomFamille", "resultats[0].prenom"} <= columns
    assert any("line break, a tab or an invisible control character" in reason for _, _, reason in found)


def test_a_feed_too_deep_or_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    ((_, _, reason),) = problems_of(path)
    assert reason == "nests too deeply to be an enrolment feed"
    path.write_text('{"resultats": [' + "[" * 100_000 + "]" * 100_000 + "]}", encoding="utf-8")
    assert problems_of(path) == [(None, None, "nests too deeply to be an enrolment feed")]
    with pytest.raises(InputError, match="is not an enrolment feed"):
        read_feed('"resultats"', "feed.json", PEGASE)  # what read_enrolment takes for CSV
    path.write_text('[{"resultats": []}, {"codeApprenant": "1"}]', encoding="utf-8")
    ((_, _, reason),) = problems_of(path)
    assert reason.startswith("mixes pages")
    path.write_text('{"resultats": []}', encoding="utf-8")
    ((_, _, reason),) = problems_of(path)
    assert reason == "holds no enrolment (its resultats are empty)"
    path.write_bytes(b'{"resultats": [{"nomFamille": "\xe9"}]}')
    ((_, _, reason),) = problems_of(path)
    assert reason == "byte offset 31: byte 0xe9 is not UTF-8, which JSON is written in"


def test_csv_options_are_refused_for_a_feed(write_feed: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match="--encoding and --separator are for CSV"):
        read(write_feed([item()]), separator=";")
    assert read(write_feed([item()]), encoding="UTF-8").students


def test_skip_invalid_keeps_the_bad_learners_json_as_it_was_and_it_reads_again(
    write_feed: Callable[..., Path], settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, pegase=PEGASE)
    bad = item("000000002", prenom="Anne", INE="0223456789B", dateDeNaissance="2007-02-30")
    complementary = copy.deepcopy(bad) | {
        "inscriptionPrincipale": False,
        "formation": "F-SCI-DU",
        "chemin": [{"code": "DUB", "type": "ANNEE", "libelleLong": "DU"}],
    }
    feed = write_feed([item(), bad, complementary, ["not", "an", "item"]])
    result = generate(feed, settings, RunOptions(out_dir=tmp_path / "out", registry=tmp_path / "r.sqlite3",
                                                 skip_invalid=True))  # fmt: skip
    assert [o.student_number for o in result.outcomes] == ["000000001"]
    assert result.enrolment is not None
    assert result.enrolment.skipped == 2
    rejected_path = result.out_dir / "rejected.json"
    assert rejected_path.stat().st_mode & 0o777 == 0o600
    text = rejected_path.read_text(encoding="utf-8")
    original = feed.read_text(encoding="utf-8")
    rejected = json.loads(text)
    assert [r["line"] for r in rejected["rejected"]] == [50, 93, 124]
    assert "'2007-02-30' is not a valid date (YYYY-MM-DD)" in rejected["rejected"][0]["reason"]
    # Each item exactly as the feed wrote it: the text is in the original, indentation and all.
    assert rejected["resultats"] == [bad, complementary, ["not", "an", "item"]]
    for value in rejected["resultats"][:2]:
        assert json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n    ") in original
    # Read again as it is, it tells the same problems; corrected, its learner is issued.
    with pytest.raises(InputError) as caught:
        read(rejected_path)
    assert {p.reason.split(" (learner")[0] for p in caught.value.problems} >= {
        "is not a valid date (YYYY-MM-DD)", "is not an enrolment (a JSON object)"}  # fmt: skip
    rejected["resultats"] = [value | {"dateDeNaissance": "2007-02-28"} for value in rejected["resultats"][:2]]
    (tmp_path / "fixed.json").write_text(json.dumps(rejected), encoding="utf-8")
    (again,) = read(tmp_path / "fixed.json").students
    assert (again.student_number, [s.code for s in again.steps]) == ("000000002", ["EE1", "DUB"])


# -- Pégase's CSV extractions, and the whole run --------------------------------------------------


def extraction(items: list[dict[str, Any]], snake: bool) -> str:
    """The learners of ``items`` as a CSV extraction, in the feed's names or upper snake case."""
    names = ("CODE_APPRENANT", "NOM_FAMILLE", "NOM_USAGE", "PRENOM", "DATE_NAISSANCE", "INE", "CIVILITE") if snake else (
        "codeApprenant", "nomFamille", "nomUsage", "prenom", "dateDeNaissance", "INE", "civilite")  # fmt: skip
    header = (*names, "Composante", "Etape", "Libelle etape")
    rows = []
    for i in items:
        step = i["chemin"][1]
        born = i["dateDeNaissance"] if snake else date.fromisoformat(i["dateDeNaissance"]).strftime("%d/%m/%Y")
        values = (i["codeApprenant"], i["nomFamille"], i["nomUsage"], i["prenom"], born, i["INE"], i["civilite"])
        faculty = next(f.label for p, f in FACULTIES.items() if i["formation"].startswith(p))
        rows.append(dict(zip(header, (*values, faculty, step["code"], step["libelleLong"]), strict=True)))
    return csv_text(rows, header=header)


@pytest.mark.parametrize("snake", [True, False], ids=["upper-snake-case", "feed-names"])
def test_a_pegase_csv_extraction_gives_the_same_accounts_as_the_feed(
    write_feed: Callable[..., Path], settings: Settings, tmp_path: Path, snake: bool
) -> None:
    items = [item(), item("000000002", prenom="Jean", INE="0223456789B", dateDeNaissance="2006-11-02"),
             item("000000003", nomFamille="N'DIAYE", nomUsage="", prenom="Aïssatou", INE="0323456789C",
                  civilite="F", formation="F-SCI-LIC")]  # fmt: skip
    columns = {"faculty": "Composante", "step_code": "Etape", "step_label": "Libelle etape"}
    settings = dataclasses.replace(settings, pegase=PEGASE, columns=columns)
    csv_path = tmp_path / "extraction.csv"
    csv_path.write_text(extraction(items, snake), encoding="utf-8")
    from_feed = generate(write_feed(items), settings, RunOptions(out_dir=tmp_path / "f", registry=tmp_path / "f.db"))
    from_csv = generate(csv_path, settings, RunOptions(out_dir=tmp_path / "c", registry=tmp_path / "c.db"))
    accounts = [(o.student_number, o.identifier, o.email, o.status) for o in from_feed.outcomes]
    assert accounts == [(o.student_number, o.identifier, o.email, o.status) for o in from_csv.outcomes]
    assert {a[0]: a[1] for a in accounts} == {"000000001": "jean.martin", "000000002": "jean.martin2",
                                              "000000003": "aissatou.ndiaye"}  # fmt: skip
    sheets_feed, sheets_csv = sheet_texts(from_feed.out_dir), sheet_texts(from_csv.out_dir)
    for number, text in sheets_feed.items():
        # The same sheet but for its password.
        assert re.sub(PASSWORD_PATTERN, "", text, flags=re.M) == re.sub(PASSWORD_PATTERN, "", sheets_csv[number],
                                                                        flags=re.M)  # fmt: skip


def test_check_reports_a_feed(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(SAMPLES / "pegase-feed.json"), "--config", str(SAMPLES / "scolpass.toml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pegase-feed.json: Pégase feed (JSON, one page), UTF-8" in out
    assert "1 cancelled" in out


@pytest.mark.slow
def test_every_printed_password_of_the_sample_feed_opens_its_account(
    slapd: Slapd, pegase_settings: Settings, tmp_path: Path
) -> None:
    result = generate(SAMPLES / "pegase-feed.json", pegase_settings,
                      RunOptions(out_dir=tmp_path / "out", registry=tmp_path / "r.sqlite3"))  # fmt: skip
    assert (result.count("new"), result.count("cancelled")) == (11, 1)
    loaded = slapd.add(result.out_dir / "credentials.ldif")
    assert loaded.returncode == 0, loaded.stderr
    texts = sheet_texts(result.out_dir)
    for outcome in result.outcomes:
        if outcome.status != "new":
            continue
        (password,) = re.findall(PASSWORD_PATTERN, texts[outcome.student_number], flags=re.MULTILINE)
        assert slapd.bind(f"uid={outcome.identifier},{pegase_settings.ldap.people_dn}", password)
    # The same students as the sample Apogée export: the same logins.
    apogee = generate(SAMPLES / "enrolment.csv", pegase_settings,
                      RunOptions(out_dir=tmp_path / "apogee", registry=tmp_path / "a.sqlite3"))  # fmt: skip
    logins = {o.student_number: o.identifier for o in apogee.outcomes}
    assert {o.student_number: o.identifier for o in result.outcomes if o.status == "new"} == logins


def test_the_feeds_academic_year_is_one_for_the_file_and_checked_against_year(
    write_feed: Callable[..., Path], settings: Settings
) -> None:
    from scolpass import check

    settings = dataclasses.replace(settings, pegase=PEGASE)
    feed = write_feed([item(anneeUniversitaire=2025)])
    assert check(feed, settings).year.start == 2025
    with pytest.raises(InputError) as caught:
        check(feed, settings, year=2026)
    assert str(caught.value) == "feed.json:7: column 'anneeUniversitaire': '2025': contradicts --year 2026"
    mixed = write_feed([item(), item("000000002", prenom="Anne", INE="0223456789B", anneeUniversitaire=2025)])
    with pytest.raises(InputError, match=r"names several academic years: 2025 \(line 50\), 2026 \(line 7\)"):
        check(mixed, settings)


def test_a_bad_feed_stops_generate_with_every_problem_and_nothing_written(
    write_feed: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = write_feed(
        [item(), item("000000002", prenom=None, INE="0223456789B"), item("000000003", chemin=None, INE="0323456789C")]
    )
    args = ["generate", str(feed), "--config", str(SAMPLES / "scolpass.toml"), "--registry",
            str(tmp_path / "r.sqlite3"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: 2 problems in the input; nothing was written:\n")
    assert "feed.json:50: column 'resultats[1].prenom': is missing; a value is required (learner 000000002)" in err
    assert "column 'resultats[2].chemin': has no path" in err
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "r.sqlite3").exists()


def test_odd_values_in_odd_places_are_problems_at_their_place_never_a_crash(
    write_feed: Callable[..., Path], tmp_path: Path
) -> None:
    short_label = item(chemin=[{"code": "F-ECO-LIC"}, {"code": "EE1", "type": "ANNEE", "libelleCourt": 5}])
    bad_element = item("000000002", prenom="Anne", INE="0223456789B", chemin=[{"code": "F-ECO-LIC"}, 5])
    apogee_state = item("000000003", prenom="Li", INE="0323456789C", statutInscription="A")
    assert problems_of(write_feed([short_label, bad_element, apogee_state])) == [
        (7, "resultats[0].chemin[1].libelleCourt", "is not text (a JSON string) (learner 000000001)"),
        (41, "resultats[1].chemin[1]", "is not a path element with a code (learner 000000002)"),
        (71, "resultats[2].statutInscription", "is not a state of enrolment: annulee or valide (learner 000000003)"),
    ]
    huge = tmp_path / "huge.json"
    huge.write_text('{"resultats": [{"codeApprenant": "1", "regime": ' + "1" * 5000 + "}]}", encoding="utf-8")
    assert problems_of(huge) == [(1, None, "holds a number thousands of digits long: this is no enrolment feed")]


def test_bookkeeping_fields_never_set_a_learner_aside(write_feed: Callable[..., Path]) -> None:
    odd_stamp = item(derniereModification=1.78e9, derniereModificationApprenant="yesterday")
    without_year = item("000000002", prenom="Anne", INE="0223456789B", derniereModification=1_780_000_500)
    del without_year["anneeUniversitaire"]
    enrolment = read(write_feed([odd_stamp, without_year]))
    assert [s.student_number for s in enrolment.students] == ["000000001", "000000002"]
    assert enrolment.academic_years == {2026: 7}  # the item without a year is of the file's year
    assert enrolment.feed_modified == 1_780_000_500
    ((warning),) = enrolment.warnings
    assert (warning.column, warning.value) == ("resultats[0].derniereModification", "1780000000.0")
    assert warning.reason == "is not a time in Unix seconds: ignored (learner 000000001)"


def test_the_feeds_mark_is_never_past_the_time_pegase_fetch_cut_it_at(tmp_path: Path) -> None:
    late = item(derniereModification=1_780_009_999)  # completed after the cut, as --since does
    page_ = {**page([item("000000002", prenom="Anne", INE="0223456789B"), late]),
             "scolpass": {"period": "PER-2026", "since": 1_779_000_000, "until": 1_780_005_000}}  # fmt: skip
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(page_), encoding="utf-8")
    assert read(path).feed_modified == 1_780_005_000
    del page_["scolpass"]
    path.write_text(json.dumps(page_), encoding="utf-8")
    assert read(path).feed_modified == 1_780_009_999
