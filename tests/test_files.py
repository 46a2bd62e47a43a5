"""Files are created with their final mode and written whole."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from scolpass.files import create_private, folder_mode, text_written_whole, write_bytes, written_whole


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a careless shell: files readable by everyone unless scolpass says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    write_bytes(tmp_path / "a.bin", b"x")
    with text_written_whole(tmp_path / "b.csv") as handle:
        handle.write("é\r\n")
    assert create_private(tmp_path / "c.sqlite3")
    assert not create_private(tmp_path / "c.sqlite3")  # an existing file is left as it is
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"a.bin": 0o600, "b.csv": 0o600, "c.sqlite3": 0o600}
    assert (tmp_path / "b.csv").read_bytes() == "é\r\n".encode()


def test_a_group_mode_is_kept_even_under_a_strict_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        write_bytes(tmp_path / "sheets.pdf", b"%PDF", mode=0o640)
    finally:
        os.umask(previous)
    assert mode(tmp_path / "sheets.pdf") == 0o640
    assert folder_mode(0o640) == 0o750
    assert folder_mode(0o600) == 0o700
    assert folder_mode(0o644) == 0o755


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "c.ldif").write_bytes(b"before")

    def half_written() -> None:
        with written_whole(tmp_path / "c.ldif") as handle:
            handle.write(b"half")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        half_written()
    assert [p.name for p in tmp_path.iterdir()] == ["c.ldif"]
    assert (tmp_path / "c.ldif").read_bytes() == b"before"


def test_a_temporary_file_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    stale = tmp_path / ".c.ldif.tmp"
    stale.write_bytes(b"stale")
    stale.chmod(0o644)
    write_bytes(tmp_path / "c.ldif", b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.ldif"]
    assert mode(tmp_path / "c.ldif") == 0o600


def test_a_durable_file_is_on_disk_with_its_name_before_it_is_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with written_whole(tmp_path / "feed.json", durable=True) as handle:
        handle.write(b"{}")
    # The data (still under its temporary name), then the folder that holds the rename.
    assert synced == [str(tmp_path / ".feed.json.tmp"), str(tmp_path)]
    assert (tmp_path / "feed.json").read_bytes() == b"{}"
    assert mode(tmp_path / "feed.json") == 0o600
    synced.clear()

    def half_written() -> None:
        with written_whole(tmp_path / "feed.json", durable=True) as handle:
            handle.write(b"half")
            raise RuntimeError("the server went away")

    with pytest.raises(RuntimeError):
        half_written()
    assert synced == []
    assert [p.name for p in tmp_path.iterdir()] == ["feed.json"]
    assert (tmp_path / "feed.json").read_bytes() == b"{}"
