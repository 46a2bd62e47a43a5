"""Output folders: recovery after crashes at every step, forged folders, mount points, modes."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from scolpass import RunOptions, Settings, generate, open_registry

from .conftest import SAMPLES

SAMPLE = SAMPLES / "enrolment.csv"
CONFIG = SAMPLES / "scolpass.toml"
NOW = datetime(2026, 9, 1, 9, 0)


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scolpass", *args], capture_output=True, text=True, check=False,
        env={**os.environ, **(env or {})}, timeout=120, cwd=cwd,
    )  # fmt: skip


def _generate(registry: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return _cli("generate", str(SAMPLE), "--config", str(CONFIG), "--registry", str(registry), "--out", str(out),
                env=env)  # fmt: skip


def _states(registry: Path) -> tuple[list[str], set[str], int]:
    """The runs' states, the accounts' states and how many accounts."""
    reg = open_registry(registry)
    try:
        accounts = list(reg.accounts())
        return [r.state for r in reg.runs()], {a.state for a in accounts}, len(accounts)
    finally:
        reg.close()


def _everyone_new_in(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"]["new"] == 11
    assert (folder / "credentials.ldif").read_text().count("\ndn: uid=") + 1 >= 11


@pytest.mark.slow
def test_a_staging_folder_deleted_by_hand_undoes_its_run(tmp_path: Path) -> None:
    registry = tmp_path / "r.sqlite3"
    assert _generate(registry, tmp_path / "killed", {"SCOLPASS_CRASH_AT": "rendered"}).returncode == -9
    (leftover,) = tmp_path.glob(".killed.partial-*")
    subprocess.run(["rm", "-r", str(leftover)], check=True)  # a registrar tidying up
    rerun = _generate(registry, tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert "stopped before its output was complete: undone" in rerun.stderr
    assert "11 new, 0 returning" in rerun.stdout  # not 11 returning with no sheet anywhere
    _everyone_new_in(tmp_path / "rerun")
    assert _states(registry) == (["abandoned", "complete"], {"issued"}, 11)


@pytest.mark.slow
def test_a_crash_while_undoing_a_run_never_confirms_it(tmp_path: Path) -> None:
    registry = tmp_path / "r.sqlite3"
    assert _generate(registry, tmp_path / "killed", {"SCOLPASS_CRASH_AT": "rendered"}).returncode == -9
    # The next run is killed in the middle of undoing it: the decision is committed, the folder not yet removed.
    second = _generate(registry, tmp_path / "second", {"SCOLPASS_CRASH_AT": "undone"})
    assert second.returncode == -9, second.stderr
    assert list(tmp_path.glob(".killed.partial-*"))
    third = _generate(registry, tmp_path / "third")
    assert third.returncode == 0, third.stderr
    assert "11 new, 0 returning" in third.stdout
    _everyone_new_in(tmp_path / "third")
    assert not list(tmp_path.glob(".*partial*"))  # the litter is gone too
    assert _states(registry)[1:] == ({"issued"}, 11)


@pytest.mark.slow
def test_a_failed_run_killed_while_cleaning_up_is_settled(tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    registry = tmp_path / "r.sqlite3"
    small = tmpfs("48k")  # the sheets do not fit: the run fails while writing, then is killed while cleaning up
    failed = _generate(registry, small / "out", {"SCOLPASS_CRASH_AT": "abandoned"})
    assert failed.returncode == -9, failed.stderr
    assert list(small.glob(".out.partial-*"))  # killed after the abandonment was committed, before the removal
    rerun = _generate(registry, tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert "11 new, 0 returning" in rerun.stdout
    assert not list(small.glob(".*partial*"))
    assert _states(registry) == (["abandoned", "complete"], {"issued"}, 11)


@pytest.mark.slow
def test_a_run_killed_once_its_output_was_written_is_published_by_the_next(tmp_path: Path) -> None:
    registry = tmp_path / "r.sqlite3"
    assert _generate(registry, tmp_path / "killed", {"SCOLPASS_CRASH_AT": "written"}).returncode == -9
    assert not (tmp_path / "killed").exists()
    rerun = _generate(registry, tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert f"published to {tmp_path / 'killed'} and confirmed" in rerun.stderr
    assert "0 new, 11 returning" in rerun.stdout
    _everyone_new_in(tmp_path / "killed")
    assert _states(registry) == (["complete", "complete"], {"issued"}, 11)


@pytest.mark.slow
@pytest.mark.parametrize("forgery", ["writable by everyone", "another user's"])
def test_a_forged_manifest_never_confirms_a_pending_run(tmp_path: Path, forgery: str) -> None:
    registry = tmp_path / "r.sqlite3"
    assert _generate(registry, tmp_path / "killed", {"SCOLPASS_CRASH_AT": "rendered"}).returncode == -9
    target = tmp_path / "killed"
    target.mkdir()
    manifest = target / "manifest.json"
    manifest.write_text(json.dumps({"run": 1, "counts": {"new": 11}, "files": []}))
    if forgery == "writable by everyone":
        manifest.chmod(0o666)
    else:
        if os.geteuid() != 0:
            pytest.skip("making a file another user's needs root (CI runs as root)")
        os.chown(manifest, 65534, 65534)
    rerun = _generate(registry, tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert "undone" in rerun.stderr
    assert "11 new, 0 returning" in rerun.stdout


@pytest.mark.slow
def test_a_mount_point_as_output_is_refused_before_rendering(tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    registry = tmp_path / "r.sqlite3"
    point = tmpfs("16m")
    refused = _generate(registry, point)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"Error: {point}: the output folder is a mount point; a run is written beside its folder and renamed into "
        f"place, which cannot replace a mount point: give a folder inside it, like {point / 'run'}"
    )
    assert not list(tmp_path.glob(".*partial*"))  # nothing staged on the parent's disk
    assert _states(registry) == ([], set(), 0)
    inside = _generate(registry, point / "run")  # staged on the mount's own disk, renamed there
    assert inside.returncode == 0, inside.stderr
    _everyone_new_in(point / "run")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("shared", [False, True], ids=["private", "registrars' group"])
def test_folders_are_private_or_the_groups_whatever_the_umask(tmp_path: Path, shared: bool) -> None:
    config = tmp_path / "scolpass.toml"
    text = CONFIG.read_text()
    group = grp.getgrgid(os.getegid()).gr_name
    if shared:
        text = text.replace("[university]", f'[registry]\ngroup = "{group}"\n\n[university]')
    config.write_text(text)
    old = os.umask(0)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scolpass", "generate", str(SAMPLE), "--config", str(config)],
            capture_output=True, text=True, check=False, cwd=tmp_path, timeout=120,
        )  # fmt: skip
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "scolpass-output"
    (year,) = root.iterdir()
    (run,) = year.iterdir()
    folders = {_mode(root), _mode(year), _mode(run)}
    assert folders == ({0o2770} if shared else {0o700})  # set-group-ID: what others make inside is the group's
    assert _mode(tmp_path / "scolpass.sqlite3") == (0o660 if shared else 0o600)
    assert {_mode(f) for f in run.iterdir()} == {0o600}
    if shared:
        assert {p.stat().st_gid for p in (root, year, run, tmp_path / "scolpass.sqlite3")} == {os.getegid()}


@pytest.mark.parametrize("where", ["scolpass-output", "scolpass-output/2026-2027"])
def test_an_output_folder_writable_by_everyone_is_refused(tmp_path: Path, where: str) -> None:
    folder = tmp_path / where
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # made by someone else, or with umask 000, before scolpass ever ran
    done = _cli("generate", str(SAMPLE), "--config", str(CONFIG), cwd=tmp_path)
    assert done.returncode == 1
    assert f"Error: {where}: the output folder is writable by every user of this machine" in done.stderr
    assert f"chmod o-w '{where}'" in done.stderr
    assert not (tmp_path / "scolpass.sqlite3").exists() or _states(tmp_path / "scolpass.sqlite3")[2] == 0


def test_an_interrupt_just_after_the_rename_keeps_the_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scolpass import run as run_module

    real = run_module.put_in_place

    def renamed_then_interrupted(staging: Path, target: Path) -> None:
        real(staging, target)
        raise KeyboardInterrupt  # Ctrl-C after rename(2) returned, before the run knew it was published

    registry = tmp_path / "r.sqlite3"
    monkeypatch.setattr(run_module, "put_in_place", renamed_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "a", registry=registry, now=NOW))
    monkeypatch.undo()
    assert (tmp_path / "a" / "manifest.json").exists()
    again = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "b", registry=registry, now=NOW))
    assert again.count("new") == 0  # nobody gets a second login or password
    assert "confirmed" in again.recovered[0]


def test_a_run_an_older_scolpass_left_pending_keeps_its_rule(settings: Settings, tmp_path: Path) -> None:
    # Killed between publishing and confirming under schema 3, then its folder moved: it was published.
    registry = tmp_path / "r.sqlite3"
    generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "a", registry=registry, now=NOW))
    with contextlib.closing(sqlite3.connect(registry)) as db:
        db.execute("UPDATE runs SET state = 'pending', output = ?, staging = ?",
                   (str(tmp_path / "moved"), str(tmp_path / ".moved.partial-1")))  # fmt: skip
        db.execute("UPDATE accounts SET state = 'pending'")
        db.execute("PRAGMA user_version = 3")
        db.commit()
    again = generate(SAMPLE, settings, RunOptions(out_dir=tmp_path / "b", registry=registry, now=NOW))
    assert "(left by an older scolpass) was published" in again.recovered[0]
    assert again.count("returning") == 11


def test_a_print_group_passes_through_the_default_folders(tmp_path: Path) -> None:
    config = tmp_path / "scolpass.toml"
    config.write_text(CONFIG.read_text().replace("[sheet]", '[sheet]\nfile_mode = "0640"'))
    assert "file_mode" in config.read_text()
    done = _cli("generate", str(SAMPLE), "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    root = tmp_path / "scolpass-output"
    (year,) = root.iterdir()
    (run,) = year.iterdir()
    assert [_mode(f) for f in (root, year, run)] == [0o750] * 3
