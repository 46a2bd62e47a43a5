"""A run's output folder: written aside, published whole, recovered after a crash.

The order of writes makes every crash harmless:

1. the run and its new accounts are committed to the registry as ``pending``;
2. every file is written into a hidden staging folder beside the target;
3. the staging folder is renamed to the target in one step (``rename(2)``);
4. the run is confirmed: its accounts become ``issued``.

A run killed before 3 leaves only a hidden staging folder and pending rows: the
next run removes both, and the identifiers are free again (nobody got them: no
sheet left the staging folder). A run killed between 3 and 4 left a complete
folder: the next run confirms it. So no printed password is ever missing from
the credential files, and no student is issued twice.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .academic_year import AcademicYear
from .errors import StateError
from .registry import Registry

MANIFEST = "manifest.json"
OUTPUT_ROOT = "scolpass-output"


def checkpoint(name: str) -> None:
    """Fault injection for the crash tests: ``SCOLPASS_CRASH_AT=name`` kills the process here."""
    if os.environ.get("SCOLPASS_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def output_folder(requested: str | Path | None, year: AcademicYear, now: datetime) -> Path:
    """The run's own folder: ``requested`` if absent or empty, else a new dated one (``-2``... if taken)."""
    if requested is not None:
        path = Path(requested)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise StateError(
                f"{path}: the output folder must not exist or be empty (an earlier run's files would be mixed in)"
            )
        existing = next(p for p in path.absolute().parents if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise StateError(f"{path}: cannot write the output: {existing} is not a folder this user may write in")
        return path
    base = Path(OUTPUT_ROOT) / year.slug / now.strftime("%Y-%m-%d_%H%M%S")
    path, n = base, 1
    while path.exists() or any(path.parent.glob(f".{path.name}.partial-*")):
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def staging_folder(target: Path, run_id: int) -> Path:
    """The hidden folder beside ``target`` where run ``run_id`` writes (same disk: the rename is atomic)."""
    return target.with_name(f".{target.name}.partial-{run_id}")


def make_parents(target: Path) -> list[Path]:
    """Create the folders above ``target``; returns those made, outermost first."""
    made: list[Path] = []
    for folder in reversed(target.parents):
        if not folder.exists():
            try:
                folder.mkdir()
                made.append(folder)
            except FileExistsError:
                pass
    return made


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove folders this run made, innermost first, stopping at the first that holds something."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def publish(staging: Path, target: Path) -> None:
    """Make the written files durable, then move the folder into place in one step."""
    for child in staging.iterdir():
        with child.open("rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(staging)
    try:
        # rename(2) replaces an empty folder (a --out made empty in advance) and refuses a full one.
        staging.rename(target)
    except OSError as exc:
        raise StateError(f"{target}: cannot put the output in place: {exc.strerror}") from None
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(registry: Registry, now: datetime, touch_files: bool = True) -> list[str]:
    """Settle the runs a crash left pending; returns what was done, for the terminal.

    Called with the run lock held, so a pending run is never one still running.
    A pending run's staging folder exists from its first commit until it is
    published, so: a complete folder at the target confirms it; a staging
    folder means it stopped before publishing (undone: its identifiers are
    free again); neither means it was published and its folder since moved or
    deleted (confirmed: its sheets exist somewhere). ``touch_files=False`` (a
    dry run) leaves the folders alone.
    """
    done = []
    for run in registry.runs("pending"):
        target, staging = Path(run.output), Path(run.staging)
        manifest = _manifest(target / MANIFEST)
        if manifest is not None and manifest.get("run") == run.id:
            counts = manifest.get("counts")
            registry.confirm(run.id, counts if isinstance(counts, dict) else {}, now)
            done.append(f"run {run.id} of {run.started_at} had written {target} completely: confirmed")
        elif staging.exists():
            if touch_files:
                shutil.rmtree(staging, ignore_errors=True)
            registry.abandon(run.id, now)
            done.append(f"run {run.id} of {run.started_at} stopped before its output was complete: undone")
        else:
            registry.confirm(run.id, {}, now)
            done.append(
                f"run {run.id} of {run.started_at} was published to {target}, which is no longer there: "
                "confirmed (its sheets and credential files were moved or deleted)"
            )
    return done


def _manifest(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
