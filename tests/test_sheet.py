"""The printed sheet, checked by what it says and shows."""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
import subprocess
import sys
import unicodedata
import zlib
from datetime import date
from functools import cache
from pathlib import Path
from unittest import mock

import pytest
import zxingcpp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics

from scolpass import ConfigError, InputError, ScolpassError, Settings, Student, assign_identifiers, load_settings
from scolpass.fonts import font_check, register_fonts
from scolpass.sheet import (
    DATA_BOTTOM,
    DATA_TOP,
    DATA_W,
    MARGIN,
    MIN_SIZE,
    PAD,
    Sheet,
    SheetRenderer,
    _layout_rows,
    activation_link,
    body_blocks,
)
from scolpass.student import Step
from scolpass.wording import languages

from .conftest import HEADER, ROOT, SAMPLES, csv_text, drawn_glyphs, page_texts, render_page, require, row


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
    long_name = ("DE LA FONTAINE-MONTMORENCY-LAVAL " * 3).strip()  # 98 characters: breaks at its spaces
    long_place = "SAINT-REMY-EN-BOUZEMONT-SAINT-GENEST-ET-ISSON (MARNE) " * 2
    steps = tuple(Step(f"S{i}", "", f"Licence professionnelle métiers de l'étape numéro {i}") for i in range(6))
    student = make_student(birth_name=long_name, first_name="Marie-" * 8 + "Anne", birth_place=long_place, steps=steps)
    identifier = ("marie-" * 8 + "anne.de-la-fontaine")[:61]
    pdf = render(settings, [make_sheet(student, identifier)], tmp_path / "s.pdf")
    texts = {"pdftotext": pdftotext_pages(pdf)[0], "pypdf": page_texts(pdf)[0]}
    for value in (long_name, "Marie-" * 8 + "Anne", long_place, f"{identifier}@etu.umontpellier.fr", "S5 Licence"):
        assert_reads_back(texts, value)
    assert not _ink_outside_margins(render_page(pdf, 1, tmp_path, dpi=100), 100)


# -- Long values (issue 15): printed whole, at a legible size, and read back exactly -------------------------

# Names of 40 to 100 characters, as registrars' exports hold them: with and without spaces and hyphens.
LONG_NAMES = [
    "WOLFESCHLEGELSTEINHAUSENBERGERDORFF-VONKNOLLENHAUSEN",  # the issue's: one hyphen, no space
    "KONSTANTINOPOULOU-PAPADIMITRIOU-CHARALAMBOUS",  # hyphens only
    "NGUYENTHIHUONGTRANPHAMLEVOHOANGDANGBUIDOHO",  # no space, no hyphen
    "Wolfeschlegelsteinhausenbergerdorffvonknollenhausen-Montmorency",  # 63, lower case
    "DE LA TOUR D'AUVERGNE-LAURAGUAIS DE SAINT-GERMAIN-EN-LAYE",  # spaces and hyphens
    "MARIA DE LOS ANGELES DEL CARMEN FERNANDEZ DE CORDOBA Y GONZALEZ DE LA SERNA",  # spaces only
    "SAINT-JUST - DE LA ROCHEFOUCAULD-MONTMORENCY - DOUDEAUVILLE - LAVAL",  # a line may not end with "-"
    ("LE BRETON DE LA VIEUVILLE-MONTMORENCY " * 3)[:100],  # 100, both
    ("ABDELRAHMANE BEN MOHAMED " * 4)[:100],  # 100, spaces only
]


def pdftotext_pages(pdf: Path) -> list[str]:
    """The text of each page as poppler's pdftotext gives it (what copy and paste and most indexers see)."""
    binary = require("pdftotext", "poppler-utils")
    text = subprocess.run([binary, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]  # a form feed ends each page


def assert_reads_back(texts: dict[str, str], value: str) -> None:
    """``value`` exactly in each reader's text; only the whitespace between its words may differ (a line break)."""
    for reader, text in texts.items():
        if " " in value.strip():
            assert " ".join(value.split()) in " ".join(text.split()), (reader, value, text)
        else:
            assert value.strip() in text, (reader, value, text)  # on one line: no break, no hyphen dropped


@pytest.mark.parametrize("name", LONG_NAMES, ids=[f"{len(n)}-{n[:12]}" for n in LONG_NAMES])
def test_a_long_name_prints_whole_and_reads_back_exactly(settings: Settings, tmp_path: Path, name: str) -> None:
    renderer = SheetRenderer(settings, "2026/2027")
    student = make_student(birth_name=name, first_name=name, usual_name=name.title(), birth_place=name[:60])
    assert renderer.fit_check(student) == []  # what check accepts...
    pdf = tmp_path / "s.pdf"
    drawn = _render_spied(settings, make_sheet(student), pdf)  # ...prints whole, inside the frame's column
    _assert_inside(drawn)
    assert min(d.size for d in drawn if d.in_rows) >= MIN_SIZE
    texts = {"pdftotext": pdftotext_pages(pdf)[0], "pypdf": page_texts(pdf)[0]}
    for value in (*student.printed_fields().values(), f"M. {name}"):
        assert_reads_back(texts, value)


def test_the_issues_name_prints_on_one_line(settings: Settings, tmp_path: Path) -> None:
    name = "WOLFESCHLEGELSTEINHAUSENBERGERDORFF-VONKNOLLENHAUSEN"
    pdf = render(settings, [make_sheet(make_student(birth_name=name))], tmp_path / "s.pdf")
    for text in (pdftotext_pages(pdf)[0], page_texts(pdf)[0]):
        assert f"M. {name}" in text.splitlines()  # a line of its own, whole, below its label


def test_a_word_too_wide_for_any_line_is_refused_by_check_never_cut(settings: Settings, tmp_path: Path) -> None:
    word = "W" * 70  # no space to break at, and wider than the frame's column even at the smallest size
    renderer = SheetRenderer(settings, "2026/2027")
    reason = f"{word!r} (70 characters) is too wide for one line of the sheet even at 6.5 points, and a value is"
    assert renderer.fit_check(make_student(birth_place=f"SAINT {word}")) == [
        ("birth_place", f"{reason} broken only at its spaces")
    ]
    # A space after a hyphen is no place to break: "JEAN- " ending a line would read "JEAN" joined to the next.
    assert renderer.fit_check(make_student(birth_place=f"{word[:40]}- {word[:30]}")) == [
        ("birth_place", f"{word[:40] + '- ' + word[:30]!r} (72 characters) is too wide for one line of the sheet even "
                        "at 6.5 points, and a value is broken only at its spaces")
    ]  # fmt: skip
    # Through a real file and scolpass check: located, and the student is not printed.
    with pytest.raises(InputError, match=re.escape(f"enrolment.csv:2: column 'first_name': {reason}")):
        _check_rows(tmp_path, [row("00000001", first_name=word)])
    # Drawn without the check, it is refused too: never cut, never shrunk past legibility.
    with pytest.raises(ScolpassError, match="does not fit"):
        render(settings, [make_sheet(make_student(first_name=word))], tmp_path / "s.pdf")


def test_credentials_too_long_for_a_line_are_a_config_error(settings: Settings, tmp_path: Path) -> None:
    # An address, a login and a password print on one line each, never broken: one that could not, a
    # configuration can give, and it is refused before anything is read or written.
    domain = "etudiants.universite-de-montpellier-paul-valery.fr"  # 50 characters
    long_domain = dataclasses.replace(
        settings, university=dataclasses.replace(settings.university, email_domain=domain)
    )
    with pytest.raises(ConfigError, match=re.escape(
        f"[identifiers] max_length = 64 and [university] email_domain = '{domain}' give addresses of up to 115 "
        "characters, more than the 97 that print on one line of the sheet even at 6.5 points: make max_length 46 "
        "or less"
    )):  # fmt: skip
        SheetRenderer(long_domain, "2026/2027")
    shorter = dataclasses.replace(long_domain, identifiers=dataclasses.replace(settings.identifiers, max_length=46))
    identifier = "marie-helene-anne-sophie.de-la-tour-d-auvergne"[:46]
    pdf = tmp_path / "s.pdf"
    email = f"{identifier}@{domain}"  # 97 characters: on one line, at 6.5 points
    sheet = Sheet(make_student(), email, email, "Xk7pQ2mZr9TnWc4", "https://ent.umontpellier.fr")
    SheetRenderer(shorter, "2026/2027").render([sheet], pdf, "t")
    assert_reads_back({"pdftotext": pdftotext_pages(pdf)[0], "pypdf": page_texts(pdf)[0]}, email)
    long_password = dataclasses.replace(settings, password=dataclasses.replace(settings.password, length=100))
    with pytest.raises(ConfigError, match=r"\[password\] length = 100: more than the 97 characters"):
        SheetRenderer(long_password, "2026/2027")


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
    # Every value at its limit in the widest letters, broken at spaces only: more lines than the frame has.
    widest = make_student(
        birth_name=("ΠΑΠΑΔΟΠΟΥΛΟΥ-Wolfeschlegelsteinhausenbergerdorff-ЧЕРНЫШЕВСКИЙ-Łódź " * 2)[:100],
        first_name="Marie-Анастасия-Ελένη " * 4 + "Zoé", birth_place=("W" * 40 + " ") * 2 + "W" * 18,
        faculty=("Faculté des sciences économiques et sociales " * 4)[:150], status=("Ω" * 29 + " ") * 2,
        steps=(Step("EE1", "", ("Licence professionnelle métiers de l'informatique " * 3)[:150]),),
    )  # fmt: skip
    assert renderer.fit_check(widest) == [("step_code", "1 programme steps and the names do not fit on the sheet")]


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
    long_name = "Wolfeschlegelsteinhausenbergerdorff-Montmorency de-la-Tour-d'Auvergne-Ærøskøbing"
    assert len(long_name) >= 80
    student = make_student(birth_name="ΠΑΠΑΔΟΠΟΥΛΟΥ", first_name="Анастасия", usual_name=long_name)
    pdf = render(settings, [make_sheet(student)], tmp_path / "s.pdf")
    glyphs = drawn_glyphs(pdf)
    for char in set("ΠΑΠΑΔΟΠΟΥΛΟΥАнастасия" + long_name) - {" "}:
        assert glyphs.get(char), f"{char!r} has no glyph on the page"
    assert_reads_back({"pypdf": page_texts(pdf)[0], "pdftotext": pdftotext_pages(pdf)[0]}, long_name)


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


@pytest.mark.parametrize("kind", ["png", "jpeg", "svg"])
def test_logo_in_the_header(settings: Settings, tmp_path: Path, kind: str) -> None:
    from PIL import Image as PILImage

    logo = tmp_path / f"logo.{kind}"
    if kind in ("png", "jpeg"):
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
    # svglib reads width="nan" as a number: a logo of no size, refused like width="0".
    (tmp_path / "nan.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="nan" height="100"></svg>')
    nan = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(tmp_path / "nan.svg")))
    with pytest.raises(ConfigError, match="the image has no size"):
        SheetRenderer(nan, "2026/2027")
    # Another format Pillow reads is refused too: its size could not be checked before decoding.
    PILImage.new("RGB", (200, 100)).save(tmp_path / "logo.gif")
    gif = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(tmp_path / "logo.gif")))
    with pytest.raises(ConfigError, match="cannot be read as PNG, JPEG or SVG: not a PNG or JPEG image"):
        SheetRenderer(gif, "2026/2027")
    (tmp_path / "gif.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
                                      '<image width="200" height="100" href="logo.gif"/></svg>')  # fmt: skip
    in_svg = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(tmp_path / "gif.svg")))
    with pytest.raises(ConfigError, match=r"SVG: the image 'logo\.gif' it draws: not a PNG or JPEG image"):
        SheetRenderer(in_svg, "2026/2027")


def _blank_png(path: Path, width: int, height: int) -> Path:
    """A valid one-bit PNG of ``width`` x ``height`` black pixels, written a few rows at a time.

    Zero rows compress a thousandfold: 30000 x 30000 takes 109 KB on disk and 900
    million pixels once decoded, a decompression bomb, made without ever holding it.
    """
    row = bytes(1 + (width + 7) // 8)  # the filter byte, then the row's bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 64) for _ in range(height // 64))
    idat += packer.compress(row * (height % 64)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # one bit a pixel, grey, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def _big_logo(folder: Path, kind: str) -> tuple[Path, str]:
    """A logo over the pixel limit, and the start of the ConfigError that must refuse it."""
    bomb_size = "30000 x 30000 pixels (900,000,000)"
    if kind == "bomb":
        logo = _blank_png(folder / "logo.png", 30000, 30000)
        assert logo.stat().st_size < 120_000
        with pytest.raises(Image.DecompressionBombError):
            Image.open(logo)  # a real bomb, as Pillow itself sees it
        return logo, f"is {bomb_size}"
    if kind == "one-bit":
        logo = folder / "logo.png"
        Image.new("1", (12000, 12000)).save(logo)  # 18 MB in memory here, 1.6 GB once ReportLab decodes it
        return logo, "is 12000 x 12000 pixels (144,000,000)"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="200" height="100">'
    if kind == "svg-embedding-a-bomb":
        data = base64.b64encode(_blank_png(folder / "bomb.png", 30000, 30000).read_bytes()).decode()
        svg += f'<image width="200" height="100" xlink:href="data:image/png;base64,{data}"/></svg>'
        what = f"an image it embeds is {bomb_size}"
    elif kind == "svg-using-an-svg-embedding-a-bomb":
        inner, _ = _big_logo(folder, "svg-embedding-a-bomb")
        (folder / "art").mkdir()
        inner.replace(folder / "art" / "inner.svg")
        svg += '<use xlink:href="art/inner.svg"/></svg>'
        what = f"an image 'art/inner.svg' embeds is {bomb_size}"
    else:  # an SVG drawing a big PNG beside it
        Image.new("1", (12000, 12000)).save(folder / "big.png")
        svg += '<image width="200" height="100" xlink:href="big.png"/></svg>'
        what = "the image 'big.png' it draws is 12000 x 12000 pixels (144,000,000)"
    logo = folder / "logo.svg"
    logo.write_text(svg)
    return logo, what


_LOGO_KINDS = ["bomb", "one-bit", "svg-embedding-a-bomb", "svg-using-an-svg-embedding-a-bomb", "svg-drawing-a-big-png"]


@pytest.mark.parametrize("kind", _LOGO_KINDS)
def test_a_logo_over_the_pixel_limit_is_refused_unread(settings: Settings, tmp_path: Path, kind: str) -> None:
    logo, what = _big_logo(tmp_path, kind)
    own = dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(logo)))
    message = f"[sheet] logo = {str(logo)!r}: {what}; a logo may have at most 4,000,000 pixels"
    with pytest.raises(ConfigError, match=re.escape(message)):
        SheetRenderer(own, "2026/2027")


def test_a_logo_at_the_pixel_limit_is_accepted(settings: Settings, tmp_path: Path) -> None:
    def renderer(width: int, height: int) -> SheetRenderer:
        logo = _blank_png(tmp_path / f"{width}x{height}.png", width, height)
        return SheetRenderer(
            dataclasses.replace(settings, sheet=dataclasses.replace(settings.sheet, logo=str(logo))), ""
        )

    assert renderer(2000, 2000).logo is not None
    assert renderer(4000, 1000).logo is not None
    with pytest.raises(ConfigError, match=r"is 4001 x 1000 pixels \(4,001,000\); a logo may have at most 4,000,000"):
        renderer(4001, 1000)


# Runs the command given as its child and prints the child's peak RSS (KiB on Linux) last. A child of this
# small process, not of pytest: Linux keeps a process's peak RSS across fork and exec.
_PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], check=False).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)
sys.exit(code)
"""


@pytest.mark.parametrize("command", ["check", "preview"])
@pytest.mark.parametrize("kind", ["bomb", "one-bit"])
def test_check_and_preview_refuse_a_big_logo_before_decoding_it(tmp_path: Path, command: str, kind: str) -> None:
    logo, what = _big_logo(tmp_path, kind)
    config = tmp_path / "scolpass.toml"
    config.write_text((SAMPLES / "scolpass.toml").read_text().replace("[sheet]\n", '[sheet]\nlogo = "logo.png"\n', 1))
    args = [str(SAMPLES / "enrolment.csv")] if command == "check" else ["--out", str(tmp_path / "p.pdf")]
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, sys.executable, "-m", "scolpass", command, *args, "--config", str(config)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"Error: [sheet] logo = {str(logo)!r}: {what}; "), result.stderr
    assert "Traceback" not in result.stderr
    # Decoded, the 12000 x 12000 image alone takes 1.6 GB; scolpass itself needs 60 MiB here.
    peak = int(result.stdout.splitlines()[-1])
    assert peak < 150 * 1024, f"peak RSS {peak / 1024:.0f} MiB"
    assert not (tmp_path / "p.pdf").exists()


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


# -- Hostile input (issue 11): student data through the real checks, then onto the page ------------------------

SHEET_HEADER = (*HEADER, "ine", "status", "paying_centre")
# Student data is drawn as text, never read as Jinja2 or as ReportLab paragraph markup: all this prints as typed.
PAYLOADS = [
    "{{ 7*7 }}", "{{7*'7'}}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{# c #}", "{%raw%}", "<b>", "</b>", "<i>x</i>", "<font size=80>", '<font name="Courier" color="red">',
    "<para>", "</para>", "<br/>", "<super>1</super>", '<a href="javascript:x">', "<img src='x'/>", "&amp;",
    "&lt;", "&#x41;", "&nbsp;", "<![CDATA[x]]>", "<!--", "${x}", "%(x)s", "{0}", "\\", "'", '"', "=1+1",
]  # fmt: skip
_COVERED = register_fonts()
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")  # what check_row refuses in any value


def _misprinted(char: str) -> bool:
    """What the font check refuses although a font covers it: right-to-left letters, and past U+FFFF."""
    return unicodedata.bidirectional(char) in ("R", "AL") or ord(char) > 0xFFFF


# pypdf's own idea of right-to-left text (pypdf._utils.RTL_CHARACTER_RANGES): it reads such a character, and the
# neutral ones beside it, in reverse order, whatever the page shows (a Hebrew point after "<" comes back before it).
_PYPDF_RTL = (("\u0590", "\u08ff"), ("\ufb1d", "\ufdff"), ("\ufe70", "\ufeff"))


def _known_misprint(char: str) -> bool:
    """Characters the checks accept but pypdf does not read back as typed: left out of the hypothesis test.

    Right-to-left letters are refused (test_right_to_left_names_are_refused_by_name); the Hebrew
    points and Arabic digits around them print in place, which
    test_every_unicode_category_is_refused_by_name_or_printed checks on the page's glyphs.
    """
    return any(a <= char <= b for a, b in _PYPDF_RTL) and not _misprinted(char)


# What a sheet can print (the fonts cover it, the checks accept it) and what is known to print as typed.
_SHEET_CHARS = sorted(
    chr(c)
    for c in _COVERED
    if not _known_misprint(chr(c))
    and not _misprinted(chr(c))
    and unicodedata.category(chr(c)) not in _REFUSED_CATEGORIES
)
sheet_value = st.lists(
    st.sampled_from(PAYLOADS) | st.text(st.sampled_from(_SHEET_CHARS), min_size=1, max_size=8), max_size=4
).map("".join)
sheet_name = st.builds(lambda a, b: a + b, st.sampled_from(["Jean", "Ελένη", "Анна", "Łukasz", "N'Diaye"]), sheet_value)
# Anything at all, in one value now and then: refused with a message naming it, or printed.
_anything = st.text(st.characters(codec=None, exclude_categories=["Cs"]), min_size=1, max_size=3).filter(
    lambda v: not any(map(_known_misprint, v))
)
# At and past the columns' limits (100 characters; 150 for faculty and step labels).
# One character in twelve a space: words of all lengths, some too wide for any line (refused, never cut).
_long = st.text(st.sampled_from([*_SHEET_CHARS, "-", *" " * 430]), min_size=60, max_size=160)
_PERSON = ("birth_name", "usual_name", "first_name", "birth_place", "ine", "status", "paying_centre")


@st.composite
def sheet_rows(draw: st.DrawFn) -> list[dict[str, str]]:
    person = {
        "birth_name": draw(sheet_name), "usual_name": draw(st.just("") | sheet_name), "first_name": draw(sheet_name),
        "birth_place": draw(sheet_value), "ine": draw(st.just("") | sheet_value), "status": draw(sheet_value),
        "paying_centre": draw(sheet_value),
    }  # fmt: skip
    steps = [
        {"step_code": f"S{i}" + draw(sheet_value)[:15], "step_label": draw(sheet_value), "faculty": draw(sheet_name)}
        for i in range(draw(st.integers(1, 3)))
    ]
    for odd in (_anything, _long):
        column = draw(st.sampled_from([None, *_PERSON, "step_label", "faculty"]))
        if column in _PERSON:
            person[column] = draw(sheet_value) + draw(odd) + draw(sheet_value)
        elif column is not None:
            steps[0][column] = draw(odd)
    return [row("00000001", **person, **step) for step in steps]


def _check_rows(folder: Path, rows: list[dict[str, str]]) -> Student:
    """The student ``scolpass check`` reads from a CSV of ``rows`` (InputError if refused)."""
    from scolpass.checks import check

    path = folder / "enrolment.csv"
    path.write_text(csv_text(rows, header=SHEET_HEADER), encoding="utf-8")
    (student,) = check(path, _sample_settings(), year=2026).enrolment.students
    return student


def _assert_clear_refusal(error: InputError, rows: list[dict[str, str]]) -> None:
    """Every problem is located (file, line, column), and names each character that cannot be printed."""
    message = str(error)
    assert error.problems
    for problem in error.problems:
        assert (problem.file, bool(problem.line), bool(problem.reason)) == ("enrolment.csv", True, True), problem
    if any("\x00" in value for r in rows for value in r.values()):
        assert "NUL byte" in message  # the file is not text: refused whole, with the line of the byte
        return
    for r in rows:
        for column, value in r.items():
            value = unicodedata.normalize("NFC", value)  # what the checks see
            if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in value):
                # Shown as repr(): an invisible character appears as its escape (\x08, \u200b).
                assert f"column {column!r}: {value!r}: holds a line break, a tab or an invisible control" in message
            for char in value:
                if (ord(char) not in _COVERED or _misprinted(char)) and unicodedata.category(char) != "Cc":
                    assert f"{char!r} (U+{ord(char):04X})" in message, (char, message)


@dataclasses.dataclass(frozen=True)
class _Drawn:
    text: str
    x: float
    y: float
    font: str
    size: float
    in_rows: bool  # one of the frame's label/value rows

    @property
    def right(self) -> float:
        return self.x + pdfmetrics.stringWidth(self.text, self.font, self.size)


def _render_spied(settings: Settings, sheet: Sheet, path: Path) -> list[_Drawn]:
    """Render one sheet, noting every string drawn, where, and whether it belongs to the frame's rows."""
    from reportlab.pdfgen.canvas import Canvas

    import scolpass.sheet

    drawn: list[_Drawn] = []
    in_rows = [False]
    draw_string, draw_rows = Canvas.drawString, scolpass.sheet._draw_rows

    def spy(self: Canvas, x: float, y: float, text: str, *args: object, **kwargs: object) -> None:
        drawn.append(_Drawn(text, x, y, self._fontname, self._fontsize, in_rows[0]))  # type: ignore[attr-defined]
        draw_string(self, x, y, text, *args, **kwargs)  # type: ignore[arg-type]

    def rows(*args: object) -> None:
        in_rows[0] = True
        try:
            draw_rows(*args)  # type: ignore[arg-type]
        finally:
            in_rows[0] = False

    with mock.patch.object(Canvas, "drawString", spy), mock.patch.object(scolpass.sheet, "_draw_rows", rows):
        render(settings, [sheet], path)
    return drawn


def _assert_inside(drawn: list[_Drawn]) -> None:
    """Nothing past the page's margins; the student's rows within their column of the frame."""
    page_w, page_h = A4
    for d in drawn:
        assert MARGIN <= d.x <= d.right <= page_w - MARGIN + 0.01, d
        assert MARGIN <= d.y <= page_h - MARGIN, d
        if d.in_rows:
            assert MARGIN + PAD <= d.x <= d.right <= MARGIN + PAD + DATA_W + 0.01, d
            assert DATA_BOTTOM <= d.y <= d.y + d.size <= DATA_TOP + 0.01, d


def _assert_printed_as_typed(text: str, student: Student) -> None:
    flat = " ".join(text.split())  # lines break at spaces only: every word reads back whole
    for column, value in student.printed_fields().items():
        assert " ".join(value.split()) in flat, (column, value)


@cache
def _sample_settings() -> Settings:
    return load_settings(SAMPLES / "scolpass.toml")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=sheet_rows())
def test_hostile_values_are_refused_clearly_or_printed_as_typed_inside_the_frame(
    tmp_path: Path, rows: list[dict[str, str]]
) -> None:
    # tmp_path: one folder whose files each example overwrites.
    try:
        student = _check_rows(tmp_path, rows)
    except InputError as refused:
        event("refused")
        _assert_clear_refusal(refused, rows)
        return
    event("printed")
    identifier = assign_identifiers([student], lambda _: False)[student.student_number]
    drawn = _render_spied(_sample_settings(), make_sheet(student, identifier), tmp_path / "s.pdf")
    _assert_inside(drawn)
    _assert_printed_as_typed(page_texts(tmp_path / "s.pdf")[0], student)


def _glyph_kinds(pdf: Path) -> dict[str, str]:
    """Every character the document's fonts map, and its glyph: "ink", "empty" (a space) or "notdef" (a box).

    As conftest.drawn_glyphs, read from the embedded font programs; but a space
    is told from the missing-character box, and code points past U+FFFF are read
    as ReportLab writes them (five or six hex digits). A character drawn with no
    glyph of its own is absent.
    """
    import io

    from fontTools.ttLib import TTFont

    def fonts(resources: object) -> list[object]:
        found = [font.get_object() for font in (resources.get("/Font") or {}).values()]  # type: ignore[attr-defined]
        for xobject in (resources.get("/XObject") or {}).values():  # type: ignore[attr-defined]
            inner = xobject.get_object().get("/Resources")
            if inner is not None:
                found += fonts(inner.get_object())
        return found

    rank = {"notdef": 0, "empty": 1, "ink": 2}
    kinds: dict[str, str] = {}
    seen: set[int] = set()
    for page in PdfReader(pdf).pages:
        for font in fonts(page["/Resources"].get_object()):
            if id(font) in seen:
                continue
            seen.add(id(font))
            program = TTFont(io.BytesIO(font["/FontDescriptor"]["/FontFile2"].get_data()))  # type: ignore[index]
            cmap, glyf, order = program["cmap"].getcmap(1, 0).cmap, program["glyf"], program.getGlyphOrder()
            to_unicode = font["/ToUnicode"].get_data().decode()  # type: ignore[index]
            for code, unicode in re.findall(r"<([0-9A-F]{2})> <([0-9A-F]{4,6})>", to_unicode):
                char = chr(int(unicode, 16))
                name = cmap.get(int(code, 16), order[0])
                glyph = glyf[name]
                kind = "notdef" if name == order[0] else "ink" if glyph.numberOfContours != 0 else "empty"
                if rank[kind] >= rank[kinds.get(char, "notdef")]:
                    kinds[char] = kind
    return kinds


@cache
def _by_category() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for point in range(0x110000):
        found.setdefault(unicodedata.category(chr(point)), []).append(chr(point))
    return found


def _spread(chars: list[str], count: int) -> list[str]:
    """``count`` characters spread evenly over ``chars``, first and last included: the same every run."""
    if len(chars) <= count:
        return chars
    return [chars[round(i * (len(chars) - 1) / (count - 1))] for i in range(count)]


def _category_samples() -> dict[str, list[str]]:
    """For each of Unicode's 30 general categories: characters the fonts cover and characters they do not."""
    samples = {}
    for category, chars in sorted(_by_category().items()):
        covered = [c for c in chars if ord(c) in _COVERED]
        samples[category] = sorted(set(_spread(covered, 6) + _spread(chars, 8)), key=ord)
    return samples


def _problems_by_number(enrolment: object) -> dict[str, list[str]]:
    """With skip_invalid: each student number set aside, and its problems as the report prints them."""
    lines: dict[int, str] = {r.line: r.cells[0] for r in enrolment.rejected}  # type: ignore[attr-defined]
    found: dict[str, list[str]] = {}
    for problem in enrolment.problems:  # type: ignore[attr-defined]
        found.setdefault(lines[problem.line], []).append(str(problem))
    return found


def test_every_unicode_category_is_refused_by_name_or_printed(tmp_path: Path) -> None:
    from scolpass.checks import check

    samples = {category: chars for category, chars in _category_samples().items() if category != "Cs"}
    # NUL makes the whole file refused (tested apart below).
    chars = [c for chars in samples.values() for c in chars if c != "\x00"]
    rows = [row(f"{i + 1:08d}", first_name=f"Jean{c}ne", birth_place=f"A{c}B") for i, c in enumerate(chars)]
    path = tmp_path / "enrolment.csv"
    path.write_text(csv_text(rows, header=SHEET_HEADER), encoding="utf-8")
    enrolment = check(path, _sample_settings(), year=2026, skip_invalid=True).enrolment
    accepted = {s.student_number: s for s in enrolment.students}
    refused = _problems_by_number(enrolment)
    printed: dict[str, list[str]] = {}
    for number, char in ((r["student_number"], c) for r, c in zip(rows, chars, strict=True)):
        name = f"U+{ord(char):04X} {unicodedata.category(char)}"
        value = unicodedata.normalize("NFC", f"Jean{char}ne")  # as read: U+232A is U+3009 once NFC
        printable = all(
            ord(c) in _COVERED and not _misprinted(c) and unicodedata.category(c) not in _REFUSED_CATEGORIES
            for c in value
        )
        assert (number in accepted) == printable, name  # refused exactly when it cannot be printed
        if number in accepted:
            printed.setdefault(unicodedata.category(char), []).append(char)
            continue
        message = "\n".join(refused[number])
        assert message.startswith("enrolment.csv:"), (name, message)  # file and line
        assert "column 'first_name'" in message, (name, message)
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            assert f"{value!r}: holds a line break, a tab or an invisible control character" in message, (name, message)
        else:
            for shown in {*value} - {*"Jean"}:
                why = "which no shipped font can print" if ord(shown) not in _COVERED else "is "
                assert f"{shown!r} (U+{ord(shown):04X}){',' if ord(shown) not in _COVERED else ''} {why}" in message, (
                    name,
                    message,
                )
    # Letters, marks, numbers, punctuation, symbols and spaces print; controls and unassigned code points do not.
    assert {"Cc", "Cf", "Cn", "Zl", "Zp"}.isdisjoint(printed)
    assert {"Co", "Ll", "Lm", "Lo", "Lt", "Lu", "Me", "Mn", "Nd", "Nl", "No", "Zs"} <= set(printed)
    assert {"Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "Sc", "Sk", "Sm", "So"} <= set(printed)

    # Every accepted character on a real page: one student per category, all its characters in two values.
    combined = [
        row(f"{i + 1:08d}", first_name="Jean" + "a".join(cs), birth_place="A" + "a".join(cs))
        for i, cs in enumerate(printed.values())
    ]
    path.write_text(csv_text(combined, header=SHEET_HEADER), encoding="utf-8")
    students = check(path, _sample_settings(), year=2026).enrolment.students
    pdf = render(_sample_settings(), [make_sheet(s) for s in students], tmp_path / "s.pdf")
    glyphs = _glyph_kinds(pdf)
    for student, text in zip(students, page_texts(pdf), strict=True):
        _assert_printed_as_typed(text, student)
        for char in set(student.first_name + student.birth_place):
            # A real glyph: ink, or for a space or a mark that draws nothing, an empty one; never the box.
            expected = {"ink", "empty"} if char.isspace() or unicodedata.category(char) in ("Mn", "Me") else {"ink"}
            assert glyphs.get(char) in expected, (f"U+{ord(char):04X}", unicodedata.category(char), glyphs.get(char))


def test_a_nul_or_a_lone_surrogate_is_refused_by_name(tmp_path: Path) -> None:
    # The two characters of the 30 categories that the CSV test above cannot carry.
    from scolpass.checks import ROW_CHECKS, check
    from scolpass.enrolment import students_from_dataframe

    path = tmp_path / "enrolment.csv"
    path.write_text(csv_text([row("1"), row("2", first_name="Je\x00an")], header=SHEET_HEADER), encoding="utf-8")
    with pytest.raises(InputError, match=r"^enrolment\.csv:3: byte offset \d+: a NUL byte: this is not a text file"):
        check(path, _sample_settings(), year=2026)
    # A surrogate cannot come from a file; a script's DataFrame could hold one.
    import pandas as pd

    frame = pd.DataFrame([row("1", first_name="Jean\ud800")], dtype=str)
    with pytest.raises(
        InputError, match=r"frame:2: column 'first_name': .*\(U\+D800\), which no shipped font can print"
    ):
        students_from_dataframe(frame, "frame", ROW_CHECKS)


def _gutter_is_blank(image: Image.Image, dpi: int) -> bool:
    """No ink between the student's column and the notice beside it, over the frame's rows."""
    from scolpass.sheet import NOTICE_X

    page_h = A4[1]
    scale = dpi / 72
    box = (
        int((MARGIN + PAD + DATA_W) * scale) + 2, int((page_h - DATA_TOP) * scale) + 2,
        int(NOTICE_X * scale) - 2, int((page_h - DATA_BOTTOM) * scale) - 2,
    )  # fmt: skip
    return image.convert("L").crop(box).getextrema()[0] >= 200


@pytest.mark.parametrize(
    "values",
    [
        {"first_name": "Jean {{ 7*7 }}", "birth_name": "{% for x in range(3) %}X{% endfor %}",
         "faculty": "{{ ''.__class__.__mro__[1].__subclasses__() }}", "status": "{{ config }}{# c #}",
         "step_label": "{%raw%}{{ university.name }}{%endraw%}", "birth_place": "${7*7} %(x)s {0}"},
        {"birth_name": "DUPONT <b>&amp;</b>", "first_name": "<font size=80>Jean</font>",
         "birth_place": "<para>Lyon</para><br/>", "status": "&lt;i&gt; <super>2</super> &#x41; &nbsp;",
         "paying_centre": "<a href='javascript:x'>601</a><img src='x'/>", "step_label": "<![CDATA[x]]> <!-- x"},
        # At or near the columns' limits, long words of the widest letters: shrunk, broken at spaces only, still
        # in the frame (all at their limits in such letters, they would not fit: test_fit_check refuses that).
        {"birth_name": ("ΠΑΠΑΔΟΠΟΥΛΟΥ-Wolfeschlegelsteinhausenbergerdorff-ЧЕРНЫШЕВСКИЙ-Łódź " * 2)[:100],
         "first_name": "Marie-Анастасия-Ελένη " * 4 + "Zoé", "birth_place": "W" * 40 + " " + "W" * 40,
         "faculty": ("Faculté des sciences économiques et sociales " * 4)[:150],
         "step_label": ("Licence professionnelle métiers de l'informatique " * 3)[:150], "status": "Ω" * 29 + " Ω"},
    ],
    ids=["jinja", "reportlab-markup", "long-mixed-scripts"],
)  # fmt: skip
def test_markup_and_template_syntax_print_literally_inside_the_frame(tmp_path: Path, values: dict[str, str]) -> None:
    student = _check_rows(tmp_path, [row("00000001", **values)])  # a real CSV can carry all of it
    identifier = assign_identifiers([student], lambda _: False)[student.student_number]
    pdf = tmp_path / "s.pdf"
    _assert_inside(_render_spied(_sample_settings(), make_sheet(student, identifier), pdf))
    (text,) = page_texts(pdf)
    _assert_printed_as_typed(text, student)
    assert "49" not in text  # {{ 7*7 }} was not evaluated, by Jinja2 or anything else
    image = render_page(pdf, 1, tmp_path, dpi=100)
    assert not _ink_outside_margins(image, 100)
    assert _gutter_is_blank(image, 100)


def test_right_to_left_names_are_refused_by_name(tmp_path: Path) -> None:
    # ReportLab draws glyphs left to right in the order typed: "שרה" would print "הרש" (and Arabic
    # letters unjoined), so such a name is refused before rendering, like a character no font has.
    values = {"first_name": "שרה", "birth_name": "כהן", "birth_place": "القاهرة"}
    with pytest.raises(InputError) as refused:
        _check_rows(tmp_path, [row("00000001", **values)])
    message = str(refused.value)
    assert "column 'first_name': 'שרה': cannot be printed as typed: " in message
    assert "'ר' (U+05E8) is a right-to-left letter, which the sheet would print backwards" in message
    assert "column 'birth_place'" in message
    assert "write it in Latin letters" in message


def test_an_unprintable_space_is_refused(tmp_path: Path) -> None:
    # DejaVu has no U+3000 IDEOGRAPHIC SPACE: it would print as the missing-character box.
    with pytest.raises(InputError, match=r"'\\u3000' \(U\+3000\), which no shipped font can print"):
        _check_rows(tmp_path, [row("00000001", first_name="Jean\u3000Pierre")])
    # The spaces the fonts have still print, as spaces.
    student = _check_rows(tmp_path, [row("00000001", first_name="Jean\u00a0Pierre", birth_place="A\u2009B")])
    pdf = render(_sample_settings(), [make_sheet(student)], tmp_path / "s.pdf")
    assert "notdef" not in {_glyph_kinds(pdf).get(c) for c in "\u00a0\u2009"}  # no missing-character box
    _assert_printed_as_typed(page_texts(pdf)[0], student)


def test_characters_beyond_the_basic_plane_are_refused_by_name(tmp_path: Path) -> None:
    # Their glyphs print, but ReportLab writes their text map as <1F600> instead of UTF-16 <D83DDE00>:
    # copying, searching or reading the sheet would give another character or none.
    with pytest.raises(InputError) as refused:
        _check_rows(tmp_path, [row("00000001", first_name="Jean\U0001f600", birth_place="\U0001d538lès")])
    message = str(refused.value)
    assert "'😀' (U+1F600) is beyond U+FFFF, which the PDF's text would misread" in message
    assert "'𝔸' (U+1D538) is beyond U+FFFF" in message
