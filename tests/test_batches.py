"""Batches: per faculty, in French order, split into parts with a cover and a signature list."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import string
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from scolpass import RunOptions, Settings, assign_identifiers, generate
from scolpass.batches import Layout, Part, french_key, plan_parts, render_part
from scolpass.sheet import Sheet, SheetRenderer
from scolpass.student import Step, Student

from .conftest import PASSWORD_PATTERN, page_texts, row


def sheet(number: str, last: str, first: str = "Jean", faculty: str = "LETTRES") -> Sheet:
    student = Student(number, last, first, date(2006, 1, 1), faculty, (Step("S1", "", "L1", faculty),))
    login = f"{first.lower()}.{number}"
    return Sheet(student, f"{login}@etu.fr", f"{login}@etu.fr", "Xk7pQ2mZr9TnWc4", "https://ent.fr")


def test_french_order() -> None:
    # As written, with accents, case, spaces and punctuation folded: "de La Fontaine" under D, with Delacroix.
    names = ["Dupont", "de La Fontaine", "Lacroix", "d'Artagnan", "Éluard", "Du Bellay", "eluard", "Zola", "LAFAYETTE",
             "Denis", "Delacroix", "DE GAULLE"]  # fmt: skip
    assert sorted(names, key=french_key) == [
        "d'Artagnan", "DE GAULLE", "Delacroix", "de La Fontaine", "Denis", "Du Bellay", "Dupont", "Éluard", "eluard",
        "Lacroix", "LAFAYETTE", "Zola",
    ]  # fmt: skip


# A realistic faculty, and the order the student information system, student cards and registrars' lists give it:
# the name as written (De Sousa, Da Silva and D'Almeida under D), then the first name, then the student number.
REGISTRAR_ORDER = [
    ("00000016", "DALLE", "Sophie"), ("00000003", "D'ALMEIDA", "Ana"), ("00000007", "D'ARTAGNAN", "Charles"),
    ("00000002", "DA SILVA", "Maria"), ("00000006", "DELACROIX", "Eugène"), ("00000004", "de La Fontaine", "Jean"),
    ("00000017", "DESCHAMPS", "Didier"), ("00000001", "DE SOUSA", "Rui"), ("00000005", "DUPONT", "Marie"),
    ("00000015", "ÉLUARD", "Paul"), ("00000018", "LE BRETON", "Yann"), ("00000009", "LEFEBVRE", "Paul"),
    ("00000008", "LE GOFF", "Anne"), ("00000014", "MARTIN", "Élodie"), ("00000012", "MARTIN", "Jean"),
    ("00000013", "Martin", "Jean"), ("00000010", "N'DIAYE", "Awa"), ("00000011", "NGUYEN", "Thi"),
]  # fmt: skip


def test_sheets_and_signature_list_in_the_registrars_order(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    from .test_sheet import pdftotext_pages

    shuffled = sorted(REGISTRAR_ORDER, key=lambda s: s[1][::-1])  # any order but the right one
    # Each born on another day: the two Jean Martins are two students, not a probable duplicate.
    rows = [row(number, birth_name=last, first_name=first, faculty="LETTRES", birth_date=f"{int(number):02d}/04/2007")
            for number, last, first in shuffled]  # fmt: skip
    result = generate(write_csv(rows), settings, RunOptions(year=2026, out_dir=tmp_path / "o", registry=tmp_path / "r"))
    expected = [number for number, _, _ in REGISTRAR_ORDER]
    (part,) = json.loads((result.out_dir / "manifest.json").read_text())["parts"]
    pdf = result.out_dir / part["path"]
    for pages in (page_texts(pdf), pdftotext_pages(pdf)):
        # The sheets, read back page after page: the cover, then one student a page.
        on_sheets = [re.findall(r"\b0000\d{4}\b", text) for text in pages[1 : 1 + len(expected)]]
        assert [found[0] for found in on_sheets] == expected
        # The signature list, read back row after row.
        assert re.findall(r"\b0000\d{4}\b", pages[-1]) == expected
        listed = " ".join(pages[-1].split())
        positions = [listed.index(f"{last} {first}") for _, last, first in REGISTRAR_ORDER]
        assert positions == sorted(positions)


def test_file_names_never_collide() -> None:
    sheets = [
        sheet("1", "A", faculty="Lettres"),
        sheet("2", "B", faculty="Lettres"),
        sheet("3", "C", faculty="LETTRES"),
    ]
    files = [p.file for p in plan_parts(sheets, max_sheets=1)]
    assert len(set(files)) == len(files) == 3


def test_parts_per_faculty_in_order_and_split() -> None:
    sheets = [
        sheet("5", "Zola"), sheet("4", "de La Fontaine"), sheet("3", "Abel", faculty="DROIT"),
        sheet("2", "Martin"), sheet("1", "Martin"), sheet("6", "Éluard"),
    ]  # fmt: skip
    parts = plan_parts(sheets, max_sheets=3)
    assert [(p.faculty, p.index, p.count, p.file) for p in parts] == [
        ("DROIT", 1, 1, "sheets-droit.pdf"),
        ("LETTRES", 1, 2, "sheets-lettres-part1of2.pdf"),
        ("LETTRES", 2, 2, "sheets-lettres-part2of2.pdf"),
    ]
    assert [s.student.student_number for p in parts[1:] for s in p.sheets] == ["4", "6", "1", "2", "5"]


def _render(settings: Settings, tmp_path: Path, duplex: bool) -> tuple[list[str], dict[str, int], int]:
    sheets = [sheet(str(n), name) for n, name in enumerate(["Zola", "Abel", "de La Fontaine", "Martin", "Hugo"], 1)]
    (part,) = plan_parts(sheets, max_sheets=10)
    pages, total = render_part(
        SheetRenderer(settings, "2026/2027"), part, tmp_path / "p.pdf", "t", Layout(duplex, "01/09/2026 09:00")
    )
    return page_texts(tmp_path / "p.pdf"), pages, total


def test_a_part_opens_with_a_cover_and_closes_with_the_signature_list(settings: Settings, tmp_path: Path) -> None:
    texts, pages, total = _render(settings, tmp_path, duplex=False)
    assert total == len(texts) == 1 + 5 + 1
    cover = " ".join(texts[0].split())
    for needle in ("Université de Montpellier", "SCOL'PASS 2026/2027", "LETTRES", "1 / 1", "Nombre de SCOL'PASS : 5",
                   "01/09/2026 09:00"):  # fmt: skip
        assert needle in cover, needle
    assert pages == {"2": 2, "3": 3, "5": 4, "4": 5, "1": 6}  # Abel, de La Fontaine, Hugo, Martin, Zola
    signature_list = texts[-1]
    assert "Liste d'émargement" in signature_list
    for number, name in (("1", "Zola"), ("2", "Abel"), ("3", "de La Fontaine"), ("4", "Martin"), ("5", "Hugo")):
        assert number in signature_list
        assert f"{name} Jean" in signature_list
        assert f"jean.{number}" in signature_list
    assert not re.findall(PASSWORD_PATTERN, signature_list, flags=re.MULTILINE)
    assert "Xk7pQ2mZr9TnWc4" not in signature_list + texts[0]


def test_duplex_keeps_every_sheet_on_its_own_paper(settings: Settings, tmp_path: Path) -> None:
    texts, pages, total = _render(settings, tmp_path, duplex=True)
    assert total == len(texts)
    assert total % 2 == 0
    assert all(page % 2 == 1 for page in pages.values())
    assert texts[1].strip() == ""  # the cover's back


def test_long_list_runs_over_pages(settings: Settings, tmp_path: Path) -> None:
    sheets = [sheet(f"{n:03d}", f"Nom{n:03d}") for n in range(30)]
    (part,) = plan_parts(sheets, max_sheets=100)
    _, total = render_part(SheetRenderer(settings, "2026/2027"), part, tmp_path / "p.pdf", "t", Layout())
    texts = page_texts(tmp_path / "p.pdf")
    assert total == 1 + 30 + 2
    listed = "\n".join(texts[-2:])
    assert all(f"Nom{n:03d} Jean" in listed for n in range(30))
    assert "1/2" in texts[-2]
    assert "2/2" in texts[-1]


def test_generate_splits_faculties_and_reports_the_parts(
    settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    rows = [row(f"{n:08d}", birth_name=f"NOM{n:02d}", faculty="SCIENCES" if n % 2 else "DROIT", step_code=f"S{n % 2}")
            for n in range(7)]  # fmt: skip
    rows.append(row("00000099", birth_name="DOUBLE", faculty="DROIT", step_code="DL1"))
    rows.append(row("00000099", birth_name="DOUBLE", faculty="SCIENCES", step_code="SI1"))  # goes with DROIT
    small = dataclasses.replace(settings, batches=dataclasses.replace(settings.batches, max_sheets=3, duplex=True))
    result = generate(write_csv(rows), small, RunOptions(year=2026, out_dir=tmp_path / "o", registry=tmp_path / "r"))
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    parts = {p["path"]: (p["faculty"], p["part"], p["of"], p["sheets"], p["pages"]) for p in manifest["parts"]}
    # Duplex: cover and its back, two pages a sheet, the list padded to an even count.
    assert parts == {
        "sheets-droit-part1of2.pdf": ("DROIT", 1, 2, 3, 2 + 6 + 2),
        "sheets-droit-part2of2.pdf": ("DROIT", 2, 2, 2, 2 + 4 + 2),
        "sheets-sciences.pdf": ("SCIENCES", 1, 1, 3, 2 + 6 + 2),
    }
    by_student = {s["student_number"]: s for s in manifest["students"]}
    assert by_student["00000099"]["pdf"].startswith("sheets-droit")
    for s in manifest["students"]:
        text = page_texts(result.out_dir / s["pdf"])[s["page"] - 1]
        assert s["email"] in text
        assert s["page"] % 2 == 1


def test_one_pdf_per_student(settings: Settings, tmp_path: Path, write_csv: Callable[..., Path]) -> None:
    rows = [row("00000001"), row("00000002", first_name="Paul")]
    result = generate(write_csv(rows), settings, RunOptions(year=2026, out_dir=tmp_path / "o", registry=tmp_path / "r",
                      one_pdf_per_student=True))  # fmt: skip
    assert sorted(p.name for p in result.out_dir.glob("*.pdf")) == ["sheet-00000001.pdf", "sheet-00000002.pdf"]
    for o in result.outcomes:
        assert (o.pdf, o.page) == (f"sheet-{o.student_number}.pdf", 1)
        (text,) = page_texts(result.out_dir / o.pdf)
        assert o.email in text


def test_both_cores_give_the_same_files_as_one(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scolpass import batches

    sheets = [sheet(f"{n:03d}", f"Nom{n:03d}", faculty=f"F{n % 3}") for n in range(24)]
    parts = plan_parts(sheets, max_sheets=5)
    renderer = SheetRenderer(settings, "2026/2027")
    seen: list[tuple[int, int]] = []
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    monkeypatch.setattr(batches, "PARALLEL_FROM", 10**9)
    alone = batches.render_parts(renderer, parts, tmp_path / "one", "t", Layout())
    monkeypatch.setattr(batches, "PARALLEL_FROM", 1)
    pooled = batches.render_parts(renderer, parts, tmp_path / "two", "t", Layout(), lambda d, t: seen.append((d, t)))
    assert pooled == alone  # the same pages for the same students
    for part in parts:
        assert page_texts(tmp_path / "one" / part.file) == page_texts(tmp_path / "two" / part.file)
    assert [t for _, t in seen] == [24] * len(parts)
    assert sorted(d for d, _ in seen)[-1] == 24


def _spied_part(settings: Settings, part: Part, pdf: Path) -> tuple[list[tuple[float, float, float, str]], list[float]]:
    """Render ``part``, noting every string drawn (x, y, right end, text) and the y of every full-width rule."""
    from unittest import mock

    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    drawn: list[tuple[float, float, float, str]] = []
    rules: list[float] = []
    draw_string, line = Canvas.drawString, Canvas.line

    def spy(self: Canvas, x: float, y: float, text: str, *args: object, **kwargs: object) -> None:
        drawn.append((x, y, x + stringWidth(text, self._fontname, self._fontsize), text))  # type: ignore[attr-defined]
        draw_string(self, x, y, text, *args, **kwargs)  # type: ignore[arg-type]

    def spy_line(self: Canvas, x1: float, y1: float, x2: float, y2: float) -> None:
        if y1 == y2 and x2 - x1 > 500:
            rules.append(y1)
        line(self, x1, y1, x2, y2)

    with mock.patch.object(Canvas, "drawString", spy), mock.patch.object(Canvas, "line", spy_line):
        render_part(SheetRenderer(settings, "2026/2027"), part, pdf, "t", Layout())
    return drawn, rules


def test_long_faculty_and_names_stay_on_the_page_and_in_their_rows(settings: Settings, tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4

    from scolpass.sheet import MARGIN, TOP

    faculty = ("Unité de formation et de recherche des sciences humaines, sociales et de l'environnement " * 2)[:150]
    long_name = ("Marie-Hélène-Anne-Sophie-Charlotte " * 3)[:100]
    students = [
        Student(f"{n:08d}", long_name, long_name, date(2006, 1, 1), faculty, (Step("EE1", "", "L1"),)) for n in range(3)
    ]
    identifier = "marie-helene-anne-sophie-charlotte-marie-helene-anne-sophie"
    sheets = [Sheet(s, f"{identifier}{i}@etu.fr", "", "Xk7pQ9rT2mW4zNa", "https://ent") for i, s in enumerate(students)]
    (part,) = plan_parts(sheets, 2000)
    drawn, rules = _spied_part(settings, part, tmp_path / "p.pdf")
    assert all(x >= MARGIN - 0.01 and right <= A4[0] - MARGIN + 0.01 for x, _, right, _ in drawn), drawn
    # The list's rows: every piece of a row between its top rule and the next one, on the list's last page.
    # The rules between the list's rows (the sheets' only full-width rule is above their help line, lower down).
    list_rules = sorted({y for y in rules if MARGIN + 50 < y <= TOP - 50}, reverse=True)
    by_row: dict[int, list[str]] = {}
    start = max(i for i, (*_, text) in enumerate(drawn) if text.startswith("Liste d'émargement"))
    for _, y, _, text in drawn[start:]:
        if y < TOP - 50:
            (row,) = [i for i, (top, bottom) in enumerate(itertools.pairwise(list_rules)) if bottom + 1 < y < top - 4]
            by_row.setdefault(row, []).append(text)
    # Each name in full, broken over several lines at its spaces only, then its identifier and number, in its row.
    name_lines = [text for text in by_row[0] if not text.isdigit() and "@" not in text and "marie-helene" not in text]
    assert len(name_lines) > 1
    assert " ".join(name_lines).split() == f"{long_name} {long_name}".split()
    for row, texts in by_row.items():
        assert f"{identifier}{row}" in texts, texts
        assert f"{row:08d}" in texts, texts
    texts = page_texts(tmp_path / "p.pdf")
    assert " ".join(faculty.split()) in " ".join(texts[-1].split())  # the list's title, in full


# The names of test_sheet, on covers and lists: every value whole, read back exactly by pdftotext and pypdf.
def test_covers_and_lists_print_long_names_and_identifiers_whole(settings: Settings, tmp_path: Path) -> None:
    from scolpass.batches import NUMBER_W
    from scolpass.fonts import SANS
    from scolpass.sheet import stringWidth

    from .test_sheet import LONG_NAMES, assert_reads_back, pdftotext_pages

    faculty = "UFR des langues, littératures, cultures et sociétés étrangères et régionales - LLCSER"
    students = [
        Student(f"{n:08d}", name, name.split()[0][:30], date(2006, 1, 1), faculty, (Step("L1", "", "L1"),))
        for n, name in enumerate(LONG_NAMES, 1)
    ]
    identifiers = assign_identifiers(students, lambda _: False)
    sheets = [
        Sheet(s, f"{identifiers[s.student_number]}@etu.fr", "", "Xk7pQ9rT2mW4zNa", "https://ent") for s in students
    ]
    (part,) = plan_parts(sheets, 2000)
    render_part(SheetRenderer(settings, "2026/2027"), part, tmp_path / "p.pdf", "t", Layout())
    readers = {"pdftotext": pdftotext_pages(tmp_path / "p.pdf"), "pypdf": page_texts(tmp_path / "p.pdf")}
    assert_reads_back({reader: pages[0] for reader, pages in readers.items()}, faculty)  # the cover
    listed = {reader: pages[-1] for reader, pages in readers.items()}
    assert_reads_back(listed, faculty)  # the list's title
    for s in students:
        assert_reads_back(listed, f"{s.last_name} {s.first_name}")
        assert_reads_back(listed, identifiers[s.student_number])
        assert_reads_back(listed, s.student_number)
    assert len({identifiers[s.student_number] for s in students}) == len(students)
    assert any(len(i) > 45 and "-" in i for i in identifiers.values())  # long, hyphenated logins among them
    # The student-number column holds 20 of the widest letter or digit at the list's smallest size.
    assert max(stringWidth(c, SANS, 1.0) for c in string.ascii_letters + string.digits) <= 0.99
    assert 20 * stringWidth("W", SANS, 5.5) <= NUMBER_W
