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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ConfigError, InputError, Problem, shown
from .spreadsheet import restored

# --encoding names, and how each is printed in a summary.
ENCODINGS = {"utf-8": "UTF-8", "windows-1252": "Windows-1252", "utf-16": "UTF-16"}
_ENCODING_ALIASES = {"utf8": "utf-8", "cp1252": "windows-1252", "utf16": "utf-16"}
# --separator names.
SEPARATORS = {";": ";", ",": ",", "tab": "\t"}
# Control characters that no text export holds (tab, line ends and form feed aside).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# The line ends of io.StringIO(newline=""), as csv expects them: no other (str.splitlines()'s \x85...).
# The line ends an editor counts (str.splitlines() would also split at \x85, \u2028...).
LINE_END = re.compile(r"\r\n|\r|\n")
_BYTE_LINE_END = re.compile(rb"\r\n|\r|\n")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
# A well-formed UTF-8 sequence of two to four bytes (RFC 3629: no overlong form, no surrogate).
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Where one may start: searched for first, as it is five times faster on a large file than the above.
_UTF8_START = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")
# A mixed-encoding message shows the value a byte is in: bytes up to a separator, a quote or a
# line end, at most this many on each side.
_WORD_ENDS = b';,\t\r\n"'
_WORD_BYTES = 40

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
    encoding, separator = checked_options(encoding, separator)
    raw = read_export(path)
    text, label = decode(raw, Path(path).name, encoding)
    del raw  # the text is all that is needed now: the bytes would stay alive while parsing
    return table_from_text(text, label, Path(path).name, separator)


def checked_options(encoding: str | None, separator: str | None) -> tuple[str | None, str | None]:
    """``encoding`` as a key of :data:`ENCODINGS` and ``separator`` of :data:`SEPARATORS`, or a ConfigError."""
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
    return encoding, separator


def read_export(path: str | Path) -> bytes:
    """The bytes of an enrolment file, refused when larger than :data:`MAX_FILE_BYTES`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused unread
            raise _too_large(path.name, f"is {size:,} bytes ({size / 2**20:,.0f} MiB)")
        with path.open("rb") as file:
            raw = _read_bytes(file, size)
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(path.name, f"holds more than {MAX_FILE_BYTES:,} bytes")
    return raw


def table_from_text(text: str, label: str, name: str, separator: str | None = None) -> CsvTable:
    """An export's text (decoded, its encoding's ``label``) as CSV records; ``separator`` a key of
    :data:`SEPARATORS`, else detected."""
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
    line = len(LINE_END.findall(prefix)) + 1
    return InputError([Problem(name, line, None, None, f"byte offset {offset}: {reason}")])


def decode(raw: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """The text of ``raw`` and a label of its encoding.

    Detected: a UTF-16 or UTF-8 byte order mark, else UTF-8, else Windows-1252
    (Excel's "CSV (séparateur: point-virgule)" on Windows). Bytes that are no
    text in any of them are refused with their offset, and so is a file that
    mixes UTF-8 and Windows-1252, at its first line that contradicts the other.
    A given ``encoding`` is read as it is, without detection.
    """
    if encoding is None:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        elif b"\x00" in raw:
            raise _fail(
                name, raw, raw.index(b"\x00"), "a NUL byte: this is not a text file; export the enrolments as CSV"
            )
    if encoding in ("utf-16", "windows-1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            reason = f"byte 0x{raw[exc.start]:02x} is not text in {ENCODINGS[encoding]}; save the file as 'CSV UTF-8'"
            raise _fail(name, raw, exc.start, reason, encoding) from None
        _refuse_binary(text, raw, name, encoding)
        return text, ENCODINGS[encoding]
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.start + bom  # utf-8-sig counts from after the byte order mark it strips
        if encoding == "utf-8":
            reason = f"byte 0x{raw[bad]:02x} is not text in UTF-8; save the file as 'CSV UTF-8'"
            raise _fail(name, raw, bad, reason, "utf-8") from None
        first = _NON_ASCII.search(raw)
        assert first is not None  # ASCII is UTF-8
        if first.start() < bad:
            # Valid UTF-8 before the byte that is not: the file is UTF-8 with a row from elsewhere.
            raise _utf8_then_not(name, raw, first.start(), bad, bom) from None
        return _windows_1252(raw, name, first.start()), ENCODINGS["windows-1252"]
    _refuse_binary(text, raw, name, "utf-8-sig")
    return text, ENCODINGS["utf-8"] + (" with BOM" if bom else "")


def _windows_1252(raw: bytes, name: str, first: int) -> str:
    """``raw`` read as Windows-1252, its first non-ASCII byte at ``first`` being no UTF-8.

    Refused if a well-formed UTF-8 sequence follows: the file then mixes the two (a UTF-8 row
    pasted under Windows-1252 ones), and reading it all as Windows-1252 would garble every
    accent of the UTF-8 rows into permanent logins (Zoé into "zoa-c"). Windows-1252 text
    holds such a sequence only as an upper-case accented letter followed by a symbol
    ("Ã©", "É’"), which no real name has.
    """
    try:
        text = raw.decode("windows-1252")
        end = len(raw)
    except UnicodeDecodeError as exc:
        text, end = "", exc.start
    sequence = _utf8_sequence(raw, first, end)
    if sequence:
        here, there = _line(raw, sequence.start()), _line(raw, first)
        as_utf8, as_1252 = _word(raw, sequence.start(), "utf-8"), _word(raw, sequence.start(), "windows-1252")
        guess = _word(raw, first, "windows-1252")
        contradiction = (
            f"line {there} is Windows-1252 ({guess!r}) but this line is UTF-8 ({as_utf8!r}, "
            if there != here
            else f"{guess!r} on this line is Windows-1252 but {as_utf8!r} is UTF-8 ("
        )
        reason = (
            f"the file mixes encodings: {contradiction}which would read {as_1252!r} as Windows-1252); "
            "save it again in one encoding (UTF-8)"
        )
        raise InputError([Problem(name, here, None, None, reason)])
    if end < len(raw):
        reason = f"byte 0x{raw[end]:02x} is not text in UTF-8 or Windows-1252; save the file as 'CSV UTF-8'"
        raise _fail(name, raw, end, reason, "windows-1252")
    _refuse_binary(text, raw, name, "windows-1252")
    return text


def _utf8_sequence(raw: bytes, start: int, end: int) -> re.Match[bytes] | None:
    """The first well-formed UTF-8 sequence of two bytes or more in ``raw[start:end]``."""
    while candidate := _UTF8_START.search(raw, start, end):
        sequence = _UTF8_SEQUENCE.match(raw, candidate.start(), end)
        if sequence:
            return sequence
        start = candidate.start() + 1
    return None


def _utf8_then_not(name: str, raw: bytes, first: int, bad: int, bom: int) -> InputError:
    """The file is UTF-8 from its first non-ASCII byte at ``first`` (or its byte order mark), but not at ``bad``."""
    here, there = _line(raw, bad), _line(raw, first)
    byte = f"byte 0x{raw[bad]:02x} in"
    if bom and first == 0:
        contradiction = f"it opens with a UTF-8 byte order mark but this line is not UTF-8 ({byte}"
    elif there != here:
        contradiction = f"line {there} is UTF-8 ({_word(raw, first, 'utf-8')!r}) but this line is not ({byte}"
    else:
        contradiction = f"{_word(raw, first, 'utf-8')!r} on this line is UTF-8 but not all of it ({byte}"
    word = _word(raw, bad, "windows-1252")
    if_1252 = "" if "\ufffd" in word else ", if it is Windows-1252"
    reason = f"the file mixes encodings: {contradiction} {word!r}{if_1252}); save it again in one encoding (UTF-8)"
    return InputError([Problem(name, here, None, None, reason)])


def _line(raw: bytes, offset: int) -> int:
    """The editor line of the byte at ``offset`` (line ends are the same bytes in UTF-8 and Windows-1252)."""
    return len(_BYTE_LINE_END.findall(raw, 0, offset)) + 1


def _word(raw: bytes, offset: int, codec: str) -> str:
    """The value around the byte at ``offset``, up to a separator, quote or line end, read as ``codec``."""
    start = offset
    while start > max(0, offset - _WORD_BYTES) and raw[start - 1] not in _WORD_ENDS:
        start -= 1
    end = offset
    while end < min(len(raw), offset + _WORD_BYTES) and raw[end] not in _WORD_ENDS:
        end += 1
    return raw[start:end].decode(codec, errors="replace").strip()


def _refuse_binary(text: str, raw: bytes, name: str, codec: str) -> None:
    # A header never holds a control character; one there means bytes that only look like text.
    header = LINE_END.split(text[:4096], maxsplit=1)[0]
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


def parse_records(text: str, name: str, separator: str, skip_lines: int = 0) -> list[tuple[int, list[str]]]:
    """CSV records of ``text``, each with the editor line it starts on (NFC values).

    The first ``skip_lines`` lines are no CSV (PowerShell's "#TYPE ..."), and are counted.
    Refuses, with the line, a file beyond :data:`MAX_ROWS`, :data:`MAX_COLUMNS`,
    :data:`MAX_LINE_CHARS` or :data:`MAX_PARSED_FIELD_CHARS`.
    """
    records: list[tuple[int, list[str]]] = []
    normal = _Normalised()
    # Lines are handed to csv one by one rather than through io.StringIO(text), which holds a
    # copy of the whole text at 4 bytes a character (80 MB for a 20 MB export).
    lines = _lines(text, name)
    for _ in range(skip_lines):
        next(lines, None)
    reader = csv.reader(lines, delimiter=separator, strict=True)
    start = skip_lines + 1
    rows = 0
    # csv's own limit on a value is process-wide: never set here, where another thread may be reading.
    # Its default is this limit; where the process raised it, the values are measured here instead.
    measure = csv.field_size_limit() > MAX_PARSED_FIELD_CHARS
    try:
        for cells in reader:
            if measure and max(map(len, cells), default=0) > MAX_PARSED_FIELD_CHARS:
                raise csv.Error("field larger than field limit")
            if len(cells) > MAX_COLUMNS:
                reason = f"has {len(cells):,} fields; scolpass reads at most {MAX_COLUMNS:,} columns"
                raise InputError([Problem(name, start, None, None, reason)])
            if records and not any(map(str.strip, cells)):
                # A blank line or Excel's ";;;;" holds no data: not kept (millions of them in a small
                # file would otherwise fill the memory the row limit guards), and not a row.
                start = skip_lines + reader.line_num + 1
                continue
            if records:
                rows += 1
                if rows > MAX_ROWS:
                    raise InputError([Problem(name, start, None, None, _too_many_rows())])
            # Each distinct value is kept once (a faculty, a step or a year repeats on every row):
            # it halves the memory of the records, and NFC is worked out once per value.
            records.append((start, list(map(normal.__getitem__, cells))))
            start = skip_lines + reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            [Problem(name, start, None, None, _csv_reason(str(exc), start, skip_lines + reader.line_num))]
        ) from None
    # One search of the text in C: the records are looked at only when it holds one.
    if records and _BOM in text:
        problems = byte_order_mark_problems(name, records, SECOND_BOM)
        if problems:
            raise InputError(problems)
    return records


_BOM = "\ufeff"
# Why a byte order mark opens the first header of a file, where decode() has removed the first one.
SECOND_BOM = (
    "starts with a byte order mark (U+FEFF, invisible) that is not the file's first: "
    "the file was saved with two; save it again as 'CSV UTF-8'"
)
_INSIDE_BOM = "holds a byte order mark (U+FEFF, invisible), which belongs only at the very start of a file: remove it"


def byte_order_mark_problems(source: str, records: Sequence[tuple[int, list[str]]], leading: str) -> list[Problem]:
    """Every U+FEFF in ``records`` (the header first), by line and column.

    ``leading`` says why one opens the first header. Invisible, a byte order mark would hide
    a header (``\\ufeffCOD_ANU`` is no known column, and the year it holds would go unchecked)
    or make two equal-looking values differ.
    """
    (header_line, header), *rows = records
    problems = [
        Problem(source, header_line, title, None, leading if index == 0 and title.startswith(_BOM) else _INSIDE_BOM)
        for index, title in enumerate(header)
        if _BOM in title
    ]
    for line, cells in rows:
        if _BOM in "\x00".join(cells):  # one test a row, in C; its cells are looked at when it holds one
            for index, value in enumerate(cells):
                if _BOM in value:
                    column = header[index] if index < len(header) else f"field {index + 1}"
                    problems.append(Problem(source, line, column, shown(value), _INSIDE_BOM))
    return problems


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
    for number, end in enumerate(LINE_END.finditer(text), 1):
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
        # A rejected.csv fed back: the apostrophe scolpass put before a formula character comes off.
        value = restored(value)
        self[cell] = value
        return value
