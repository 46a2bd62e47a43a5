"""QR codes drawn as vector paths.

Modules are merged into horizontal runs and filled as one path: sharp at any
printer resolution and a fraction of the size of one square per module.
"""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from reportlab.pdfgen.canvas import Canvas


def qr_matrix(data: str) -> list[list[bool]]:
    """The modules of a QR code for ``data`` (no quiet zone), row by row, top first."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.get_matrix()]


def draw_qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    """Draw the code with its lower-left corner at ``(x, y)``, ``size`` points wide.

    The caller leaves a quiet zone of four modules around it.
    """
    matrix = qr_matrix(data)
    n = len(matrix)
    module = size / n
    path = canvas.beginPath()
    for row_index, row in enumerate(matrix):
        top = y + size - (row_index + 1) * module
        start: int | None = None
        for col, dark in enumerate([*row, False]):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                path.rect(x + start * module, top, (col - start) * module, module)
                start = None
    canvas.drawPath(path, stroke=0, fill=1)
