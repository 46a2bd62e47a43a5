"""Turning an export's bytes into CSV records: encoding, separator, line numbers.

The file is parsed with the standard ``csv`` module rather than pandas'
``read_csv``: pandas pads short rows with empty cells without a word and cannot
say on which line of the file a record starts once a quoted value spans lines,
and a registrar must be told both.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError, InputError, Problem

# --encoding names, and how each is printed in a summary.
ENCODINGS = {"utf-8": "UTF-8", "windows-1252": "Windows-1252", "utf-16": "UTF-16"}
_ENCODING_ALIASES = {"utf8": "utf-8", "cp1252": "windows-1252", "utf16": "utf-16"}
# --separator names.
SEPARATORS = {";": ";", ",": ",", "tab": "\t"}
# Control characters that no text export holds (tab, line ends and form feed aside).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# The line ends of io.StringIO(newline=""), as csv expects them: no other (str.splitlines()'s \x85...).
_LINE_END = re.compile(r"\r\n|\r|\n")

# Limits of what is read, with margin for the largest French universities (about 80,000
# students). Each is checked before the memory it guards is spent, so that a wrong file
# (a database dump, a file without line ends, a quote never closed) is refused at once
# with its line instead of exhausting the machine.
#
# One row per enrolment in a step: 80,000 students with up to three steps each is 240,000
# rows; twice that and more. At 200,000 rows `scolpass check` peaks at 363 MiB.
MAX_ROWS = 500_000
# 500,000 rows of a wide export (60 columns, about 1 KiB a row); refused from stat(), unread.
MAX_FILE_BYTES = 512 * 1024 * 1024
# Apogée extractions have tens of columns; a thousand is no enrolment export.
MAX_COLUMNS = 1_000
# A thousand columns of a thousand characters (columns.MAX_FIELD_CHARS) with their separators,
# rounded up to 2**20. A longer line is a file without line ends, which csv would turn into one
# record of millions of values before any other limit could be checked.
MAX_LINE_CHARS = 2**20
# A value this long stops the reading (a longer value within the line limit is a located
# problem, reported with the others). It also bounds what a quote never closed swallows:
# the csv module keeps a value at 4 bytes a character. (The csv module's default, pinned.)
MAX_PARSED_FIELD_CHARS = 131_072


@dataclass(frozen=True)
class CsvTable:
    """An export parsed into records, each with the editor line it starts on."""

    source: str
    encoding: str  # as printed: "UTF-8 with BOM", "Windows-1252"...
    separator: str
    header: list[str]
    records: list[tuple[int, list[str]]]


def canonical_encoding(name: str) -> str:
    """``--encoding`` value to one of :data:`ENCODINGS` (ValueError if unknown)."""
    key = name.strip().lower()
    key = _ENCODING_ALIASES.get(key, key)
    if key not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)}")
    return key


def read_table(path: str | Path, encoding: str | None = None, separator: str | None = None) -> CsvTable:
    """Read ``path`` as CSV; ``encoding`` and ``separator`` force what is otherwise detected."""
    path = Path(path)
    name = path.name
    # The library takes what the CLI does (and "UTF-8", "cp1252", "\t"): checked here, once.
    if encoding is not None:
        try:
            encoding = canonical_encoding(encoding)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if separator is not None:
        separator = "tab" if separator == "\t" else separator
        if separator not in SEPARATORS:
            raise ConfigError(f"unknown separator {separator!r}; use one of {', '.join(SEPARATORS)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread
            raise _too_large(name, f"is {size:,} bytes ({size / 2**20:,.0f} MiB)")
        with path.open("rb") as file:
            raw = _read_bytes(file, size)
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(name, f"holds more than {MAX_FILE_BYTES:,} bytes")
    text, label = decode(raw, name, encoding)
    del raw  # the text is all that is needed now: the bytes would stay alive while parsing
    # isspace() rather than strip(): strip() would copy the whole text for its trailing line end.
    if not text or text.isspace():
        raise InputError(
            [Problem(name, None, None, None, "is empty: a header line and one row per enrolment are expected")]
        )
    sep = SEPARATORS[separator] if separator else detect_separator(text)
    (_, header), *records = parse_records(text, name, sep)
    return CsvTable(name, label, sep, header, records)


def _read_bytes(file: BinaryIO, size: int) -> bytes:
    """The bytes of ``file``, never more than one past :data:`MAX_FILE_BYTES`.

    ``size`` is what stat() said: a file ends within it (read(n) reserves n bytes at
    once, so never read(MAX_FILE_BYTES)); a pipe (`<(zcat export.csv.gz)`, size 0) or a
    file that grew is read on by chunks, up to the limit.
    """
    parts = [file.read(size + 1)]
    total = len(parts[0])
    while total <= MAX_FILE_BYTES and (chunk := file.read(min(2**20, MAX_FILE_BYTES + 1 - total))):
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)  # one part (a file) comes back as it is, uncopied


def _too_large(name: str, what: str) -> InputError:
    reason = (
        f"{what}; scolpass reads at most {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 2**20} MiB): "
        "check that this is the enrolment export, or split it (by faculty, for instance)"
    )
    return InputError([Problem(name, None, None, None, reason)])


def _fail(name: str, raw: bytes, offset: int, reason: str, codec: str = "latin-1") -> InputError:
    # Line ends are counted in the decoded text before the offset: in UTF-16 a line end is two bytes each.
    prefix = raw[:offset].decode(codec, errors="replace")
    line = len(re.findall(r"\r\n|\r|\n", prefix)) + 1
    return InputError([Problem(name, line, None, None, f"byte offset {offset}: {reason}")])


def decode(raw: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``raw`` and a label of its encoding.

    Detected: a UTF-16 or UTF-8 byte order mark, else UTF-8, else Windows-1252
    (Excel's "CSV (séparateur: point-virgule)" on Windows). Bytes that are no
    text in any of them are refused with their offset.
    """
    if encoding is None:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        elif b"\x00" in raw:
            raise _fail(
                name, raw, raw.index(b"\x00"), "a NUL byte: this is not a text file; export the enrolments as CSV"
            )
    candidates = [encoding] if encoding else ["utf-8", "windows-1252"]
    for candidate in candidates:
        codec = "utf-8-sig" if candidate == "utf-8" else candidate
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            if candidate == "utf-8" and not raw[: exc.start].isascii() and encoding is None:
                # Valid UTF-8 accents before a byte that is not: two encodings in one file (a row
                # pasted from another export). Reading it all as Windows-1252 would garble every
                # accent of the UTF-8 part into permanent logins.
                reason = (
                    f"byte 0x{raw[exc.start]:02x} is not UTF-8, but the text before it is: the file mixes "
                    "two encodings; save it again as 'CSV UTF-8'"
                )
                raise _fail(name, raw, exc.start, reason, "utf-8") from None
            if candidate != candidates[-1]:
                continue
            tried = " or ".join(ENCODINGS[c] for c in candidates)
            reason = f"byte 0x{raw[exc.start]:02x} is not text in {tried}; save the file as 'CSV UTF-8'"
            raise _fail(name, raw, exc.start, reason, codec) from None
        _refuse_binary(text, raw, name, codec)
        label = ENCODINGS[candidate] + (" with BOM" if codec == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8) else "")
        return text, label
    raise AssertionError("unreachable: the last candidate returns or raises")


def _refuse_binary(text: str, raw: bytes, name: str, codec: str) -> None:
    # A header never holds a control character; one there means bytes that only look like text.
    header = re.split(r"\r\n|\r|\n", text[:4096], maxsplit=1)[0]
    found = _BINARY.search(header)
    if found:
        prefix = text[: found.start()]
        bom = 3 if codec == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8) else 0
        offset = bom + len(prefix.encode(codec if codec != "utf-8-sig" else "utf-8"))
        reason = f"control character U+{ord(found.group()):04X}: this is not a text file"
        raise _fail(name, raw, offset, reason, codec)


def detect_separator(text: str) -> str:
    """The separator of the header line: ``;``, ``,`` or tab, counted outside quotes."""
    # A match rather than a split: a split would copy the rest of the text too.
    line = re.match(r"[^\r\n]*", text)
    assert line is not None  # * matches at least the empty string
    first_line = re.sub(r'"[^"]*"', "", line.group())
    return max((";", ",", "\t"), key=first_line.count)


def parse_records(text: str, name: str, separator: str) -> list[tuple[int, list[str]]]:
    """CSV records of ``text``, each with the editor line it starts on (NFC values).

    Refuses, with the line, a file beyond :data:`MAX_ROWS`, :data:`MAX_COLUMNS`,
    :data:`MAX_LINE_CHARS` or :data:`MAX_PARSED_FIELD_CHARS`.
    """
    records: list[tuple[int, list[str]]] = []
    normal = _Normalised()
    # Lines are handed to csv one by one rather than through io.StringIO(text), which holds a
    # copy of the whole text at 4 bytes a character (80 MB for a 20 MB export).
    reader = csv.reader(_lines(text, name), delimiter=separator, strict=True)
    start = 1
    rows = 0
    try:
        with _field_size_limit(MAX_PARSED_FIELD_CHARS):
            for cells in reader:
                if len(cells) > MAX_COLUMNS:
                    reason = f"has {len(cells):,} fields; scolpass reads at most {MAX_COLUMNS:,} columns"
                    raise InputError([Problem(name, start, None, None, reason)])
                if records and not any(map(str.strip, cells)):
                    # A blank line or Excel's ";;;;" holds no data: not kept (millions of them in a small
                    # file would otherwise fill the memory the row limit guards), and not a row.
                    start = reader.line_num + 1
                    continue
                if records:
                    rows += 1
                    if rows > MAX_ROWS:
                        raise InputError([Problem(name, start, None, None, _too_many_rows())])
                # Each distinct value is kept once (a faculty, a step or a year repeats on every row):
                # it halves the memory of the records, and NFC is worked out once per value.
                records.append((start, list(map(normal.__getitem__, cells))))
                start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError([Problem(name, start, None, None, _csv_reason(str(exc), start, reader.line_num))]) from None
    return records


def _too_many_rows() -> str:
    return (
        f"is row {MAX_ROWS + 1:,}; scolpass reads at most {MAX_ROWS:,} rows: check that this is the "
        "enrolment export, or split it (by faculty, for instance)"
    )


def _csv_reason(error: str, start: int, line: int) -> str:
    """What a csv error means to a registrar, for the record that starts on line ``start``."""
    if error.startswith("field larger than field limit"):
        if line > start:
            return (
                f"a quoted value starts in this record and runs over {line - start + 1:,} lines and "
                f'{MAX_PARSED_FIELD_CHARS:,} characters: its closing quote (") is missing'
            )
        return f"holds a value of more than {MAX_PARSED_FIELD_CHARS:,} characters, which stops the reading"
    if error == "unexpected end of data":
        return 'is not valid CSV: a quoted value starts in this record and its closing quote (") never comes'
    return f"is not valid CSV: {error}"


def _lines(text: str, name: str) -> Iterator[str]:
    """The lines of ``text`` with their ends, refusing one over :data:`MAX_LINE_CHARS`."""
    start = number = 0
    for number, end in enumerate(_LINE_END.finditer(text), 1):
        # Measured before the line is copied out of the text.
        if end.start() - start > MAX_LINE_CHARS:
            raise _long_line(name, number, end.start() - start)
        yield text[start : end.end()]
        start = end.end()
    if start < len(text):  # the last line, without a line end
        if len(text) - start > MAX_LINE_CHARS:
            raise _long_line(name, number + 1, len(text) - start)
        yield text[start:]


def _long_line(name: str, number: int, length: int) -> InputError:
    reason = (
        f"is a line of {length:,} characters; scolpass reads lines of at most {MAX_LINE_CHARS:,}: "
        "is this a CSV export, one line per row?"
    )
    return InputError([Problem(name, number, None, None, reason)])


class _Normalised(dict[str, str]):
    """Each value read, to the one NFC string kept for it."""

    def __missing__(self, cell: str) -> str:
        # NFC: the same text canonically, composed so that accents print right.
        value = cell if unicodedata.is_normalized("NFC", cell) else unicodedata.normalize("NFC", cell)
        self[cell] = value
        return value


@contextmanager
def _field_size_limit(limit: int) -> Iterator[None]:
    """csv's limit on one value, which is process-wide: set for this reading, then put back."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)
