"""The embedded fonts, and the check that every printed character has a glyph.

DejaVu covers Latin, Greek and Cyrillic. A character no shipped font covers
would print as a blank box: it is reported before rendering instead.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import cache, lru_cache

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from .resources import data_dir

SANS = "ScolSans"
SANS_BOLD = "ScolSans-Bold"
MONO = "ScolMono"
MONO_BOLD = "ScolMono-Bold"

_FILES = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    MONO: "DejaVuSansMono.ttf",
    MONO_BOLD: "DejaVuSansMono-Bold.ttf",
}


@cache
def register_fonts() -> frozenset[int]:
    """Register the fonts with ReportLab (once) and return the code points they all cover."""
    covered: frozenset[int] | None = None
    for name, filename in _FILES.items():
        font = TTFont(name, str(data_dir("fonts") / filename))
        pdfmetrics.registerFont(font)
        if name in (SANS, SANS_BOLD):
            points = frozenset(font.face.charToGlyph)
            covered = points if covered is None else covered & points
    # Paragraph markup <b> switches to the bold face of the family.
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, SANS_BOLD)
    addMapping(SANS, 0, 1, SANS)
    addMapping(SANS, 1, 1, SANS_BOLD)
    assert covered is not None
    return covered


@lru_cache(maxsize=65536)
def uncovered(text: str) -> tuple[str, ...]:
    """The characters of ``text`` that the sheet's fonts cannot draw (cached: names repeat).

    Spaces count like any character: DejaVu has no U+3000 IDEOGRAPHIC SPACE, which
    would print as the missing-character box.
    """
    if text.isascii():
        return ()  # DejaVu covers all of ASCII; most values (numbers, dates, codes) are
    covered = register_fonts()
    return tuple(sorted({c for c in text if ord(c) not in covered}))


@lru_cache(maxsize=65536)
def misprinted(text: str) -> tuple[tuple[str, str], ...]:
    """The characters of ``text`` the fonts cover but a sheet would not print right, and why."""
    if text.isascii():
        return ()
    found: dict[str, str] = {}
    for c in text:
        if unicodedata.bidirectional(c) in ("R", "AL"):
            # ReportLab draws glyphs left to right in the order typed: a Hebrew or Arabic
            # name would print backwards (and Arabic letters unjoined).
            found[c] = "a right-to-left letter, which the sheet would print backwards"
        elif ord(c) > 0xFFFF:
            # ReportLab writes such a character's text map in a form PDF readers misread:
            # the page would show it, but copying or searching the sheet would give another.
            found[c] = "beyond U+FFFF, which the PDF's text would misread"
    return tuple(sorted(found.items()))


def font_check(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Row check: every character of every value prints as typed with the embedded fonts."""
    found = []
    for column, value in values.items():
        missing = uncovered(value)
        if missing:
            names = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing)
            found.append((column, f"holds {names}, which no shipped font can print"))
        wrong = [(c, why) for c, why in misprinted(value) if c not in missing]
        if wrong:
            reasons = "; ".join(f"{c!r} (U+{ord(c):04X}) is {why}" for c, why in wrong)
            found.append((column, f"cannot be printed as typed: {reasons}; write it in Latin letters"))
    return found
