"""Rendering SCOL'PASS sheets: one A4 page per student.

Everything that is the same on every page (header, frame, labels of the
credentials, the body text, rules and help) is drawn once into a PDF form
XObject and reused; a page then only adds the student's own values. Student
data is drawn with ``drawString``: it is never parsed as markup.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import IO
from urllib.parse import quote

from PIL.ImageFile import ImageFile
from PIL.JpegImagePlugin import JpegImageFile
from PIL.PngImagePlugin import PngImageFile
from reportlab.graphics import renderPDF
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph
from svglib.svglib import load_svg_file, svg2rlg

from .errors import ConfigError, ScolpassError
from .files import write_bytes
from .fonts import MONO_BOLD, SANS, SANS_BOLD, register_fonts
from .protect import PdfProtection
from .qr import draw_qr
from .settings import Settings, email_of
from .student import Student
from .wording import Wording, load_wording

PAGE_W, PAGE_H = A4
MARGIN = 34.0  # 12 mm: inside what office laser printers can print
WIDTH = PAGE_W - 2 * MARGIN
TOP = PAGE_H - MARGIN
FORM = "scolpass-static"

# Frame geometry (points from the page's bottom).
FRAME_TOP = TOP - 78
TITLE_H = 24.0
FRAME_H = 318.0
FRAME_BOTTOM = FRAME_TOP - FRAME_H
PAD = 10.0
CRED_H = 122.0
CRED_TOP = FRAME_BOTTOM + PAD + CRED_H
DATA_TOP = FRAME_TOP - TITLE_H - PAD
DATA_BOTTOM = CRED_TOP + 6
DATA_W = 318.0
NOTICE_X = MARGIN + PAD + DATA_W + 14
QR_SIZE = 86.0
QR_X = MARGIN + WIDTH - PAD - 12 - QR_SIZE
CRED_VALUE_W = QR_X - 16 - (MARGIN + PAD + 10)


@dataclass(frozen=True)
class Sheet:
    """What one page shows."""

    student: Student
    email: str
    login: str
    password: str | None = field(repr=False)  # None: a returning student's reprint
    activation_url: str

    @property
    def identifier(self) -> str:
        """The login without the domain (the distribution list's column)."""
        return self.email.split("@", 1)[0]


def activation_link(template: str, identifier: str, email: str) -> str:
    """``activation_url`` with ``{identifier}`` and ``{email}`` filled in, URL-quoted."""
    return template.replace("{identifier}", quote(identifier)).replace("{email}", quote(email, safe="@"))


def _tint(hex_color: str, amount: float) -> colors.Color:
    base = colors.HexColor(hex_color)
    return colors.Color(*(c + (1 - c) * amount for c in (base.red, base.green, base.blue)))


_STEP = re.compile(r"^(\d+\))\s+(.*)$")


def body_blocks(markup: str) -> list[tuple[str, str, str]]:
    """Split a text piece into ``(kind, bullet, text)`` blocks by its line marks."""
    blocks: list[tuple[str, str, str]] = []
    open_block = False
    for raw in markup.splitlines():
        line = raw.strip()
        if not line:
            open_block = False
            continue
        step = _STEP.match(line)
        if line.startswith("## "):
            blocks.append(("heading", "", line[3:]))
            open_block = False
            continue
        if line.startswith("- "):
            blocks.append(("bullet", "\u2022", line[2:]))
        elif line.startswith("=> "):
            blocks.append(("substep", "\u21d2", line[3:]))
        elif step:
            blocks.append(("step", step.group(1), step.group(2)))
        elif open_block:
            kind, bullet, text = blocks[-1]
            blocks[-1] = (kind, bullet, f"{text} {line}")
        else:
            blocks.append(("para", "", line))
        open_block = True
    return blocks


class _Styles:
    def __init__(self, color: colors.Color, size: float = 9.0) -> None:
        leading = size * 1.25
        # bulletFontName: else bullets are set in Helvetica, a font ReportLab does not embed.
        base = ParagraphStyle(
            "body", fontName=SANS, fontSize=size, leading=leading, spaceAfter=3.2, bulletFontName=SANS
        )
        self.by_kind = {
            "para": base,
            "heading": ParagraphStyle(
                "heading", parent=base, fontName=SANS_BOLD, fontSize=size + 2.4, leading=leading + 3,
                textColor=color, spaceBefore=3, spaceAfter=3,
            ),
            "bullet": ParagraphStyle("bullet", parent=base, leftIndent=14, bulletIndent=4, spaceAfter=1.5),
            "step": ParagraphStyle("step", parent=base, leftIndent=16, bulletIndent=2, spaceAfter=1.5),
            "substep": ParagraphStyle(
                "substep", parent=base, leftIndent=30, bulletIndent=17, spaceAfter=1.5, bulletFontName=SANS
            ),
        }  # fmt: skip
        self.small = ParagraphStyle("small", parent=base, fontSize=7.4, leading=9.2, spaceAfter=2.5)


def _paragraph(text: str, style: ParagraphStyle, bullet: str = "") -> Paragraph:
    try:
        return Paragraph(text, style, bulletText=bullet or None)
    except ValueError as exc:
        raise ConfigError(f"sheet template: markup that cannot be drawn: {exc}") from None


def _draw_flow(canvas: Canvas, blocks: Sequence[Paragraph], x: float, y: float, width: float) -> float:
    """Draw paragraphs downward from ``y``; return the ``y`` below them."""
    for para in blocks:
        _, height = para.wrapOn(canvas, width, PAGE_H)
        y -= para.style.spaceBefore
        para.drawOn(canvas, x, y - height)
        y -= height + para.style.spaceAfter
    return y


class SheetRenderer:
    """Draws sheets for one university and academic year, in each student's language."""

    def __init__(self, settings: Settings, year_label: str, protection: PdfProtection | None = None) -> None:
        register_fonts()
        self.settings = settings
        self.year_label = year_label
        self.protection = protection
        self._wordings: dict[str, Wording] = {}
        self.words = self.wording("")  # the default language: errors in its template show at once
        self.color = colors.HexColor(settings.sheet.color)
        self.tint = _tint(settings.sheet.color, 0.9)
        self.styles = _Styles(self.color)
        url = settings.university.activation_url
        self.qr_is_static = "{" not in url
        self.logo = load_logo(settings)
        self._check_credentials_fit()
        # For fit_check's quick bound: the widest ASCII glyph at full size.
        self._widest = VALUE_SIZE * _widest_ascii_glyph()

    def _check_credentials_fit(self) -> None:
        """The longest address, login and password this configuration gives print on one line of the sheet.

        They are never broken: a student could take the break for a character to
        type, and text extraction would add one. A configuration that would need it
        is refused before anything is read or written.
        """
        # The monospaced face: every character of them as wide as any other.
        fits = math.floor(CRED_VALUE_W / stringWidth("M", MONO_BOLD, MIN_SIZE))
        ids, domain = self.settings.identifiers, self.settings.university.email_domain
        longest = len(email_of("m" * ids.max_length, domain))  # the login is the address or the identifier
        if longest > fits:
            raise ConfigError(
                f"[identifiers] max_length = {ids.max_length} and [university] email_domain = {domain!r} give "
                f"addresses of up to {longest} characters, more than the {fits} that print on one line of the sheet "
                f"even at {MIN_SIZE:g} points: make max_length {fits - 1 - len(domain)} or less"
            )
        length = self.settings.password.length
        if length > fits and not self.settings.password.group:
            raise ConfigError(
                f"[password] length = {length}: more than the {fits} characters that print on one line of the sheet "
                f"even at {MIN_SIZE:g} points"
            )

    def wording(self, language: str) -> Wording:
        """The wording of ``language`` ("" for the configured default), rendered once."""
        language = language or self.settings.sheet.language
        if language not in self._wordings:
            self._wordings[language] = load_wording(self.settings, self.year_label, language)
        return self._wordings[language]

    # -- the part every page shares ---------------------------------------
    def _draw_static(self, c: Canvas, w: Wording) -> None:
        c.setFillColor(self.color)
        c.rect(MARGIN, TOP - 4, WIDTH, 4, stroke=0, fill=1)
        title_x = MARGIN
        if self.logo is not None:
            title_x += self.logo.draw(c, MARGIN, TOP - 38, LOGO_H) + 10
        title = w.text("header_title")
        c.setFont(SANS_BOLD, _fitting_size(title, SANS_BOLD, 15, WIDTH * 0.62 - (title_x - MARGIN)))
        c.drawString(title_x, TOP - 22, title)
        c.setFont(SANS_BOLD, 10)
        c.drawRightString(MARGIN + WIDTH, TOP - 21, w.text("header_url"))
        c.setFillColor(colors.black)
        c.setFont(SANS, 8.6)
        c.drawString(title_x, TOP - 35, w.text("header_subtitle"))
        _draw_flow(c, [_paragraph(w.para("intro"), self.styles.by_kind["para"])], MARGIN, TOP - 44, WIDTH)

        # The SCOL'PASS frame and its title band.
        c.setStrokeColor(self.color)
        c.setLineWidth(1.4)
        c.roundRect(MARGIN, FRAME_BOTTOM, WIDTH, FRAME_H, 6, stroke=1, fill=0)
        c.setFillColor(self.color)
        c.roundRect(MARGIN, FRAME_TOP - TITLE_H, WIDTH, TITLE_H, 6, stroke=0, fill=1)
        c.rect(MARGIN, FRAME_TOP - TITLE_H, WIDTH, TITLE_H / 2, stroke=0, fill=1)
        c.setFillColor(colors.white)
        c.setFont(SANS_BOLD, 13)
        c.drawString(MARGIN + PAD, FRAME_TOP - 17, w.text("frame_title"))
        c.setFillColor(colors.black)
        notice = [
            _paragraph(text, self.styles.small, bullet) for _, bullet, text in body_blocks(w.para("frame_notice"))
        ]
        _draw_flow(c, notice, NOTICE_X, DATA_TOP, MARGIN + WIDTH - PAD - NOTICE_X)

        # The credentials box: labels here, values per page.
        c.setFillColor(self.tint)
        c.roundRect(MARGIN + PAD, FRAME_BOTTOM + PAD, WIDTH - 2 * PAD, CRED_H, 4, stroke=0, fill=1)
        c.setFillColor(colors.HexColor("#444444"))
        c.setFont(SANS, 7.6)
        for label, top in zip(("label_email", "label_login"), self._cred_rows(), strict=False):
            c.drawString(MARGIN + PAD + 10, top, w.text(label))
        c.setFillColor(colors.black)
        c.setFont(SANS_BOLD, 7.6)
        c.drawCentredString(QR_X + QR_SIZE / 2, FRAME_BOTTOM + PAD + 7, w.text("qr_caption"))
        if self.qr_is_static:
            draw_qr(c, self.settings.university.activation_url, QR_X, FRAME_BOTTOM + PAD + 20, QR_SIZE)

        # Below the frame: body text, the rules box, the help line.
        paragraphs = [
            _paragraph(text, self.styles.by_kind[kind], bullet) for kind, bullet, text in body_blocks(w.para("body"))
        ]
        y = _draw_flow(c, paragraphs, MARGIN, FRAME_BOTTOM - 10, WIDTH)
        rules = _paragraph(w.para("rules"), self.styles.by_kind["para"])
        _, rules_h = rules.wrapOn(c, WIDTH - 2 * PAD, PAGE_H)
        help_para = _paragraph(w.para("help"), self.styles.by_kind["para"])
        _, help_h = help_para.wrapOn(c, WIDTH, PAGE_H)
        box_h = rules_h + 26
        box_top = y - 4
        if box_top - box_h - help_h - 8 < MARGIN:
            raise ConfigError("sheet template: the text below the frame does not fit on the page; shorten it")
        c.setStrokeColor(self.color)
        c.setLineWidth(0.8)
        c.roundRect(MARGIN, box_top - box_h, WIDTH, box_h, 4, stroke=1, fill=0)
        c.setFillColor(self.color)
        c.setFont(SANS_BOLD, 9.5)
        c.drawString(MARGIN + PAD, box_top - 14, w.text("rules_title"))
        c.setFillColor(colors.black)
        rules.drawOn(c, MARGIN + PAD, box_top - 20 - rules_h)
        c.setStrokeColor(colors.HexColor("#999999"))
        c.setLineWidth(0.5)
        c.line(MARGIN, MARGIN + help_h + 5, MARGIN + WIDTH, MARGIN + help_h + 5)
        help_para.drawOn(c, MARGIN, MARGIN)

    @staticmethod
    def _cred_rows() -> tuple[float, float, float]:
        """Baselines of the three credential labels; each value sits below its label."""
        top = CRED_TOP - 14
        return top, top - 32, top - 64

    # -- the part that is the student's -------------------------------------
    def _rows(self, s: Student) -> list[tuple[str, str]]:
        """The label/value rows of the frame for one student, in their language."""
        w = self.wording(s.language)
        rows: list[tuple[str, str]] = []
        birth = f"{s.civility} {s.birth_name}".strip()
        rows.append((w.text("label_birth_name"), birth))
        if s.usual_name and s.usual_name != s.birth_name:
            rows.append((w.text("label_usual_name"), s.usual_name))
        rows.append((w.text("label_first_name"), s.first_name))
        rows.append((w.text("label_student_number"), s.student_number))
        if s.ine:
            rows.append((w.text("label_ine"), s.ine))
        born = s.birth_date.strftime("%d/%m/%Y")
        if s.birth_place:
            born = f"{born} {w.text('label_born_at')} {s.birth_place}"
        rows.append((w.text("label_born"), born))
        rows.append((w.text("label_faculty"), " / ".join(s.faculties)))
        steps = [" ".join(p for p in (st.code, st.label) if p) for st in s.steps]
        rows.append((w.text("label_steps"), steps[0]))
        rows.extend(("", step) for step in steps[1:])
        rows.append((w.text("label_status"), s.status or w.text("status_value")))
        # The seed's social security lines, for universities whose exports still carry them.
        if s.social_security_date:
            affiliated = f"{w.text('social_security_affiliated')} {s.social_security_date.strftime('%d/%m/%Y')}"
            rows.append((w.text("label_social_security"), affiliated))
        if s.paying_centre:
            rows.append((w.text("label_paying_centre"), s.paying_centre))
        return rows

    def fit_check(self, student: Student) -> list[tuple[str, str]]:
        """Student check: the data fits in the frame even at the smallest size (checked before writing)."""
        rows = self._rows(student)
        # Nearly every student has values that fit on one line each at full size:
        # then shrinking only lowers the rows, so arithmetic on heights answers.
        value_w = DATA_W - 5 - max(stringWidth(f"{label} :", SANS, LABEL_SIZE) for label, _ in rows if label)
        if all(self._one_line(value, value_w) for _, value in rows):
            labelled = sum(1 for label, _ in rows if label)
            value_size, gap = VALUE_SIZE, GAP
            while value_size >= MIN_SIZE:
                if (
                    len(rows) * value_size * 1.15 + labelled * gap + (len(rows) - labelled) * 1.5
                    <= DATA_TOP - DATA_BOTTOM
                ):
                    return []
                value_size, gap = value_size * 0.93, gap * 0.85
        if _layout_rows(rows, DATA_W, DATA_TOP - DATA_BOTTOM) is not None:
            return []
        # A word is never cut: one too wide for the whole column at the smallest size cannot be printed.
        # The frame's values join the columns' values with spaces, so such a word is a column's.
        found: dict[str, str] = {}
        for column, value in student.printed_fields().items():
            word = too_wide(value, SANS_BOLD, DATA_W)
            if word:
                found[column.partition(" (")[0]] = (
                    f"{word!r} ({len(word)} characters) is too wide for one line of the sheet even at "
                    f"{MIN_SIZE:g} points, and a value is broken only at its spaces"
                )
        if found:
            return list(found.items())
        return [("step_code", f"{len(student.steps)} programme steps and the names do not fit on the sheet")]

    def _one_line(self, value: str, width: float) -> bool:
        if value.isascii() and len(value) * self._widest <= width:
            return True
        return stringWidth(value, SANS_BOLD, VALUE_SIZE) <= width

    def _draw_student(self, c: Canvas, sheet: Sheet) -> None:
        _draw_rows(c, self._rows(sheet.student), MARGIN + PAD, DATA_TOP, DATA_W, DATA_BOTTOM)

        value_x = MARGIN + PAD + 10
        email_top, login_top, password_top = self._cred_rows()
        for value, top in ((sheet.email, email_top), (sheet.login, login_top)):
            draw_fitted(c, value, MONO_BOLD, 12.5, value_x, top - 14.5, CRED_VALUE_W)
        # The password's label and hint are drawn per page: a reprint has a note instead.
        w = self.wording(sheet.student.language)
        c.setFillColor(colors.HexColor("#444444"))
        c.setFont(SANS, 7.6)
        if sheet.password is not None:
            group = self.settings.password.group
            c.drawString(value_x, password_top, w.text("label_password"))
            c.setFont(SANS, 7.2)
            c.drawString(value_x, FRAME_BOTTOM + PAD + 7, w.text("password_hint_grouped" if group else "password_hint"))
            c.setFillColor(colors.black)
            if group:
                _draw_groups(c, sheet.password, group, value_x, password_top - 19)
            else:
                draw_fitted(c, sheet.password, MONO_BOLD, 17, value_x, password_top - 19, CRED_VALUE_W)
        else:
            c.drawString(value_x, password_top, w.text("label_password_returning"))
            c.setFillColor(colors.black)
            note = _paragraph(w.para("returning_password_note"), self.styles.small)
            _draw_flow(c, [note], value_x, password_top - 4, CRED_VALUE_W)
        if not self.qr_is_static:
            draw_qr(c, sheet.activation_url, QR_X, FRAME_BOTTOM + PAD + 20, QR_SIZE)

    def canvas(self, path: Path, title: str, sheets: Sequence[Sheet]) -> Canvas:
        """A PDF for ``sheets``, with its metadata and the static part of each language drawn once."""
        # initialFontName: else ReportLab declares Helvetica, a font it would not embed.
        c = Canvas(str(path), pagesize=A4, pageCompression=1, initialFontName=SANS)  # type: ignore[arg-type]  # the stub says float
        c.setTitle(title)
        c.setAuthor(self.settings.university.name)
        c.setSubject(f"{title}: {self.settings.university.name}")
        c.setCreator("scolpass")
        for language in dict.fromkeys(s.student.language or self.settings.sheet.language for s in sheets):
            c.beginForm(f"{FORM}-{language}")
            self._draw_static(c, self.wording(language))
            c.endForm()
        return c

    def draw_sheet(self, c: Canvas, sheet: Sheet) -> None:
        """One student's page (the canvas must come from :meth:`canvas`)."""
        c.doForm(f"{FORM}-{sheet.student.language or self.settings.sheet.language}")
        self._draw_student(c, sheet)
        c.showPage()

    def render(self, sheets: Sequence[Sheet], path: Path, title: str, duplex: bool = False) -> None:
        """Write ``sheets`` to ``path``: page ``i + 1`` for ``sheets[i]``, or ``2i + 1`` with blank backs."""
        write_bytes(path, self.pdf_bytes(sheets, title, duplex), self.settings.sheet.mode)

    def pdf_bytes(self, sheets: Sequence[Sheet], title: str, duplex: bool = False) -> bytes:
        """The PDF of :meth:`render`, in memory only (a sheet served to a browser), encrypted if asked."""
        # ReportLab writes nothing before save(); the canvas is given a name only for its metadata.
        c = self.canvas(Path("scolpass.pdf"), title, sheets)
        for sheet in sheets:
            self.draw_sheet(c, sheet)
            if duplex:
                c.showPage()
        return self.data(c)

    def save(self, c: Canvas, path: Path) -> None:
        """Write the PDF of ``c`` to ``path``: private (or ``[sheet] file_mode``), encrypted if asked.

        The bytes are taken from memory rather than ``c.save()``: ReportLab would
        create the file with the umask's mode, and an encrypted run must never put
        the unencrypted sheets on disk.
        """
        write_bytes(path, self.data(c), self.settings.sheet.mode)

    def data(self, c: Canvas) -> bytes:
        """The PDF of ``c``, from memory, encrypted if asked."""
        data: bytes = c.getpdfdata()  # type: ignore[no-untyped-call]  # the stub leaves it untyped
        if self.protection is not None:
            data = self.protection.encrypt(data)
        return data


LOGO_H = 34.0  # points: the logo's height in the header
# At most this many pixels in any raster image of the logo (4 megapixels: 2000 x 2000, or 4000 x 1000).
# The logo prints 34 points high and at most 158 wide: 1,000 pixels over its height is 2,100 dpi, finer
# than any printer. ReportLab decodes the image whole into every PDF (at 4 megapixels, 75 MB and 0.4 s a
# PDF, in every rendering process); a 12000 x 12000 one-bit PNG of 17 KB would take 1.6 GB.
LOGO_MAX_PIXELS = 4_000_000

# What svglib decodes itself (svglib.svglib.SvgRenderer.xlink_href_target): PNG and JPEG data URIs.
_DATA_IMAGE = re.compile(r"^data:image/(jpe?g|png);base64")
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
# Pillow's classes for the two formats a logo may be; read by signature, not by the file's name.
_RASTERS: dict[bytes, type[ImageFile]] = {b"\x89PNG\r\n\x1a\n": PngImageFile, b"\xff\xd8\xff": JpegImageFile}


def _raster_size(stream: IO[bytes]) -> tuple[int, int]:
    """A PNG's or JPEG's width and height, read from its header: no pixel is decoded.

    Pillow's format classes, not ``Image.open``: past 179 million pixels open()
    raises DecompressionBombError before anyone could say how big the image is.
    ValueError if the stream is neither.
    """
    head = stream.read(8)
    stream.seek(0)
    for signature, kind in _RASTERS.items():
        if head.startswith(signature):
            try:
                with kind(stream) as image:
                    return image.size
            except SyntaxError as exc:  # how Pillow's format classes say "not this format"
                raise ValueError(f"a damaged {kind.format}: {exc}") from None
    raise ValueError("not a PNG or JPEG image")


class Logo:
    """A university's logo, PNG/JPEG or SVG, drawn at a given height.

    Every raster image it holds is measured from its header, and refused over
    :data:`LOGO_MAX_PIXELS`, before anything decodes it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._image: ImageReader | None = None
        self._drawing: Drawing | None = None
        try:
            if path.suffix.lower() == ".svg":
                # svglib opens the images an SVG names while it reads it (and decodes some at once).
                self._check_svg_images(path, {path.resolve()})
                self._drawing = svg2rlg(str(path))
                if self._drawing is None:
                    raise ValueError("not an SVG drawing")
                self.width, self.height = float(self._drawing.width), float(self._drawing.height)
            else:
                with path.open("rb") as stream:
                    self._check_pixels(stream)
                self._image = ImageReader(str(path))
                width, height = self._image.getSize()
                self.width, self.height = float(width), float(height)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"[sheet] logo = {str(path)!r}: cannot be read as PNG, JPEG or SVG: {exc}") from None
        # An SVG's width="nan" or "1e400" passes as a float: the page would get no logo, or a broken one.
        if not (0 < self.width < math.inf and 0 < self.height < math.inf):
            raise ConfigError(f"[sheet] logo = {str(path)!r}: the image has no size")

    def _check_pixels(self, stream: IO[bytes], what: str = "") -> None:
        """Refuse the image of ``stream`` over the limit; ``what`` names it within an SVG logo."""
        try:
            width, height = _raster_size(stream)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}" if what else str(exc)) from None
        if width * height > LOGO_MAX_PIXELS:
            raise ConfigError(
                f"[sheet] logo = {str(self.path)!r}: {what + ' ' if what else ''}is {width} x {height} pixels "
                f"({width * height:,}); a logo may have at most {LOGO_MAX_PIXELS:,} pixels (it prints {LOGO_H:g} "
                "points high, where 1,000 pixels are finer than any printer): make it smaller"
            )

    def _check_svg_images(self, svg: Path, seen: set[Path]) -> None:
        """The raster images an SVG draws, and those of the SVG files it uses, as svglib finds them.

        svglib decodes a data URI of PNG or JPEG and reads a relative path as an
        image, or as another SVG when it ends in ``.svg``; absolute paths it refuses.
        """
        root = load_svg_file(str(svg))
        if root is None:
            return  # svg2rlg says "not an SVG drawing"
        # Who holds the image, in the message: the logo ("it"), or an SVG file the logo uses.
        holder = "it" if svg == self.path else repr(os.path.relpath(svg, self.path.parent))
        for element in root.iter():
            # svglib follows the references of <image> and <use> only (a link's href is no picture);
            # a comment or processing instruction has a tag that is no string.
            if not isinstance(element.tag, str) or element.tag.rpartition("}")[2] not in ("image", "use"):
                continue
            href = element.get(_XLINK_HREF) or element.get("href")
            if not href:
                continue
            data = _DATA_IMAGE.match(href)
            if data:
                image = base64.decodebytes(href[data.end() + 1 :].encode("ascii"))
                self._check_pixels(io.BytesIO(image), f"an image {holder} embeds")
                continue
            iri = href.split("#", 1)[0]
            if not iri or os.path.isabs(iri):
                continue
            target = Path(os.path.normpath(svg.parent / iri))
            if not os.access(target, os.R_OK):
                continue  # svglib leaves it out
            if str(target).endswith(".svg"):
                if target.resolve() not in seen:
                    seen.add(target.resolve())
                    self._check_svg_images(target, seen)
                continue
            with target.open("rb") as stream:
                self._check_pixels(stream, f"the image {iri!r} {holder} draws")

    def draw(self, c: Canvas, x: float, y: float, height: float) -> float:
        """Draw with the lower-left corner at ``(x, y)``; returns the width used."""
        scale = height / self.height
        width = min(self.width * scale, WIDTH * 0.3)
        scale = width / self.width
        if self._image is not None:
            c.drawImage(self._image, x, y, width, self.height * scale, mask="auto")
        elif self._drawing is not None:
            c.saveState()
            c.translate(x, y)
            c.scale(scale, scale)
            renderPDF.draw(self._drawing, c, 0, 0)
            c.restoreState()
        return width


def load_logo(settings: Settings) -> Logo | None:
    """The configured logo, relative to the configuration file; ConfigError if unreadable."""
    if not settings.sheet.logo:
        return None
    path = Path(settings.sheet.logo).expanduser()
    if not path.is_absolute() and settings.source is not None:
        path = settings.source.parent / path
    if not path.is_file():
        raise ConfigError(f"[sheet] logo = {settings.sheet.logo!r}: no such file ({path})")
    return Logo(path)


@lru_cache(maxsize=1 << 16)
def stringWidth(text: str, font: str, size: float) -> float:
    """ReportLab's measure, cached: labels and names repeat across thousands of students."""
    return float(pdfmetrics.stringWidth(text, font, size))


def _fitting_size(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` (down to 6 pt) at which ``text`` fits ``width``."""
    while stringWidth(text, font, size) > width and size > 6:
        size -= 0.5
    return size


def _draw_groups(c: Canvas, password: str, group: int, x: float, y: float) -> None:
    """The password in groups spaced visually only: the gaps are no characters of it."""
    c.setFont(MONO_BOLD, 17)
    gap = stringWidth("M", MONO_BOLD, 17) * 0.7
    for start in range(0, len(password), group):
        part = password[start : start + group]
        c.drawString(x, y, part)
        x += stringWidth(part, MONO_BOLD, 17) + gap


# The smallest type a value is printed in, on the sheet and its cover: DejaVu Sans, whose large
# x-height keeps it legible. A value is printed whole at this size or more, or not at all.
MIN_SIZE = 6.5
# A value keeps to one line (or beside its label) when that costs at most 15% of the size it would
# have otherwise: a name reads better whole, but not at any price.
KEEP_TOGETHER = 0.85
# Full sizes of the frame's rows, and the space under each.
LABEL_SIZE, VALUE_SIZE, GAP = 9.0, 10.5, 5.0


@cache
def _widest_ascii_glyph() -> float:
    """Advance of the widest printable ASCII character of the bold face, in ems."""
    return max(stringWidth(chr(c), SANS_BOLD, 1.0) for c in range(32, 127))


@dataclass(frozen=True)
class Fitted:
    """A value as it is printed: its size, and its lines."""

    size: float
    lines: tuple[str, ...]


# A line may break at a space, except one after a hyphen: pdftotext joins a line that ends in "-" to the next
# and drops the "-", as if it were a hyphenation ("régionales -" then "LLCSER" reads "régionales LLCSER").
_BREAK = re.compile(r"(?<!-) ")


def _size_within(text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` is no wider than ``width`` (widths grow with the size)."""
    em = stringWidth(text, font, 1.0)
    return size if em <= 0 else min(size, math.floor(width / em * 100) / 100)


def fit_whole(text: str, font: str, size: float, width: float, smallest: float = MIN_SIZE) -> Fitted | None:
    """``text`` at the largest size up to ``size``, down to ``smallest``, at which it prints whole in ``width``.

    On one line if it can be; else broken at its spaces, and only there: a line
    never ends inside a word, nor with a hyphen, which pdftotext, screen readers
    and copy and paste take for a hyphenation and drop ("BERGERDORFF-" then
    "VONKNOLLENHAUSEN" reads "BERGERDORFFVONKNOLLENHAUSEN"). None when a word is
    wider than ``width`` even at ``smallest``: the caller refuses it, never cuts it.
    """
    one_line = _size_within(text, font, size, width)
    if one_line == size:
        return Fitted(size, (text,))
    words = _BREAK.split(text)
    broken = min(_size_within(word, font, size, width) for word in words)  # the widest word sets it
    if one_line >= smallest and one_line >= KEEP_TOGETHER * broken:
        return Fitted(one_line, (text,))
    if broken < smallest:
        return None
    lines: list[str] = []
    line: str | None = None
    for word in words:
        longer = word if line is None else f"{line} {word}"
        if line is not None and stringWidth(longer, font, broken) > width:
            lines.append(line)
            line = word
        else:
            line = longer
    lines.append(line or "")
    return Fitted(broken, tuple(lines))


def too_wide(text: str, font: str, width: float, smallest: float = MIN_SIZE) -> str:
    """The first part of ``text`` between two places a line may break at that is wider than ``width`` even at
    ``smallest`` ("" if none): ``text`` cannot be printed whole there."""
    return next((word for word in _BREAK.split(text) if stringWidth(word, font, smallest) > width), "")


def draw_fitted(c: Canvas, text: str, font: str, size: float, x: float, y: float, width: float) -> float:
    """Draw one value whole (see :func:`fit_whole`): shrunk to fit ``width``, or broken at spaces below ``y``.

    Returns the height used below the first baseline. The checks keep a value
    that cannot print whole from coming here; if one does, it is refused, not cut.
    """
    fitted = fit_whole(text, font, size, width)
    if fitted is None:
        raise ScolpassError(f"{text!r} does not fit in {width:.0f} points, even at {MIN_SIZE:g} points")
    c.setFont(font, fitted.size)
    for i, line in enumerate(fitted.lines):
        c.drawString(x, y - i * fitted.size * 1.15, line)
    return (len(fitted.lines) - 1) * fitted.size * 1.15


@dataclass(frozen=True)
class _Value:
    fitted: Fitted
    wide: bool  # from the label's column, on the lines below the label: more width for a long word


def _place(value: str, size: float, beside: float, wide: float, labelled: bool) -> _Value | None:
    """A frame value beside its label, or below it across the whole column: more width for a long word.

    Below, when beside it the value would be more than 15% smaller, or (a row with a
    label) take more lines than the label's and its own together below.
    """
    near = fit_whole(value, SANS_BOLD, size, beside)
    if near is not None and near.size == size and len(near.lines) == 1:
        return _Value(near, False)  # nearly every value
    far = fit_whole(value, SANS_BOLD, size, wide)
    if near is None or far is None:
        return None if far is None else _Value(far, True)
    if near.size < KEEP_TOGETHER * far.size or (labelled and len(far.lines) + 1 < len(near.lines)):
        return _Value(far, True)
    return _Value(near, False)


@dataclass(frozen=True)
class _RowLayout:
    label_size: float
    value_size: float
    value_dx: float  # from the label column to the value column
    values: list[_Value]
    heights: list[float]


def _wide_drop(value: _Value, label: str, label_size: float) -> float:
    """How far below its label's baseline a value's first line is."""
    return 1.15 * max(value.fitted.size, label_size) if value.wide and label else 0.0


def _layout_rows(rows: Sequence[tuple[str, str]], width: float, height: float) -> _RowLayout | None:
    """Sizes at which label/value rows fit in ``width`` x ``height``, shrunk together; None if none does."""
    label_size, value_size, gap = LABEL_SIZE, VALUE_SIZE, GAP
    while True:
        label_w = max((stringWidth(f"{label} :", SANS, label_size) for label, _ in rows if label), default=0.0)
        value_dx = label_w + 5
        placed = [_place(value, value_size, width - value_dx, width, bool(label)) for label, value in rows]
        values = [p for p in placed if p is not None]
        if len(values) < len(placed):
            return None  # a word too wide for the whole column at the smallest size: smaller rows cannot help
        heights = [
            _wide_drop(v, label, label_size)
            + (len(v.fitted.lines) - 1) * v.fitted.size * 1.15
            + value_size * 1.15
            + (gap if label else 1.5)
            for v, (label, _) in zip(values, rows, strict=True)
        ]
        if sum(heights) <= height:
            return _RowLayout(label_size, value_size, value_dx, values, heights)
        if value_size <= MIN_SIZE:
            return None
        # Labels too stay legible: they stop shrinking where the values do.
        label_size, value_size = max(MIN_SIZE, label_size * 0.93), max(MIN_SIZE, value_size * 0.93)
        gap *= 0.85


def _draw_rows(c: Canvas, rows: Sequence[tuple[str, str]], x: float, top: float, width: float, bottom: float) -> None:
    """Label/value rows, shrunk together until they fit between ``top`` and ``bottom``."""
    layout = _layout_rows(rows, width, top - bottom)
    if layout is None:  # fit_check() refuses such students before anything is written
        raise ScolpassError("a student's data does not fit in the SCOL'PASS frame even at the smallest size")
    y = top - layout.value_size
    for (label, _), value, height in zip(rows, layout.values, layout.heights, strict=True):
        if label:
            c.setFont(SANS, layout.label_size)
            c.setFillColor(colors.HexColor("#333333"))
            c.drawString(x, y, f"{label} :")
            c.setFillColor(colors.black)
        size = value.fitted.size
        value_x = x if value.wide else x + layout.value_dx
        value_y = y - _wide_drop(value, label, layout.label_size)
        c.setFont(SANS_BOLD, size)
        for i, line in enumerate(value.fitted.lines):
            c.drawString(value_x, value_y - i * size * 1.15, line)
        y -= height
