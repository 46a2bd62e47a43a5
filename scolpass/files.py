"""Files that hold personal data or secrets: created private, written whole.

Every file scolpass writes is created with its final mode from the first byte
(``0600`` unless a setting says otherwise for the sheets): creating it with the
process's umask and tightening it afterwards would leave a moment where
another user could open it, and an open file descriptor outlives a later
``chmod``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

PRIVATE = 0o600
PRIVATE_FOLDER = 0o700


def folder_mode(file_mode: int) -> int:
    """The mode of a folder whose files have ``file_mode``: readers of the files may list it."""
    mode = PRIVATE_FOLDER
    if file_mode & 0o040:
        mode |= 0o050
    if file_mode & 0o004:
        mode |= 0o005
    return mode


@contextmanager
def written_whole(path: Path, mode: int = PRIVATE) -> Iterator[BinaryIO]:
    """A file written whole or not at all (a temporary file, then a rename), with ``mode`` from creation.

    ``fchmod`` sets the mode exactly: ``os.open``'s mode is cut by the umask,
    which could remove a group bit a university asked for.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)  # a crashed earlier attempt: O_EXCL below must create a new file
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & PRIVATE)
    try:
        os.fchmod(fd, mode)
        with open(fd, "wb") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def text_written_whole(path: Path, encoding: str = "utf-8", mode: int = PRIVATE) -> Iterator[TextIO]:
    """:func:`written_whole` for text (newlines as written: CSV writers choose their own)."""
    with written_whole(path, mode) as raw:
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        try:
            yield text
        finally:
            text.flush()
            text.detach()


def write_bytes(path: Path, data: bytes, mode: int = PRIVATE) -> None:
    """Write ``data`` to ``path`` whole, with ``mode``."""
    with written_whole(path, mode) as handle:
        handle.write(data)


def create_private(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist; returns whether it was created.

    For files another library then opens by name (SQLite): an existing file
    keeps its mode when reopened, and SQLite gives its journal the mode of the
    database file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    os.close(fd)
    return True
