"""Turning an export's bytes into CSV records: encoding, separator, line numbers.

The file is parsed with the standard ``csv`` module rather than pandas'
``read_csv``: pandas pads short rows with empty cells without a word and cannot
say on which line of the file a record starts once a quoted value spans lines,
and a registrar must be told both.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, InputError, Problem

# --encoding names, and how each is printed in a summary.
ENCODINGS = {"utf-8": "UTF-8", "windows-1252": "Windows-1252", "utf-16": "UTF-16"}
_ENCODING_ALIASES = {"utf8": "utf-8", "cp1252": "windows-1252", "utf16": "utf-16"}
# --separator names.
SEPARATORS = {";": ";", ",": ",", "tab": "\t"}
# Control characters that no text export holds (tab, line ends and form feed aside).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


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
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError([Problem(str(path), None, None, None, f"cannot be read: {exc.strerror}")]) from None
    text, label = decode(raw, name, encoding)
    if not text.strip():
        raise InputError(
            [Problem(name, None, None, None, "is empty: a header line and one row per enrolment are expected")]
        )
    sep = SEPARATORS[separator] if separator else detect_separator(text)
    (_, header), *records = parse_records(text, name, sep)
    return CsvTable(name, label, sep, header, records)


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
    first_line = re.sub(r'"[^"]*"', "", re.split(r"\r\n|\r|\n", text, maxsplit=1)[0])
    return max((";", ",", "\t"), key=first_line.count)


def parse_records(text: str, name: str, separator: str) -> list[tuple[int, list[str]]]:
    """CSV records of ``text``, each with the editor line it starts on (NFC values)."""
    records: list[tuple[int, list[str]]] = []
    # newline="" hands csv the file's own line ends, as the csv docs require.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    start = 1
    try:
        for cells in reader:
            # NFC: the same text canonically, composed so that accents print right.
            records.append(
                (start, [c if unicodedata.is_normalized("NFC", c) else unicodedata.normalize("NFC", c) for c in cells])
            )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError([Problem(name, start, None, None, f"is not valid CSV: {exc}")]) from None
    return records
