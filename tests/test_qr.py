"""QR codes: valid whatever the order of URL lengths, and drawn as merged runs."""

from __future__ import annotations

import zxingcpp
from PIL import Image

from scolpass.qr import qr_matrix, runs_path


def image_of(matrix: list[list[bool]], scale: int = 6) -> Image.Image:
    size = (len(matrix) + 8) * scale  # with the quiet zone
    image = Image.new("L", (size, size), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, ((x + 4) * scale, (y + 4) * scale, (x + 5) * scale, (y + 5) * scale))
    return image


def test_codes_decode_whatever_the_length_order() -> None:
    urls = [
        "https://ent.fr/a?login=x",
        "https://ent.umontpellier.fr/activation?login=" + "marie-helene.de-la-fontaine" * 3,  # needs a larger version
        "https://ent.fr/a?login=y",
    ]
    sizes = []
    for url in urls:
        matrix = qr_matrix(url)
        (code,) = zxingcpp.read_barcodes(image_of(matrix))
        assert code.text == url
        sizes.append(len(matrix))
    # Each code is as small as its own URL allows, whatever came before it.
    assert sizes[0] == sizes[2] < sizes[1]


def test_runs_are_merged_in_module_units() -> None:
    matrix = [[True, True, False, True], [False, False, False, False], [True, True, True, True]]
    assert runs_path(matrix) == "0 0 2 1 re\n3 0 1 1 re\n0 2 4 1 re"
