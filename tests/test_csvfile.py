"""Bytes to records: encodings, separators, line numbers, and bytes that are not text."""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import threading
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scolpass import InputError, csvfile
from scolpass.csvfile import (
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    MAX_PARSED_FIELD_CHARS,
    MAX_ROWS,
    decode,
    read_table,
)

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


def test_bad_byte_after_a_byte_order_mark_is_shown_at_its_own_offset(tmp_path: Path) -> None:
    # The offset counts the byte order mark: it is a byte of the file (an offset 3 bytes short named the wrong byte).
    path = tmp_path / "e.csv"
    path.write_bytes(codecs.BOM_UTF8 + "a;b\n1;é\n".encode("cp1252"))
    with pytest.raises(InputError, match="byte offset 9: byte 0xe9 is not text in UTF-8;"):
        read_table(path, encoding="utf-8")


def test_unterminated_quote_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text('a;b\n1;2\n3;"open\n4;5\n', encoding="utf-8")
    with pytest.raises(
        InputError, match=r"a quoted value starts in this record and its closing quote \(\"\) never comes"
    ):
        read_table(path)
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert caught.value.problems[0].line == 3  # the record that starts on line 3 never ends


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"\r\n")
    with pytest.raises(InputError, match="is empty"):
        read_table(path)


# Text a registrar could have in a cell: quotes, separators, accents, line breaks. Not a byte order
# mark, refused anywhere but at the start of a file (its own test).
cell_text = st.text(
    alphabet=st.sampled_from(list("aZé ;,\t\"'\n\r\u0301ŁΩЖ"))
    | st.characters(codec="utf-8", exclude_characters="\ufeff"),
    max_size=12,
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
        if any(c.strip() for c in cell_row):  # a row of empty or blank cells is a blank line: no data
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
    with pytest.raises(InputError, match="the file mixes encodings") as caught:
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


# Limits (README "Limits"): each refused early with where and why, never a traceback or a
# memory blow-up. The limits are real where a file that size is cheap to make, lowered otherwise.


def only_problem(caught: pytest.ExceptionInfo[InputError]) -> tuple[int | None, str]:
    (problem,) = caught.value.problems
    return problem.line, problem.reason


def test_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dump.csv"
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: the real size, no disk nor time spent

    def unread(*args: object) -> bytes:
        raise AssertionError("a file over the limit was read")

    monkeypatch.setattr(csvfile, "_read_bytes", unread)
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert str(caught.value) == (
        "dump.csv: is 536,870,913 bytes (512 MiB); scolpass reads at most 536,870,912 bytes (512 MiB): "
        "check that this is the enrolment export, or split it (by faculty, for instance)"
    )


def test_file_at_the_size_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "e.csv"
    size = path.write_bytes(TEXT.encode("utf-8"))
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", size)
    assert len(read_table(path).records) == 1
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(InputError, match=f"e.csv: is {size} bytes .*; scolpass reads at most {size - 1} bytes"):
        read_table(path)


def test_pipe_is_read_up_to_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # stat() says 0 bytes for a pipe (`scolpass check <(zcat export.csv.gz)`): the reading stops past the limit.
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", 1000)
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)

    def feed(data: bytes) -> None:
        fd = os.open(fifo, os.O_WRONLY)
        try:
            os.write(fd, data)
        except BrokenPipeError:
            pass  # the reader stopped at the limit
        finally:
            os.close(fd)

    for data, refused in ((TEXT.encode() * 20, True), (TEXT.encode(), False)):
        writer = threading.Thread(target=feed, args=(data,))
        writer.start()
        try:
            if refused:
                with pytest.raises(
                    InputError, match=r"export\.csv: holds more than 1,000 bytes; scolpass reads at most"
                ):
                    read_table(fifo)
            else:
                assert len(read_table(fifo).records) == 1
        finally:
            writer.join()


def test_rows_beyond_the_limit_are_refused_at_the_first_one(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a\n" + "x\n" * (MAX_ROWS + 1), encoding="utf-8")  # real: 1 MB, about a second
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        MAX_ROWS + 2,
        "is row 500,001; scolpass reads at most 500,000 rows: "
        "check that this is the enrolment export, or split it (by faculty, for instance)",
    )


def test_millions_of_blank_lines_cost_no_memory(tmp_path: Path) -> None:
    # ";;;" lines are not rows for the limit: they must not be kept either, or a 16 MB file could fill the memory.
    import tracemalloc

    path = tmp_path / "e.csv"
    path.write_text("a;b;c\n1;2;3\n" + ";;;\n" * 1_000_000, encoding="utf-8")
    tracemalloc.start()
    try:
        table = read_table(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [line for line, _ in table.records] == [2]
    assert peak < 40 * 2**20  # the decoded text (4 MB, 1 byte a character) and little else


def test_blank_lines_are_not_rows_for_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csvfile, "MAX_ROWS", 2)
    path = tmp_path / "e.csv"
    path.write_text("a;b\n1;2\n\n;\n \t; \n3;4\n;;\n", encoding="utf-8")
    assert [line for line, _ in read_table(path).records] == [2, 6]  # blank lines hold no data: not kept
    path.write_text("a;b\n1;2\n\n3;4\n;\n5;6\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught)[0] == 6


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a;" * (MAX_LINE_CHARS // 2) + "a\n1;2\n", 1),  # a header of half a million columns
        ("a;b\r\n1;2\r\n" + "x" * (MAX_LINE_CHARS + 1) + "\r\n3;4\r\n", 3),
        ("a;b\n1;2\n" + "x" * (MAX_LINE_CHARS + 1), 3),  # the last line, without its end
        ("a;b\r" + "x" * (MAX_LINE_CHARS + 1), 2),  # Mac line ends
    ],
    ids=["header", "row", "last-line", "cr"],
)
def test_line_over_the_limit_is_refused_before_it_is_parsed(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "e.csv"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(InputError) as caught:
        read_table(path)
    number, reason = only_problem(caught)
    assert number == line
    assert re.fullmatch(
        r"is a line of 1,048,57[78] characters; scolpass reads lines of at most 1,048,576: "
        r"is this a CSV export, one line per row\?",
        reason,
    )


def test_line_at_the_limit_is_read(tmp_path: Path) -> None:
    cells = ["x" * 100_000] * 10  # each value within the parser's limit
    cells.append("x" * (MAX_LINE_CHARS - len(";".join(cells)) - 1))
    path = tmp_path / "e.csv"
    path.write_text(";".join("abcdefghijk") + "\r\n" + ";".join(cells) + "\r\n", encoding="utf-8", newline="")
    assert len(";".join(read_table(path).records[0][1])) == MAX_LINE_CHARS


@pytest.mark.parametrize(("where", "line"), [("header", 1), ("row", 3)])
def test_columns_beyond_the_limit_are_refused(tmp_path: Path, where: str, line: int) -> None:
    many = ";".join(["c"] * (MAX_COLUMNS + 1))
    header, rows = (many, "1;2") if where == "header" else ("a;b", f"1;2\n{many}")
    path = tmp_path / "e.csv"
    path.write_text(f"{header}\n{rows}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (line, "has 1,001 fields; scolpass reads at most 1,000 columns")
    path.write_text(";".join(["c"] * MAX_COLUMNS) + "\n1\n", encoding="utf-8")
    assert len(read_table(path).header) == MAX_COLUMNS


def test_quote_never_closed_is_refused_at_its_record_not_read_to_the_end(tmp_path: Path) -> None:
    # An opening quote on line 3 would make the rest of a 20 MB file one value, at 4 bytes a character.
    path = tmp_path / "e.csv"
    path.write_text('a;b\n1;2\n3;"open\n' + "4;5\n" * 5_000_000, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    line, reason = only_problem(caught)
    assert line == 3
    assert re.fullmatch(
        r"a quoted value starts in this record and runs over 32,76\d lines and 131,072 characters: "
        r"its closing quote \(\"\) is missing",
        reason,
    )


def test_value_over_the_parser_limit_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("a;b\n1;2\n3;" + "x" * (MAX_PARSED_FIELD_CHARS + 1) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (3, "holds a value of more than 131,072 characters, which stops the reading")
    path.write_text("a;b\n1;2\n3;" + "x" * MAX_PARSED_FIELD_CHARS + "\n", encoding="utf-8")
    assert len(read_table(path).records[1][1][1]) == MAX_PARSED_FIELD_CHARS


def test_csv_field_limit_is_never_changed(tmp_path: Path) -> None:
    # csv's limit is process-wide: reading never sets it (another thread may be reading), and a process
    # that raised it still gets scolpass's own limit.
    before = csv.field_size_limit(10 * MAX_PARSED_FIELD_CHARS)
    try:
        path = tmp_path / "e.csv"
        path.write_text("a;b\n1;" + "x" * MAX_PARSED_FIELD_CHARS + "\n", encoding="utf-8")
        assert len(read_table(path).records) == 1  # the largest value allowed
        path.write_text("a;b\n1;" + "x" * (MAX_PARSED_FIELD_CHARS + 1) + "\n", encoding="utf-8")
        with pytest.raises(InputError, match="holds a value of more than 131,072 characters"):
            read_table(path)
        path.write_text('a;b\n1;"' + "x" * 200_000 + "\n", encoding="utf-8")
        with pytest.raises(InputError):
            read_table(path)
        assert csv.field_size_limit() == 10 * MAX_PARSED_FIELD_CHARS
    finally:
        csv.field_size_limit(before)


def test_reading_changes_no_process_wide_setting_another_thread_would_see(tmp_path: Path) -> None:
    import gc
    import threading

    path = tmp_path / "big.csv"
    path.write_text("a;b\n" + "".join(f"{i};{'x' * 50}\n" for i in range(200_000)), encoding="utf-8")
    seen: set[tuple[bool, int]] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.add((gc.isenabled(), csv.field_size_limit()))

    from scolpass.enrolment import read_enrolment

    from .conftest import SAMPLES

    before = csv.field_size_limit(10 * MAX_PARSED_FIELD_CHARS)  # a server's own setting
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        read_table(path)
        for _ in range(20):
            read_enrolment(SAMPLES / "enrolment.csv")
    finally:
        done.set()
        watcher.join()
        csv.field_size_limit(before)
    assert seen == {(True, 10 * MAX_PARSED_FIELD_CHARS)}


def test_equal_values_are_kept_once(tmp_path: Path) -> None:
    # A faculty or a step repeats on every row: one string for all of them keeps the memory of 200,000 rows low.
    path = tmp_path / "e.csv"
    path.write_text(csv_text([row(str(n), faculty="FACULTÉ DE DROIT") for n in range(3)]), encoding="utf-8")
    faculties = [cells[HEADER.index("faculty")] for _, cells in read_table(path).records]
    assert faculties == ["FACULTÉ DE DROIT"] * 3
    assert len({id(f) for f in faculties}) == 1


# Two encodings in one file (README "Encodings"): the guess is made on the first accented line, and the
# first line that contradicts it is named, with what its bytes say in each encoding.


def test_windows_1252_first_then_utf8_is_refused(tmp_path: Path) -> None:
    # The first accented row decides Windows-1252; read so, Zoé's UTF-8 row would become "ZoÃ©" (zoa-c.durand).
    path = tmp_path / "enrolment.csv"
    path.write_bytes(b"a;b\n" + "Hélène;1\n".encode("cp1252") + b"Jean;2\n" + "Zoé;3\n".encode())
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert str(caught.value) == (
        "enrolment.csv:4: the file mixes encodings: line 2 is Windows-1252 ('Hélène') but this line is UTF-8 "
        "('Zoé', which would read 'ZoÃ©' as Windows-1252); save it again in one encoding (UTF-8)"
    )


def test_utf8_looking_pair_in_a_windows_1252_file_is_a_contradiction(tmp_path: Path) -> None:
    # "Ã©" in Windows-1252 is exactly the UTF-8 bytes of "é": never a real name, always a sign of mixing.
    path = tmp_path / "e.csv"
    path.write_bytes("a;b\nChloé;1\nRenÃ©e;2\n".encode("cp1252"))
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        3,
        "the file mixes encodings: line 2 is Windows-1252 ('Chloé') but this line is UTF-8 "
        "('Renée', which would read 'RenÃ©e' as Windows-1252); save it again in one encoding (UTF-8)",
    )


def test_both_encodings_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"a;b\n" + "Chloé;".encode("cp1252") + "Zoé\n".encode())
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        2,
        "the file mixes encodings: 'Chloé' on this line is Windows-1252 but 'Zoé' is UTF-8 "
        "(which would read 'ZoÃ©' as Windows-1252); save it again in one encoding (UTF-8)",
    )


def test_utf8_first_then_windows_1252_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("a;b\nHélène;1\nJean;2\n".encode() + "Chloé;3\n".encode("cp1252"))
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        4,
        "the file mixes encodings: line 2 is UTF-8 ('Hélène') but this line is not "
        "(byte 0xe9 in 'Chloé', if it is Windows-1252); save it again in one encoding (UTF-8)",
    )


def test_a_byte_order_mark_then_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(codecs.BOM_UTF8 + "a;b\nChloé;1\n".encode("cp1252"))
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        2,
        "the file mixes encodings: it opens with a UTF-8 byte order mark but this line is not UTF-8 "
        "(byte 0xe9 in 'Chloé', if it is Windows-1252); save it again in one encoding (UTF-8)",
    )


def test_windows_1252_throughout_is_still_read(tmp_path: Path) -> None:
    # Every accent of French names, upper and lower case, and the punctuation Excel writes: no false alarm.
    names = "Hélène;ÉLODIE;Chloé;FRANÇOIS;Zoë;Maëlle;ŒDIPE;Noël;L’HÔPITAL;«Ça»;N°3;Ève–Marie"
    path = tmp_path / "e.csv"
    path.write_bytes(("a;b;c;d;e;f;g;h;i;j;k;l\n" + names + "\n").encode("cp1252"))
    table = read_table(path)
    assert table.encoding == "Windows-1252"
    assert ";".join(table.records[0][1]) == names


def test_forced_windows_1252_reads_a_mixed_file_as_asked(tmp_path: Path) -> None:
    # --encoding is the registrar's word: it wins over the detection, mixed or not (as "forced encoding wins").
    path = tmp_path / "e.csv"
    path.write_bytes(b"a;b\n" + "Hélène;1\n".encode("cp1252") + "Zoé;2\n".encode())
    table = read_table(path, encoding="windows-1252")
    assert [cells[0] for _, cells in table.records] == ["Hélène", "ZoÃ©"]


def test_utf8_then_not_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"a;b\n" + "Zoé;".encode() + "Chloé\n".encode("cp1252"))
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        2,
        "the file mixes encodings: 'Zoé' on this line is UTF-8 but not all of it "
        "(byte 0xe9 in 'Chloé', if it is Windows-1252); save it again in one encoding (UTF-8)",
    )


def test_bytes_in_neither_encoding_after_windows_1252(tmp_path: Path) -> None:
    # 0x81 is no character in Windows-1252: the file is neither, refused at that byte.
    path = tmp_path / "e.csv"
    path.write_bytes("a;b\nChloé;1\n".encode("cp1252") + b"x\x81;2\n")
    with pytest.raises(InputError) as caught:
        read_table(path)
    assert only_problem(caught) == (
        3,
        "byte offset 13: byte 0x81 is not text in UTF-8 or Windows-1252; save the file as 'CSV UTF-8'",
    )


# Byte order marks (README "Encodings"): one at the very start says the encoding and is removed;
# any other U+FEFF is an invisible character that would hide a header or change a value.


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 * 2 + b"COD_ANU;b\r\n2026;x\r\n",
        codecs.BOM_UTF16_LE + "\ufeffCOD_ANU;b\r\n2026;x\r\n".encode("utf-16-le"),
    ],
    ids=["utf8-two-boms", "utf16-two-boms"],
)
def test_a_second_byte_order_mark_is_refused_by_its_column(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "enrolment.csv"
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read_table(path)
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (1, "\ufeffCOD_ANU")
    assert str(problem) == (
        "enrolment.csv:1: column '\\ufeffCOD_ANU': starts with a byte order mark (U+FEFF, invisible) that is "
        "not the file's first: the file was saved with two; save it again as 'CSV UTF-8'"
    )


def test_byte_order_marks_inside_headers_and_values_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text('a;b\ufeff;c\r\n1;2;3\r\n4;"\ufeff5";6\ufeff\r\n7;8;9;\ufeff\r\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_table(path)
    inside = "holds a byte order mark (U+FEFF, invisible), which belongs only at the very start of a file: remove it"
    assert [(p.line, p.column, p.value, p.reason) for p in caught.value.problems] == [
        (1, "b\ufeff", None, inside),
        (3, "b\ufeff", "\ufeff5", inside),
        (3, "c", "6\ufeff", inside),
        (4, "field 4", "\ufeff", inside),  # beyond the header: named by its place
    ]
