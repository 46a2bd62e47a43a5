"""Batches a registrar prints and hands out: per faculty, in French alphabetical order, in parts.

A student goes with the faculty of their first programme step. Within a
faculty, sheets follow the usual name as written, then the first name (accents,
case, spaces and punctuation folded: "De Sousa", "D'Almeida" and "de La
Fontaine" stand under D), then the student number; the cover and the signature
list follow the same order. A faculty with more than ``max_sheets`` students is
split into parts, each its own PDF.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from anyascii import anyascii
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from .columns import BY_NAME
from .errors import ScolpassError
from .fonts import MONO, SANS, SANS_BOLD
from .protect import PdfProtection
from .settings import Settings
from .sheet import DATA_W, MARGIN, MIN_SIZE, TOP, WIDTH, Fitted, Sheet, SheetRenderer, draw_fitted, fit_whole
from .student import Student
from .wording import Wording
from .workers import crash_point, worker_pool

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def french_key(name: str) -> str:
    """A name as registrars and students look it up: as written, accents, case, spaces and punctuation folded.

    "De Sousa", "Da Silva" and "D'Almeida" are names, not titles: the student
    information system, the student card and every list a registrar holds put
    them under D, and so do students looking for their sheet. "D'Almeida" sorts
    as "dalmeida", "de La Fontaine" as "delafontaine" (after Delacroix), "Éluard"
    with "eluard", "ΠΑΠΑΔΟΠΟΥΛΟΥ" as "papadopoulou".
    """
    return _NOT_ALNUM.sub("", anyascii(name).casefold())


def sort_key(student: Student) -> tuple[str, str, str]:
    """Usual name, then first name, then student number: the order of sheets, covers and signature lists."""
    return (french_key(student.last_name), french_key(student.first_name), student.student_number)


@dataclass(frozen=True)
class Part:
    """One PDF of a faculty's batch."""

    faculty: str
    index: int  # 1-based
    count: int  # parts of this faculty
    sheets: tuple[Sheet, ...]
    file: str

    @property
    def label(self) -> str:
        """As on the cover: "LETTRES, part 2 of 3"."""
        return f"{self.faculty} ({self.index}/{self.count})"


def _slug(text: str) -> str:
    return _NOT_ALNUM.sub("-", anyascii(text).lower()).strip("-")[:60] or "faculty"


def plan_parts(sheets: Sequence[Sheet], max_sheets: int, prefix: str = "sheets") -> list[Part]:
    """Faculties in alphabetical order, each split into parts of at most ``max_sheets`` sheets."""
    by_faculty: dict[str, list[Sheet]] = {}
    for sheet in sheets:
        by_faculty.setdefault(sheet.student.faculty, []).append(sheet)
    parts: list[Part] = []
    used: set[str] = set()
    for faculty in sorted(by_faculty, key=lambda f: (french_key(f), f)):
        ordered = sorted(by_faculty[faculty], key=lambda s: sort_key(s.student))
        chunks = [ordered[i : i + max_sheets] for i in range(0, len(ordered), max_sheets)]
        for index, chunk in enumerate(chunks, start=1):
            suffix = f"-part{index}of{len(chunks)}" if len(chunks) > 1 else ""
            name, n = f"{prefix}-{_slug(faculty)}{suffix}", 1
            while name in used:  # two faculties whose names make the same file name
                n += 1
                name = f"{prefix}-{_slug(faculty)}{suffix}-{n}"
            used.add(name)
            parts.append(Part(faculty, index, len(chunks), tuple(chunk), f"{name}.pdf"))
    return parts


@dataclass(frozen=True)
class Layout:
    """How parts are printed: double-sided, and when the run happened (on the cover)."""

    duplex: bool = False
    run_date: str = ""


def render_part(
    renderer: SheetRenderer, part: Part, path: Path, title: str, layout: Layout
) -> tuple[dict[str, int], int]:
    """A cover, the part's sheets, then its distribution list; returns each student's page, and the pages.

    With ``duplex``, blank backs keep each sheet (and the cover, and the list)
    on its own sheet of paper: every student's page is odd.
    """
    w = renderer.words  # covers and lists are the registrar's: the default language
    c = renderer.canvas(path, title, part.sheets)
    page = _cover(c, renderer, part, layout, w)
    pages: dict[str, int] = {}
    for sheet in part.sheets:
        page += 1
        pages[sheet.student.student_number] = page
        renderer.draw_sheet(c, sheet)
        if layout.duplex:
            page += _blank(c)
    page += _distribution_list(c, renderer, part, layout, w)
    renderer.save(c, path)
    return pages, page


def _blank(c: Canvas) -> int:
    c.showPage()
    return 1


def _cover(c: Canvas, renderer: SheetRenderer, part: Part, layout: Layout, w: Wording) -> int:
    color = renderer.color
    c.setFillColor(color)
    c.rect(MARGIN, TOP - 4, WIDTH, 4, stroke=0, fill=1)
    draw_fitted(c, renderer.settings.university.name, SANS_BOLD, 18, MARGIN, TOP - 60, WIDTH)
    c.setFont(SANS_BOLD, 26)
    c.drawString(MARGIN, TOP - 120, w.text("frame_title"))
    c.setFillColor(colors.black)
    c.setFont(SANS, 14)
    c.drawString(MARGIN, TOP - 150, w.text("cover_title"))
    rows = [
        (w.text("label_faculty"), part.faculty),
        (w.text("cover_part"), f"{part.index} / {part.count}"),
        (w.text("cover_sheets"), str(len(part.sheets))),
        (w.text("cover_date"), layout.run_date),
    ]
    y = TOP - 220
    for label, value in rows:
        c.setFont(SANS, 12)
        c.drawString(MARGIN, y, f"{label} :")
        # A long faculty breaks at its spaces: the rows below move down rather than overlap it.
        y -= 30 + draw_fitted(c, value, SANS_BOLD, 14, MARGIN + 190, y, WIDTH - 190)
    notice = Paragraph(w.para("cover_notice"), ParagraphStyle("notice", fontName=SANS, fontSize=9, leading=11.5))
    notice.wrapOn(c, WIDTH, TOP)
    notice.drawOn(c, MARGIN, MARGIN + 10)
    c.showPage()
    return 1 + (_blank(c) if layout.duplex else 0)


# The signature list. Each row: the name in bold, the identifier below it; the student number; a box to sign.
LIST_ROWS = 24  # rows a page when every name takes one line: room for a signature each
ROW_H = (TOP - MARGIN - 110) / LIST_ROWS
# The list is the office's, not the student's: a long name may go a step below the sheet's smallest size.
LIST_MIN_SIZE = 5.5
PAD = 3.0  # between a cell's text and its rules
# The columns' widths follow from what they must hold whole, each on one line, at LIST_MIN_SIZE: any word the
# sheet prints (at most DATA_W wide at MIN_SIZE, in the same bold face), and any identifier (at most 64
# characters, set in the monospaced face) below it; any student number (20 letters or digits, the widest "W").
NAME_W = DATA_W * LIST_MIN_SIZE / MIN_SIZE  # the widest of the two
NUMBER_W = BY_NAME["student_number"].max_length * 0.99 * LIST_MIN_SIZE  # "W" is 0.99 em wide in DejaVu Sans
NAME_X, NUMBER_X = MARGIN, MARGIN + NAME_W + 2 * PAD
SIGNATURE_X = NUMBER_X + NUMBER_W + 2 * PAD  # 137 points (48 mm) left to sign in


@dataclass(frozen=True)
class _ListRow:
    name: Fitted
    number: Fitted
    identifier: Fitted

    @property
    def height(self) -> float:
        """Its lines from the row's top: the name's (as many as it needs), the identifier's; never less than a row."""
        return max(ROW_H, self._identifier_drop + 0.24 * self.identifier.size + PAD + 1)

    @property
    def _identifier_drop(self) -> float:
        name = self.name.size
        return PAD + name + (len(self.name.lines) - 1) * name * 1.15 + 1.2 * self.identifier.size

    def draw(self, c: Canvas, top: float) -> None:
        _lines(c, self.name, SANS_BOLD, NAME_X + PAD, top - PAD - self.name.size)
        # The number on the identifier's line, never beside a name's first line: pdftotext would read
        # it between the name's lines ("KONSTANTINOPOULOU- 00000002 PAPADIMITRIOU").
        _lines(c, self.identifier, MONO, NAME_X + PAD, top - self._identifier_drop)
        _lines(c, self.number, SANS, NUMBER_X + PAD, top - self._identifier_drop)


def _lines(c: Canvas, fitted: Fitted, font: str, x: float, y: float) -> None:
    c.setFont(font, fitted.size)
    for i, line in enumerate(fitted.lines):
        c.drawString(x, y - i * fitted.size * 1.15, line)


def _whole(text: str, font: str, size: float, width: float) -> Fitted:
    fitted = fit_whole(text, font, size, width, LIST_MIN_SIZE)
    if fitted is None:  # the checks and the columns' widths keep this from happening; never cut if it does
        raise ScolpassError(f"{text!r} does not fit in the signature list, even at {LIST_MIN_SIZE:g} points")
    return fitted


def _list_row(sheet: Sheet) -> _ListRow:
    student = sheet.student
    return _ListRow(
        _whole(f"{student.last_name} {student.first_name}", SANS_BOLD, 8.5, NAME_W),
        _whole(student.student_number, SANS, 8.5, NUMBER_W),
        _whole(sheet.identifier, MONO, 7.5, NAME_W),
    )


def _list_pages(rows: Sequence[_ListRow]) -> list[list[_ListRow]]:
    """Rows a page, as many as fit: 24 of one line each, fewer when names take more."""
    pages: list[list[_ListRow]] = [[]]
    used = 0.0
    for row in rows:
        if pages[-1] and used + row.height > LIST_ROWS * ROW_H + 0.01:
            pages.append([])
            used = 0.0
        pages[-1].append(row)
        used += row.height
    return pages


def _distribution_list(c: Canvas, renderer: SheetRenderer, part: Part, layout: Layout, w: Wording) -> int:
    """The signature list: name, identifier, student number, an empty signature box; never a password.

    Every value prints whole, on one line, or a name broken at its spaces (its row grows).
    """
    pages = _list_pages([_list_row(s) for s in part.sheets])
    columns = [(f"{w.text('list_name')} / {w.text('list_identifier')}", NAME_X, NAME_W),
               (w.text("label_student_number"), NUMBER_X, NUMBER_W),
               (w.text("list_signature"), SIGNATURE_X, MARGIN + WIDTH - SIGNATURE_X - 2 * PAD)]  # fmt: skip
    for number, rows in enumerate(pages, start=1):
        c.setFillColor(colors.black)
        c.setFont(SANS, 8)
        page_label = f"{w.text('frame_title')} · {number}/{len(pages)}"
        c.drawRightString(MARGIN + WIDTH, TOP - 20, page_label)
        c.setFillColor(renderer.color)
        # A long faculty name shrinks, then breaks at its spaces, beside the page number (above the table).
        title_width = WIDTH - stringWidth(page_label, SANS, 8) - 12
        draw_in_box(c, f"{w.text('list_title')} : {part.label}", SANS_BOLD, 13, MARGIN, TOP, TOP - 27, title_width)
        c.setFillColor(colors.black)
        y = TOP - 50
        for title, x, width in columns:  # the template's words, on the header's one line
            c.setFont(SANS_BOLD, min(8.5, max(LIST_MIN_SIZE, width / max(stringWidth(title, SANS_BOLD, 1), 1))))
            c.drawString(x + PAD, y + 5, title)
        c.setLineWidth(0.4)
        for row in rows:
            c.line(MARGIN, y, MARGIN + WIDTH, y)
            row.draw(c, y)
            y -= row.height
        c.line(MARGIN, y, MARGIN + WIDTH, y)
        for x in (NAME_X, NUMBER_X, SIGNATURE_X, MARGIN + WIDTH):
            c.line(x, TOP - 50 + 14, x, y)
        c.line(MARGIN, TOP - 50 + 14, MARGIN + WIDTH, TOP - 50 + 14)
        c.showPage()
    count = len(pages)
    if layout.duplex and count % 2:
        count += _blank(c)
    return count


def draw_in_box(
    c: Canvas, text: str, font: str, size: float, x: float, top: float, bottom: float, width: float
) -> None:
    """Draw ``text`` whole within ``width`` and between ``top`` and ``bottom``, on the box's last lines.

    Shrunk, broken at its spaces only, and shrunk again until the lines fit the box's height.
    """
    fitted = _whole(text, font, size, width)
    while fitted.size > LIST_MIN_SIZE and fitted.size * (1 + 1.15 * (len(fitted.lines) - 1)) + 5 > top - bottom:
        fitted = _whole(text, font, max(LIST_MIN_SIZE, fitted.size - 0.5), width)
    lines, size = fitted.lines, fitted.size
    # From the bottom up: a one-line box keeps the baseline it always had, 7 points above its bottom.
    base = min(bottom + 7 + (len(lines) - 1) * size * 1.15, top - size) if len(lines) > 1 else bottom + 7
    _lines(c, fitted, font, x, base)


Progress = Callable[[int, int], None]  # (sheets done, sheets in all)

# Below this many sheets, starting worker processes costs more than it saves.
PARALLEL_FROM = 400


def _render_job(
    settings: Settings,
    year_label: str,
    protection: PdfProtection | None,
    part: Part,
    path: Path,
    title: str,
    layout: Layout,
) -> tuple[dict[str, int], int]:
    # In a worker process: its own renderer (fonts, forms); the result is the same as in the parent.
    crash_point("rendering")
    return render_part(SheetRenderer(settings, year_label, protection), part, path, title, layout)


def render_parts(
    renderer: SheetRenderer,
    parts: Sequence[Part],
    folder: Path,
    title: str,
    layout: Layout,
    progress: Progress | None = None,
) -> list[tuple[dict[str, int], int]]:
    """Render every part, on every core when there is enough work; results in the parts' order."""
    total = sum(len(p.sheets) for p in parts)
    done = 0
    workers = min(os.cpu_count() or 1, len(parts))
    if workers < 2 or total < PARALLEL_FROM:
        results = []
        for part in parts:
            results.append(render_part(renderer, part, folder / part.file, title, layout))
            done += len(part.sheets)
            if progress:
                progress(done, total)
        return results
    try:
        return _render_pooled(renderer, parts, folder, title, layout, progress, workers, total)
    except BrokenProcessPool as exc:
        raise ScolpassError(f"a rendering process stopped abruptly (out of memory?): {exc}") from None


def _render_pooled(
    renderer: SheetRenderer,
    parts: Sequence[Part],
    folder: Path,
    title: str,
    layout: Layout,
    progress: Progress | None,
    workers: int,
    total: int,
) -> list[tuple[dict[str, int], int]]:
    found: dict[int, tuple[dict[str, int], int]] = {}
    done = 0
    with worker_pool(workers) as pool:
        futures = {
            pool.submit(
                _render_job,
                renderer.settings,
                renderer.year_label,
                renderer.protection,
                part,
                folder / part.file,
                title,
                layout,
            ): i
            for i, part in enumerate(parts)
        }
        for future in as_completed(futures):
            index = futures[future]
            found[index] = future.result()
            done += len(parts[index].sheets)
            if progress:
                progress(done, total)
    return [found[i] for i in range(len(parts))]
