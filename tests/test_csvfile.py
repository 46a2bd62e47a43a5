"""Bytes to records: encodings, separators, line numbers, and bytes that are not text."""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scolpass import InputError
from scolpass.csvfile import decode, read_table

from .conftest import HEADER, csv_text, row

TEXT = csv_text([row(first_name="Hélène", birth_place="SAINT-ÉTIENNE; LOIRE")])
TABS = csv_text([row(first_name="Hélène", birth_place="SAINT-ÉTIENNE; LOIRE")], separator="\t")


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (TEXT.encode("utf-8"), "UTF-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "UTF-8 with BOM"),
        (TEXT.encode("cp1252"), "Windows-1252"),
        (TABS.encode("utf-16"), "UTF-16"),  # Excel's "Texte Unicode"
        (codecs.BOM_UTF16_BE + TABS.encode("utf-16-be"), "UTF-16"),
    ],
    ids=["utf8", "utf8-bom", "windows-1252", "utf16-le-tabs", "utf16-be-tabs"],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes, label: str) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(data)
    table = read_table(path)
    assert table.encoding == label
    assert table.header == list(HEADER)
    ((line, cells),) = table.records
    assert line == 2
    assert cells[HEADER.index("first_name")] == "Hélène"
    assert cells[HEADER.index("birth_place")] == "SAINT-ÉTIENNE; LOIRE"


@pytest.mark.parametrize(("separator", "name"), [(";", ";"), (",", ","), ("\t", "tab")])
def test_separators_are_detected_or_forced(tmp_path: Path, separator: str, name: str) -> None:
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row(birth_place="A;B,C")], separator=separator), encoding="utf-8")
    assert read_table(path).separator == separator
    assert read_table(path, separator=name).records[0][1][HEADER.index("birth_place")] == "A;B,C"


def test_forced_encoding_wins(tmp_path: Path) -> None:
    # "Ã©" is valid Windows-1252 and valid UTF-8 ("é" in UTF-8 read as Windows-1252).
    path = tmp_path / "e.csv"
    path.write_bytes(TEXT.encode("utf-8"))
    forced = read_table(path, encoding="windows-1252")
    assert forced.encoding == "Windows-1252"
    assert "HÃ©lÃ¨ne" in forced.records[0][1]


def test_separator_inside_quoted_headers_is_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text('"a,b,c";"d,e";f\n1;2;3\n', encoding="utf-8")
    assert read_table(path).header == ["a,b,c", "d,e", "f"]


def test_values_are_normalised_to_nfc(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a;b\nHe\u0301le\u0300ne;x\n", encoding="utf-8")
    assert read_table(path).records[0][1][0] == "Hélène"


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00", 1, "byte offset 5: a NUL byte: this is not a text file"),
        (b"a;b\n1;\xe9\x81\n", 2, "byte offset 7: byte 0x81 is not text in UTF-8 or Windows-1252"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 3, "byte offset 8: a NUL byte"),
        (b"\x07\x08binary;stuff\n", 1, "byte offset 0: control character U+0007: this is not a text file"),
        (b"a;b\r1;\x81\r", 2, "byte offset 6: byte 0x81"),
    ],
    ids=["zip-with-nul", "byte-in-no-encoding", "png", "control-in-header", "cr-only-lines"],
)
def test_bytes_that_are_not_text(tmp_path: Path, data: bytes, line: int, message: str) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_table(path)
    (problem,) = caught.value.problems
    assert problem.line == line
    assert message in problem.reason


def test_forced_encoding_that_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("a;b\n1;é\n".encode("cp1252"))
    with pytest.raises(InputError, match="byte offset 6: byte 0xe9 is not text in UTF-8;"):
        read_table(path, encoding="utf-8")


def test_unterminated_quote_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text('a;b\n1;2\n3;"open\n4;5\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert caught.value.problems[0].line == 3  # the record that starts on line 3 never ends


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"\r\n")
    with pytest.raises(InputError, match="is empty"):
        read_table(path)


# Text a registrar could have in a cell: quotes, separators, accents, line breaks.
cell_text = st.text(
    alphabet=st.sampled_from(list("aZé ;,\t\"'\n\r\u0301ŁΩЖ")) | st.characters(codec="utf-8"), max_size=12
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=4), sep=st.sampled_from(";,\t"))
def test_any_text_comes_back_identical_on_its_line(tmp_path: Path, cells: list[list[str]], sep: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    writer.writerow(["a", "b", "c"])
    expected: list[tuple[int, list[str]]] = []
    for cell_row in cells:
        # The line an editor shows the record on: one more than the line ends before it.
        line = len(re.findall(r"\r\n|\r|\n", out.getvalue())) + 1
        writer.writerow(cell_row)
        if any(cell_row):  # a row of empty cells is a blank line: no data
            expected.append((line, [unicodedata.normalize("NFC", c) for c in cell_row]))
    path = tmp_path / "p.csv"
    path.write_bytes(out.getvalue().encode("utf-8", "surrogatepass"))
    if any("\x00" in c for r in cells for c in r):
        # A NUL byte is refused as not text, and located.
        with pytest.raises(InputError, match="a NUL byte") as caught:
            read_table(path)
        assert caught.value.problems[0].line is not None
        return
    table = read_table(path, separator={";": ";", ",": ",", "\t": "tab"}[sep])
    assert [(line, record) for line, record in table.records if any(record)] == expected


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_any_bytes_give_a_table_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "b.csv"
    path.write_bytes(data)
    error: InputError | None = None
    try:
        read_table(path)
    except InputError as exc:  # anything else (a traceback) fails the test
        error = exc
    if error is not None:
        assert error.problems
        assert all(p.file == "b.csv" and p.reason for p in error.problems)


def test_decode_reports_the_line_of_the_bad_byte() -> None:
    with pytest.raises(InputError) as caught:
        decode(b"a\r\nb\nc\r\x81", "x.csv")
    assert caught.value.problems[0].line == 4


def test_mixed_encodings_are_refused(tmp_path: Path) -> None:
    # UTF-8 rows, then one row saved from a Windows editor: read as Windows-1252 it would garble the rest.
    path = tmp_path / "e.csv"
    path.write_bytes("a;b\nHélène;1\n".encode() + "Chloé;2\n".encode("cp1252"))
    with pytest.raises(InputError, match="the file mixes two encodings") as caught:
        read_table(path)
    assert caught.value.problems[0].line == 3


def test_bad_byte_line_in_utf16_with_crlf(tmp_path: Path) -> None:
    path = tmp_path / "e.txt"
    path.write_bytes("a\tb\r\n1\t2\r\n3\t".encode("utf-16-le").join([codecs.BOM_UTF16_LE, b""]) + b"\x00\xd8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert caught.value.problems[0].line == 3


def test_library_takes_the_usual_names_of_encodings_and_separators(tmp_path: Path) -> None:
    from scolpass import ConfigError

    path = tmp_path / "e.csv"
    path.write_bytes(TABS.encode("cp1252"))
    table = read_table(path, encoding="CP1252", separator="\t")
    assert (table.encoding, table.separator) == ("Windows-1252", "\t")
    with pytest.raises(ConfigError, match="unknown encoding 'latin-9'"):
        read_table(path, encoding="latin-9")
    with pytest.raises(ConfigError, match=r"unknown separator '\|'"):
        read_table(path, separator="|")
