"""CSV cells that a spreadsheet shows as text, never runs as a formula, and that read back exactly.

Excel, LibreOffice and Google Sheets run a cell beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return as a formula (CSV injection). Every CSV
scolpass writes puts an apostrophe before such a cell; every CSV it reads
(``rejected.csv`` is fixed and fed back) takes exactly that apostrophe off again.
"""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_led(cell: str) -> bool:
    # Apostrophes and then a formula character: "=x", and "'=x", which would read as a neutralised "=x".
    return cell.lstrip("'").startswith(FORMULA_START)


def formula_safe(cell: str) -> str:
    """A cell Excel shows as text: a leading apostrophe before a formula character (documented).

    The apostrophe also goes before apostrophes that lead to a formula character
    ("'=x" gives "''=x"), so that :func:`restored` gives back every value exactly;
    an apostrophe before anything else is the value's own ("'t Hart"), left alone.
    """
    return "'" + cell if _formula_led(cell) else cell


def restored(cell: str) -> str:
    """The value :func:`formula_safe` was given: the documented inverse, for whoever reads scolpass's CSV."""
    return cell[1:] if cell.startswith("'") and _formula_led(cell[1:]) else cell
