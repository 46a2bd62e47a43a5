"""Batches a registrar prints and hands out: per faculty, in French alphabetical order, in parts.

A student goes with the faculty of their first programme step. Within a
faculty, sheets follow the usual name then the first name as a French reader
sorts them (accents and case folded, a leading particle "de" or "d'" set
aside: "de La Fontaine" stands under L), then the student number. A faculty
with more than ``max_sheets`` students is split into parts, each its own PDF.
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

from .errors import ScolpassError
from .fonts import MONO, SANS, SANS_BOLD
from .protect import PdfProtection
from .settings import Settings
from .sheet import MARGIN, TOP, WIDTH, Sheet, SheetRenderer, draw_fitted, fit_lines
from .student import Student
from .wording import Wording
from .workers import crash_point, worker_pool

# "de " or "d'" before a name, not the letters "De" of Denis or Delacroix.
_PARTICLE = re.compile(r"^(?:de\s+|d')(?=\S)", re.IGNORECASE)
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=65536)
def french_key(name: str) -> str:
    """A name as a French index sorts it: "de La Fontaine" as "la fontaine", "Éric" with "eric"."""
    text = anyascii(name.strip()).casefold().replace("\u2019", "'")
    text = _PARTICLE.sub("", text)
    return _NOT_ALNUM.sub(" ", text).strip()


def sort_key(student: Student) -> tuple[str, str, str]:
    """Usual name, then first name, then student number."""
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


LIST_ROWS = 24  # distribution-list rows a page: room for a signature each


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
        draw_fitted(c, value, SANS_BOLD, 14, MARGIN + 190, y, WIDTH - 190)
        y -= 30
    notice = Paragraph(w.para("cover_notice"), ParagraphStyle("notice", fontName=SANS, fontSize=9, leading=11.5))
    notice.wrapOn(c, WIDTH, TOP)
    notice.drawOn(c, MARGIN, MARGIN + 10)
    c.showPage()
    return 1 + (_blank(c) if layout.duplex else 0)


def _distribution_list(c: Canvas, renderer: SheetRenderer, part: Part, layout: Layout, w: Wording) -> int:
    """The signature list: name, student number, identifier, an empty signature box; never a password."""
    rows = [(f"{s.student.last_name} {s.student.first_name}", s.student.student_number, s.identifier)
            for s in part.sheets]  # fmt: skip
    chunks = [rows[i : i + LIST_ROWS] for i in range(0, len(rows), LIST_ROWS)] or [[]]
    columns = [(w.text("list_name"), 0.0), (w.text("label_student_number"), 0.38), (w.text("list_identifier"), 0.52),
               (w.text("list_signature"), 0.78)]  # fmt: skip
    row_h = (TOP - MARGIN - 110) / LIST_ROWS
    for number, chunk in enumerate(chunks, start=1):
        c.setFillColor(colors.black)
        c.setFont(SANS, 8)
        page_label = f"{w.text('frame_title')} · {number}/{len(chunks)}"
        c.drawRightString(MARGIN + WIDTH, TOP - 20, page_label)
        c.setFillColor(renderer.color)
        # A long faculty name shrinks, then wraps, beside the page number (in the space above the table).
        title_width = WIDTH - stringWidth(page_label, SANS, 8) - 12
        draw_in_box(c, f"{w.text('list_title')} : {part.label}", SANS_BOLD, 13, MARGIN, TOP, TOP - 27, title_width)
        c.setFillColor(colors.black)
        y = TOP - 50
        c.setFont(SANS_BOLD, 8.5)
        for title, at in columns:
            c.drawString(MARGIN + at * WIDTH + 3, y + 5, title)
        c.setLineWidth(0.4)
        for name, student_number, identifier in chunk:
            c.line(MARGIN, y, MARGIN + WIDTH, y)
            # Each cell stays in its row, above the signature line below it.
            draw_in_box(c, name, SANS, 8.5, MARGIN + 3, y, y - row_h, 0.37 * WIDTH - 6)
            draw_in_box(c, student_number, SANS, 8.5, MARGIN + 0.38 * WIDTH + 3, y, y - row_h, 0.14 * WIDTH - 6)
            draw_in_box(c, identifier, MONO, 7.5, MARGIN + 0.52 * WIDTH + 3, y, y - row_h, 0.26 * WIDTH - 6)
            y -= row_h
        c.line(MARGIN, y, MARGIN + WIDTH, y)
        for at in [*(at for _, at in columns), 1.0]:
            c.line(MARGIN + at * WIDTH, TOP - 50 + 14, MARGIN + at * WIDTH, y)
        c.line(MARGIN, TOP - 50 + 14, MARGIN + WIDTH, TOP - 50 + 14)
        c.showPage()
    pages = len(chunks)
    if layout.duplex and pages % 2:
        pages += _blank(c)
    return pages


# The list is for the office, not the student: a very long name may go smaller than on the sheet.
LIST_MIN_SIZE = 4.5


def draw_in_box(
    c: Canvas, text: str, font: str, size: float, x: float, top: float, bottom: float, width: float
) -> None:
    """Draw ``text`` in full within ``width`` and between ``top`` and ``bottom``, on the box's last lines.

    Shrunk, then wrapped, then shrunk again until the lines fit the box's height.
    """
    fitted, lines = fit_lines(text, font, size, width, LIST_MIN_SIZE)
    while fitted > LIST_MIN_SIZE and fitted * (1 + 1.15 * (len(lines) - 1)) + 5 > top - bottom:
        fitted, lines = fit_lines(text, font, fitted - 0.5, width, LIST_MIN_SIZE)
    c.setFont(font, fitted)
    # From the bottom up: a one-line cell keeps the baseline it always had, 7 points above the row's line.
    base = min(bottom + 7 + (len(lines) - 1) * fitted * 1.15, top - fitted) if len(lines) > 1 else bottom + 7
    for i, line in enumerate(lines):
        c.drawString(x, base - i * fitted * 1.15, line)


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
