"""Files that hold personal data or secrets: created private, written whole.

Every file scolpass writes is created with its final mode from the first byte
(``0600`` unless a setting says otherwise for the sheets): creating it with the
process's umask and tightening it afterwards would leave a moment where
another user could open it, and an open file descriptor outlives a later
``chmod``.
"""

from __future__ import annotations

import grp
import io
import os
import pwd
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import StateError

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
def written_whole(path: Path, mode: int = PRIVATE, durable: bool = False) -> Iterator[BinaryIO]:
    """A file written whole or not at all (a temporary file, then a rename), with ``mode`` from creation.

    ``fchmod`` sets the mode exactly: ``os.open``'s mode is cut by the umask,
    which could remove a group bit a university asked for. ``durable`` puts the
    file and its rename on disk before returning (a file that stands alone, not
    one of a run's folder, which is synced whole).
    """
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)  # a crashed earlier attempt: O_EXCL below must create a new file
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & PRIVATE)
    try:
        os.fchmod(fd, mode)
        with open(fd, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Put ``folder``'s list of names on disk (a rename or a new file in it survives a power cut)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def create_private(path: Path, group: int | None = None) -> bool:
    """Create ``path`` empty with mode 0600 (0660 for ``group``) if it does not exist; returns whether
    it was created.

    For files another library then opens by name (SQLite): an existing file
    keeps its mode when reopened, and SQLite gives its journal the mode of the
    database file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        return False
    try:
        if group is not None:
            os.fchown(fd, -1, group)
        os.fchmod(fd, shared_mode(PRIVATE, group))
    finally:
        os.close(fd)
    return True


def group_id(name: str) -> int | None:
    """The id of ``[registry] group`` (checked with the settings), or None when no group is set."""
    return grp.getgrnam(name).gr_gid if name else None


def shared_mode(mode: int, group: int | None) -> int:
    """``mode`` opened to the registrars' group (read and write, as the owner has) when there is one."""
    return mode | (mode & 0o700) >> 3 if group is not None else mode


def make_folder(path: Path, group: int | None = None, mode: int = PRIVATE_FOLDER) -> None:
    """Create the folder ``path`` with exactly ``mode`` (0770 with a group), whatever the umask.

    ``mkdir`` cuts its mode by the umask and could leave a moment where a loose
    umask's mode holds; creating it 0700 and opening it afterwards never does.
    """
    path.mkdir(mode=PRIVATE_FOLDER)
    if group is not None:
        os.chown(path, -1, group)
    # With a group, set-group-ID: what any registrar makes inside belongs to the group too.
    path.chmod(shared_mode(mode, group) | (stat.S_ISGID if group is not None else 0))


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def refuse_unsafe(path: Path, what: str, group: int | None = None) -> None:
    """Refuse ``path`` (an existing file or folder scolpass writes into) if another user could have
    forged it or could change it: writable by every user (a file: by a group other than ``group``), or
    owned by neither this user nor ``group``.

    A folder writable by everyone but sticky (``/tmp``) is accepted to write in: the sticky bit
    stops others from replacing or removing what this user puts there.
    """
    st = path.stat()
    # A sticky folder protects our entries from others, not from its owner: root's or ours only.
    sticky = stat.S_ISDIR(st.st_mode) and bool(st.st_mode & stat.S_ISVTX) and st.st_uid in (0, os.geteuid())
    if st.st_mode & stat.S_IWOTH and not sticky:
        raise StateError(
            f"{path}: the {what} is writable by every user of this machine, who could read or forge its "
            f"contents; make it private (chmod o-w '{path}') or use another"
        )
    if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IWGRP and st.st_gid != group:
        # A file (the registry, its journal, a manifest) its group may change, when that group is not the
        # registrars' one. Folders are not held to it: a private group's 0775 home is common and harmless.
        raise StateError(
            f"{path}: the {what} is writable by the group {_group(st.st_gid)}, whose members could forge its "
            f"contents; make it private (chmod g-w '{path}') or set [registry] group to that group"
        )
    mine = st.st_uid == os.geteuid() or (group is not None and st.st_gid == group)
    if not mine and not sticky:
        owners = _owner(os.geteuid()) + (f" or the group {_group(group)}" if group is not None else "")
        raise StateError(
            f"{path}: the {what} belongs to {_owner(st.st_uid)} (group {_group(st.st_gid)}), not to {owners}: "
            "another user may have made it to read what scolpass writes; use your own, or set [registry] group "
            "to a group you share with its owner"
        )
