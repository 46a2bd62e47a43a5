"""The printed sheet, checked by what it says and shows."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import date
from functools import cache
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

from scolpass import ConfigError, Settings, Student, load_settings
from scolpass.fonts import font_check
from scolpass.sheet import (
    DATA_BOTTOM,
    DATA_TOP,
    DATA_W,
    MARGIN,
    Sheet,
    SheetRenderer,
    _layout_rows,
    activation_link,
    body_blocks,
)
from scolpass.student import Step
from scolpass.wording import languages

from .conftest import ROOT, SAMPLES, drawn_glyphs, page_texts, render_page, require


def make_student(number: str = "00000001", **values: object) -> Student:
    base: dict[str, object] = {
        "student_number": number,
        "birth_name": "MARTIN",
        "first_name": "Jean",
        "birth_date": date(2007, 4, 17),
        "faculty": "ECONOMIE",
        "steps": (Step("EE1", "101", "L1 Economie"),),
        "birth_place": "MONTPELLIER",
        "sex": "M",
    }
    base.update(values)
    return Student(**base)  # type: ignore[arg-type]


def make_sheet(
    student: Student,
    identifier: str = "jean.martin",
    password: str = "Xk7pQ2mZr9TnWc4",
    url: str = "https://ent.umontpellier.fr",
) -> Sheet:
    email = f"{identifier}@etu.umontpellier.fr"
    return Sheet(student, email, email, password, activation_link(url, identifier, email))


def render(settings: Settings, sheets: list[Sheet], path: Path) -> Path:
    SheetRenderer(settings, "2026/2027").render(sheets, path, "SCOL'PASS 2026/2027")
    return path


def test_one_page_per_student_with_its_own_data(settings: Settings, tmp_path: Path) -> None:
    sheets = [
        make_sheet(make_student("1"), "jean.martin", "Xk7pQ2mZr9TnWc4"),
        make_sheet(
            make_student("2", birth_name="LE GOFF", usual_name="KERGUELEN", first_name="Anne-Sophie", sex="F",
                         steps=(Step("MBI", "", "M1 Biologie"), Step("DUB", "", "DU Bioinformatique"))),
            "anne-sophie.kerguelen", "Rt8vWq3nYp6ZbKe",
        ),
    ]  # fmt: skip
    texts = page_texts(render(settings, sheets, tmp_path / "s.pdf"))
    assert len(texts) == 2
    first, second = texts
    for needle in ("M. MARTIN", "Jean", "N° étudiant", "17/04/2007 à MONTPELLIER", "ECONOMIE", "EE1 L1 Economie",
                   "jean.martin@etu.umontpellier.fr", "Xk7pQ2mZr9TnWc4", "SCOL'PASS 2026/2027"):  # fmt: skip
        assert needle in first, needle
    for needle in ("Mme LE GOFF", "KERGUELEN", "Anne-Sophie", "MBI M1 Biologie", "DUB DU Bioinformatique",
                   "anne-sophie.kerguelen@etu.umontpellier.fr", "Rt8vWq3nYp6ZbKe"):  # fmt: skip
        assert needle in second, needle
    assert "Xk7pQ2mZr9TnWc4" not in second
    assert "Rt8vWq3nYp6ZbKe" not in first


def test_every_element_of_the_seed_is_on_the_sheet(settings: Settings, tmp_path: Path) -> None:
    (text,) = page_texts(render(settings, [make_sheet(make_student())], tmp_path / "s.pdf"))
    flat = " ".join(text.split())
    for needle in (
        "Université de Montpellier", "https://ent.umontpellier.fr", "environnement numérique de travail",
        "Nom patr.", "Prénom", "Né(e) le", "Composante d'inscription", "Inscription aux étapes", "Statut",
        "Étudiant", "Adresse électronique", "Identifiant de connexion", "Mot de passe provisoire",
        "usage personnel", "perte ou de vol", "carte multiservices", "emploi du temps",
        "Consultez régulièrement votre mail UM", "Activez votre compte informatique",
        "dès le lendemain de votre inscription", "1re connexion", "mail de secours", "J'accepte la charte",
        "8 caractères minimum, mais 12 recommandés", "au moins 1 chiffre et 1 lettre",
        "(sauf <, >, \", ', $)", "mot du dictionnaire", "ne doit être connu que de vous-même",
        "Vous rencontrez une difficulté ?", "« Problème de connexion »",
    ):  # fmt: skip
        assert needle in flat, needle
    assert "vosre" not in flat


@pytest.mark.parametrize(
    "values",
    [
        {"birth_name": "DUPONT & FILS <b>", "first_name": "O'Brien {{ x }}", "faculty": "A&amp;B"},
        {"birth_name": "ΠΑΠΑΔΟΠΟΥΛΟΥ", "first_name": "Анастасия", "birth_place": "Łódź"},
    ],
    ids=["markup-and-template-syntax", "greek-cyrillic-polish"],
)
def test_student_data_prints_as_written(settings: Settings, tmp_path: Path, values: dict[str, str]) -> None:
    # Data is drawn as text: never read as paragraph markup or template code.
    (text,) = page_texts(render(settings, [make_sheet(make_student(**values))], tmp_path / "s.pdf"))
    for value in values.values():
        assert value in text


def _ink_outside_margins(image: Image.Image, dpi: int) -> bool:
    gray = image.convert("L")
    margin_px = int(MARGIN / 72 * dpi) - 2
    width, height = gray.size
    strips = [(0, 0, margin_px, height), (width - margin_px, 0, width, height)]
    return any(gray.crop(box).getextrema()[0] < 200 for box in strips)


def test_long_values_shrink_or_wrap_but_print_in_full(settings: Settings, tmp_path: Path) -> None:
    long_name = "DE LA FONTAINE-" + "-".join(["MONTMORENCY-LAVAL"] * 5)
    long_place = "SAINT-REMY-EN-BOUZEMONT-SAINT-GENEST-ET-ISSON (MARNE) " * 2
    steps = tuple(Step(f"S{i}", "", f"Licence professionnelle métiers de l'étape numéro {i}") for i in range(6))
    student = make_student(birth_name=long_name, first_name="Marie-" * 8 + "Anne", birth_place=long_place, steps=steps)
    identifier = ("marie-" * 8 + "anne.de-la-fontaine")[:61]
    pdf = render(settings, [make_sheet(student, identifier)], tmp_path / "s.pdf")
    (text,) = page_texts(pdf)
    flat = "".join(text.split())
    for value in (long_name, long_place.strip(), f"{identifier}@etu.umontpellier.fr", "S5 Licence"):
        assert "".join(value.split()) in flat, value
    assert not _ink_outside_margins(render_page(pdf, 1, tmp_path, dpi=100), 100)


def test_qr_code_opens_activation_url_and_never_holds_the_password(settings: Settings, tmp_path: Path) -> None:
    pdf = render(settings, [make_sheet(make_student())], tmp_path / "s.pdf")
    codes = zxingcpp.read_barcodes(render_page(pdf, 1, tmp_path))
    assert [c.text for c in codes] == ["https://ent.umontpellier.fr"]


def test_qr_code_per_student_when_the_url_names_them(settings: Settings, tmp_path: Path) -> None:
    url = "https://ent.um.fr/activer?login={identifier}"
    settings = dataclasses.replace(settings, university=dataclasses.replace(settings.university, activation_url=url))
    sheets = [
        make_sheet(make_student("1"), "jean.martin", url=url),
        make_sheet(make_student("2"), "jean.martin2", url=url),
    ]
    pdf = render(settings, sheets, tmp_path / "s.pdf")
    for page, identifier in ((1, "jean.martin"), (2, "jean.martin2")):
        (code,) = zxingcpp.read_barcodes(render_page(pdf, page, tmp_path))
        assert code.text == f"https://ent.um.fr/activer?login={identifier}"


def test_uncovered_character_is_named() -> None:
    problems = font_check(make_student(first_name="中文", birth_place="Łódź").printed_fields())
    assert problems == [("first_name", "holds '中' (U+4E2D), '文' (U+6587), which no shipped font can print")]


def test_fit_check(settings: Settings) -> None:
    renderer = SheetRenderer(settings, "2026/2027")
    many = tuple(Step(f"S{i}", "", "Licence professionnelle " * 4) for i in range(30))
    assert renderer.fit_check(make_student()) == []
    assert renderer.fit_check(make_student(steps=many)) == [
        ("step_code", "30 programme steps and the names do not fit on the sheet")
    ]


def test_optional_fields_print_only_when_present(settings: Settings, tmp_path: Path) -> None:
    plain = make_student("1")
    full = make_student(
        "2",
        ine="0123456789A",
        status="Auditeur libre",
        social_security_date=date(2017, 10, 1),
        paying_centre="601 LMDE",
    )
    first, second = page_texts(render(settings, [make_sheet(plain), make_sheet(full)], tmp_path / "s.pdf"))
    for absent in ("INE", "Sécurité sociale", "Centre payeur"):
        assert absent not in first
    assert "Étudiant" in first
    flat = " ".join(second.split())
    for present in ("INE : 0123456789A", "Auditeur libre", "Sécurité sociale étudiante : affilié(e) le 01/10/2017",
                    "Centre payeur : 601 LMDE"):  # fmt: skip
        assert present in flat, present
    assert "Statut : Étudiant" not in flat


def test_body_blocks() -> None:
    markup = "Intro\ncontinued\n\n## Title\n- one\ntwo\n1) step\n=> sub"
    assert body_blocks(markup) == [
        ("para", "", "Intro continued"),
        ("heading", "", "Title"),
        ("bullet", "\u2022", "one two"),
        ("step", "1)", "step"),
        ("substep", "\u21d2", "sub"),
    ]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.integers(min_value=1, max_value=14),
    name=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZÉ -'", min_size=1, max_size=90),
    label=st.text(alphabet="abcdefghij WM", max_size=100),
    ine=st.booleans(),
)
def test_fit_check_agrees_with_the_layout(steps: int, name: str, label: str, ine: bool) -> None:
    # The quick bound must never accept a student the real layout refuses (rendering would fail).
    renderer = _sample_renderer()
    student = make_student(
        birth_name=name, ine="0123456789A" if ine else "", steps=tuple(Step(f"S{i}", "", label) for i in range(steps))
    )
    fits = _layout_rows(renderer._rows(student), DATA_W, DATA_TOP - DATA_BOTTOM) is not None
    assert (renderer.fit_check(student) == []) == fits


@cache
def _sample_renderer() -> SheetRenderer:
    plain = load_settings(SAMPLES / "scolpass.toml")
    return SheetRenderer(plain, "2026/2027")


def test_password_in_groups_is_spaced_visually_only(settings: Settings, tmp_path: Path) -> None:
    grouped = dataclasses.replace(settings, password=dataclasses.replace(settings.password, group=5))
    (text,) = page_texts(render(grouped, [make_sheet(make_student(), password="Xk7pQ2mZr9TnWc4")], tmp_path / "s.pdf"))
    words = text.split()
    assert "Xk7pQ2mZr9TnWc4" not in words  # drawn apart: the gaps show
    start = words.index("Xk7pQ")
    assert words[start : start + 3] == ["Xk7pQ", "2mZr9", "TnWc4"]  # and nothing else between them
    assert "sans les espaces entre les groupes" in text


def test_names_print_with_real_glyphs(settings: Settings, tmp_path: Path) -> None:
    long_name = "Wolfeschlegelsteinhausenbergerdorff-Montmorency-de-la-Tour-d'Auvergne-Ærøskøbing"
    assert len(long_name) >= 80
    student = make_student(birth_name="ΠΑΠΑΔΟΠΟΥΛΟΥ", first_name="Анастасия", usual_name=long_name)
    pdf = render(settings, [make_sheet(student)], tmp_path / "s.pdf")
    glyphs = drawn_glyphs(pdf)
    for char in set("ΠΑΠΑΔΟΠΟΥΛΟΥАнастасия" + long_name) - {" "}:
        assert glyphs.get(char), f"{char!r} has no glyph on the page"
    assert "".join(long_name.split()) in "".join(page_texts(pdf)[0].split())


def test_the_glyph_check_sees_a_blank_box(settings: Settings, tmp_path: Path) -> None:
    # Rendering directly skips validation: this is what the font check keeps off paper.
    pdf = render(settings, [make_sheet(make_student(first_name="Jean中"))], tmp_path / "s.pdf")
    glyphs = drawn_glyphs(pdf)
    assert glyphs["J"]
    assert not glyphs.get("中", False)


def test_fonts_are_embedded_and_metadata_set(settings: Settings, tmp_path: Path) -> None:
    pdftoppm = require("pdffonts", "poppler-utils")
    pdf = render(settings, [make_sheet(make_student())], tmp_path / "s.pdf")
    listing = subprocess.run([pdftoppm, str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert listing
    assert all(" yes yes yes " in line for line in listing), listing  # embedded, subset, with ToUnicode
    info = PdfReader(pdf).metadata
    assert info is not None
    assert (info.title, info.author) == ("SCOL'PASS 2026/2027", "Université de Montpellier")
    assert info.subject == "SCOL'PASS 2026/2027: Université de Montpellier"


def test_english_and_french_sheets_in_one_file(settings: Settings, tmp_path: Path) -> None:
    sheets = [make_sheet(make_student("1")), make_sheet(make_student("2", language="en"), "jean.martin2")]
    french, english = page_texts(render(settings, sheets, tmp_path / "s.pdf"))
    assert "Mot de passe provisoire" in french
    assert "Temporary password" in english
    assert "Mot de passe provisoire" not in english
    assert "Born on" in english


def test_a_university_replaces_the_wording(settings: Settings, tmp_path: Path) -> None:
    shipped = (ROOT / "templates" / "sheet.fr.j2").read_text(encoding="utf-8")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "sheet.fr.j2").write_text(shipped.replace("Activer mon compte", "Activez-le ici"))
    own = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, templates=str(tmp_path / "mine")))
    (text,) = page_texts(render(own, [make_sheet(make_student())], tmp_path / "s.pdf"))
    assert "Activez-le ici" in text
    # English still comes from the shipped templates.
    assert languages(own) == ["en", "fr"]


def test_template_errors_name_the_file_and_line(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "sheet.fr.j2").write_text("{% set a %}ok{% endset %}\n\n{% set b %}{{ nope.x }}{% endset %}\n")
    own = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, templates=str(tmp_path / "mine")))
    with pytest.raises(ConfigError, match=r"mine/sheet\.fr\.j2:3: template error: 'nope' is undefined"):
        SheetRenderer(own, "2026/2027")
    missing = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, language="de"))
    with pytest.raises(ConfigError, match="template not found for language 'de'"):
        SheetRenderer(missing, "2026/2027")


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_logo_in_the_header(settings: Settings, tmp_path: Path, kind: str) -> None:
    from PIL import Image as PILImage

    logo = tmp_path / f"logo.{kind}"
    if kind == "png":
        PILImage.new("RGB", (200, 100), (200, 16, 46)).save(logo)
    else:
        logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
                        '<rect width="200" height="100" fill="#c8102e"/></svg>')  # fmt: skip
    own = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(logo)))
    pdf = render(own, [make_sheet(make_student())], tmp_path / "s.pdf")
    image = render_page(pdf, 1, tmp_path, dpi=72).convert("RGB")
    # The logo's red fills the top-left of the header, where the title used to start.
    red = image.getpixel((int(MARGIN) + 10, 55))
    assert all(abs(a - b) <= 6 for a, b in zip(red, (200, 16, 46), strict=True)), red
    bad = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(tmp_path / "s.pdf")))
    with pytest.raises(ConfigError, match="cannot be read as PNG, JPEG or SVG"):
        SheetRenderer(bad, "2026/2027")


def test_a_long_university_name_shrinks_to_leave_room_for_the_portal(settings: Settings, tmp_path: Path) -> None:
    long = dataclasses.replace(
        settings,
        university=dataclasses.replace(settings.university, name="Université Paris-Saclay, Gif-sur-Yvette " * 2),
    )
    pdf = render(long, [make_sheet(make_student())], tmp_path / "s.pdf")
    (text,) = page_texts(pdf)
    assert "https://ent.umontpellier.fr" in text
    image = render_page(pdf, 1, tmp_path, dpi=100).convert("L")
    # The title stops before the portal's address: a white gap separates them on the title line.
    y = int((MARGIN + 22) / 72 * 100) - 4
    row = [image.getpixel((x, y)) for x in range(int(MARGIN / 72 * 100), image.width - int(MARGIN / 72 * 100))]
    assert any(all(p > 240 for p in row[i : i + 15]) for i in range(int(len(row) * 0.55), int(len(row) * 0.7)))
